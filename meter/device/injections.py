"""Disturbances a head-end tester makes happen in a running meter (issue 12 item 1): an outage,
a sag or swell, a load change (current, power factor, harmonics).

Each one changes the metrology engine's timeline from the meter's true time on, through the
scenario's own vocabulary (meter/metrology/scenario.py): an outage, sag or swell is an ``Event``
(whole-channel scale factors over a span) added beside the profile's own; a load change is a new
steady state taken over with ``Scenario.then`` (the profile's later events are kept, its later
load steps give way to the new load). What was measured up to now keeps the old timeline; the
PQ detector then reports the disturbance into the power-quality and standard event logs as it
would for a disturbance written in the profile. Relay switchings (``Scenario.switched``) are
events of the timeline and stay in force.

An injected timeline is not persisted: a restart is a power cut of its own and runs the
profile's timeline again.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from meter.metrology.errors import ScenarioError
from meter.metrology.scenario import Event, Scenario

if TYPE_CHECKING:
    from meter.device.device import Device

__all__ = ["INJECTED_KINDS", "MAX_DURATION_S", "inject_outage", "inject_voltage", "set_load"]

#: The voltage disturbances an injection may be, with the scale a sag or swell gets when none
#: is given (IEC 61000-4-30: a sag is below 90 % of the reference, a swell above 110 %).
INJECTED_KINDS = {"sag": 0.7, "swell": 1.15}
#: The longest disturbance one injection may last (simulated s): a year.
MAX_DURATION_S = 366 * 86400.0
_MAX_CURRENT_A = 1000.0
_MAX_HARMONIC = 50


def _phases(scenario: Scenario, phases: Sequence[int | str] | None) -> tuple[int, ...]:
    """Phase indexes from numbers (1-based) or names (A, B, C); None: every phase."""
    if phases is None:
        return tuple(range(scenario.n_phases))
    names = scenario.phase_names
    out: list[int] = []
    for p in phases:
        if isinstance(p, str) and p.upper() in names:
            out.append(names.index(p.upper()))
        elif isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= len(names):
            out.append(p - 1)
        else:
            raise ScenarioError(f"no phase {p!r} on a {scenario.wiring} meter "
                                f"(phases {', '.join(names)} or 1..{len(names)})")
    if not out:
        raise ScenarioError("no phases given")
    return tuple(sorted(set(out)))


def _duration(duration_s: float) -> float:
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ScenarioError(f"a duration is more than 0 and at most {MAX_DURATION_S:g} s, "
                            f"got {duration_s!r}")
    return float(duration_s)


def _event(device: Device, now: float, kind: str, duration_s: float,
           phases: Sequence[int | str] | None, v_scale: float, i_scale: float) -> None:
    device.at(now)
    metrology = device.metrology
    metrology.to(device.t)  # what was measured so far keeps the old timeline
    engine = metrology.engine
    scenario = engine.scenario
    start = engine.now - engine.origin
    event = Event(kind, start, start + _duration(duration_s), _phases(scenario, phases),
                  v_scale, i_scale)
    engine.scenario = replace(scenario, events=(*scenario.events, event))
    device.commit()


def inject_outage(device: Device, now: float, duration_s: float,
                  phases: Sequence[int | str] | None = None) -> None:
    """No supply on ``phases`` (default all) for ``duration_s`` simulated seconds from ``now``."""
    _event(device, now, "outage", duration_s, phases, 0.0, 0.0)


def inject_voltage(device: Device, now: float, kind: str, scale: float | None,
                   duration_s: float, phases: Sequence[int | str] | None = None) -> None:
    """A sag or swell (``kind``): the voltage (and the load current with it, as an impedance
    load follows its voltage) times ``scale`` on ``phases`` for ``duration_s`` from ``now``."""
    if kind not in INJECTED_KINDS:
        raise ScenarioError(f"a voltage injection is one of {', '.join(INJECTED_KINDS)}, "
                            f"not {kind!r}")
    factor = INJECTED_KINDS[kind] if scale is None else float(scale)
    if not (0.0 <= factor < 1.0 if kind == "sag" else 1.0 < factor <= 2.0):
        raise ScenarioError(f"a {kind}'s scale is "
                            f"{'0 to under 1' if kind == 'sag' else 'over 1 to 2'}, got {scale!r}")
    _event(device, now, kind, duration_s, phases, factor, factor)


def set_load(device: Device, now: float, current: float | Sequence[float] | None = None,
             pf: float | None = None,
             harmonics: Mapping[str, Sequence[Sequence[float]]] | None = None) -> None:
    """From ``now`` on the load draws ``current`` A (one value or one per phase) at power
    factor ``pf`` (lagging when positive) with ``harmonics`` ({"i": [[order, ratio, phase_deg],
    ...], "v": ...}: each harmonic's rms relative to the fundamental); what is not given stays
    as it is. The supply voltage and frequency stay."""
    device.at(now)
    metrology = device.metrology
    metrology.to(device.t)
    engine = metrology.engine
    scenario = engine.scenario
    t = engine.now - engine.origin
    _, _, state = scenario.state_at(t)
    volts = _fundamental(state.phases[0].v.harmonics)
    description: dict[str, Any] = {
        "wiring": scenario.wiring, "f": state.f, "f_nominal": scenario.f_nominal,
        "voltage": abs(volts),
        "current": [abs(_fundamental(p.i.harmonics)) for p in state.phases],
        "angle_deg": [_angle(p.v.harmonics, p.i.harmonics) for p in state.phases],
        "harmonics": _relative(state.phases[0]) if harmonics is None else _checked(harmonics),
    }
    if current is not None:
        description["current"] = _currents(current, scenario.n_phases)
    if pf is not None:
        if not -1.0 <= pf <= 1.0:
            raise ScenarioError(f"a power factor is between -1 and 1, got {pf!r}")
        description["angle_deg"] = math.degrees(math.acos(pf))
    later = tuple(e for e in scenario.events if e.t_start >= t)
    new = scenario.then(t, Scenario.from_dict(description))
    engine.scenario = replace(new, events=(*new.events, *later))
    device.commit()


def _fundamental(harmonics: Sequence[Any]) -> complex:
    return sum((cmath.rect(h.rms, math.radians(h.phase_deg)) for h in harmonics if h.order == 1),
               0j)


def _angle(v: Sequence[Any], i: Sequence[Any]) -> float:
    """Degrees the current lags the voltage by (the profile form's ``angle_deg``)."""
    vf, cf = _fundamental(v), _fundamental(i)
    if vf == 0 or cf == 0:
        return 0.0
    return (math.degrees(cmath.phase(vf) - cmath.phase(cf)) + 180.0) % 360.0 - 180.0


def _relative(phase: Any) -> dict[str, list[list[float]]]:
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
            raise ScenarioError(f"harmonics are given for 'v' and 'i', not {key!r}")
        if len(rows) > _MAX_HARMONIC:
            raise ScenarioError(f"at most {_MAX_HARMONIC} harmonics per channel")
        parsed = []
        for row in rows:
            if len(row) not in (2, 3):
                raise ScenarioError("a harmonic is [order, ratio] or [order, ratio, phase_deg]")
            order, ratio = int(row[0]), float(row[1])
            phase = float(row[2]) if len(row) == 3 else 0.0
            if not 2 <= order <= _MAX_HARMONIC or not 0.0 <= ratio <= 1.0 or not math.isfinite(phase):
                raise ScenarioError(f"harmonic {list(row)!r}: order 2..{_MAX_HARMONIC}, "
                                    "ratio 0..1 of the fundamental")
            parsed.append([order, ratio, phase])
        out[key] = parsed
    return out


def _currents(current: float | Sequence[float], n: int) -> list[float]:
    values = [float(current)] * n if isinstance(current, (int, float)) else [float(c) for c in current]
    if len(values) != n or not all(0.0 <= c <= _MAX_CURRENT_A for c in values):
        raise ScenarioError(f"a current is 0..{_MAX_CURRENT_A:g} A, one value or {n} (one per phase)")
    return values
