"""Runtime injection on a running meter (issue 10 item 6): supply disturbances and tampering.

An outage, sag or swell becomes one more Event of the metrology engine's scenario from ``now``
on (meter/metrology/scenario.py, ``Engine.disturb``): whatever follows (PQ log entries, power
failures and their counters and log, alarms, pushes) comes from what the engine then measures,
exactly as for a disturbance in the profile's scenario. A tamper switch (terminal cover, meter
cover, magnetic field) logs its fraud event when it changes; the state is kept across restarts.

The meter is ticked just after each edge of a disturbance, injected or from the profile's
scenario (:meth:`next_deadline`), so an onset is detected, and its alarm pushed, within the
second whatever the time scale.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
from collections.abc import Callable

from meter.cosem.events import FraudEvent, LogEvent
from meter.device.bindings import Metrology
from meter.errors import MeterError
from meter.persistence.store import Store

__all__ = ["TAMPERS", "TAMPER_STATE", "InjectionError", "Injections"]

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

    def voltage(self, kind: str, scale: float, duration_s: float,
                phases: tuple[int, ...] | None) -> None:
        """A "sag" (0 <= scale < 1) or "swell" (1 < scale <= 2): the voltage of ``phases`` at
        ``scale`` x its normal value for ``duration_s``."""
        if kind not in ("sag", "swell"):
            raise InjectionError(f"unknown voltage disturbance {kind!r} (sag, swell)")
        if not (0 <= scale < 1 if kind == "sag" else 1 < scale <= 2):
            raise InjectionError(f"a {kind} to {scale!r} x U (sag 0..1, swell 1..2)")
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
