"""Special days table (class_id 11, version 0; Blue Book §4.5.4).

Attribute 2 entries: array of {index long-unsigned, specialday_date octet-string(5), day_id
unsigned}; methods 1 insert(entry) (an entry of the same index is replaced), 2 delete(index
long-unsigned) (cosem-reference.md, Special days table). A date may carry the wildcards of
meter.cosem.local_dates (year 0xFFFF: every year, as national holidays are written). The
Activity calendar asks :meth:`SpecialDaysTable.day_id` for the day profile of a date before its
week profile; of two entries for one date the lower index counts. day_id names a day profile of
the active calendar; one it has not is ignored there.
"""

from __future__ import annotations

import datetime as dt

from meter.codec.axdr import Array, Data, LongUnsigned, OctetString, Structure, Unsigned
from meter.codec.cosem_time import CosemDate
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, octets, on_action, on_set)
from meter.cosem.local_dates import LocalTime, dates
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult, DecodeError, EncodeError

__all__ = ["MAX_ENTRIES", "SpecialDaysTable"]

#: Entries the table holds at most (every input from outside is bounded).
MAX_ENTRIES = 256


def _entry(value: Data) -> tuple[int, CosemDate, int]:
    index, date, day_id = fields(value, 3, "special day")
    try:
        when = CosemDate.from_bytes(octets(date, "specialday_date"))
    except DecodeError:
        raise bad_type("specialday_date") from None
    return (expect(index, LongUnsigned, "index").value, when,
            expect(day_id, Unsigned, "day_id").value)


class SpecialDaysTable(CosemObject):
    CLASS_ID = 11
    VERSION = 0
    NAME = "special_days_table"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "entries", Array, default=Array(())),
    )
    METHODS = (Method(1, "insert"), Method(2, "delete"))

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """entries = [{ index, date (hex, 5 bytes, FFFF = every year), day_id }]."""
        try:
            rows = [Structure((LongUnsigned(int(e["index"])), OctetString(bytes.fromhex(e["date"])),
                               Unsigned(int(e["day_id"])))) for e in entry.options.get("entries", ())]
            parsed = [_entry(r) for r in rows]
        except (KeyError, ValueError, TypeError, AttributeError, EncodeError, AccessError) as exc:
            raise OptionError(f"entries are {{ index, date (5 bytes hex), day_id }}: {exc!r}") from None
        if len({p[0] for p in parsed}) != len(parsed):
            raise OptionError("two special days of one index")
        return {**super().profile_values(entry), "entries": Array(tuple(rows))}

    def _store(self, entries: list[Data]) -> None:
        if len(entries) > MAX_ENTRIES:
            raise AccessError(DataAccessResult.OTHER_REASON, f"more than {MAX_ENTRIES} special days")
        entries.sort(key=lambda e: _entry(e)[0])
        self.store("entries", Array(tuple(entries)))

    def day_id(self, day: dt.date, clock: LocalTime) -> int | None:
        """The day_id of ``day`` (the lowest index whose date matches it), None if none does."""
        for entry in self.items("entries"):
            _, date, day_id = _entry(entry)
            if next(dates(date, day, clock), None) == day:
                return day_id
        return None

    @on_set("entries")
    def write_entries(self, value: Data, ctx: Context) -> None:
        entries = list(expect(value, Array, "entries").items)
        indices = [_entry(e)[0] for e in entries]
        if len(set(indices)) != len(indices):
            raise AccessError(DataAccessResult.OTHER_REASON, "two special days of one index")
        self._store(entries)

    @on_action("insert")
    def insert(self, parameters: Data | None, ctx: Context) -> None:
        new = expect(parameters, Structure, "special day")
        index = _entry(new)[0]
        self._store([e for e in self.items("entries") if _entry(e)[0] != index] + [new])

    @on_action("delete")
    def delete(self, parameters: Data | None, ctx: Context) -> None:
        index = expect(parameters, LongUnsigned, "index").value
        self._store([e for e in self.items("entries") if _entry(e)[0] != index])

