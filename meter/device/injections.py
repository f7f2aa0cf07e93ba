"""Runtime injection on a running meter (issue 10 item 6, issue 12 item 1): supply disturbances,
load changes and tampering.

An outage, sag or swell becomes one more Event of the metrology engine's scenario from ``now``
on (meter/metrology/scenario.py, ``Engine.disturb``): whatever follows (PQ log entries, power
failures and their counters and log, alarms, pushes) comes from what the engine then measures,
exactly as for a disturbance in the profile's scenario. A load change (current, power factor,
harmonics) is a new steady state taken over with ``Scenario.then`` (the profile's later events
are kept, its later load steps give way to it; relay switchings stay in force). A tamper switch (terminal cover, meter
cover, magnetic field) logs its fraud event when it changes; the state is kept across restarts.

The meter is ticked just after each edge of a disturbance, injected or from the profile's
scenario (:meth:`next_deadline`), so an onset is detected, and its alarm pushed, within the
second whatever the time scale. Injected disturbances and loads are not persisted: a restart is
a power cut of its own and runs the profile's timeline again.

Phases are indexes, 0 = L1; the control API maps names and 1-based numbers onto them.
"""

from __future__ import annotations

import bisect
import cmath
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from meter.cosem.events import FraudEvent, LogEvent
from meter.device.bindings import Metrology
from meter.errors import MeterError
from meter.metrology.errors import ScenarioError
from meter.metrology.scenario import PhaseLoad, Scenario
from meter.persistence.store import Store

__all__ = ["DEFAULT_SCALE", "TAMPERS", "TAMPER_STATE", "InjectionError", "Injections"]

log = logging.getLogger(__name__)

#: Store key of the tamper switches' states.
TAMPER_STATE = "device/tamper"
#: Tamper kind -> its fraud events (active, gone) (IDIS codes 40-45, cosem-reference.md §4.1).
TAMPERS: dict[str, tuple[FraudEvent, FraudEvent]] = {
    "terminal_cover": (FraudEvent.TERMINAL_COVER_REMOVED, FraudEvent.TERMINAL_COVER_CLOSED),
    "meter_cover": (FraudEvent.METER_COVER_REMOVED, FraudEvent.METER_COVER_CLOSED),
    "magnetic_field": (FraudEvent.STRONG_DC_FIELD, FraudEvent.STRONG_DC_FIELD_GONE),
}
#: Seconds after an edge the meter looks again (a few cycles: the detector sees whole cycles).
_EDGE_S = 0.1
#: Longest disturbance one call may inject (s): a year.
MAX_DURATION_S = 366 * 86400.0
#: The scale a sag or swell gets when none is given (IEC 61000-4-30: a sag is below 90 % of the
#: reference, a swell above 110 %).
DEFAULT_SCALE = {"sag": 0.7, "swell": 1.15}
_MAX_CURRENT_A = 1000.0
_MAX_HARMONIC = 50


class InjectionError(MeterError, ValueError):
    """An injection the meter cannot take (unknown kind, phase, bad duration or scale)."""


