"""Alarm register, register monitor (class 21) and the QoS threshold alone: writes that are taken,
writes that are refused with their data-access result, and garbage that never crashes one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from meter.codec import axdr
from meter.codec.axdr import Array, DoubleLongUnsigned, Integer, LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.alarms import AlarmRegister, QosThreshold
from meter.cosem.register import scaler_unit
from meter.cosem.register_monitor import RegisterMonitor, script_ref
from meter.errors import AccessError, DataAccessResult, MeterError

from .helpers import world

ALARM = Obis.parse("0.0.97.98.0.255")
MONITOR = Obis.parse("0.0.16.1.0.255")
TABLE = Obis.parse("0.0.10.0.108.255")


def monitor() -> RegisterMonitor:
    return RegisterMonitor(
        MONITOR, thresholds=Array((DoubleLongUnsigned(0),)),
        monitored_value=Structure((LongUnsigned(1), OctetString(ALARM.to_bytes()), Integer(2))),
        actions=Array((Structure((script_ref(TABLE, 2), script_ref(TABLE, 0))),)))


def test_an_alarm_register_is_only_cleared_by_a_write() -> None:
    reg = AlarmRegister(ALARM)
    ctx = world(reg).ctx()
    assert reg.raise_bits(0b1010) and not reg.raise_bits(0b0010)
    reg.set(2, DoubleLongUnsigned(0b0011), ctx)  # keeps what is set in both
    assert reg.flags == 0b0010
    reg.set(2, DoubleLongUnsigned(0xFFFFFFFF), ctx)
    assert reg.flags == 0b0010  # a write never raises a bit
    with pytest.raises(AccessError) as exc:
        reg.set(2, Integer(0), ctx)
    assert exc.value.result == DataAccessResult.TYPE_UNMATCHED
    reg.set(2, DoubleLongUnsigned(0), ctx)
    assert reg.flags == 0


def test_a_register_monitor_program_and_its_refused_writes() -> None:
    m = monitor()
    ctx = world(m).ctx()
    assert m.monitored() == (1, ALARM, 2)
    assert m.program() == [(0, (TABLE, 2), (TABLE, 0))]
    for index, bad in ((2, Array((OctetString(b"x"),))),
                       (2, Array(tuple(DoubleLongUnsigned(i) for i in range(33)))),
                       (3, Structure((LongUnsigned(1), OctetString(b"\x00"), Integer(2)))),
                       (4, Array((Structure((script_ref(TABLE, 1),)),)))):
        with pytest.raises(AccessError):
            m.set(index, bad, ctx)
    assert m.program() == [(0, (TABLE, 2), (TABLE, 0))]  # nothing taken
    m.set(2, Array((DoubleLongUnsigned(5), DoubleLongUnsigned(9))), ctx)
    assert [p[0] for p in m.program()] == [5]  # a threshold without its actions is idle


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(2, 4))
def test_garbage_written_to_a_register_monitor_never_crashes_it(raw: bytes, index: int) -> None:
    m = monitor()
    ctx = world(m).ctx()
    try:
        value = axdr.decode(raw)
    except MeterError:
        return
    try:
        m.set(index, value, ctx)
    except AccessError:
        pass
    m.program()  # still readable, whatever was taken


def test_a_qos_threshold_takes_its_own_type_and_tells_the_meter() -> None:
    written = []
    t = QosThreshold(Obis.parse("1.0.12.31.0.255"), value=DoubleLongUnsigned(2070),
                     scaler_unit=scaler_unit(-1, 35))
    t.on_write = lambda: written.append(t.scaled)
    ctx = world(t).ctx()
    t.set(2, DoubleLongUnsigned(1800), ctx)
    assert written == [pytest.approx(180.0)]
    with pytest.raises(AccessError):
        t.set(2, axdr.Float32(180.0), ctx)
    assert written == [pytest.approx(180.0)] and t.int_value("value") == 1800


def test_raising_bits_already_up_stores_nothing() -> None:
    """Every session after a head end's first raises the same bit again: the register keeps
    the value object it holds (no write, nothing for the store)."""
    reg = AlarmRegister(ALARM)
    assert reg.raise_bits(0b0100)
    held = reg.value("value")
    assert not reg.raise_bits(0b0100) and not reg.raise_bits(0)
    assert reg.value("value") is held and reg.flags == 0b0100
    assert reg.raise_bits(0b0001) and reg.flags == 0b0101
