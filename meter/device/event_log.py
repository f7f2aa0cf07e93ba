"""The event logs: each event in its log (meter/cosem/events.py), at an explicit meter time.

An entry sets the log's last-event-code object and captures the log's profile with the time it
is given: a power-quality disturbance is logged with the meter clock at its start and its end,
not at the moment a request or tick brought the engine past it (minutes later in fast-forward),
and the meter's own time never moves back to stamp it. Security events pass the fraud-log
throttle (meter/device/event_throttle.py); standard events set the AMR status bits of the
running load-profile interval (meter/device/amr_status.py), which the AMR profile status object
reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from meter.codec import axdr
from meter.cosem.base import Context, CosemObject
from meter.cosem.events import CommunicationEvent, FraudEvent, LogEvent, PowerQualityEvent
from meter.cosem.names import AMR_PROFILE_STATUS, last_event_code
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.registry import ObjectDirectory
from meter.device.amr_status import AmrStatus
from meter.device.event_throttle import EventThrottle
from meter.metrology.engine import PqEvent

__all__ = ["PQ_EVENTS", "EventLog"]

log = logging.getLogger(__name__)

# The engine's disturbance kinds -> their L1 event (the phase index is added).
PQ_EVENTS = {"sag": PowerQualityEvent.SAG_L1, "swell": PowerQualityEvent.SWELL_L1,
             "outage": PowerQualityEvent.MISSING_VOLTAGE_L1}


class EventLog:
    def __init__(self, directory: ObjectDirectory, context: Callable[[], Context],
                 throttle: EventThrottle, snapshot_due: Callable[[], None]) -> None:
        """``context``: the device-internal context captures run in; ``snapshot_due``: the
        AMR status changed (it is saved with the metrology snapshot)."""
        self._directory = directory
        self._context = context
        self._throttle = throttle
        self._snapshot_due = snapshot_due
        self.amr = AmrStatus()
        self.security_failures = 0
        #: Every logged event goes on here (the device's alarms: counters and alarm bits).
        #: It is given the context the entry was made in.
        self.on_logged: Callable[[LogEvent, Context], None] = lambda event, ctx: None
        amr = directory.get(AMR_PROFILE_STATUS)
        if amr is not None:
            clock = directory.clock
            amr.bind(2, lambda: axdr.Unsigned(self.amr.value(clock.status_at(clock.timestamp()))))

    def log_event(self, event: LogEvent, at: float, level: int = logging.INFO) -> None:
        """Record ``event`` in its event log (and the log's last-event-code object) at meter
        time ``at``; the log record at ``level``."""
        ctx = self._context()
        last = self._directory.get(last_event_code(event.log))
        code = axdr.Unsigned(event & 0xFF)
        if last is not None and last.value("value") != code:  # the same code again: unchanged
            last.store("value", code)
            ctx.changed(last)
        profile = self._directory.get(event.log)
        if isinstance(profile, ProfileGeneric):
            profile.capture_now(ctx, at)
        pending = self.amr.pending
        self.amr.event(event)
        if self.amr.pending != pending:
            self._snapshot_due()
        if log.isEnabledFor(level):  # (a session's record is DEBUG: its name not looked up)
            log.log(level, "event %d (%s) in %s", event, event.name, event.log)
        self.on_logged(event, ctx)

    def written_by(self, event: LogEvent) -> list[CosemObject]:
        """The objects logging ``event`` may write (its log's last-event-code object), its
        log's buffer aside; the alarms' (counters, alarm registers) are the caller's to add."""
        last = self._directory.get(last_event_code(event.log))
        return [] if last is None else [last]

    def pq_event(self, event: PqEvent, phases: Sequence[str], offset: float) -> None:
        """A finished sag/swell/outage (the engine reports it when the phase is back to normal):
        its start and its end, each at its own meter time (true time + ``offset``)."""
        if event.kind not in PQ_EVENTS:
            return
        k = phases.index(event.phase) if event.phase in phases else 0
        self.log_event(PQ_EVENTS[event.kind].on_phase(k), event.start + offset)
        self.log_event(PowerQualityEvent.VOLTAGE_NORMAL_L1.on_phase(k), event.end + offset)
        # Logged disturbances go with the next snapshot: a restart measures again only from it.
        self._snapshot_due()

    def session_event(self, opened: bool, detail: str, at: float) -> None:
        """An association opened or refused; refusals pass the repeat window like fraud events
        (a guesser's thousands of attempts are folded into few entries)."""
        event = CommunicationEvent.SESSION_OPENED if opened else CommunicationEvent.SESSION_FAILED
        if not opened and self._throttle.admit(event) is None:
            return
        log.debug("session %s: %s", "opened" if opened else "refused", detail)
        # The association's own INFO record (server/acse.py: established, or the AARE's
        # refusal) says it already: this one is DEBUG, not a second INFO line per session.
        self.log_event(event, at, logging.DEBUG)

    def security_event(self, event: FraudEvent, detail: str, at: float) -> None:
        self.security_failures += 1
        folded = self._throttle.admit(event)
        if folded is None:
            log.debug("security event %s: %s (folded into the last entry)", event.name, detail)
            return
        log.warning("security event %s: %s%s", event.name, detail,
                    f" ({folded} more since the last entry of this code)" if folded else "")
        self.log_event(event, at)
