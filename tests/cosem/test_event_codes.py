"""Every event code the meter logs is one number for one event, whatever its log.

A head end reads a log's codes without the meter's enums, and the meter keys alarm bits and
event counters by event: two events sharing a code (IntEnum members compare by value) would raise
each other's alarms. The manufacturer-specific range DSMR leaves (230-249) is shared out:
230 clock shift limit, 231/232 sessions, 240-245 prepayment.
"""

from __future__ import annotations

from meter.cosem.events import LogEvent


def _kinds(cls: type[LogEvent]) -> list[type[LogEvent]]:
    return [k for sub in cls.__subclasses__() for k in (sub, *_kinds(sub))]


def test_no_two_events_share_a_code() -> None:
    events = [e for kind in _kinds(LogEvent) for e in kind]
    codes = [int(e) for e in events]
    shared = {c for c in codes if codes.count(c) > 1}
    assert not shared, [e for e in events if int(e) in shared]
    assert len(events) > 40  # the logs' events were found
