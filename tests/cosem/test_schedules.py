"""Script table (9) and Single action schedule (22): the execute path and execution_time in local
time with wildcards (cosem-reference.md; Blue Book 4.5.2, 4.5.7)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter.codec import axdr
from meter.codec.axdr import Array, Enum, LongUnsigned, OctetString, Structure, Unsigned
from meter.codec.obis import Obis
from meter.cosem.data import Data
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.schedule import Schedule
from meter.cosem.script_table import EXECUTE_METHOD, WRITE_ATTRIBUTE, ScriptTable, action
from meter.cosem.single_action_schedule import SingleActionSchedule, next_occurrence
from meter.errors import AccessError, DataAccessResult

from .helpers import T0, world

UTC = dt.timezone.utc
TARGET = Obis.parse("0.0.96.60.0.255")
SCRIPTS = Obis.parse("0.0.10.0.1.255")
SAS = Obis.parse("0.0.15.0.0.255")
EU_BEGIN = bytes.fromhex("FFFF03FE07010000FF8000FF")  # last Sunday of March, 01:00
EU_END = bytes.fromhex("FFFF0AFE07010000FF8000FF")  # last Sunday of October, 01:00


def entry(time: str, date: str) -> Structure:
    return Structure((OctetString(bytes.fromhex(time)), OctetString(bytes.fromhex(date))))


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_execute_writes_and_calls_methods_in_order() -> None:
    target = Data(TARGET, value=Unsigned(0))
    profile = ProfileGeneric(Obis.parse("0.0.98.1.0.255"))
    table = ScriptTable(SCRIPTS, scripts=Array((Structure((LongUnsigned(7), Array((
        action(WRITE_ATTRIBUTE, 1, TARGET, 2, Unsigned(42)),
        action(EXECUTE_METHOD, 7, profile.logical_name, 2, axdr.Integer(0)))))),)))
    w = world(target, profile, table)
    profile.set(3, Array((Structure((
        LongUnsigned(1), OctetString(TARGET.to_bytes()), axdr.Integer(2), LongUnsigned(0))),)), w.ctx())
    steps: list[object] = []
    table.set_script_step(7, lambda ctx: steps.append(ctx.association))
    table.action(1, LongUnsigned(7), w.ctx())
    assert target.value("value") == Unsigned(42)
    assert len(profile.buffer) == 1 and profile.buffer.slice(0, 1)[0].endswith(bytes([0x11, 42]))
    assert steps == [None]  # the meter's own step runs after the actions, as the meter


def test_execute_of_an_unknown_script_or_a_wrong_type_is_refused() -> None:
    table = ScriptTable(SCRIPTS)
    w = world(table)
    with pytest.raises(AccessError) as exc:
        table.action(1, LongUnsigned(1), w.ctx())
    assert exc.value.result == DataAccessResult.OTHER_REASON
    with pytest.raises(AccessError) as exc:
        table.action(1, Unsigned(1), w.ctx())
    assert exc.value.result == DataAccessResult.TYPE_UNMATCHED


def test_a_script_on_a_missing_object_fails_without_side_effects_on_others() -> None:
    table = ScriptTable(SCRIPTS, scripts=Array((Structure((LongUnsigned(1), Array((
        action(WRITE_ATTRIBUTE, 1, TARGET, 2, Unsigned(1)),)))),)))
    w = world(table)
    with pytest.raises(AccessError) as exc:
        table.action(1, LongUnsigned(1), w.ctx())
    assert exc.value.result == DataAccessResult.OBJECT_UNDEFINED


def test_writes_of_bad_programs_are_refused() -> None:
    table = ScriptTable(SCRIPTS)
    sas = SingleActionSchedule(SAS)
    w = world(table, sas)
    bad_action = Structure((Enum(3), LongUnsigned(1), OctetString(TARGET.to_bytes()),
                            axdr.Integer(2), Unsigned(1)))
    for obj, index, value in [
        (table, 2, Array((Structure((LongUnsigned(1), Array((bad_action,)))),))),
        (table, 2, Array((Structure((Unsigned(1), Array(()))),))),
        (sas, 4, Array((entry("000000", "FFFFFF01FF"),))),  # a 3-byte time
        (sas, 2, Structure((OctetString(b"\x00"), LongUnsigned(1)))),
    ]:
        with pytest.raises(AccessError) as exc:
            obj.set(index, value, w.ctx())
        assert exc.value.result == DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(AccessError) as exc:
        sas.set(3, Enum(6), w.ctx())
    assert exc.value.result == DataAccessResult.OTHER_REASON


@pytest.mark.parametrize(("time", "date", "after", "expected"), [
    # Day 1 of every month at midnight.
    ("00000000", "FFFFFF01FF", utc(2024, 1, 15, 10), utc(2024, 2, 1)),
    ("00000000", "FFFFFF01FF", utc(2024, 12, 1), utc(2025, 1, 1)),
    # The last day of the month (0xFE), leap February.
    ("111E0000", "FFFF02FEFF", utc(2024, 1, 15), utc(2024, 2, 29, 17, 30)),
    # Every Sunday (weekday 7) at 06:00; 2024-01-21 is a Sunday.
    ("06000000", "FFFFFFFF07", utc(2024, 1, 15), utc(2024, 1, 21, 6)),
    # Every hour at :15 (hour wildcard).
    ("FF0F0000", "FFFFFFFFFF", utc(2024, 1, 15, 10, 20), utc(2024, 1, 15, 11, 15)),
    # A fixed date-time in the past never fires again.
    ("00000000", "07E6010101", utc(2024, 1, 15), None),
])
def test_next_occurrence_with_wildcards(time: str, date: str, after: float, expected: float | None) -> None:
    w = world()
    assert next_occurrence(entry(time, date), after, w.clock) == expected


def test_execution_time_is_local_time_with_dst() -> None:
    w = world()
    ctx = w.ctx()
    w.clock.set(3, axdr.Long(-60), ctx)  # CET: UTC+1, UTC+2 in summer
    w.clock.set(5, OctetString(EU_BEGIN), ctx)
    w.clock.set(6, OctetString(EU_END), ctx)
    w.clock.set(8, axdr.Boolean(True), ctx)
    monthly = entry("00000000", "FFFFFF01FF")
    # Midnight local on Feb 1 is 23:00 UTC the day before; on Jul 1 (summer time) 22:00 UTC.
    assert next_occurrence(monthly, utc(2024, 1, 15), w.clock) == utc(2024, 1, 31, 23)
    assert next_occurrence(monthly, utc(2024, 6, 15), w.clock) == utc(2024, 6, 30, 22)
    assert next_occurrence(monthly, utc(2024, 10, 15), w.clock) == utc(2024, 10, 31, 23)


@given(st.binary(max_size=40), st.integers(0, 0x7FFFFFFF))
def test_garbage_programs_never_crash(raw: bytes, after: int) -> None:
    """Any A-XDR a head end may send is stored or refused with a data-access-result, and a
    stored program always plans (a time or none)."""
    try:
        value = axdr.decode(raw)
    except Exception:  # noqa: BLE001 - not A-XDR: never reaches the object
        return
    table, sas = ScriptTable(SCRIPTS), SingleActionSchedule(SAS)
    w = world(table, sas)
    for obj, index in [(table, 2), (sas, 2), (sas, 3), (sas, 4)]:
        try:
            obj.set(index, value, w.ctx())
        except AccessError:
            continue
    sas.next_after(float(after), w.clock)
    with pytest.raises(AccessError):
        table.action(1, LongUnsigned(0xFFFF), w.ctx())


def test_a_reprogrammed_schedule_runs_from_the_time_of_the_write() -> None:
    sas = SingleActionSchedule(SAS)
    w = world(sas)
    sas.set(4, Array((entry("00000000", "FFFFFF01FF"),)), w.ctx())
    assert sas.checked == T0
    assert sas.next_after(T0, w.clock) == utc(2024, 2, 1)


def schedule_entry(index: int, hour: int, weekdays: str = "1111100", window: int = 0xFFFF, *,
                   enable: bool = True, begin: str = "FFFFFFFFFF", end: str = "FFFFFFFFFF") -> Structure:
    return Structure((LongUnsigned(index), axdr.Boolean(enable), OctetString(SCRIPTS.to_bytes()),
                      LongUnsigned(index), OctetString(bytes([hour, 0, 0, 0])), LongUnsigned(window),
                      axdr.BitString.from_bits(weekdays), axdr.BitString.from_bits("0" * 50),
                      OctetString(bytes.fromhex(begin)), OctetString(bytes.fromhex(end))))


def test_schedule_entries_weekdays_bounds_and_validity() -> None:
    s = Schedule(Obis.parse("0.0.12.0.0.255"))
    w = world(s)  # T0 is Monday 2024-01-15 10:00 UTC
    s.action(2, schedule_entry(1, 6), w.ctx())  # weekdays 06:00
    s.action(2, schedule_entry(2, 12, "0000011"), w.ctx())  # weekends noon
    s.action(2, schedule_entry(3, 9, "1111111", begin="07E80114FF"), w.ctx())  # from Jan 20
    assert s.checked == T0
    assert s.next_after(T0, w.clock) == utc(2024, 1, 16, 6)
    assert s.due(utc(2024, 1, 16, 6), w.clock) == [(utc(2024, 1, 16, 6), SCRIPTS, 1)]
    # Late by more than a 30-minute validity window: not run.
    s.action(2, schedule_entry(1, 6, window=30), w.ctx())
    assert s.due(utc(2024, 1, 16, 7), w.clock) == []
    assert [d[2] for d in s.due(utc(2024, 1, 20, 23), w.clock)] == [3, 2]  # Jan 20 09:00, 12:00
    s.action(1, Structure((LongUnsigned(0), LongUnsigned(0), LongUnsigned(2), LongUnsigned(3))), w.ctx())
    assert s.next_after(T0, w.clock) == utc(2024, 1, 16, 6)
    assert s.due(utc(2024, 1, 21, 23), w.clock) == []  # 1 is out of its window, 2 and 3 disabled
    s.action(3, Structure((LongUnsigned(1), LongUnsigned(2))), w.ctx())
    assert [e.items[0] for e in s.value("entries").items] == [LongUnsigned(3)]  # type: ignore[attr-defined]


def test_schedule_refuses_bad_entries() -> None:
    s = Schedule(Obis.parse("0.0.12.0.0.255"))
    w = world(s)
    bad = Structure(schedule_entry(1, 6).items[:6] + (axdr.BitString.from_bits("1"),)
                    + schedule_entry(1, 6).items[7:])
    for index, value in [(2, bad), (2, Unsigned(1))]:
        with pytest.raises(AccessError) as exc:
            s.action(index, value, w.ctx())
        assert exc.value.result == DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(AccessError) as exc:
        s.set(2, Array((schedule_entry(1, 6), schedule_entry(1, 7))), w.ctx())
    assert exc.value.result == DataAccessResult.OTHER_REASON


@given(st.binary(max_size=60), st.integers(0, 0x7FFFFFFF))
def test_garbage_schedule_programs_never_crash(raw: bytes, after: int) -> None:
    try:
        value = axdr.decode(raw)
    except Exception:  # noqa: BLE001 - not A-XDR: never reaches the object
        return
    s = Schedule(Obis.parse("0.0.12.0.0.255"))
    w = world(s)
    for index in (1, 2, 3):
        try:
            s.action(index, value, w.ctx())
        except AccessError:
            pass
    try:
        s.set(2, value, w.ctx())
    except AccessError:
        pass
    s.next_after(float(after), w.clock)
    s.due(float(after), w.clock)


def test_an_unprogrammed_schedule_names_no_script_table() -> None:
    sas = SingleActionSchedule(SAS)
    assert sas.script == (Obis(0, 0, 0, 0, 0, 0), 0)
