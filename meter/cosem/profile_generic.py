"""Profile generic (class_id 7, version 1; Blue Book §4.3.6): load profiles, billing data, logs.

Rows are stored pre-encoded (see :mod:`meter.cosem.profile_buffer`) and the whole buffer, or a
range of entries with all columns, is returned as one :class:`~meter.codec.axdr.RawArray` of them
(a long GET sends it block by block, never joined whole). Rows are decoded only to pick columns
or to filter on a non-clock restricting object.

Selective access on the buffer (cosem-reference.md §2.2, H):
* selector 1 range_descriptor {restricting_object, from_value, to_value, selected_values}; with
  the clock's time as restricting object the rows' capture keys are compared (inclusive, whole
  seconds; a from/to with wildcards is an open bound); selected_values = columns, empty = all;
* selector 2 entry_descriptor {from_entry, to_entry, from_selected_value, to_selected_value},
  1-based, 0 = the last entry / column.

sort_method (Blue Book): fifo keeps capture order and drops the oldest entry when full; the
sorted methods insert the new entry where it belongs, dropping the least interesting (last) one,
and store nothing when the new entry would come after the last of a full buffer; lifo is the
sort "newest first". Changing capture_objects or capture_period clears the buffer (Blue Book);
we also clear it when the sort method or sort object changes, since a buffer that has dropped
entries under one order cannot be re-sorted into another truthfully.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from meter.codec import axdr
from meter.codec.axdr import (
    Array, Data, DoubleLongUnsigned, Enum, Integer, LongUnsigned, OctetString, Raw, RawArray, Structure)
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, in_range, integer, items,
    on_action, on_get, on_set, out_of_range)
from meter.cosem.clock import Clock
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.profile_buffer import MemoryProfileBuffer, ProfileBuffer
from meter.errors import AccessError, DataAccessResult, DecodeError

FIFO, LIFO, LARGEST, SMALLEST, NEAREST_TO_ZERO, FAREST_FROM_ZERO = range(1, 7)

#: Rank of a sort value: lower ranks come first in the buffer.
_RANK: dict[int, Callable[[float], float]] = {
    LARGEST: lambda v: -v,
    SMALLEST: lambda v: v,
    NEAREST_TO_ZERO: abs,
    FAREST_FROM_ZERO: lambda v: -abs(v),
}


@dataclass(frozen=True, slots=True)
class CaptureObject:
    """capture_object_definition {class_id, logical_name, attribute_index, data_index}."""

    class_id: int
    logical_name: Obis
    attribute_index: int
    data_index: int = 0

    def to_data(self) -> Structure:
        return Structure((LongUnsigned(self.class_id), OctetString(self.logical_name.to_bytes()),
                          Integer(self.attribute_index), LongUnsigned(self.data_index)))

    @classmethod
    def from_data(cls, value: Data | None) -> CaptureObject:
        class_id, ln, attr, index = fields(value, 4, "capture_object_definition")
        try:
            obis = Obis.from_bytes(expect(ln, OctetString, "logical_name").value)
        except DecodeError:
            raise bad_type("logical_name") from None
        return cls(expect(class_id, LongUnsigned, "class_id").value, obis,
                   expect(attr, Integer, "attribute_index").value,
                   expect(index, LongUnsigned, "data_index").value)

    def same_column(self, other: CaptureObject) -> bool:
        return (self.class_id, self.logical_name, self.attribute_index, self.data_index) == (
            other.class_id, other.logical_name, other.attribute_index, other.data_index)


NO_SORT_OBJECT = CaptureObject(0, Obis(0, 0, 0, 0, 0, 0), 0, 0).to_data()


def _number(value: Data) -> float | None:
    """A column value as a number, for sorting and range filters; None if not numeric."""
    x = value.to_python()
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


class ProfileGeneric(CosemObject):
    CLASS_ID = 7
    VERSION = 1
    NAME = "profile_generic"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "buffer", Array, static=False, selectors=(1, 2)),
        Attr(3, "capture_objects", Array, default=Array()),
        Attr(4, "capture_period", DoubleLongUnsigned, default=DoubleLongUnsigned(0)),
        Attr(5, "sort_method", Enum, default=Enum(FIFO)),
        Attr(6, "sort_object", Structure, default=NO_SORT_OBJECT),
        Attr(7, "entries_in_use", DoubleLongUnsigned, static=False),
        Attr(8, "profile_entries", DoubleLongUnsigned, default=DoubleLongUnsigned(1)),
    )
    METHODS = (Method(1, "reset"), Method(2, "capture"))

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """capture_objects lists ``[obis, attribute(, data_index)]``, each of an object built
        before the profile (its class id is the object's)."""
        columns = []
        for column in entry.options.get("capture_objects", ()):
            obis, attribute = Obis.parse(str(column[0])), int(column[1])
            data_index = int(column[2]) if len(column) > 2 else 0
            obj = entry.built.get(obis)
            if obj is None:
                raise OptionError(f"capture object {obis} is not in the profile")
            columns.append(CaptureObject(obj.CLASS_ID, obis, attribute, data_index).to_data())
        return {**super().profile_values(entry),
                "capture_objects": Array(tuple(columns)),
                "capture_period": DoubleLongUnsigned(entry.int_option("capture_period", 0)),
                "profile_entries": DoubleLongUnsigned(entry.int_option("profile_entries", 100))}

    def __init__(self, logical_name: Obis, buffer: ProfileBuffer | None = None, *,
                 max_entries: int = 100_000, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Upper bound a client may write into profile_entries (memory of the simulator).
        self.max_entries = max_entries
        self.buffer: ProfileBuffer = buffer if buffer is not None else MemoryProfileBuffer()
        self.buffer.set_capacity(self.int_value("profile_entries"))
        self._columns = tuple(CaptureObject.from_data(c) for c in self.items("capture_objects"))

    @property
    def columns(self) -> tuple[CaptureObject, ...]:
        return self._columns

    def load_state(self, state: dict[int, Data]) -> None:
        super().load_state(state)
        self._columns = tuple(CaptureObject.from_data(c) for c in self.items("capture_objects"))
        self.buffer.set_capacity(self.int_value("profile_entries"))

    # --- capture ---------------------------------------------------------------------------------

    def _capture_value(self, column: CaptureObject, ctx: Context, at: float | None) -> Data:
        obj = ctx.directory.get(column.logical_name)
        if obj is None or obj is self or obj.CLASS_ID != column.class_id:
            return axdr.NULL
        if at is not None and isinstance(obj, Clock) and column.attribute_index == 2:
            return OctetString(obj.octets_at(at))  # what a GET of the time at ``at`` reads
        try:
            value = obj.get(column.attribute_index, ctx)
        except AccessError:
            return axdr.NULL
        if column.data_index:
            if isinstance(value, (Raw, RawArray)):
                value = axdr.decode(value.to_bytes())
            elements = value.items if isinstance(value, (Array, Structure, axdr.CompactArray)) else ()
            return elements[column.data_index - 1] if column.data_index <= len(elements) else axdr.NULL
        return value

    def capture_now(self, ctx: Context, at: float | None = None) -> None:
        """Append one entry: each capture object's attribute, read through the directory.
        ``at``: the entry's meter time if not now (an event logged after it happened); the
        clock's time column then reads that time."""
        inner = ctx.internal()
        row = Structure(tuple(self._capture_value(c, inner, at) for c in self._columns)).to_bytes()
        self._insert(ctx.directory.clock.timestamp() if at is None else at, row)

    def _sort_column(self) -> int | None:
        sort_object = CaptureObject.from_data(self.value("sort_object"))
        for i, column in enumerate(self._columns):
            if column.same_column(sort_object):
                return i
        return None

    def _insert(self, key: float, row: bytes) -> None:
        buf, method = self.buffer, self.int_value("sort_method")
        if method == LIFO:
            buf.insert(0, key, row)
        else:
            column = self._sort_column() if method in _RANK else None
            if column is None:  # fifo, or a sort object that is not captured
                buf.append(key, row)
                return
            rank = _RANK[method]

            def rank_of(encoded: bytes) -> float:
                v = _number(items(axdr.decode(encoded), "buffer row")[column])
                return math.inf if v is None else rank(v)

            new = rank_of(row)
            ranks = [rank_of(r) for r in buf.slice(0, len(buf))]
            pos = next((i for i, r in enumerate(ranks) if r > new), len(ranks))
            if pos >= buf.capacity:
                return
            buf.insert(pos, key, row)
        if len(buf) > buf.capacity:
            buf.pop()

    @on_action("reset")
    def reset(self, parameters: Data | None, ctx: Context) -> None:
        self.buffer.clear()

    @on_action("capture")
    def capture(self, parameters: Data | None, ctx: Context) -> None:
        self.capture_now(ctx)

    # --- reading the buffer ----------------------------------------------------------------------

    @on_get("buffer")
    def read_buffer(self, ctx: Context, selector: int | None, parameters: Data | None) -> Data:
        n = len(self.buffer)
        if selector is None:
            return RawArray(self.buffer.slice(0, n))
        if selector == 1:
            indices, columns = self._by_range(parameters, ctx)
            everything = self.buffer.slice(0, n)
            rows = [everything[i] for i in indices]
        else:
            start, stop, columns = self._by_entry(parameters, n)
            rows = list(self.buffer.slice(start, stop))
        if columns is None:
            return RawArray(rows)
        picked = []
        for encoded in rows:
            row = items(axdr.decode(encoded), "buffer row")
            picked.append(Structure(tuple(row[c] for c in columns)))
        return Array(tuple(picked))

    def _column_of(self, value: Data) -> int:
        wanted = CaptureObject.from_data(value)
        for i, column in enumerate(self._columns):
            if column.same_column(wanted):
                return i
        raise out_of_range("object not captured in this profile")

    def _by_range(self, parameters: Data | None,
                  ctx: Context) -> tuple[list[int], list[int] | None]:
        restricting, lo, hi, selected = fields(parameters, 4, "range_descriptor")
        column = self._column_of(restricting)
        wanted = [self._column_of(c) for c in expect(selected, Array, "selected_values").items]
        columns = wanted or None
        col = self._columns[column]
        if col.class_id == Clock.CLASS_ID and col.attribute_index == 2:
            clock = ctx.directory.clock
            first, last = self._time_bound(lo, clock, -math.inf), self._time_bound(hi, clock, math.inf)
            return [i for i, k in enumerate(self.buffer.keys())
                    if first <= math.floor(k) <= last], columns
        low, high = _number(lo), _number(hi)
        if low is None or high is None:
            raise bad_type("range_descriptor from/to value")
        indices = []
        for i, encoded in enumerate(self.buffer.slice(0, len(self.buffer))):
            v = _number(items(axdr.decode(encoded), "buffer row")[column])
            if v is not None and low <= v <= high:
                indices.append(i)
        return indices, columns

    @staticmethod
    def _time_bound(value: Data, clock: Clock, open_bound: float) -> float:
        if not isinstance(value, (OctetString, axdr.DateTime)) or len(value.value) != 12:
            raise bad_type("range_descriptor date-time")
        cdt = CosemDateTime.from_bytes(value.value)
        if not cdt.is_fully_specified():
            return open_bound
        try:
            return clock.to_timestamp(cdt)
        except DecodeError:
            raise out_of_range("range_descriptor date-time") from None

    def _by_entry(self, parameters: Data | None, n: int) -> tuple[int, int, list[int] | None]:
        from_entry, to_entry, from_value, to_value = (
            integer(v, "entry_descriptor") for v in fields(parameters, 4, "entry_descriptor"))
        last = n if to_entry == 0 else min(to_entry, n)
        if to_entry and from_entry > to_entry:
            raise out_of_range("entry_descriptor")
        start = max(from_entry, 1) - 1
        ncols = len(self._columns)
        first_col = max(from_value, 1)
        last_col = ncols if to_value == 0 else to_value
        if first_col > last_col or last_col > ncols:
            raise out_of_range("entry_descriptor columns")
        columns = None if (first_col, last_col) == (1, ncols) else list(range(first_col - 1, last_col))
        return start, max(start, last), columns

    # --- other attributes ------------------------------------------------------------------------

    @on_set("buffer")
    def write_buffer(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "the buffer is filled by capture")

    @on_set("capture_objects")
    def write_capture_objects(self, value: Data, ctx: Context) -> None:
        columns = tuple(CaptureObject.from_data(c) for c in expect(value, Array, "").items)
        self.store("capture_objects", Array(tuple(c.to_data() for c in columns)))
        self._columns = columns
        self.buffer.clear()

    @on_set("capture_period")
    def write_capture_period(self, value: Data, ctx: Context) -> None:
        self.store("capture_period", value)
        self.buffer.clear()

    @on_set("sort_method")
    def write_sort_method(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Enum, "sort_method").value, FIFO, FAREST_FROM_ZERO, "sort_method")
        self.store("sort_method", value)
        self.buffer.clear()

    @on_set("sort_object")
    def write_sort_object(self, value: Data, ctx: Context) -> None:
        self.store("sort_object", CaptureObject.from_data(value).to_data())
        self.buffer.clear()

    @on_get("entries_in_use")
    def read_entries_in_use(self, ctx: Context, selector: int | None,
                            parameters: Data | None) -> Data:
        return DoubleLongUnsigned(len(self.buffer))

    @on_set("entries_in_use")
    def write_entries_in_use(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "entries_in_use is read-only")

    @on_set("profile_entries")
    def write_profile_entries(self, value: Data, ctx: Context) -> None:
        entries = in_range(expect(value, DoubleLongUnsigned, "").value, 1, self.max_entries,
                           "profile_entries")
        self.store("profile_entries", value)
        self.buffer.set_capacity(entries)
