"""Activity calendar (20), Special days table (11), Register activation (6) and the tariff script
table as objects on injected time, driven by the scheduler's Schedules (use case 13; Blue Book
4.5.5, 4.5.4, 4.3.5): the running day action by season -> week -> day (special day first) in
local time with DST, validated passive writes, activation by method and by time."""

from __future__ import annotations

import datetime as dt

import pytest
from cosem.helpers import World, world
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.codec import axdr
from meter.codec.axdr import Array, LongUnsigned, OctetString, Structure, Unsigned
from meter.codec.obis import Obis
from meter.cosem.active_tariff import ActiveTariff
from meter.cosem.activity_calendar import ActivityCalendar
from meter.cosem.base import Context
from meter.cosem.events import StandardEvent
from meter.cosem.names import STANDARD_LOG
from meter.cosem.register_activation import RegisterActivation
from meter.cosem.script_table import WRITE_ATTRIBUTE, ScriptTable, action
from meter.cosem.special_days import SpecialDaysTable
from meter.device.schedules import Schedules
from meter.errors import AccessError, DataAccessResult

from .calendar_data import (
    ACTIVE_TARIFF,
    ACTIVITY_CALENDAR,
    DAYS,
    REGISTER_ACTIVATION,
    SEASONS,
    SPECIAL_DAYS,
    TARIFF_SCRIPTS,
    WEEKS,
    day,
    season,
    week,
)

UTC = dt.timezone.utc
EU_BEGIN = bytes.fromhex("FFFF03FE07020000FF8000FF")  # last Sunday of March, 02:00 standard time
EU_END = bytes.fromhex("FFFF0AFE07030000FF8000FF")  # last Sunday of October, 03:00 summer time


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def tariff_scripts() -> ScriptTable:
    """Script N writes mask TN into the register activation."""
    return ScriptTable(TARIFF_SCRIPTS, scripts=Array(tuple(Structure((LongUnsigned(n), Array((
        action(WRITE_ATTRIBUTE, 6, REGISTER_ACTIVATION, 4, OctetString(f"T{n}".encode())),)))) for n in (1, 2, 3))))


def masks() -> RegisterActivation:
    return RegisterActivation(REGISTER_ACTIVATION, mask_list=Array(tuple(
        Structure((OctetString(f"T{n}".encode()), Array(()))) for n in (1, 2, 3))))


def active_calendar() -> ActivityCalendar:
    return ActivityCalendar(ACTIVITY_CALENDAR, calendar_name_active=OctetString(b"A"),
                            season_profile_active=SEASONS, week_profile_table_active=WEEKS,
                            day_profile_table_active=DAYS)


def christmas() -> SpecialDaysTable:
    return SpecialDaysTable(SPECIAL_DAYS, entries=Array((Structure((
        LongUnsigned(1), OctetString(bytes.fromhex("FFFF0C19FF")), Unsigned(2))),)))


def tou_world(calendar: ActivityCalendar, now: float, *, cet: bool = False) -> tuple[World, Schedules]:
    w = world(tariff_scripts(), masks(), christmas(), calendar,
              ActiveTariff(ACTIVE_TARIFF, REGISTER_ACTIVATION))
    w.time.now = now
    if cet:
        ctx = w.ctx()
        w.clock.set(3, axdr.Long(-60), ctx)  # CET: UTC+1, UTC+2 in summer
        w.clock.set(5, OctetString(EU_BEGIN), ctx)
        w.clock.set(6, OctetString(EU_END), ctx)
        w.clock.set(8, axdr.Boolean(True), ctx)
    schedules = Schedules(w.directory)
    schedules.start(now)
    return w, schedules


def run_until(w: World, schedules: Schedules, until: float) -> list[tuple[float, int]]:
    """Move meter time to ``until`` firing what falls due; (time, rate) of each change of rate."""
    switches: list[tuple[float, int]] = []
    ctx = w.ctx()
    before = rate(w)
    schedules.changed(w.changes)  # what the requests before changed (the device reports it)
    while (due := schedules.next_due()) is not None and due <= until:
        w.time.now = max(due, w.time.now)
        schedules.run(w.time.now, ctx)
        schedules.changed(w.changes)
        if rate(w) != before:
            before = rate(w)
            switches.append((w.time.now, before))
    w.time.now = until
    return switches


def rate(w: World) -> int:
    value = w.directory[ACTIVE_TARIFF].get(2, w.ctx())
    assert isinstance(value, Unsigned)
    return value.value


