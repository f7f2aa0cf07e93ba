"""Single action schedule and Schedule dates with the DST wildcards (Blue Book 4.1.6.1: month
0xFD / 0xFE = the month daylight saving time ends / begins; day 0xFD / 0xFE = second last / last
day of the month), in local time by the Clock's DST rules.

The oracle finds the DST months without the rules' code: it scans the year hour by hour for the
clock's UTC offset going up (DST begins) or down (DST ends)."""

from __future__ import annotations

import calendar
import datetime as dt

from hypothesis import example, given, settings
from hypothesis import strategies as st

from meter.codec import axdr
from meter.codec.axdr import Array, BitString, Boolean, LongUnsigned, OctetString, Structure
from meter.codec.cosem_time import MONTH_DST_BEGIN, MONTH_DST_END, CosemDate
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.clock import Clock
from meter.cosem.local_dates import dates
from meter.cosem.names import CLOCK
from meter.cosem.registry import ObjectDirectory
from meter.cosem.schedule import Schedule
from meter.cosem.single_action_schedule import next_occurrence

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 15, 10, tzinfo=UTC).timestamp()
SCRIPTS = Obis.parse("0.0.10.0.1.255")


def _rule(month: int, hour: int) -> bytes:
    """Last Sunday of ``month`` at ``hour``, every year."""
    return bytes((0xFF, 0xFF, month, 0xFE, 7, hour, 0, 0, 0xFF, 0x80, 0x00, 0xFF))


def _clock(begin: int = 3, end: int = 10, time_zone: int = -60, enabled: bool = True) -> Clock:
    clock = Clock(CLOCK, lambda: T0)
    ctx = Context(ObjectDirectory([clock]), None, lambda _event: None, lambda _obj: None)
    clock.set(3, axdr.Long(time_zone), ctx)
    clock.set(5, OctetString(_rule(begin, 2)), ctx)
    clock.set(6, OctetString(_rule(end, 3)), ctx)
    clock.set(8, Boolean(enabled), ctx)
    return clock


def _offset_changes(clock: Clock, year: int) -> tuple[set[int], set[int]]:
    """(months the offset goes up in, months it goes down in) during ``year``, local time."""
    up: set[int] = set()
    down: set[int] = set()
    ts = dt.datetime(year, 1, 1, tzinfo=UTC).timestamp()
    before = clock.local_offset(ts)
    for _ in range(366 * 8):  # every 3 h: the changes of these rules are days apart
        ts += 3 * 3600
        now = clock.local_offset(ts)
        local = clock.datetime_at(ts)
        if now != before and local.year == year:
            (up if now > before else down).add(local.month)
        before = now
    return up, down


def _entry(time: bytes, date: CosemDate) -> Structure:
    return Structure((OctetString(time), OctetString(date.to_bytes())))


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_last_day_of_the_dst_begin_month_fires_there() -> None:
    """The regression: on main, months 0xFD / 0xFE matched no date, so such a SAS never fired."""
    clock = _clock()  # CET/CEST: DST begins in March, ends in October
    begin_last_day = _entry(bytes(4), CosemDate(None, MONTH_DST_BEGIN, 0xFE))
    # Local midnight of March 31 (still standard time, UTC+1) is 23:00 UTC the day before.
    assert next_occurrence(begin_last_day, utc(2024, 1, 15), clock) == utc(2024, 3, 30, 23)
    end_first_day = _entry(bytes(4), CosemDate(None, MONTH_DST_END, 1))
    # October 1 is summer time (UTC+2).
    assert next_occurrence(end_first_day, utc(2024, 1, 15), clock) == utc(2024, 9, 30, 22)
    assert next_occurrence(end_first_day, utc(2024, 10, 15), clock) == utc(2025, 9, 30, 22)


def test_without_dst_the_dst_months_name_no_date() -> None:
    clock = _clock(enabled=False)
    for month in (MONTH_DST_BEGIN, MONTH_DST_END):
        assert next_occurrence(_entry(bytes(4), CosemDate(None, month, 1)), T0, clock) is None


