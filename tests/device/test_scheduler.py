"""The scheduler on a directory, given meter time: order, once-only, bad programs logged."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from meter.codec.axdr import Array, LongUnsigned, OctetString, Structure, Unsigned
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.clock import Clock
from meter.cosem.data import Data
from meter.cosem.names import CLOCK
from meter.cosem.registry import ObjectDirectory
from meter.cosem.script_table import WRITE_ATTRIBUTE, ScriptTable, action
from meter.cosem.single_action_schedule import SingleActionSchedule
from meter.device.schedules import Schedules

T0 = dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc).timestamp()
TABLE = Obis.parse("0.0.10.0.100.255")
TARGET = Obis.parse("0.0.96.60.0.255")


def sas(e: int, hour: int, script: int, table: Obis = TABLE) -> SingleActionSchedule:
    return SingleActionSchedule(
        Obis(0, 0, 15, 0, e, 255), executed_script=Structure((OctetString(table.to_bytes()), LongUnsigned(script))),
        execution_time=Array((Structure((OctetString(bytes([hour, 0, 0, 0])), OctetString(bytes.fromhex("FFFFFFFFFF")))),)))


def test_due_scripts_run_in_time_order_once_and_a_bad_one_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    now = [T0]
    target = Data(TARGET, value=Unsigned(0))
    # Script n writes n: the value left is the script that ran last.
    table = ScriptTable(TABLE, scripts=Array(tuple(
        Structure((LongUnsigned(n), Array((action(WRITE_ATTRIBUTE, 1, TARGET, 2, Unsigned(n)),))))
        for n in (1, 2))))
    schedules = [sas(1, 9, 1), sas(2, 6, 2), sas(3, 7, 1, Obis.parse("0.0.10.0.99.255"))]
    directory = ObjectDirectory([Clock(CLOCK, lambda: now[0]), target, table, *schedules])
    ctx = Context(directory)
    scheduler = Schedules(directory)
    assert len(scheduler.start(T0)) == 3
    assert scheduler.next_due() == T0 + 6 * 3600
    # The meter was off until 10:00: everything overdue runs once, in the order of its times.
    scheduler.run(T0 + 10 * 3600, ctx)
    assert target.value("value") == Unsigned(1)  # 06:00 script 2, then 09:00 script 1
    assert "no script table 0.0.10.0.99.255" in caplog.text
    assert scheduler.next_due() == T0 + 30 * 3600  # tomorrow 06:00
    caplog.clear()
    with caplog.at_level(logging.INFO):
        scheduler.run(T0 + 10 * 3600, ctx)  # the same time again: nothing runs
    assert "script" not in caplog.text
