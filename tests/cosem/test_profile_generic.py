from __future__ import annotations

import datetime as dt
import time

import pytest

from meter.codec import axdr
from meter.codec.axdr import (
    Array, DoubleLongUnsigned, Enum, Integer, LongUnsigned, OctetString, RawArray, Structure, Unsigned)
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.data import Data
from meter.cosem.profile_generic import (
    FAREST_FROM_ZERO, LARGEST, LIFO, NEAREST_TO_ZERO, SMALLEST, CaptureObject, ProfileGeneric)
from meter.cosem.names import CLOCK
from meter.errors import AccessError, DataAccessResult

from .helpers import T0, World, world

PG = Obis(1, 0, 99, 1, 0, 255)
VALUE = Obis(0, 0, 96, 10, 1, 255)
CLOCK_COL = CaptureObject(8, CLOCK, 2)
VALUE_COL = CaptureObject(1, VALUE, 2)
UTC = dt.timezone.utc


def make(entries: int = 10, **values: axdr.Data) -> tuple[World, ProfileGeneric, Data]:
    data = Data(VALUE, value=Integer(0))
    pg = ProfileGeneric(PG, capture_objects=Array((CLOCK_COL.to_data(), VALUE_COL.to_data())),
                        profile_entries=DoubleLongUnsigned(entries),
                        capture_period=DoubleLongUnsigned(900), **values)
    return world(data, pg), pg, data


def fill(w: World, pg: ProfileGeneric, data: Data, values: list[int]) -> None:
    ctx = w.ctx()
    for v in values:
        data.set(2, Integer(v), ctx)
        pg.action(2, Integer(0), ctx)
        w.time.now += 900


def column(pg: ProfileGeneric, w: World, index: int, selector: int | None = None,
           parameters: axdr.Data | None = None) -> list[object]:
    buf = axdr.decode(pg.get(2, w.ctx(), selector, parameters).to_bytes())
    return [row.items[index].to_python() for row in buf.items]  # type: ignore[attr-defined]


def test_capture_and_raw_buffer() -> None:
    w, pg, data = make()
    fill(w, pg, data, [1, 2, 3])
    raw = pg.get(2, w.ctx())
    assert isinstance(raw, RawArray)  # the rows as they are stored, not joined
    assert column(pg, w, 1) == [1, 2, 3]
    first = CosemDateTime.from_bytes(column(pg, w, 0)[0]).to_datetime()  # type: ignore[arg-type]
    assert first.timestamp() == T0
    assert pg.get(7, w.ctx()) == DoubleLongUnsigned(3)
    with pytest.raises(AccessError):
        pg.set(7, DoubleLongUnsigned(0), w.ctx())


def test_fifo_eviction_and_profile_entries() -> None:
    w, pg, data = make(entries=3)
    fill(w, pg, data, [1, 2, 3, 4, 5])
    assert column(pg, w, 1) == [3, 4, 5]
    pg.set(8, DoubleLongUnsigned(2), w.ctx())
    assert column(pg, w, 1) == [4, 5]
    with pytest.raises(AccessError):
        pg.set(8, DoubleLongUnsigned(0), w.ctx())


@pytest.mark.parametrize("method, expected", [
    (LIFO, [5, -4, 3]), (LARGEST, [5, 3, 1]), (SMALLEST, [-4, -2, 1]),
    (NEAREST_TO_ZERO, [1, -2, 3]), (FAREST_FROM_ZERO, [5, -4, 3])])
def test_sort_methods(method: int, expected: list[int]) -> None:
    w, pg, data = make(entries=3)
    pg.set(5, Enum(method), w.ctx())
    pg.set(6, VALUE_COL.to_data(), w.ctx())
    fill(w, pg, data, [1, -2, 3, -4, 5])
    assert column(pg, w, 1) == expected


def test_changes_clear_the_buffer() -> None:
    w, pg, data = make()
    ctx = w.ctx()
    for index, value in [(3, Array((VALUE_COL.to_data(),))), (4, DoubleLongUnsigned(60)),
                         (5, Enum(2)), (6, VALUE_COL.to_data())]:
        fill(w, pg, data, [1])
        pg.set(index, value, ctx)
        assert len(pg.buffer) == 0, index
    fill(w, pg, data, [1])
    pg.action(1, Integer(0), ctx)
    assert len(pg.buffer) == 0
    with pytest.raises(AccessError) as exc:
        pg.set(5, Enum(7), ctx)
    assert exc.value.result == DataAccessResult.OTHER_REASON
    with pytest.raises(AccessError) as exc:
        pg.set(3, Array((Integer(1),)), ctx)
    assert exc.value.result == DataAccessResult.TYPE_UNMATCHED


