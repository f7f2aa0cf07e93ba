"""Clock synchronisation parameters over the wire (issue 9 item 5, use case 7), gurux-dlms as
shipped against a meter process: the time-shift limit 1.0.0.9.11.255, the sync window
1.0.0.9.9.255 and the sync method 1.0.0.9.10.255 read and write; every clock setting leaves
events 4 and 5 in the standard event log, one moving the clock further than the limit event 230
between them; a write of the time zone is logged as a parameter change (47); a reserved method
or a signed limit is refused and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from interop.clients import SUCCESS, Arg, Ref, parse_datetime
from interop.test_schedules_wire import CLOCK, management, serve

from meter.cosem.events import StandardEvent

pytestmark = pytest.mark.interop

TIME_ZONE, SHIFT_TIME = Ref(8, CLOCK.obis, 3), Ref(8, CLOCK.obis, 6)
# The time-shift limit and sync window (registers, s) and the sync method (data, enum).
LIMIT, WINDOW, METHOD = (Ref(class_id, obis, 2) for class_id, obis in (
    (3, "1.0.0.9.11.255"), (3, "1.0.0.9.9.255"), (1, "1.0.0.9.10.255")))
EVENT_LOG = "0.0.99.98.0.255"
ENTRIES_IN_USE = Ref(7, EVENT_LOG, 7)
OLD, NEW = StandardEvent.CLOCK_ADJUSTED_OLD_TIME, StandardEvent.CLOCK_ADJUSTED_NEW_TIME
BEYOND = StandardEvent.CLOCK_SHIFT_LIMIT_EXCEEDED
TAG_LONG, TAG_LONG_UNSIGNED, TAG_ENUM, TAG_INTEGER = 16, 18, 22, 15


def test_clock_settings_are_logged_and_a_shift_beyond_the_limit_as_such(tmp_path: Path) -> None:
    from gurux_dlms import GXDateTime
    from gurux_dlms.objects import GXDLMSClock

    with serve(tmp_path / "state") as meter:
        m = management(meter)
        assert m.get(LIMIT).value == 60 and m.get(WINDOW).value == 30 and m.get(METHOD).value == 6

        def codes_since(count: int) -> list[int]:
            in_use = int(m.get(ENTRIES_IN_USE).value)
            return [int(row[1]) for row in m.read_profile_entries(EVENT_LOG, count + 1, in_use)] if in_use > count else []

        logged = int(m.get(ENTRIES_IN_USE).value)
        assert m.action(SHIFT_TIME, Arg(TAG_LONG, 30)).ok  # within the 60 s limit
        assert codes_since(logged) == [OLD, NEW]
        logged = int(m.get(ENTRIES_IN_USE).value)

        clock = GXDLMSClock("0.0.1.0.0.255")  # a head end sets the time an hour ahead
        clock.time = GXDateTime(parse_datetime(m.get(CLOCK).value) + timedelta(hours=1))
        assert m.write_object(clock, 2) == SUCCESS
        assert codes_since(logged) == [OLD, BEYOND, NEW]
        logged = int(m.get(ENTRIES_IN_USE).value)

        # Refused, nothing changed: a reserved method, a signed limit.
        assert m.set(METHOD, Arg(TAG_ENUM, 4)) != SUCCESS and m.get(METHOD).value == 6
        assert m.set(LIMIT, Arg(TAG_INTEGER, -1)) != SUCCESS and m.get(LIMIT).value == 60
        assert codes_since(logged) == []

        assert m.set(LIMIT, Arg(TAG_LONG_UNSIGNED, 7200)) == SUCCESS
        assert m.set(METHOD, Arg(TAG_ENUM, 5)) == SUCCESS and m.get(METHOD).value == 5
        assert m.set(TIME_ZONE, Arg(TAG_LONG, int(m.get(TIME_ZONE).value))) == SUCCESS
        clock.time = GXDateTime(parse_datetime(m.get(CLOCK).value) - timedelta(hours=1))
        assert m.write_object(clock, 2) == SUCCESS  # back an hour: within the new limit
        changed = StandardEvent.PARAMETERS_CHANGED
        assert codes_since(logged) == [changed, changed, changed, OLD, NEW]
        m.release()