class Injections:
    def __init__(self, metrology: Metrology, store: Store, now: Callable[[], float],
                 log_event: Callable[[LogEvent], None], changed: Callable[[], None]) -> None:
        """``now``: the meter's true time; ``log_event``: log at the meter clock's now;
        ``changed``: the tamper states changed (saved with the next snapshot)."""
        self._metrology = metrology
        self._now = now
        self._log_event = log_event
        self._changed = changed
        self._edges: tuple[object, list[float]] = (None, [])  # (scenario, its edges' times)
        raw = store.get(TAMPER_STATE)
        self.tamper: dict[str, bool] = dict.fromkeys(TAMPERS, False)
        if raw is not None:
            try:
                self.tamper |= {k: bool(v) for k, v in json.loads(raw).items() if k in TAMPERS}
            except (ValueError, AttributeError):
                log.warning("stored tamper states unreadable; all closed")

    def dump(self) -> bytes:
        return json.dumps(self.tamper, sort_keys=True).encode()

    def outage(self, duration_s: float, phases: tuple[int, ...] | None) -> None:
        """No voltage and no current on ``phases`` (all by default) for ``duration_s``."""
        self._disturb("outage", 0.0, duration_s, phases)

    def voltage(self, kind: str, scale: float | None, duration_s: float,
                phases: tuple[int, ...] | None) -> None:
        """A "sag" (0 <= scale < 1) or "swell" (1 < scale <= 2): the voltage of ``phases`` at
        ``scale`` (DEFAULT_SCALE when None) x its normal value for ``duration_s``."""
        if kind not in DEFAULT_SCALE:
            raise InjectionError(f"unknown voltage disturbance {kind!r} (sag, swell)")
        scale = DEFAULT_SCALE[kind] if scale is None else float(scale)
        if not (0 <= scale < 1 if kind == "sag" else 1 < scale <= 2):
            raise InjectionError(f"a {kind}'s scale is {'0 to under 1' if kind == 'sag' else 'over 1 to 2'}"
                                 f" (x the nominal voltage), got {scale!r}")
        self._disturb(kind, scale, duration_s, phases)

    def _disturb(self, kind: str, scale: float, duration_s: float,
                 phases: tuple[int, ...] | None) -> None:
        """Scale the voltage of ``phases`` (all by default) to ``scale`` of the scenario's from
        the meter's now, for ``duration_s``."""
        engine = self._metrology.engine
        if not 0 < duration_s <= MAX_DURATION_S:
            raise InjectionError(f"duration {duration_s!r} s is not in (0, {MAX_DURATION_S:.0f}]")
        chosen = tuple(range(engine.scenario.n_phases)) if phases is None else tuple(sorted(set(phases)))
        if not chosen or any(not 0 <= p < engine.scenario.n_phases for p in chosen):
            raise InjectionError(f"phases {phases!r} not in 0..{engine.scenario.n_phases - 1}")
        t = self._now()
        self._metrology.to(t)
        current = scale if kind != "outage" else 0.0  # a resistive load follows its voltage
        engine.disturb(t, kind, duration_s, chosen, scale, current)
        log.info("injected %s on phases %s: %.3f x U for %.3f s", kind, chosen, scale, duration_s)

    def load(self, current: float | Sequence[float] | None, pf: float | None,
             harmonics: Mapping[str, Sequence[Sequence[float]]] | None) -> None:
        """From now on the load draws ``current`` A (one value or one per phase) at power factor
        ``pf`` (lagging when positive) with ``harmonics`` ({"i": [[order, ratio, phase_deg],
        ...], "v": ...}: each harmonic's rms relative to the fundamental); what is not given
        stays as it is. The supply voltage and frequency stay."""
        engine = self._metrology.engine
        self._metrology.to(self._now())
        scenario = engine.scenario
        t = engine.now - engine.origin
        _, _, state = scenario.state_at(t)
        description: dict[str, Any] = {
            "wiring": scenario.wiring, "f": state.f, "f_nominal": scenario.f_nominal,
            "voltage": abs(_fundamental(state.phases[0].v.harmonics)),
            "current": [abs(_fundamental(p.i.harmonics)) for p in state.phases],
            "angle_deg": [_angle(p) for p in state.phases],
            "harmonics": _relative(state.phases[0]) if harmonics is None else _checked(harmonics),
        }
        if current is not None:
            description["current"] = _currents(current, scenario.n_phases)
        if pf is not None:
            if not -1.0 <= pf <= 1.0:
                raise InjectionError(f"a power factor is between -1 and 1, got {pf!r}")
            description["angle_deg"] = math.degrees(math.acos(pf))
        try:
            new = scenario.then(t, Scenario.from_dict(description))
        except ScenarioError as exc:
            raise InjectionError(str(exc)) from None
        later = tuple(e for e in scenario.events if e.t_start >= t)
        engine.scenario = replace(new, events=(*new.events, *later))
        log.info("injected load: current %r, pf %r, harmonics %r", current, pf, harmonics)

    def set_tamper(self, kind: str, active: bool) -> None:
        events = TAMPERS.get(kind)
        if events is None:
            raise InjectionError(f"unknown tamper {kind!r} ({', '.join(TAMPERS)})")
        if self.tamper[kind] == active:
            return
        self.tamper[kind] = active
        self._changed()
        self._log_event(events[0] if active else events[1])

    def next_deadline(self) -> float | None:
        """Just after the next edge of the scenario still to come (an injected disturbance's or
        the profile's): the meter is ticked then, so an interruption is seen at once."""
        engine = self._metrology.engine
        scenario, edges = self._edges
        if scenario is not engine.scenario:
            edges = sorted(engine.origin + b + _EDGE_S for b in engine.scenario.boundaries()
                           if math.isfinite(b))
            self._edges = (engine.scenario, edges)
        k = bisect.bisect_right(edges, self._now())
        return edges[k] if k < len(edges) else None


