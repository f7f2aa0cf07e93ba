"""Load and supply descriptions the engine simulates (metrology.md §4, vector format).

A Scenario is a timeline: steady LoadStates (wiring, frequency, per-phase V and I harmonics) that
take over at given times, plus Events (sag, swell, outage: whole-channel scale factors over a time
span). Two input forms are accepted:

* the vector-file form (`metrology-vectors/1`): per-phase `v`/`i` with `dc` and `h` = [[order,
  rms, phase_deg], ...] and cycle-based `segments`;
* a simpler profile form: `voltage`, `current`, `pf` or `angle_deg`, relative `harmonics`,
  timed `events` [{kind, phases, start, duration, v_scale, i_scale}] and load `steps`
  [{at, current, pf, ...}] that override the base load from time `at`, and named `loads`
  {name = share of the current} that load-management relays switch (Scenario.switched).

Phase order A, B, C with B lagging A by 120 degrees (3P4W); the NA split-phase 3-wire service
(1P3W, 120/240 V) has two legs 180 degrees apart around the neutral.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from meter.metrology.errors import ScenarioError

WIRINGS: dict[str, tuple[str, ...]] = {
    "1P2W": ("A",),
    "1P3W": ("A", "B"),
    "3P4W": ("A", "B", "C"),
}
_LEG_ANGLE = {"1P2W": (0.0,), "1P3W": (0.0, 180.0), "3P4W": (0.0, -120.0, 120.0)}
_SEGMENT_EPS = 1e-9  # the vector rule floor(t*f + 1e-9)
#: Event kind of a relay's switching (Scenario.switched): open-ended, current only.
SWITCH = "switch"
_SWITCH_KEPT_S = 1.0


@dataclass(frozen=True, slots=True)
class Harmonic:
    """One sinusoidal component: sqrt(2)*rms*cos(order*theta + phase)."""

    order: int
    rms: float
    phase_deg: float


@dataclass(frozen=True, slots=True)
class Channel:
    """A voltage or current channel: dc plus harmonics of the fundamental."""

    dc: float
    harmonics: tuple[Harmonic, ...]

    @property
    def rms(self) -> float:
        return math.sqrt(self.dc**2 + sum(h.rms**2 for h in self.harmonics))

    def phasors(self, size: int) -> np.ndarray:
        """Complex rms phasors by order (index 0 = dc, real)."""
        out = np.zeros(size, dtype=complex)
        out[0] = self.dc
        for h in self.harmonics:
            if h.order < size:
                out[h.order] += h.rms * np.exp(1j * math.radians(h.phase_deg))
        return out


@dataclass(frozen=True, slots=True)
class PhaseLoad:
    name: str
    v: Channel
    i: Channel


@dataclass(frozen=True, slots=True)
class LoadState:
    """A steady supply and load: all channels periodic at f."""

    f: float
    phases: tuple[PhaseLoad, ...]

    @property
    def max_order(self) -> int:
        return max((h.order for p in self.phases for c in (p.v, p.i) for h in c.harmonics), default=1)


@dataclass(frozen=True, slots=True)
class Event:
    """Whole-channel scaling of some phases over [t_start, t_end) (sag, swell, outage)."""

    kind: str
    t_start: float
    t_end: float
    phases: tuple[int, ...]
    v_scale: float
    i_scale: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """A timeline of steady states (the first one also extends before its start) and events."""

    wiring: str
    f_nominal: float
    states: tuple[tuple[float, LoadState], ...]
    events: tuple[Event, ...] = ()
    #: Named parts of the load a load-management relay switches: (name, share of the current).
    loads: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.wiring not in WIRINGS:
            raise ScenarioError(f"unknown wiring {self.wiring!r}")
        if not self.states:
            raise ScenarioError("a scenario needs at least one load state")
        n = len(WIRINGS[self.wiring])
        for _, st in self.states:
            if len(st.phases) != n or st.f <= 0:
                raise ScenarioError(f"{self.wiring} needs {n} phases and f > 0")
        if any(not 0.0 <= share <= 1.0 for _, share in self.loads):
            raise ScenarioError("a named load's share is between 0 and 1")

    @property
    def n_phases(self) -> int:
        return len(WIRINGS[self.wiring])

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.states[0][1].phases)

    def nominal_vrms(self) -> np.ndarray:
        """Per-phase reference voltage for PQ thresholds: the first state's rms (IEC 61000-4-30 Udin)."""
        return np.array([p.v.rms for p in self.states[0][1].phases])

    def state_at(self, t: float) -> tuple[int, float, LoadState]:
        """Index, start time and state in force at t."""
        idx = 0
        for k, (ts, _) in enumerate(self.states):
            if ts <= t:
                idx = k
        return idx, self.states[idx][0], self.states[idx][1]

    def boundaries(self) -> list[float]:
        """Times where the waveform stops being steady (state changes, event edges)."""
        out = [ts for ts, _ in self.states[1:]]
        for e in self.events:
            out += [e.t_start, e.t_end]
        return sorted(out)

    def switched(self, t: float, i_scale: float) -> Scenario:
        """This timeline with the load current scaled by ``i_scale`` from t on (the relays: 0 =
        the supply relay open, 1 - share = a load relay open); the supply voltage is untouched,
        so voltage, frequency and supply-side PQ events still measure. Replaces the switching
        in force at t."""
        # Switchings over for a second are dropped: the engine never synthesises that far back
        # (a few cycles), and a relay switched all day must not grow the timeline.
        kept = tuple(e if e.kind != SWITCH or e.t_end <= t else replace(e, t_end=t)
                     for e in self.events
                     if e.kind != SWITCH or (e.t_start < t and e.t_end > t - _SWITCH_KEPT_S))
        if i_scale == 1.0:
            return replace(self, events=kept)
        switch = Event(SWITCH, t, math.inf, tuple(range(self.n_phases)), 1.0, i_scale)
        return replace(self, events=(*kept, switch))

    def load_share(self, name: str) -> float:
        """The share of the load named ``name`` (``loads`` in the profile form), 0 if unnamed."""
        return dict(self.loads).get(name, 0.0)

    def then(self, t: float, other: Scenario) -> Scenario:
        """This timeline up to t, then `other` re-based so that its time 0 is t."""
        if other.wiring != self.wiring:
            raise ScenarioError("the wiring of a running meter cannot change")
        kept = tuple((ts, st) for ts, st in self.states if ts < t)
        moved = tuple((ts + t, st) for ts, st in other.states)
        events = tuple(e for e in self.events if e.t_start < t) + tuple(
            replace(e, t_start=e.t_start + t, t_end=e.t_end + t) for e in other.events
        )
        return replace(self, states=kept + moved, events=events)

    def scales_at(self, t: float) -> np.ndarray:
        """(phases, 2) product of the event scale factors in force at t."""
        out = np.ones((self.n_phases, 2))
        for e in self.events:
            if e.t_start <= t < e.t_end:
                for p in e.phases:
                    out[p] *= (e.v_scale, e.i_scale)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scenario:
        """Parse the vector-file form or the profile form (see module docstring)."""
        try:
            phases = d.get("phases")
            if isinstance(phases, Sequence) and phases and isinstance(phases[0], Mapping):
                return _from_vector(d)
            return _from_profile(d)
        except (KeyError, TypeError, IndexError) as exc:
            raise ScenarioError(f"bad scenario description: {exc!r}") from exc


