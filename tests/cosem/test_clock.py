from __future__ import annotations

import datetime as dt

import pytest

from meter.codec.axdr import Boolean, Enum, Integer, Long, OctetString, Structure, Unsigned
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.clock import Clock
from meter.errors import AccessError, DataAccessResult

from .helpers import T0, world

STANDARD_EVENT_LOG = Obis.parse("0.0.99.98.0.255")

UTC = dt.timezone.utc


def read_time(clock: Clock, ctx) -> dt.datetime:  # type: ignore[no-untyped-def]
    return CosemDateTime.from_bytes(clock.get(2, ctx).value).to_datetime()


def octets(value: dt.datetime) -> OctetString:
    return OctetString(CosemDateTime.from_datetime(value).to_bytes())


def test_time_follows_source_and_set_time_is_an_offset() -> None:
    w = world()
    ctx = w.ctx()
    assert read_time(w.clock, ctx) == dt.datetime.fromtimestamp(T0, UTC)
    new = dt.datetime(2024, 1, 15, 12, 30, tzinfo=UTC)
    w.clock.set(2, octets(new), ctx)
    assert w.clock.timestamp() == new.timestamp()
    w.time.now += 60
    assert read_time(w.clock, ctx) == new + dt.timedelta(minutes=1)
    assert w.events == [(STANDARD_EVENT_LOG, 4), (STANDARD_EVENT_LOG, 5)]


def test_time_zone_and_deviation() -> None:
    w = world()
    ctx = w.ctx()
    w.clock.set(3, Long(-60), ctx)  # UTC+01:00, Blue Book sign
    cdt = CosemDateTime.from_bytes(w.clock.get(2, ctx).value)
    assert cdt.time.hour == 11 and cdt.deviation == -60
    with pytest.raises(AccessError) as exc:
        w.clock.set(3, Long(900), ctx)
    assert exc.value.result == DataAccessResult.OTHER_REASON
    with pytest.raises(AccessError) as exc:
        w.clock.set(3, Integer(0), ctx)
    assert exc.value.result == DataAccessResult.TYPE_UNMATCHED


def test_wildcard_time_write_is_refused() -> None:
    w = world()
    with pytest.raises(AccessError):
        w.clock.set(2, OctetString(bytes.fromhex("FFFFFFFFFFFFFFFFFF800000")), w.ctx())
    with pytest.raises(AccessError) as exc:
        w.clock.set(2, OctetString(b"short"), w.ctx())
    assert exc.value.result == DataAccessResult.TYPE_UNMATCHED


@pytest.mark.parametrize("method, seconds, expected", [
    (1, 7 * 60 + 29, 0), (1, 7 * 60 + 31, 900), (3, 29, 0), (3, 30, 60), (2, 8 * 60, 900)])
def test_adjust(method: int, seconds: int, expected: int) -> None:
    w = world()
    w.time.now = T0 + seconds
    w.clock.action(method, Integer(0), w.ctx())
    assert w.clock.timestamp() == T0 + expected


def test_shift_time_range() -> None:
    w = world()
    ctx = w.ctx()
    w.clock.action(6, Long(-900), ctx)
    assert w.clock.timestamp() == T0 - 900
    for bad, result in [(Long(901), DataAccessResult.OTHER_REASON),
                        (Integer(5), DataAccessResult.TYPE_UNMATCHED)]:
        with pytest.raises(AccessError) as exc:
            w.clock.action(6, bad, ctx)
        assert exc.value.result == result


def test_preset_time() -> None:
    w = world()
    ctx = w.ctx()
    base = dt.datetime.fromtimestamp(T0, UTC)
    preset = base + dt.timedelta(hours=1)
    with pytest.raises(AccessError):
        w.clock.action(4, Integer(0), ctx)  # nothing preset
    w.clock.action(5, Structure((octets(preset), octets(base - dt.timedelta(minutes=1)),
                                 octets(base + dt.timedelta(minutes=1)))), ctx)
    w.time.now += 30
    w.clock.action(4, Integer(0), ctx)
    assert w.clock.timestamp() == preset.timestamp()


def test_preset_outside_window() -> None:
    w = world()
    ctx = w.ctx()
    base = dt.datetime.fromtimestamp(T0, UTC)
    w.clock.action(5, Structure((octets(base), octets(base), octets(base))), ctx)
    w.time.now += 5
    with pytest.raises(AccessError):
        w.clock.action(4, Integer(0), ctx)


def test_dst_eu_rule() -> None:
    w = world()
    ctx = w.ctx()
    clock = w.clock
    clock.set(3, Long(-60), ctx)
    clock.set(8, Boolean(True), ctx)
    assert (STANDARD_EVENT_LOG, 3) in w.events
    # 2024: DST from 31 March 01:00 UTC to 27 October 01:00 UTC.
    for when, active in [((3, 31, 0, 59), False), ((3, 31, 1, 0), True),
                         ((10, 27, 0, 59), True), ((10, 27, 1, 0), False), ((7, 1, 12, 0), True)]:
        month, day, hour, minute = when
        w.time.now = dt.datetime(2024, month, day, hour, minute, tzinfo=UTC).timestamp()
        cdt = CosemDateTime.from_bytes(clock.get(2, ctx).value)
        assert bool(clock.get(4, ctx).value & 0x80) == active, when
        assert cdt.deviation == (-120 if active else -60)
        assert cdt.to_datetime().timestamp() == w.time.now


