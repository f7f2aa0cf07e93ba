"""Schedule (class_id 10, version 0; Blue Book §4.5.3).

Attribute 2 entries: array of {index long-unsigned, enable boolean, script_logical_name
octet-string(6), script_selector long-unsigned, switch_time octet-string(4), validity_window
long-unsigned (minutes), exec_weekdays bit-string(7), exec_specdays bit-string(50), begin_date
octet-string(5), end_date octet-string(5)}; methods 1 enable/disable(structure {firstIndexA,
lastIndexA, firstIndexB, lastIndexB}: range A enabled, range B disabled, as [GX-PY
GXDLMSSchedule] sends them), 2 insert(entry), 3 delete(structure {first_index, last_index})
(cosem-reference.md, Schedule).

An enabled entry runs its script at switch_time (local time; hour or minute 0xFF: every one) on
the weekdays exec_weekdays marks (first bit Monday), between begin_date and end_date (a date
with a year bounds, its month and day may be the DST / last-day wildcards of
meter.cosem.local_dates; one without a year bounds nothing). A switch time the meter passed
late (it was off, or the clock was set forward) still runs if no more than validity_window
minutes late (0xFFFF: always).
On a date the Special days table (class 11) lists, exec_specdays decides instead of
exec_weekdays: the entry runs if the bit of that date's day_id is set (bit n for day_id n, the
first bit 0; a day_id beyond the 50 bits runs nothing). exec_specdays is the link to the Special
days table's day_id (Blue Book 4.5.3); the bit numbering is this meter's reading.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from meter.codec.axdr import Array, BitString, Boolean, Data, Float64, LongUnsigned, OctetString, Structure
from meter.codec.cosem_time import CosemDate, CosemTime
from meter.codec.obis import Obis
from meter.cosem.activity_calendar import SpecialDay
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, integer, octets, on_action,
    on_set)
from meter.cosem.local_dates import LocalTime, calendar_date, local_times, start_day
from meter.errors import AccessError, DataAccessResult, DecodeError

#: validity_window meaning "run however late".
ALWAYS_VALID = 0xFFFF
#: Days looked ahead for an entry's next switch time (a year and a day: every weekday and date).
_DAYS_AHEAD = 367
_MAX_ENTRIES = 512
_ENTRY_TYPES: tuple[type[Data], ...] = (
    LongUnsigned, Boolean, OctetString, LongUnsigned, OctetString, LongUnsigned, BitString,
    BitString, OctetString, OctetString)


def _check_entry(value: Data) -> Structure:
    items = fields(value, 10, "schedule entry")
    for item, cls in zip(items, _ENTRY_TYPES, strict=True):
        expect(item, cls, "schedule entry")
    try:
        Obis.from_bytes(octets(items[2], "script_logical_name"))
        CosemTime.from_bytes(octets(items[4], "switch_time"))
        CosemDate.from_bytes(octets(items[8], "begin_date"))
        CosemDate.from_bytes(octets(items[9], "end_date"))
    except (DecodeError, ValueError):
        raise bad_type("schedule entry") from None
    if expect(items[6], BitString, "exec_weekdays").length != 7:
        raise bad_type("exec_weekdays")
    assert isinstance(value, Structure)
    return value


def _index(entry: Structure) -> int:
    return integer(entry.items[0], "index")


def _enabled(entry: Structure) -> bool:
    return bool(expect(entry.items[1], Boolean, "enable").value)


def _no_special_day(day: dt.date, clock: LocalTime) -> int | None:
    return None


def _days(entry: Structure, start: dt.date, clock: LocalTime,
          special: SpecialDay = _no_special_day) -> Iterator[dt.date]:
    weekdays = expect(entry.items[6], BitString, "exec_weekdays").bits
    specdays = expect(entry.items[7], BitString, "exec_specdays").bits
    begin, end = (calendar_date(CosemDate.from_bytes(expect(entry.items[i], OctetString, "date").value),
                                clock) for i in (8, 9))
    for n in range(_DAYS_AHEAD):
        day = start + dt.timedelta(days=n)
        if end is not None and day > end:
            return
        if begin is not None and day < begin:
            continue
        day_id = special(day, clock)
        if (specdays[day_id:day_id + 1] == "1") if day_id is not None else weekdays[day.weekday()] == "1":
            yield day


def _next(entry: Structure, after: float, clock: LocalTime,
          special: SpecialDay = _no_special_day) -> float | None:
    time = CosemTime.from_bytes(octets(entry.items[4], "switch_time"))
    return next(local_times(_days(entry, start_day(after), clock, special), time, after, clock), None)


class Schedule(CosemObject):
    CLASS_ID = 10
    VERSION = 0
    NAME = "schedule"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "entries", Array, default=Array(())),
    )
    METHODS = (Method(1, "enable_disable"), Method(2, "insert"), Method(3, "delete"))

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Meter time (UTC s) up to which this schedule has run; None until the meter starts it.
        self.checked: float | None = None
        #: The Special days table's lookup (set by the device when the meter has one).
        self.special_days: SpecialDay = _no_special_day

    def _entries(self) -> list[Structure]:
        return [expect(e, Structure, "schedule entry") for e in self.items("entries")]

    def next_after(self, after: float, clock: LocalTime) -> float | None:
        times = (_next(e, after, clock, self.special_days) for e in self._entries() if _enabled(e))
        return min((t for t in times if t is not None), default=None)

    def due(self, until: float, clock: LocalTime) -> list[tuple[float, Obis, int]]:
        """(time, script table, script id) of each enabled entry due after ``checked`` up to
        ``until`` and still within its validity window, once each."""
        if self.checked is None:
            return []
        out = []
        for e in self._entries():
            if not _enabled(e):
                continue
            t = _next(e, self.checked, clock, self.special_days)
            window = integer(e.items[5], "validity_window")
            if t is not None and t <= until and (window == ALWAYS_VALID or until - t <= 60 * window):
                out.append((t, Obis.from_bytes(octets(e.items[2], "script_logical_name")),
                            integer(e.items[3], "script_selector")))
        return sorted(out, key=lambda d: d[0])

    def _reprogrammed(self, entries: list[Structure], ctx: Context) -> None:
        if len(entries) > _MAX_ENTRIES:
            raise AccessError(DataAccessResult.OTHER_REASON, "too many schedule entries")
        ordered: list[Structure] = sorted(entries, key=_index)
        self.store("entries", Array(tuple(ordered)))
        self.checked = ctx.directory.clock.timestamp()

    @on_set("entries")
    def write_entries(self, value: Data, ctx: Context) -> None:
        entries = [_check_entry(e) for e in expect(value, Array, "entries").items]
        if len({_index(e) for e in entries}) != len(entries):
            raise AccessError(DataAccessResult.OTHER_REASON, "duplicate schedule entry index")
        self._reprogrammed(entries, ctx)

    @on_action("enable_disable")
    def enable_disable(self, parameters: Data | None, ctx: Context) -> None:
        a0, a1, b0, b1 = (integer(v, "index") for v in fields(parameters, 4, "enable_disable"))
        entries = []
        for e in self._entries():
            i = _index(e)
            enable = Boolean(True) if a0 <= i <= a1 else Boolean(False) if b0 <= i <= b1 else e.items[1]
            entries.append(Structure((e.items[0], enable, *e.items[2:])))
        self._reprogrammed(entries, ctx)

    @on_action("insert")
    def insert(self, parameters: Data | None, ctx: Context) -> None:
        new = _check_entry(expect(parameters, Structure, "schedule entry"))
        index = _index(new)
        self._reprogrammed([e for e in self._entries() if _index(e) != index] + [new], ctx)

    @on_action("delete")
    def delete(self, parameters: Data | None, ctx: Context) -> None:
        first, last = (integer(v, "index") for v in fields(parameters, 2, "delete"))
        self._reprogrammed([e for e in self._entries() if not first <= _index(e) <= last], ctx)

    def dump_private(self) -> Data | None:
        return None if self.checked is None else Float64(self.checked)

    def load_private(self, value: Data) -> None:
        self.checked = float(expect(value, Float64, "checked").value)
