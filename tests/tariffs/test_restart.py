"""The tariff objects of the default profile in a whole meter (Device on a tmp state directory):
the calendar runs from the first start, a restart in the middle of a day resumes the right rate,
and a passive calendar whose activation time passed while the meter was off is activated at
start (issue 9 item 6)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from device.helpers import fast_timebase, open_device

from meter.codec import axdr
from meter.codec.axdr import OctetString
from meter.cosem.activity_calendar import ActivityCalendar
from meter.device import Device

from .calendar_data import ACTIVE_TARIFF, ACTIVITY_CALENDAR, DAYS, SEASONS, WEEKS, day

UTC = dt.timezone.utc


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def tariff(device: Device) -> int:
    value = device.directory[ACTIVE_TARIFF].get(2, device.context(None))
    assert isinstance(value, axdr.Unsigned)
    return value.value


def test_a_restart_resumes_the_rate_the_calendar_runs_then(tmp_path: Path) -> None:
    # Wednesday 14 January 2026, winter working day: off-peak to 07:00, peak to 11:00, shoulder.
    timebase = fast_timebase(utc(2026, 1, 14, 6, 30))
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    assert tariff(device) == 3
    timebase.t = utc(2026, 1, 14, 8)
    device.tick(timebase.t)
    assert tariff(device) == 1
    device.close()
    timebase.t = utc(2026, 1, 14, 12)  # off across the 11:00 switch
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    assert tariff(device) == 2
    device.close()


def test_an_activation_time_passed_while_off_activates_at_start(tmp_path: Path) -> None:
    timebase = fast_timebase(utc(2026, 1, 14, 6, 30))
    device = open_device(tmp_path, timebase)
    ctx = device.context(None)
    calendar = device.directory[ACTIVITY_CALENDAR]
    assert isinstance(calendar, ActivityCalendar)
    # The calendar_data calendar, with a working day of shoulder from 09:00 on.
    days = axdr.Array((day(1, (0, 0, 3), (9, 0, 2)), *DAYS.items[1:]))
    for index, value in ((6, OctetString(b"NEXT")), (7, SEASONS), (8, WEEKS), (9, days),
                         (10, OctetString(bytes.fromhex("07EA010E030A0000008000FF")))):  # 10:00
        calendar.set(index, value, ctx)
    device.commit()
    device.close()
    timebase.t = utc(2026, 1, 14, 12)
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    calendar = device.directory[ACTIVITY_CALENDAR]
    assert isinstance(calendar, ActivityCalendar)
    assert calendar.value("calendar_name_active") == OctetString(b"NEXT") and not calendar.pending
    assert tariff(device) == 2  # the new calendar's shoulder, not the old one's (also shoulder at 12:00)
    timebase.t = utc(2026, 1, 14, 18)
    device.tick(timebase.t)
    assert tariff(device) == 2  # the old calendar had a peak from 17:00
    device.close()