def _channel(d: Mapping[str, Any]) -> Channel:
    hs = tuple(Harmonic(int(h[0]), float(h[1]), float(h[2])) for h in d.get("h", ()))
    if any(h.order < 1 for h in hs):
        raise ScenarioError("harmonic orders start at 1")
    return Channel(float(d.get("dc", 0.0)), hs)


def _from_vector(d: Mapping[str, Any]) -> Scenario:
    wiring = str(d["wiring"])
    f = float(d["f"])
    phases = tuple(PhaseLoad(str(p["name"]), _channel(p["v"]), _channel(p["i"])) for p in d["phases"])
    names = [p.name for p in phases]
    events = []
    for seg in d.get("segments", ()):
        start, n = int(seg["start_cycle"]), int(seg["n_cycles"])
        events.append(
            Event(
                kind=str(seg.get("kind", "segment")),
                t_start=(start - _SEGMENT_EPS) / f,
                t_end=(start + n - _SEGMENT_EPS) / f,
                phases=tuple(names.index(p) for p in seg["phases"]),
                v_scale=float(seg.get("v_scale", 1.0)),
                i_scale=float(seg.get("i_scale", 1.0)),
            )
        )
    return Scenario(wiring, float(d.get("f_nominal", f)), ((0.0, LoadState(f, phases)),), tuple(events))


