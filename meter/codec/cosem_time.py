"""COSEM date, time and date-time (Blue Book 4.1.6.1): 5, 4 and 12 octets with wildcards.

A field that is "not specified" is held as ``None`` (0xFF, or 0xFFFF for the year, 0x8000 for
the deviation). ``deviation`` follows the Blue Book: minutes of *local time to UTC*, i.e.
UTC − local, so UTC+01:00 is carried as −60. (This sign is a known interop trap: Gurux offers a
switch for the opposite convention; both client stacks we test with use this one by default.)
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

from meter.errors import DecodeError, EncodeError

_DT = struct.Struct(">HBBBBBBBhB")

NOT_SPECIFIED_YEAR = 0xFFFF
NOT_SPECIFIED_DEVIATION = -0x8000  # 0x8000 read as a signed long

# Date wildcards besides "not specified" (Blue Book 4.1.6.1).
MONTH_DST_END = 0xFD
MONTH_DST_BEGIN = 0xFE
DAY_SECOND_LAST = 0xFD
DAY_LAST = 0xFE

# Clock status bits (Blue Book; cosem-reference.md §2.2 Clock).
STATUS_INVALID = 0x01
STATUS_DOUBTFUL = 0x02
STATUS_DIFFERENT_BASE = 0x04
STATUS_INVALID_STATUS = 0x08
STATUS_DST_ACTIVE = 0x80


def _opt(v: int, unspecified: int) -> int | None:
    return None if v == unspecified else v


def _raw(v: int | None, unspecified: int) -> int:
    return unspecified if v is None else v


def date_time_octets(local: dt.datetime, deviation: int, clock_status: int) -> bytes:
    """The 12 octets of ``local`` (its fields as they are) with ``deviation`` (minutes, UTC −
    local) and ``clock_status``: :meth:`CosemDateTime.to_bytes` of ``from_datetime`` without
    the objects (a meter's clock is read on every GET of its time)."""
    return _DT.pack(local.year, local.month, local.day, local.isoweekday(), local.hour,
                    local.minute, local.second, local.microsecond // 10000, deviation, clock_status)


@dataclass(frozen=True, slots=True)
class CosemDate:
    year: int | None
    month: int | None  # MONTH_DST_END / MONTH_DST_BEGIN are kept as plain values
    day: int | None  # DAY_SECOND_LAST / DAY_LAST too
    weekday: int | None = None  # 1 = Monday

    def day_in(self, last: int) -> int | None:
        """The day of month this date names in a month of ``last`` days (the last and second
        last day wildcards resolved; not checked against ``last``); None if not specified."""
        if self.day is None:
            return None
        return {DAY_LAST: last, DAY_SECOND_LAST: last - 1}.get(self.day, self.day)

    def to_bytes(self) -> bytes:
        try:
            return struct.pack(">HBBB", _raw(self.year, 0xFFFF), _raw(self.month, 0xFF),
                               _raw(self.day, 0xFF), _raw(self.weekday, 0xFF))
        except struct.error as exc:
            raise EncodeError(str(exc)) from None

    @classmethod
    def from_bytes(cls, data: bytes) -> CosemDate:
        if len(data) != 5:
            raise DecodeError("COSEM date must be 5 bytes")
        y, m, d, w = struct.unpack(">HBBB", data)
        return cls(_opt(y, 0xFFFF), _opt(m, 0xFF), _opt(d, 0xFF), _opt(w, 0xFF))


@dataclass(frozen=True, slots=True)
class CosemTime:
    hour: int | None
    minute: int | None
    second: int | None = 0
    hundredths: int | None = 0

    def to_bytes(self) -> bytes:
        return bytes(_raw(v, 0xFF) for v in (self.hour, self.minute, self.second, self.hundredths))

    @classmethod
    def from_bytes(cls, data: bytes) -> CosemTime:
        if len(data) != 4:
            raise DecodeError("COSEM time must be 4 bytes")
        return cls(*(_opt(v, 0xFF) for v in data))

    def seconds_of_day(self) -> int:
        return (self.hour or 0) * 3600 + (self.minute or 0) * 60 + (self.second or 0)


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    date: CosemDate
    time: CosemTime
    deviation: int | None = None  # minutes, UTC − local
    clock_status: int | None = None

    def to_bytes(self) -> bytes:
        d, t = self.date, self.time
        dev, status = self.deviation, self.clock_status
        try:  # one pack, no calls: the clock's time attribute is encoded on every read of it
            return _DT.pack(
                0xFFFF if d.year is None else d.year, 0xFF if d.month is None else d.month,
                0xFF if d.day is None else d.day, 0xFF if d.weekday is None else d.weekday,
                0xFF if t.hour is None else t.hour, 0xFF if t.minute is None else t.minute,
                0xFF if t.second is None else t.second,
                0xFF if t.hundredths is None else t.hundredths,
                NOT_SPECIFIED_DEVIATION if dev is None else dev, 0xFF if status is None else status)
        except struct.error:
            # The fields one by one, for the error the parts give (a time field over 255
            # raises ValueError from bytes(), as CosemTime.to_bytes does).
            return d.to_bytes() + t.to_bytes() + struct.pack(
                ">hB", _raw(dev, NOT_SPECIFIED_DEVIATION), _raw(status, 0xFF))

    @classmethod
    def from_bytes(cls, data: bytes) -> CosemDateTime:
        if len(data) != 12:
            raise DecodeError("COSEM date-time must be 12 bytes")
        dev, status = struct.unpack(">hB", data[9:12])
        return cls(CosemDate.from_bytes(data[:5]), CosemTime.from_bytes(data[5:9]),
                   _opt(dev, NOT_SPECIFIED_DEVIATION), _opt(status, 0xFF))

    @classmethod
    def from_datetime(cls, value: dt.datetime, clock_status: int | None = 0) -> CosemDateTime:
        """From an aware datetime; its UTC offset becomes the deviation."""
        off = value.utcoffset()
        dev = None if off is None else -int(off.total_seconds() // 60)
        return cls(
            CosemDate(value.year, value.month, value.day, value.isoweekday()),
            CosemTime(value.hour, value.minute, value.second, value.microsecond // 10000),
            dev,
            clock_status,
        )

    def is_fully_specified(self) -> bool:
        d, t = self.date, self.time
        return None not in (d.year, d.month, d.day, t.hour, t.minute) and (
            d.month is not None and 1 <= d.month <= 12 and d.day is not None and 1 <= d.day <= 31)

    def to_datetime(self, default_utc_offset_min: int = 0) -> dt.datetime:
        """An aware datetime; unspecified seconds/hundredths count as 0.

        Raises DecodeError when the date or time itself is a wildcard or out of range.
        """
        d, t = self.date, self.time
        if not self.is_fully_specified():
            raise DecodeError("date-time has unspecified fields")
        offset = -self.deviation if self.deviation is not None else default_utc_offset_min
        try:
            tz = dt.timezone(dt.timedelta(minutes=offset))
            return dt.datetime(d.year, d.month, d.day, t.hour, t.minute,  # type: ignore[arg-type]
                               t.second or 0, (t.hundredths or 0) * 10000, tzinfo=tz)
        except (ValueError, OverflowError) as exc:
            raise DecodeError(f"invalid date-time: {exc}") from None