def test_running_action_by_season_week_day_and_special_day() -> None:
    w, schedules = tou_world(active_calendar(), utc(2026, 1, 14, 6))  # a Wednesday in winter
    assert run_until(w, schedules, utc(2026, 1, 15)) == [
        (utc(2026, 1, 14, 6), 3), (utc(2026, 1, 14, 7), 1), (utc(2026, 1, 14, 20), 3)]
    # Saturday: weekend day 2; Christmas (a Friday in 2026) is a special day: day 2 too.
    w.time.now = utc(2026, 1, 17, 10)
    run_until(w, schedules, utc(2026, 1, 17, 10))
    assert rate(w) == 2
    cal = w.directory[ACTIVITY_CALENDAR]
    assert isinstance(cal, ActivityCalendar)
    assert cal.action_at(utc(2026, 12, 25, 10), w.clock).selector == 2  # type: ignore[union-attr]
    assert cal.action_at(utc(2026, 12, 24, 10), w.clock).selector == 1  # type: ignore[union-attr]
    # Summer from 1 April: day 3 (midday peak).
    assert cal.action_at(utc(2026, 4, 1, 13), w.clock).selector == 1  # type: ignore[union-attr]
    assert cal.action_at(utc(2026, 4, 1, 9), w.clock).selector == 2  # type: ignore[union-attr]
    assert cal.action_at(utc(2026, 3, 31, 9), w.clock).selector == 1  # type: ignore[union-attr]


def _reference(local: dt.datetime) -> int:
    """The running script id of calendar_data's calendar, written out by hand (no DST, UTC)."""
    starts = {1: [(0, 0, 3), (7, 0, 1), (20, 0, 3)], 2: [(0, 0, 3), (9, 30, 2), (18, 0, 3)],
              3: [(0, 0, 2), (12, 0, 1), (16, 0, 2)]}
    d = local.date()
    winter = (d.month, d.day) >= (10, 1) or (d.month, d.day) < (4, 1)
    if (d.month, d.day) == (12, 25) or d.weekday() >= 5:
        day_id = 2
    else:
        day_id = 1 if winter else 3
    script = 0
    for h, m, s in starts[day_id]:
        if (local.hour, local.minute) >= (h, m):
            script = s
    return script


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31)))
def test_day_lookup_matches_the_calendar_written_out(local: dt.datetime) -> None:
    w, _ = tou_world(active_calendar(), utc(2026, 1, 1))
    cal = w.directory[ACTIVITY_CALENDAR]
    assert isinstance(cal, ActivityCalendar)
    running = cal.action_at(local.replace(tzinfo=UTC).timestamp(), w.clock)
    assert running is not None and running.selector == _reference(local)


def test_switches_follow_local_time_across_dst() -> None:
    """CET/CEST: 07:00 local is 06:00 UTC in winter, 05:00 UTC in summer time; the day of each
    transition switches at its own local times."""
    # Friday 27 March 2026 (CET), Sunday 29 March (spring forward at 02:00), Monday 30 March (CEST).
    w, schedules = tou_world(active_calendar(), utc(2026, 3, 27, 3), cet=True)
    switches = run_until(w, schedules, utc(2026, 3, 31))
    assert switches == [
        (utc(2026, 3, 27, 3), 3), (utc(2026, 3, 27, 6), 1), (utc(2026, 3, 27, 19), 3),
        (utc(2026, 3, 28, 8, 30), 2), (utc(2026, 3, 28, 17), 3),   # Saturday, CET
        (utc(2026, 3, 29, 7, 30), 2), (utc(2026, 3, 29, 16), 3),   # Sunday, CEST from 01:00 UTC
        (utc(2026, 3, 30, 5), 1), (utc(2026, 3, 30, 18), 3)]       # Monday, CEST
    # Sunday 25 October 2026: back to CET at 01:00 UTC; summer season ended on 1 October.
    w2, schedules2 = tou_world(active_calendar(), utc(2026, 10, 24, 12), cet=True)
    switches = run_until(w2, schedules2, utc(2026, 10, 26, 12))
    assert switches == [
        (utc(2026, 10, 24, 12), 2), (utc(2026, 10, 24, 16), 3),    # Saturday, CEST
        (utc(2026, 10, 25, 8, 30), 2), (utc(2026, 10, 25, 17), 3),  # Sunday, CET
        (utc(2026, 10, 26, 6), 1)]                                  # Monday 07:00 CET