def entry(a: int, b: int, c: int = 0, d: int = 0) -> Structure:
    return Structure((DoubleLongUnsigned(a), DoubleLongUnsigned(b), LongUnsigned(c),
                      LongUnsigned(d)))


def test_entry_descriptor() -> None:
    w, pg, data = make()
    fill(w, pg, data, [10, 20, 30, 40])
    assert column(pg, w, 1, 2, entry(2, 3)) == [20, 30]
    assert column(pg, w, 1, 2, entry(3, 0)) == [30, 40]
    assert column(pg, w, 1, 2, entry(1, 99)) == [10, 20, 30, 40]
    assert column(pg, w, 1, 2, entry(9, 0)) == []
    assert column(pg, w, 0, 2, entry(1, 2, 2, 2)) == [10, 20]  # only the value column
    for bad in (entry(3, 2), entry(1, 1, 2, 5)):
        with pytest.raises(AccessError) as exc:
            pg.get(2, w.ctx(), 2, bad)
        assert exc.value.result == DataAccessResult.OTHER_REASON
    with pytest.raises(AccessError) as exc:
        pg.get(2, w.ctx(), 2, Integer(1))
    assert exc.value.result == DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(AccessError) as exc:
        pg.get(2, w.ctx(), 3, None)
    assert exc.value.result == DataAccessResult.SCOPE_OF_ACCESS_VIOLATED


def when(minutes: int) -> OctetString:
    value = dt.datetime.fromtimestamp(T0 + minutes * 60, UTC)
    return OctetString(CosemDateTime.from_datetime(value).to_bytes())


def test_range_descriptor_by_clock() -> None:
    w, pg, data = make()
    fill(w, pg, data, [10, 20, 30, 40])  # at T0, +15, +30, +45 min
    by_clock = Structure((CLOCK_COL.to_data(), when(15), when(30), Array()))
    assert column(pg, w, 1, 1, by_clock) == [20, 30]
    only_values = Structure((CLOCK_COL.to_data(), when(0), when(100),
                             Array((VALUE_COL.to_data(),))))
    assert column(pg, w, 0, 1, only_values) == [10, 20, 30, 40]
    open_start = Structure((CLOCK_COL.to_data(), OctetString(bytes.fromhex(
        "FFFFFFFFFFFFFFFFFF800000")), when(16), Array()))
    assert column(pg, w, 1, 1, open_start) == [10, 20]


def test_range_descriptor_by_value() -> None:
    w, pg, data = make()
    fill(w, pg, data, [10, 20, 30, 40])
    by_value = Structure((VALUE_COL.to_data(), Integer(15), Integer(35), Array()))
    assert column(pg, w, 1, 1, by_value) == [20, 30]
    uncaptured = CaptureObject(3, Obis(1, 0, 1, 8, 0, 255), 2).to_data()
    with pytest.raises(AccessError) as exc:
        pg.get(2, w.ctx(), 1, Structure((uncaptured, Integer(0), Integer(1), Array())))
    assert exc.value.result == DataAccessResult.OTHER_REASON


def test_capture_of_missing_objects_and_data_index() -> None:
    w, pg, data = make()
    ctx = w.ctx()
    data.set(2, Structure((Unsigned(7), Unsigned(8))), ctx)
    pg.set(3, Array((CaptureObject(1, VALUE, 2, 2).to_data(),
                     CaptureObject(1, Obis(9, 9, 9, 9, 9, 9), 2).to_data(),
                     CaptureObject(3, VALUE, 2).to_data())), ctx)
    pg.action(2, None, ctx)
    assert axdr.decode(pg.get(2, ctx).to_bytes()).to_python() == [[8, None, None]]


def test_a_year_of_quarter_hours_is_fast() -> None:
    w, pg, data = make(entries=40000)
    row = Structure((when(0), Integer(1))).to_bytes()
    for i in range(35040):
        pg.buffer.append(T0 + 900 * i, row)
    start = time.perf_counter()
    whole = pg.get(2, w.ctx()).to_bytes()
    day = pg.get(2, w.ctx(), 1, Structure((CLOCK_COL.to_data(), when(0), when(1439), Array())))
    elapsed = time.perf_counter() - start
    assert len(whole) > 35040 * len(row)
    assert len(axdr.decode(day.to_bytes()).items) == 96  # type: ignore[attr-defined]
    assert elapsed < 0.5


def test_state_keeps_columns() -> None:
    w, pg, _ = make()
    other = ProfileGeneric(PG)
    other.load_state(pg.dump_state())
    assert other.columns == pg.columns
    assert other.buffer.capacity == 10
