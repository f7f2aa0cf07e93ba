"""Remote tariff programming over the wire (issue 9, use case 13), gurux-dlms as shipped against a
time-scaled meter process: a head end writes a passive calendar (2 seasons, 2 week profiles, 3
day profiles) with gurux's GXDLMSActivityCalendar, inserts a special day with
GXDLMSSpecialDaysTable and sets the activation time; across the activation, a weekday peak, a
weekend, holidays and the inserted special day each rate register grows by the energy the constant
load delivers while its rate is active, the rates add up to the total, and the currently active
tariff reads the rate of the moment. A bad day profile is refused and changes nothing."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from device.helpers import POWER_W
from interop.clients import SUCCESS, WRAPPER, Endpoint, Ref, parse_datetime
from interop.test_schedules_wire import WireMeter, management, reader
from support.process import meter_process

pytestmark = pytest.mark.interop

UTC = timezone.utc
CALENDAR = "0.0.13.0.0.255"
SPECIAL_DAYS = "0.0.11.0.0.255"
SCRIPTS = "0.0.10.0.100.255"
CLOCK = Ref(8, "0.0.1.0.0.255", 2)
TARIFF = Ref(1, "0.0.96.14.0.255", 2)
PASSIVE_SEASONS = Ref(20, CALENDAR, 7)
PASSIVE_DAYS = Ref(20, CALENDAR, 9)
TOTAL = Ref(3, "1.0.1.8.0.255", 2)
RATES = [Ref(3, f"1.0.1.8.{r}.255", 2) for r in (1, 2, 3)]
#: Two simulated hours per real second: Wednesday noon to Monday 08:00 in about a minute.
SCALE = "7200"
START = "2026-12-23T12:00:00Z"
WAIT_S = 60.0


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def gurux_calendar(script_selector_peak: int = 1) -> Any:
    """The passive calendar: winter from 1 October, summer from 1 April (every year); working
    days 00:00 off-peak, 07:00 peak, 20:00 off-peak; weekends and holidays 09:30-18:00 shoulder."""
    from gurux_dlms import GXDateTime, GXTime
    from gurux_dlms.enums import DateTimeSkips
    from gurux_dlms.objects import (
        GXDLMSActivityCalendar,
        GXDLMSDayProfile,
        GXDLMSDayProfileAction,
        GXDLMSSeasonProfile,
        GXDLMSWeekProfile,
    )

    def season(name: str, month: int, week_name: str) -> Any:
        start = GXDateTime(datetime(2026, month, 1))
        start.skip = DateTimeSkips.YEAR | DateTimeSkips.DAY_OF_WEEK | DateTimeSkips.DEVITATION
        return GXDLMSSeasonProfile(name.encode(), start, week_name.encode())  # str is hex to gurux

    def week(name: str, working: int, weekend: int) -> Any:
        w = GXDLMSWeekProfile()
        w.name = name.encode()
        w.monday = w.tuesday = w.wednesday = w.thursday = w.friday = working
        w.saturday = w.sunday = weekend
        return w

    def day(day_id: int, *actions: tuple[int, int, int]) -> Any:
        return GXDLMSDayProfile(day_id, [
            GXDLMSDayProfileAction(GXTime(datetime(2026, 1, 1, h, m)), SCRIPTS, s) for h, m, s in actions])

    calendar = GXDLMSActivityCalendar(CALENDAR)
    calendar.calendarNamePassive = "HE-2026"  # gurux encodes this one itself
    calendar.seasonProfilePassive = [season("winter", 10, "wk-winter"), season("summer", 4, "wk-summer")]
    calendar.weekProfileTablePassive = [week("wk-winter", 1, 2), week("wk-summer", 3, 2)]
    calendar.dayProfileTablePassive = [day(1, (0, 0, 3), (7, 0, script_selector_peak), (20, 0, 3)),
                                       day(2, (0, 0, 3), (9, 30, 2), (18, 0, 3)),
                                       day(3, (0, 0, 2), (12, 0, 1), (16, 0, 2))]
    calendar.time = GXDateTime(datetime(2026, 12, 24, 5, 0))
    return calendar


def wait_until(r: Any, moment: datetime) -> None:
    deadline = time.monotonic() + WAIT_S
    while parse_datetime(r.get(CLOCK).value) < moment:
        assert time.monotonic() < deadline, f"the meter never reached {moment}"
        time.sleep(0.05)


def bracketed(r: Any) -> tuple[int, list[int], int]:
    """(total, the rate registers, total again): the rates are read while the meter runs on."""
    before = int(r.get(TOTAL).value)
    rates = [int(r.get(ref).value) for ref in RATES]
    return before, rates, int(r.get(TOTAL).value)


def test_a_calendar_programmed_by_gurux_bills_each_rate(tmp_path: Path) -> None:
    from gurux_dlms import GXDate
    from gurux_dlms.objects import GXDLMSSeasonProfile, GXDLMSSpecialDay, GXDLMSSpecialDaysTable

    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--time-scale", SCALE,
                       start=START) as process:
        meter = WireMeter(Endpoint(WRAPPER, *process.address("tcp")))
        m = management(meter)
        unknown_script = gurux_calendar(script_selector_peak=9)
        before = m.get(PASSIVE_DAYS).value
        assert m.write_object(unknown_script, 9) != SUCCESS
        assert m.get(PASSIVE_DAYS).value == before
        overlapping = gurux_calendar()
        winter = overlapping.seasonProfilePassive[0]
        overlapping.seasonProfilePassive = [winter, GXDLMSSeasonProfile(b"late", winter.start, winter.weekName)]
        before = m.get(PASSIVE_SEASONS).value
        assert m.write_object(overlapping, 7) != SUCCESS
        assert m.get(PASSIVE_SEASONS).value == before
        calendar = gurux_calendar()
        for index in (6, 7, 8, 9, 10):
            assert m.write_object(calendar, index) == SUCCESS, f"attribute {index}"
        monday = GXDLMSSpecialDay()
        monday.index, monday.date, monday.dayId = 10, GXDate(datetime(2026, 12, 28)), 2
        table = GXDLMSSpecialDaysTable(SPECIAL_DAYS)
        reply = m._exchange(table.insert(m.client, monday))  # noqa: SLF001 - gurux's own request
        assert reply.error == SUCCESS
        m.release()

        r = reader(meter)
        wait_until(r, at(24, 0, 30))  # Thursday, off-peak until 07:00 on either calendar
        assert parse_datetime(r.get(CLOCK).value) < at(24, 5), "too slow to program in time"
        start = bracketed(r)
        steps = [(at(24, 12), 1),   # activated at 05:00: peak 07:00-20:00 (the old one: 11:00 shoulder)
                 (at(25, 12), 2),   # Christmas, a special day of the meter's own table
                 (at(26, 20), 3),   # Saturday evening
                 (at(28, 8), 3)]    # Monday, the special day gurux inserted (else peak from 07:00)
        for moment, rate in steps:
            wait_until(r, moment)
            assert int(r.get(TARIFF).value) == rate, f"at {moment}"
        end = bracketed(r)
        r.release()

    peak_h = 13  # Thursday 07:00-20:00
    shoulder_h = 3 * 8.5  # Friday (holiday), Saturday, Sunday 09:30-18:00
    grown = [now - was for now, was in zip(end[1], start[1], strict=True)]
    assert grown[0] == pytest.approx(peak_h * POWER_W, abs=2)
    assert grown[1] == pytest.approx(shoulder_h * POWER_W, abs=2)
    # The rates add up to the total (whole Wh each), read between two readings of it.
    assert end[0] - start[2] - 3 <= sum(grown) <= end[2] - start[0] + 3