def _program(cal: ActivityCalendar, ctx: Context, seasons: axdr.Data = SEASONS,
             weeks: axdr.Data = WEEKS, days: axdr.Data = DAYS) -> None:
    cal.set(6, OctetString(b"NEXT"), ctx)
    cal.set(7, seasons, ctx)
    cal.set(8, weeks, ctx)
    cal.set(9, days, ctx)


def _refused(cal: ActivityCalendar, index: int, value: axdr.Data, ctx: Context) -> DataAccessResult:
    before = [cal.value(a.name) for a in cal.ATTRIBUTES[1:]]
    with pytest.raises(AccessError) as exc:
        cal.set(index, value, ctx)
    assert [cal.value(a.name) for a in cal.ATTRIBUTES[1:]] == before, "half-written"
    return exc.value.result


def test_bad_passive_writes_are_refused_and_change_nothing() -> None:
    w, _ = tou_world(ActivityCalendar(ACTIVITY_CALENDAR), utc(2026, 1, 14))
    cal = w.directory[ACTIVITY_CALENDAR]
    assert isinstance(cal, ActivityCalendar)
    ctx = w.ctx()
    unknown_script = Array((day(1, (0, 0, 3), (7, 0, 9)),))
    overlapping = Array((season("a", "FFFF0401FF", "w"), season("b", "FFFF0401FF", "w")))
    bad_hour = Array((day(1, (25, 0, 1)),))
    short_week = Array((Structure((OctetString(b"w"), Unsigned(1))),))
    no_month = Array((season("a", "FFFFFF01FF", "w"),))
    assert _refused(cal, 9, unknown_script, ctx) == DataAccessResult.OTHER_REASON
    assert _refused(cal, 7, overlapping, ctx) == DataAccessResult.OTHER_REASON
    assert _refused(cal, 9, bad_hour, ctx) == DataAccessResult.OTHER_REASON
    assert _refused(cal, 8, short_week, ctx) == DataAccessResult.TYPE_UNMATCHED
    assert _refused(cal, 7, no_month, ctx) == DataAccessResult.OTHER_REASON
    assert _refused(cal, 3, SEASONS, ctx) == DataAccessResult.READ_WRITE_DENIED  # active: by activation only
    # A passive calendar whose parts do not fit: a week naming a missing day profile.
    _program(cal, ctx, weeks=Array((week("wk-winter", 1, 1, 1, 1, 1, 2, 4), week("wk-summer", 3, 3, 3, 3, 3, 2, 2))))
    when = OctetString(bytes.fromhex("07EA020100000000008000FF"))
    assert _refused(cal, 10, when, ctx) == DataAccessResult.OTHER_REASON
    active = [cal.value(a) for a in ("season_profile_active", "day_profile_table_active")]
    with pytest.raises(AccessError):
        cal.action(1, axdr.Integer(0), ctx)
    assert [cal.value(a) for a in ("season_profile_active", "day_profile_table_active")] == active


def test_activation_by_method_logs_and_switches_at_once() -> None:
    w, schedules = tou_world(ActivityCalendar(ACTIVITY_CALENDAR), utc(2026, 1, 14, 8))
    assert run_until(w, schedules, utc(2026, 1, 14, 8)) == []  # no calendar: no action
    cal = w.directory[ACTIVITY_CALENDAR]
    assert isinstance(cal, ActivityCalendar)
    ctx = w.ctx()
    _program(cal, ctx)
    cal.action(1, axdr.Integer(0), ctx)
    assert cal.value("season_profile_active") == SEASONS and cal.value("calendar_name_active") == OctetString(b"NEXT")
    assert (STANDARD_LOG, StandardEvent.PASSIVE_TOU_PROGRAMMED) in w.events
    assert w.events[-1] == (STANDARD_LOG, StandardEvent.TOU_ACTIVATED)
    assert run_until(w, schedules, utc(2026, 1, 14, 9)) == [(utc(2026, 1, 14, 8), 1)]


