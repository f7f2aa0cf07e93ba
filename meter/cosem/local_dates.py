"""COSEM dates and times with wildcards, resolved to UTC instants in the meter's local time.

Blue Book 4.1.6.1 date wildcards: year 0xFFFF, month 0xFF, day 0xFF and day of week 0xFF are
"not specified" (every value); month 0xFD / 0xFE are the months daylight saving time ends /
begins (by the Clock's rules, year by year); day 0xFD / 0xFE are the second last / last day of
the month; a day of week narrows the dates matched. Times: hour or minute 0xFF is every one.
Local time is the Clock's time zone and DST (Blue Book 4.5.7, execution_time is local time).
Used by Single action schedule (execution_time) and Schedule (switch_time, begin/end dates).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from meter.codec.cosem_time import MONTH_DST_BEGIN, MONTH_DST_END, CosemDate, CosemTime

__all__ = ["LocalTime", "calendar_date", "dates", "local_times", "start_day"]

#: Years a wildcard year is looked ahead for a match (Feb 29 recurs within 8).
_YEARS_AHEAD = 9
_UTC = dt.timezone.utc


class LocalTime(Protocol):
    """What dates need of the Clock: its UTC offset and its DST rules."""

    def local_offset(self, ts: float) -> int:
        """local − UTC in minutes at a UTC time."""
        ...

    def dst_change(self, year: int, begin: bool) -> dt.datetime | None:
        """The local instant DST begins (or ends) in ``year``; None without DST."""
        ...


def _months(month: int | None, year: int, clock: LocalTime) -> Sequence[int]:
    if month is None:
        return range(1, 13)
    if month in (MONTH_DST_END, MONTH_DST_BEGIN):
        change = clock.dst_change(year, begin=month == MONTH_DST_BEGIN)
        return [change.month] if change is not None else []
    return [month] if 1 <= month <= 12 else []


def _days(date: CosemDate, last: int) -> Sequence[int]:
    day = date.day_in(last)
    if day is None:
        return range(1, last + 1)
    return [day] if 1 <= day <= last else []


def dates(date: CosemDate, start: dt.date, clock: LocalTime) -> Iterator[dt.date]:
    """The dates ``date`` matches, from ``start`` on, in order."""
    years = [date.year] if date.year is not None else range(start.year, start.year + _YEARS_AHEAD)
    for y in years:
        if not dt.MINYEAR <= y <= dt.MAXYEAR:
            continue
        for m in _months(date.month, y, clock):
            if (y, m) < (start.year, start.month):
                continue
            for d in _days(date, calendar.monthrange(y, m)[1]):
                day = dt.date(y, m, d)
                if day >= start and (date.weekday is None or day.isoweekday() == date.weekday):
                    yield day


def calendar_date(date: CosemDate, clock: LocalTime) -> dt.date | None:
    """The one date a date with a year names (its month and day may be DST / last-day
    wildcards); None if it names none or many. The day of week is not checked."""
    if date.year is None or date.month is None or date.day is None:
        return None
    exact = CosemDate(date.year, date.month, date.day)
    return next(dates(exact, dt.date(date.year, 1, 1), clock), None)


@functools.lru_cache(maxsize=256)
def _times(time: CosemTime) -> tuple[int, ...]:
    """The seconds after local midnight ``time`` names (hour or minute 0xFF: every one)."""
    second = time.second or 0
    if not 0 <= second <= 59:
        return ()
    return tuple(h * 3600 + m * 60 + second
                 for h in ([time.hour] if time.hour is not None else range(24)) if 0 <= h <= 23
                 for m in ([time.minute] if time.minute is not None else range(60)) if 0 <= m <= 59)


#: More than the clock's offset changes at a DST transition (the deviation is at most 120 min):
#: a local time more than this before ``after`` at the offset then cannot lie after it.
_MARGIN_S = 3 * 3600
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()


def _utc(wall: float, clock: LocalTime) -> float:
    """UTC seconds of a local wall-clock time given as seconds since the epoch read as UTC
    (the offset in force then, DST included)."""
    guess = wall - 60 * clock.local_offset(wall)  # the offset near it, then the one at it
    return float(wall - 60 * clock.local_offset(guess))


def local_times(days: Iterable[dt.date], time: CosemTime, after: float,
                clock: LocalTime) -> Iterator[float]:
    """The UTC times after ``after`` of local ``time`` (with wildcards) on ``days``, in order."""
    # Times surely before ``after`` are skipped without asking the clock for an offset.
    earliest = after - _MARGIN_S + (60 * clock.local_offset(after) if after > -math.inf else 0)
    for day in days:
        base = (day.toordinal() - _EPOCH_DAY) * 86400
        if base + 86400 <= earliest:
            continue
        for t in _times(time):
            wall = base + t
            if wall <= earliest:
                continue
            ts = _utc(wall, clock)
            if ts > after:
                yield ts


def start_day(after: float) -> dt.date:
    """The first date whose local times may lie after ``after``: a day back, as local midnight
    may be up to 14 h either side of UTC midnight."""
    return (dt.datetime.fromtimestamp(after, _UTC) - dt.timedelta(days=1)).date()
