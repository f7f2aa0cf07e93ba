from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from meter.codec import axdr
from meter.codec.axdr import (
    Array, DoubleLong, DoubleLongUnsigned, Enum, Float32, Integer, LongUnsigned, Structure,
    Unsigned)
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.data import MeasurementAlgorithm
from meter.cosem.demand_register import DemandRegister
from meter.cosem.register import UNSPECIFIED_DATE_TIME, ExtendedRegister, Register, scaler_unit
from meter.errors import AccessError, DataAccessResult

from .helpers import T0, world

LN = Obis(1, 0, 1, 8, 0, 255)


def result_of(call) -> DataAccessResult:  # type: ignore[no-untyped-def]
    with pytest.raises(AccessError) as exc:
        call()
    return exc.value.result


def test_register() -> None:
    reg = Register(LN, value=DoubleLongUnsigned(42), scaler_unit=scaler_unit(-1, 30))
    ctx = world(reg).ctx()
    assert reg.get(3, ctx) == Structure((Integer(-1), Enum(30)))
    reg.action(1, Integer(0), ctx)
    assert reg.get(2, ctx) == DoubleLongUnsigned(0)
    reg.set(2, Float32(1.5), ctx)
    reg.action(1, Integer(0), ctx)
    assert reg.get(2, ctx) == Float32(0.0)
    assert result_of(lambda: reg.set(2, Array(), ctx)) == DataAccessResult.TYPE_UNMATCHED
    assert result_of(lambda: reg.set(3, Structure((Integer(0),)), ctx)) == \
        DataAccessResult.TYPE_UNMATCHED
    reg.bind(2, lambda: DoubleLongUnsigned(7))
    assert reg.get(2, ctx) == DoubleLongUnsigned(7)
    assert result_of(lambda: reg.action(1, Integer(0), ctx)) == DataAccessResult.OTHER_REASON


def test_extended_register() -> None:
    reg = ExtendedRegister(LN)
    w = world(reg)
    ctx = w.ctx()
    assert reg.get(5, ctx) == UNSPECIFIED_DATE_TIME
    reg.update_value(DoubleLongUnsigned(5), ctx, status=Unsigned(1))
    assert reg.get(4, ctx) == Unsigned(1)
    stamp = CosemDateTime.from_bytes(reg.get(5, ctx).value).to_datetime()
    assert stamp.timestamp() == T0
    w.time.now += 60
    reg.action(1, Integer(0), ctx)
    assert reg.get(2, ctx) == DoubleLongUnsigned(0) and reg.get(4, ctx) == axdr.NULL
    assert CosemDateTime.from_bytes(reg.get(5, ctx).value).to_datetime().timestamp() == T0 + 60


def demand(period: int = 900, n: int = 1) -> tuple:  # type: ignore[type-arg]
    reg = DemandRegister(Obis(1, 0, 1, 4, 0, 255), period=DoubleLongUnsigned(period),
                         number_of_periods=LongUnsigned(n))
    w = world(reg)
    return w, reg, w.ctx()


def test_block_demand() -> None:
    w, reg, ctx = demand()
    start = T0  # T0 is on a quarter hour
    reg.update(start, 0.0)
    reg.update(start + 450, 500.0)  # 500 Wh in the first half: 2000 W over the block so far
    assert reg.get(2, ctx) == DoubleLong(2000)
    reg.update(start + 900, 500.0)
    assert reg.get(3, ctx) == DoubleLong(4000)  # 1000 Wh in 15 min
    assert reg.get(2, ctx) == DoubleLong(0)
    capture = CosemDateTime.from_bytes(reg.get(6, ctx).value).to_datetime().timestamp()
    begin = CosemDateTime.from_bytes(reg.get(7, ctx).value).to_datetime().timestamp()
    assert capture == begin == start + 900


def test_increment_split_across_boundary() -> None:
    w, reg, ctx = demand()
    reg.update(T0 + 800, 0.0)
    reg.update(T0 + 1000, 200.0)  # half before the end of the block, half after
    assert reg.last_average == pytest.approx(100 * 4)
    assert reg.current_average == pytest.approx(100 * 4)


def test_sliding_demand() -> None:
    w, reg, ctx = demand(period=300, n=3)
    reg.update(T0, 0.0)
    for k in range(1, 4):  # 100, 200, 300 Wh in three 5-minute sub-periods
        reg.update(T0 + 300 * k, 100.0 * k)
    assert reg.last_average == pytest.approx(600 * 4)  # 600 Wh per 15 min
    reg.update(T0 + 1200, 0.0)  # the 100 slides out
    assert reg.last_average == pytest.approx(500 * 4)
    reg.update(T0 + 1200 + 150, 60.0)
    assert reg.current_average == pytest.approx((300 + 0 + 60) * 4)


def test_demand_methods_and_gap() -> None:
    w, reg, ctx = demand()
    reg.update(T0, 0.0)
    reg.update(T0 + 100, 100.0)
    w.time.now = T0 + 100
    reg.action(2, Integer(0), ctx)  # next_period
    assert reg.last_average == pytest.approx(400)
    assert CosemDateTime.from_bytes(reg.get(7, ctx).value).to_datetime().timestamp() == T0 + 100
    reg.action(1, Integer(0), ctx)  # reset
    assert reg.get(2, ctx) == DoubleLong(0) and reg.get(3, ctx) == DoubleLong(0)
    reg.update(T0 + 10 * 86400, 50.0)  # the meter was off for days: 50 Wh spread over them
    assert reg.last_average == pytest.approx(50 * 900 / (10 * 86400 - 100) * 4)
    assert result_of(lambda: reg.set(8, DoubleLongUnsigned(0), ctx)) == \
        DataAccessResult.OTHER_REASON
    reg.set(4, scaler_unit(1, 27), ctx)
    reg.update(T0 + 10 * 86400 + 450, 500)
    assert reg.get(2, ctx) == DoubleLong(round(reg.current_average / 10))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2000), st.floats(0, 1000)), max_size=20))
def test_demand_state_round_trip(steps: list[tuple[float, float]]) -> None:
    w, reg, ctx = demand(period=300, n=3)
    now = T0
    for dt_, inc in steps:
        now += dt_
        reg.update(now, inc)
    other = DemandRegister(reg.logical_name)
    other.load_state({i: axdr.decode(v.to_bytes()) for i, v in reg.dump_state().items()})
    assert other.dump_state() == reg.dump_state()
    assert other.current_average == reg.current_average


def test_measurement_algorithm() -> None:
    seen: list[int] = []
    obj = MeasurementAlgorithm(Obis(1, 0, 0, 11, 1, 255), {1, 2, 4}, 4, seen.append)
    ctx = world(obj).ctx()
    obj.set(2, Enum(2), ctx)
    assert obj.get(2, ctx) == Enum(2) and seen == [2]
    assert result_of(lambda: obj.set(2, Enum(3), ctx)) == DataAccessResult.OTHER_REASON
    assert result_of(lambda: obj.set(2, Unsigned(1), ctx)) == DataAccessResult.TYPE_UNMATCHED
    assert obj.get(2, ctx) == Enum(2) and seen == [2]
    with pytest.raises(ValueError):
        MeasurementAlgorithm(Obis(1, 0, 0, 11, 1, 255), {1}, 2)