def test_dst_southern_hemisphere_and_fixed_dates() -> None:
    w = world()
    ctx = w.ctx()
    clock = w.clock
    clock.set(5, OctetString(bytes.fromhex("FFFF0A0107020000FF8000FF")), ctx)  # 1st Sun Oct
    clock.set(6, OctetString(bytes.fromhex("FFFF040107030000FF8000FF")), ctx)  # 1st Sun Apr
    clock.set(8, Boolean(True), ctx)
    w.time.now = dt.datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    assert clock.dst_active(w.time.now)
    w.time.now = dt.datetime(2024, 6, 1, tzinfo=UTC).timestamp()
    assert not clock.dst_active(w.time.now)


def test_status_and_other_attributes() -> None:
    w = world()
    ctx = w.ctx()
    w.clock.set(4, Unsigned(0x81), ctx)  # bit 7 is not stored: DST decides it
    assert w.clock.get(4, ctx) == Unsigned(0x01)
    w.clock.action(6, Long(1), ctx)  # setting the time makes it valid again
    assert w.clock.get(4, ctx) == Unsigned(0)
    w.clock.set(7, Integer(30), ctx)
    with pytest.raises(AccessError):
        w.clock.set(7, Integer(121), ctx)
    w.clock.set(9, Enum(2), ctx)
    with pytest.raises(AccessError):
        w.clock.set(9, Enum(9), ctx)


def test_offset_persists() -> None:
    w = world()
    w.clock.action(6, Long(100), w.ctx())
    state = w.clock.dump_state()
    other = Clock(w.clock.logical_name, w.time)
    other.load_state(state)
    assert other.timestamp() == w.clock.timestamp()


def test_time_matches_the_eu_zone_hour_by_hour_across_years() -> None:
    """The time attribute (DST looked up once per year and kept) against zoneinfo's
    Europe/Berlin, every hour of 2024-2026 (transitions, year ends)."""
    from zoneinfo import ZoneInfo
    berlin = ZoneInfo("Europe/Berlin")
    w = world()
    ctx = w.ctx()
    w.clock.set(3, Long(-60), ctx)
    w.clock.set(8, Boolean(True), ctx)
    start = dt.datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    for hour in range(3 * 366 * 24):
        w.time.now = start + 3600 * hour + 1799.5
        raw = w.clock.get(2, ctx).value
        local = dt.datetime.fromtimestamp(w.time.now, berlin)
        dst = bool(local.dst())
        offset = local.utcoffset()
        assert offset is not None
        assert raw == CosemDateTime.from_datetime(local, 0x80 if dst else 0).to_bytes(), local
        assert w.clock.get(4, ctx) == Unsigned(0x80 if dst else 0)


def test_a_written_or_restored_zone_applies_to_the_next_read() -> None:
    w = world()
    ctx = w.ctx()
    w.time.now = dt.datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp()
    summer = w.clock.dump_state()
    assert CosemDateTime.from_bytes(w.clock.get(2, ctx).value).deviation == 0
    w.clock.set(3, Long(-60), ctx)
    assert CosemDateTime.from_bytes(w.clock.get(2, ctx).value).deviation == -60
    w.clock.set(8, Boolean(True), ctx)
    assert CosemDateTime.from_bytes(w.clock.get(2, ctx).value).deviation == -120
    w.clock.set(7, Integer(30), ctx)
    assert CosemDateTime.from_bytes(w.clock.get(2, ctx).value).deviation == -90
    w.clock.set(5, OctetString(bytes.fromhex("FFFF0A0107020000FF8000FF")), ctx)  # 1st Sun Oct
    w.clock.set(6, OctetString(bytes.fromhex("FFFF040107030000FF8000FF")), ctx)  # 1st Sun Apr
    assert CosemDateTime.from_bytes(w.clock.get(2, ctx).value).deviation == -60  # winter there
    w.clock.load_state(summer)  # back to UTC, no DST
    assert CosemDateTime.from_bytes(w.clock.get(2, ctx).value).deviation == 0
    assert w.clock.get(4, ctx) == Unsigned(0)


def test_octets_at_are_the_cosem_date_time_at() -> None:
    """The two ways to write the clock's time at an instant give the same 12 octets (a profile's
    clock column uses octets_at, the short path of a GET): standard time, DST, a fraction of a
    second, a status bit."""
    w = world()
    ctx = w.ctx()
    clock = w.clock
    clock.set(3, Long(-60), ctx)
    clock.set(8, Boolean(True), ctx)
    for month, day, hour, minute, second in [(1, 5, 3, 4, 5.25), (3, 31, 0, 59, 59.99),
                                             (3, 31, 1, 0, 0.0), (7, 1, 12, 0, 0.5),
                                             (10, 27, 0, 59, 59.0), (10, 27, 1, 0, 0.0)]:
        ts = dt.datetime(2024, month, day, hour, minute, tzinfo=UTC).timestamp() + second
        assert clock.octets_at(ts) == clock.cosem_at(ts).to_bytes(), (month, day, hour, minute)
