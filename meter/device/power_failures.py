"""Power failures from what the metrology measures (use case 8; cosem-reference.md §1 row 8).

A power failure lasts from the moment the first phase is interrupted (the PQ detector's
interruption onset, meter/metrology/pq.py) until the last one is back (the end of its outage
event); a restart after the meter was off is one too (meter/device/startup.py), merged with
the one running when it went off. The running failure is saved with each snapshot: one still
running at a restart ends then (the injected disturbance that cut the supply does not outlive
the restart). When one ends:
the number of power failures in any phase (0.0.96.7.21.255) goes up; one that lasted at least
the long-power-failure time threshold (0.0.96.7.20.255, s) is a long one: 0.0.96.7.9.255 goes up
and the power failure event log (1.0.99.97.0.255) gets an entry {meter time of its end, its
duration in whole seconds (0.0.96.7.19.255)} (DSMR keeps only long failures in that log).

When the first phase goes, the phase-outage alarm is raised at once (the alarm push follows
within the second); when every phase is out the meter logs a power down, and a power up when
the first one is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from meter.codec.axdr import Data, DoubleLongUnsigned
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.events import LogEvent, PowerQualityEvent, StandardEvent
from meter.cosem.names import (
    LONG_POWER_FAILURE_THRESHOLD, LONG_POWER_FAILURES, POWER_FAILURE_DURATION, POWER_FAILURE_LOG,
    POWER_FAILURES)
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.registry import ObjectDirectory
from meter.device.persist import dump_json, load_json
from meter.errors import MeterError
from meter.metrology.pq import PqEvent
from meter.persistence.store import Store

__all__ = ["DEFAULT_LONG_S", "POWER_FAILURE_STATE", "PowerFailures"]

log = logging.getLogger(__name__)

#: Store key of the running power failure (saved with the metrology snapshot).
POWER_FAILURE_STATE = "device/power_failure"
#: Long power failure threshold when the meter has no object for it (DSMR default, s).
DEFAULT_LONG_S = 180


class PowerFailures:
    def __init__(self, directory: ObjectDirectory, phases: Sequence[str],
                 context: Callable[[], Context], offset: Callable[[], float],
                 log_event: Callable[[LogEvent, float], None],
                 alarm: Callable[[LogEvent, bool], None], look: Callable[[], None],
                 store: Store, changed: Callable[[], None]) -> None:
        """``offset``: meter time minus true time; ``log_event(event, meter time)``;
        ``alarm(event, False)``: raise an event's alarm bits without logging it, ``look()``: then
        let the register monitors look (once for phases cut together). ``changed``: the
        running failure changed (saved with the next snapshot, :data:`POWER_FAILURE_STATE`)."""
        self._directory = directory
        self._phases = tuple(phases)
        self._context = context
        self._offset = offset
        self._log_event = log_event
        self._alarm = alarm
        self._look = look
        self._changed = changed
        self._out: set[int] = set()
        self._start: float | None = None  # true time the running failure began
        self._down = False
        state = load_json(store, POWER_FAILURE_STATE)
        if isinstance(state, dict) and state.get("start") is not None:
            self._start = float(state["start"])
            self._out = {int(k) for k in state.get("out", ())}
            self._down = bool(state.get("down"))

    def dump(self) -> bytes:
        return dump_json({"start": self._start, "out": sorted(self._out), "down": self._down})

    def resumed(self, off: float, now: float) -> None:
        """The meter was off from true time ``off`` to ``now``: one power failure, from the
        start of the one that was running when it went off, if any."""
        start = off if self._start is None else min(self._start, off)
        self._reset()
        self.failed(start, now)

    def settle(self, now: float) -> None:
        """At a start: a failure still running when the meter stopped ends now (what cut the
        supply, an injected disturbance, did not outlive the restart)."""
        if self._start is None:
            return
        start = self._start
        if self._down:
            self._log_event(StandardEvent.POWER_UP, now + self._offset())
        self._reset()
        self.failed(start, now)

    def _reset(self) -> None:
        self._start, self._out, self._down = None, set(), False
        self._changed()

    def _phase(self, name: str) -> int:
        return self._phases.index(name) if name in self._phases else 0

    def onsets(self, events: Sequence[PqEvent]) -> None:
        """Interruptions seen in one move of the engine: their alarms go in one push."""
        for event in events:
            self.onset(event)
        self._look()

    def onset(self, event: PqEvent) -> None:
        """Phase ``event.phase`` is interrupted from ``event.start`` on."""
        k = self._phase(event.phase)
        if self._start is None:
            self._start = event.start
            log.info("power failure from %.3f (phase %s)", event.start, event.phase)
        self._start = min(self._start, event.start)
        self._out.add(k)
        self._changed()
        self._alarm(PowerQualityEvent.MISSING_VOLTAGE_L1.on_phase(k), False)
        if len(self._out) == len(self._phases) and not self._down:
            self._down = True
            self._log_event(StandardEvent.POWER_DOWN, event.start + self._offset())

    def restored(self, event: PqEvent) -> None:
        """Phase ``event.phase``'s interruption ended at ``event.end``."""
        k = self._phase(event.phase)
        start = event.start if self._start is None else min(self._start, event.start)
        self._out.discard(k)
        self._changed()
        if self._down:
            self._down = False
            self._log_event(StandardEvent.POWER_UP, event.end + self._offset())
        if self._out:
            self._start = start
            return
        self._start = None
        self.failed(start, event.end)

    def failed(self, start: float, end: float) -> None:
        """A power failure from true time ``start`` to ``end``: counted, and logged if long."""
        ctx = self._context()
        duration = max(end - start, 0.0)
        self._count(POWER_FAILURES, ctx)
        long_s = self._threshold()
        log.info("power failure of %.3f s ended (long from %d s)", duration, long_s)
        if duration < long_s:
            return
        self._count(LONG_POWER_FAILURES, ctx)
        seconds = self._directory.get(POWER_FAILURE_DURATION)
        if seconds is not None:
            seconds.store("value", DoubleLongUnsigned(min(round(duration), 0xFFFFFFFF)))
            ctx.changed(seconds)
        profile = self._directory.get(POWER_FAILURE_LOG)
        if isinstance(profile, ProfileGeneric):
            profile.capture_now(ctx, end + self._offset())

    def _count(self, name: Obis, ctx: Context) -> None:
        obj = self._directory.get(name)
        if obj is not None:
            value: Data = obj.value("value")
            count = value.value if isinstance(value, DoubleLongUnsigned) else 0
            obj.store("value", DoubleLongUnsigned(min(count + 1, 0xFFFFFFFF)))
            ctx.changed(obj)

    def _threshold(self) -> int:
        obj = self._directory.get(LONG_POWER_FAILURE_THRESHOLD)
        try:
            return obj.int_value("value") if obj is not None else DEFAULT_LONG_S
        except MeterError:  # not an integer: the default
            return DEFAULT_LONG_S