def test_schedule_bounds_with_a_year_resolve_the_wildcards() -> None:
    """A Schedule entry between 2024-01-01 and the second last day of the 2024 DST end month
    (October 30): daily at 12:00 local, it runs on October 30 and not on October 31."""
    clock = _clock()
    end = CosemDate(2024, MONTH_DST_END, 0xFD)
    entry = Structure((LongUnsigned(1), Boolean(True), OctetString(SCRIPTS.to_bytes()),
                       LongUnsigned(1), OctetString(bytes((12, 0, 0, 0))), LongUnsigned(0xFFFF),
                       BitString.from_bits("1111111"), BitString.from_bits("0" * 50),
                       OctetString(CosemDate(2024, 1, 1).to_bytes()),
                       OctetString(end.to_bytes())))
    schedule = Schedule(Obis.parse("0.0.12.0.0.255"), entries=Array((entry,)))
    assert schedule.next_after(utc(2024, 10, 29, 12), clock) == utc(2024, 10, 30, 11)  # CET
    assert schedule.next_after(utc(2024, 10, 30, 12), clock) is None


_DAYS = st.one_of(st.none(), st.sampled_from([0xFD, 0xFE]), st.integers(1, 31))


@settings(max_examples=40, deadline=None)
@given(begin=st.integers(1, 12), end=st.integers(1, 12), year=st.integers(1990, 2100),
       day=_DAYS, weekday=st.one_of(st.none(), st.integers(1, 7)),
       time_zone=st.integers(-12, 12).map(lambda h: 60 * h), which=st.sampled_from(
           [MONTH_DST_BEGIN, MONTH_DST_END]))
def test_dst_months_match_where_the_offset_changes(begin: int, end: int, year: int,
                                                   day: int | None, weekday: int | None,
                                                   time_zone: int, which: int) -> None:
    """The dates a DST-month wildcard matches in a year are exactly the days (by day of month
    and weekday) of the month in which the clock's offset goes up (begin) or down (end)."""
    if begin == end:
        return  # no DST period
    clock = _clock(begin, end, time_zone)
    up, down = _offset_changes(clock, year)
    months = up if which == MONTH_DST_BEGIN else down
    date = CosemDate(year, which, day, weekday)
    found = list(dates(date, dt.date(year, 1, 1), clock))
    expected = []
    for month in sorted(months):
        last = calendar.monthrange(year, month)[1]
        wanted = {None: None, 0xFE: last, 0xFD: last - 1}.get(day, day)
        expected += [dt.date(year, month, d) for d in range(1, last + 1)
                     if (wanted is None or d == wanted)
                     and (weekday is None or dt.date(year, month, d).isoweekday() == weekday)]
    assert found == expected


@settings(max_examples=40, deadline=None)
@given(after=st.floats(utc(2000, 1, 1), utc(2090, 1, 1)), hour=st.integers(0, 23),
       minute=st.integers(0, 59), which=st.sampled_from([MONTH_DST_BEGIN, MONTH_DST_END]),
       day=st.sampled_from([0xFD, 0xFE]))
@example(after=1680220800.0, hour=2, minute=0, which=MONTH_DST_BEGIN, day=0xFE)  # found by CI
def test_next_occurrence_lands_on_the_local_date_and_time(after: float, hour: int, minute: int,
                                                          which: int, day: int) -> None:
    """EU rules: the next time a (DST month, last / second last day, hh:mm) entry names is after
    ``after``, within a year and a day, and reads that date and time on the meter's local clock."""
    clock = _clock()
    t = next_occurrence(_entry(bytes((hour, minute, 0, 0)), CosemDate(None, which, day)),
                        after, clock)
    assert t is not None and after < t <= after + 367 * 86400
    local = clock.datetime_at(t)
    last = calendar.monthrange(local.year, local.month)[1]
    assert local.month == (3 if which == MONTH_DST_BEGIN else 10)
    assert local.day == (last if day == 0xFE else last - 1)
    if which == MONTH_DST_BEGIN and hour == 2 and local.weekday() == 6 and local.day > last - 7:
        # 02:xx does not exist on the day DST begins (these rules: last Sunday of March, 02:00
        # -> 03:00; 2024-03-31 is one): it fires at the same minute of the first hour that does.
        assert (local.hour, local.minute) == (3, minute)
    else:
        assert (local.hour, local.minute) == (hour, minute)