def _fundamental(harmonics: Sequence[Any]) -> complex:
    return sum((cmath.rect(h.rms, math.radians(h.phase_deg)) for h in harmonics if h.order == 1),
               0j)


def _angle(phase: PhaseLoad) -> float:
    """Degrees the current lags the voltage by (the profile form's ``angle_deg``)."""
    vf, cf = _fundamental(phase.v.harmonics), _fundamental(phase.i.harmonics)
    if vf == 0 or cf == 0:
        return 0.0
    return (math.degrees(cmath.phase(vf) - cmath.phase(cf)) + 180.0) % 360.0 - 180.0


def _relative(phase: PhaseLoad) -> dict[str, list[list[float]]]:
    """The harmonics of a phase as the profile form gives them: relative to the fundamental,
    phases as offsets from h times the fundamental's."""
    out: dict[str, list[list[float]]] = {}
    for key, channel in (("v", phase.v), ("i", phase.i)):
        base = _fundamental(channel.harmonics)
        if base == 0:
            continue
        angle = math.degrees(cmath.phase(base))
        out[key] = [[h.order, h.rms / abs(base), h.phase_deg - h.order * angle]
                    for h in channel.harmonics if h.order > 1]
    return out


def _checked(harmonics: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = {}
    for key, rows in harmonics.items():
        if key not in ("v", "i"):
            raise InjectionError(f"harmonics are given for 'v' and 'i', not {key!r}")
        if not isinstance(rows, (list, tuple)) or len(rows) > _MAX_HARMONIC:
            raise InjectionError(f"harmonics of {key!r}: a list of at most {_MAX_HARMONIC}")
        parsed = []
        for row in rows:
            try:
                if not isinstance(row, (list, tuple)) or len(row) not in (2, 3):
                    raise ValueError
                order, ratio = int(row[0]), float(row[1])
                phase = float(row[2]) if len(row) == 3 else 0.0
            except (TypeError, ValueError, OverflowError):
                raise InjectionError("a harmonic is [order, ratio] or [order, ratio, phase_deg] "
                                     f"(numbers), got {row!r}") from None
            if not 2 <= order <= _MAX_HARMONIC or not 0.0 <= ratio <= 1.0 or not math.isfinite(phase):
                raise InjectionError(f"harmonic {list(row)!r}: order 2..{_MAX_HARMONIC}, "
                                    "ratio 0..1 of the fundamental")
            parsed.append([order, ratio, phase])
        out[key] = parsed
    return out


def _currents(current: float | Sequence[float], n: int) -> list[float]:
    try:
        values = [float(current)] * n if isinstance(current, (int, float)) else [float(c) for c in current]
    except (TypeError, ValueError):
        values = []
    if len(values) != n or not all(0.0 <= c <= _MAX_CURRENT_A for c in values):
        raise InjectionError(f"a current is 0..{_MAX_CURRENT_A:g} A, one value or {n} (one per phase)")
    return values