def test_activation_by_time_in_local_time() -> None:
    w, schedules = tou_world(active_calendar(), utc(2026, 1, 14, 8), cet=True)
    cal = w.directory[ACTIVITY_CALENDAR]
    assert isinstance(cal, ActivityCalendar)
    ctx = w.ctx()
    # The next calendar: peak all day on working days from 14 January 12:00 local (11:00 UTC).
    _program(cal, ctx, days=Array((day(1, (0, 0, 1)), day(2, (0, 0, 3), (9, 30, 2), (18, 0, 3)), day(3, (0, 0, 2)))))
    cal.set(10, OctetString(bytes.fromhex("07EA010E030C0000008000FF")), ctx)
    assert cal.pending
    assert run_until(w, schedules, utc(2026, 1, 14, 10, 59)) == [(utc(2026, 1, 14, 8), 1)]
    assert cal.value("calendar_name_active") == OctetString(b"A") and cal.pending
    assert run_until(w, schedules, utc(2026, 1, 14, 23)) == []
    assert cal.value("calendar_name_active") == OctetString(b"NEXT") and not cal.pending
    assert w.events[-1] == (STANDARD_LOG, StandardEvent.TOU_ACTIVATED)
    # The old calendar would have gone off-peak at 20:00 local; the new one stays on peak.
    assert rate(w) == 1


def test_special_days_insert_and_delete() -> None:
    w, _ = tou_world(active_calendar(), utc(2026, 1, 14))  # its Schedules look days up in the table
    table = w.directory[SPECIAL_DAYS]
    cal = w.directory[ACTIVITY_CALENDAR]
    assert isinstance(table, SpecialDaysTable) and isinstance(cal, ActivityCalendar)
    ctx = w.ctx()
    monday = utc(2026, 1, 19, 10)
    assert cal.action_at(monday, w.clock).selector == 1  # type: ignore[union-attr]
    table.action(1, Structure((LongUnsigned(5), OctetString(bytes.fromhex("07EA0113FF")), Unsigned(2))), ctx)
    assert cal.action_at(monday, w.clock).selector == 2  # type: ignore[union-attr]
    table.action(2, LongUnsigned(5), ctx)
    assert cal.action_at(monday, w.clock).selector == 1  # type: ignore[union-attr]
    with pytest.raises(AccessError):
        table.set(2, Array((Structure((LongUnsigned(1), OctetString(b"\x01"), Unsigned(2))),)), ctx)


def test_register_activation_keeps_its_masks_consistent() -> None:
    ra = RegisterActivation(REGISTER_ACTIVATION)
    w = world(ra)
    ctx = w.ctx()
    energy = Obis.parse("1.0.1.8.1.255")
    ra.action(1, Structure((LongUnsigned(3), OctetString(energy.to_bytes()))), ctx)
    ra.action(2, Structure((OctetString(b"T1"), Array((Unsigned(1),)))), ctx)
    ra.set(4, OctetString(b"T1"), ctx)
    assert ra.active_registers() == {energy} and ra.rate() == 1
    for index, value in ((4, OctetString(b"T9")),
                         (3, Array((Structure((OctetString(b"T1"), Array((Unsigned(2),)))),)))):
        with pytest.raises(AccessError) as exc:
            ra.set(index, value, ctx)
        assert exc.value.result == DataAccessResult.OTHER_REASON
    with pytest.raises(AccessError):
        ra.action(3, OctetString(b"T1"), ctx)  # the active mask
    assert ra.active_registers() == {energy}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.integers(0, 3 * 86400))
def test_garbage_programs_never_crash(raw: bytes, later: int) -> None:
    """Any A-XDR a head end may send to a tariff object is stored or refused with a
    data-access-result, and whatever is stored still plans and looks a day up."""
    try:
        value = axdr.decode(raw)
    except Exception:  # noqa: BLE001 - not A-XDR: never reaches the object
        return
    w, schedules = tou_world(active_calendar(), utc(2026, 1, 14))
    ctx = w.ctx()
    cal, table, ra = (w.directory[o] for o in (ACTIVITY_CALENDAR, SPECIAL_DAYS, REGISTER_ACTIVATION))
    for obj, index in [(cal, 6), (cal, 7), (cal, 8), (cal, 9), (cal, 10), (table, 2), (ra, 2),
                       (ra, 3), (ra, 4)]:
        try:
            obj.set(index, value, ctx)
        except AccessError:
            continue
    for obj, method in [(cal, 1), (table, 1), (table, 2), (ra, 1), (ra, 2), (ra, 3)]:
        try:
            obj.action(method, value, ctx)
        except AccessError:
            continue
    schedules.changed(w.changes)
    run_until(w, schedules, utc(2026, 1, 14) + later)
    assert isinstance(cal, ActivityCalendar)
    cal.action_at(utc(2026, 1, 14) + later, w.clock)