def _profile_state(d: Mapping[str, Any], wiring: str) -> LoadState:
    f = float(d.get("f", d.get("f_nominal", 60.0)))
    v = float(d.get("voltage", 120.0 if wiring != "3P4W" else 230.0))
    currents = d.get("current", 5.0)
    angle = d.get("angle_deg")
    if angle is None:
        angle = math.degrees(math.acos(max(-1.0, min(1.0, float(d.get("pf", 1.0))))))
    harm = d.get("harmonics", {})
    out = []
    for k, name in enumerate(WIRINGS[wiring]):
        base = _LEG_ANGLE[wiring][k]
        amps = float(currents[k] if isinstance(currents, Sequence) else currents)
        ang = float(angle[k] if isinstance(angle, Sequence) else angle)
        # harmonic h of a leg at base angle a sits at h*a, so triplens are zero-sequence
        vh = [Harmonic(1, v, base)] + [
            Harmonic(int(h), v * float(r), int(h) * base + float(ph)) for h, r, ph in harm.get("v", ())
        ]
        ih = [Harmonic(1, amps, base - ang)] + [
            Harmonic(int(h), amps * float(r), int(h) * (base - ang) + float(ph))
            for h, r, ph in harm.get("i", ())
        ]
        out.append(PhaseLoad(name, Channel(0.0, tuple(vh)), Channel(0.0, tuple(ih))))
    return LoadState(f, tuple(out))


_KINDS = {"sag": (0.7, 0.7), "swell": (1.15, 1.15), "outage": (0.0, 0.0), "load": (1.0, 1.0)}


def _from_profile(d: Mapping[str, Any]) -> Scenario:
    wiring = str(d.get("wiring", "1P2W"))
    if wiring not in WIRINGS:
        raise ScenarioError(f"unknown wiring {wiring!r}")
    states = [(0.0, _profile_state(d, wiring))]
    for step in sorted(d.get("steps", ()), key=lambda s: float(s["at"])):
        merged = {**d, **step}
        states.append((float(step["at"]), _profile_state(merged, wiring)))
    names = WIRINGS[wiring]
    events = []
    for e in d.get("events", ()):
        kind = str(e.get("kind", "sag"))
        if kind not in _KINDS:
            raise ScenarioError(f"unknown event kind {kind!r}")
        dv, di = _KINDS[kind]
        start = float(e["start"])
        events.append(
            Event(
                kind,
                start,
                start + float(e["duration"]),
                tuple(names.index(p) for p in e.get("phases", names)),
                float(e.get("v_scale", dv)),
                float(e.get("i_scale", di)),
            )
        )
    loads = tuple((str(k), float(v)) for k, v in dict(d.get("loads", {})).items())
    return Scenario(wiring, float(d.get("f_nominal", states[0][1].f)), tuple(states), tuple(events),
                    loads)
