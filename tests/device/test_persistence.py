"""The device across Device.close()/crash and reopen on the same state directory, in-process with a
hand-driven timebase: registers, profiles, clock offset, billing, events, algorithm selections and
invocation counters survive; a gap is a power failure (IDIS standard event codes 1 and 2,
cosem-reference.md §4.1) during which no energy accrues; --history back-fills the profiles.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import START, ClientError, FakeTimebase, Keys, management, public, reader

from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.device import Device
from meter.device.persist import CLOCK_MARK_AHEAD_S

from .helpers import (
    BILLING,
    BILLING_COUNTER,
    CLOCK,
    ENERGY,
    EVENT_LOG,
    IC_OBJECT,
    LOAD_PROFILE,
    POWER_W,
    QUARTER,
    crash,
    fast_timebase,
    open_device,
    rows,
    timestamp,
)

DAY = 86400.0
HOUR = 3600.0
POWER_DOWN, POWER_UP = 1, 2
ALGORITHM_P = Obis.parse("1.0.0.11.2.255")  # E=2: the active power algorithm (NA-01)


def energy(device: Device, tb: FakeTimebase) -> int:
    value = reader(device, tb).get(3, ENERGY, 2)
    assert isinstance(value, axdr.DoubleLongUnsigned)
    return value.value


def profile_rows(device: Device, tb: FakeTimebase, obis: Obis) -> list[tuple[object, ...]]:
    return rows(reader(device, tb).get(7, obis, 2))


def event_codes(device: Device, tb: FakeTimebase) -> list[int]:
    return [int(code) for _, code in profile_rows(device, tb, EVENT_LOG)]  # type: ignore[call-overload]


def clock_time(device: Device, tb: FakeTimebase) -> float:
    return timestamp(public(device, tb).get(8, CLOCK, 2))


def resumed_ahead(stop: str) -> float:
    """How far ahead of the last answered time a restart at the same instant resumes: a crash
    resumes at the clock's reserved high-water mark (issue 7 item 10), a clean stop exactly."""
    return CLOCK_MARK_AHEAD_S if stop == "crash" else 0.0


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.mark.parametrize("stop", ["close", "crash"])
def test_registers_and_load_profile_continue(state: Path, stop: str) -> None:
    tb = fast_timebase()
    dev = open_device(state, tb, history=DAY)
    tb.t += 100.0  # off the quarter hour
    before_energy = energy(dev, tb)
    before_rows = profile_rows(dev, tb, LOAD_PROFILE)
    assert len(before_rows) == 96
    dev.close() if stop == "close" else crash(dev)
    off = resumed_ahead(stop)

    dev = open_device(state, tb)  # same instant: no gap
    # A crash resumes at the clock's mark and the meter measured up to there: the read wrote
    # nothing, and the mark bounds the time of every answer, so no value shown goes back.
    assert energy(dev, tb) == pytest.approx(before_energy + POWER_W * off / HOUR, abs=1.5)
    if stop == "close":
        assert energy(dev, tb) == before_energy
    assert profile_rows(dev, tb, LOAD_PROFILE) == before_rows
    tb.t += HOUR
    after = profile_rows(dev, tb, LOAD_PROFILE)
    assert after[:96] == before_rows
    new = after[96:]
    assert [r[0] for r in new] == [START + QUARTER * k for k in range(1, 5)]
    # Energy columns keep rising by one quarter of an hour of load per row.
    for prev, row in zip(after[95:], new, strict=False):
        assert row[2] - prev[2] == pytest.approx(POWER_W * QUARTER / HOUR, abs=1.5)  # type: ignore[operator]
    assert energy(dev, tb) - before_energy == pytest.approx(POWER_W * (HOUR + off) / HOUR, abs=1.5)
    dev.close()


def test_gap_is_a_power_failure(state: Path) -> None:
    tb = fast_timebase()
    dev = open_device(state, tb, history=HOUR)
    e0 = energy(dev, tb)
    lp0 = profile_rows(dev, tb, LOAD_PROFILE)
    dev.close()

    tb.t += 2 * HOUR + 300.0
    dev = open_device(state, tb)
    events = profile_rows(dev, tb, EVENT_LOG)
    assert [e[1] for e in events[-2:]] == [POWER_DOWN, POWER_UP]
    assert events[-2][0] == pytest.approx(START, abs=1.0)   # down: when the meter stopped
    assert events[-1][0] == pytest.approx(tb.t, abs=1.0)  # up: when it came back
    assert energy(dev, tb) == e0  # nothing accrued while off
    tb.t += QUARTER
    assert energy(dev, tb) - e0 == pytest.approx(POWER_W / 4, abs=1.5)
    lp = profile_rows(dev, tb, LOAD_PROFILE)
    assert lp[:len(lp0)] == lp0
    # No rows inside the gap; the next one at the first quarter hour after power-up.
    assert [r[0] for r in lp[len(lp0):]] == [START + 2 * HOUR + 900.0]
    dev.close()


def test_restart_without_gap_logs_no_power_failure(state: Path) -> None:
    tb = fast_timebase()
    dev = open_device(state, tb, history=HOUR)
    codes = event_codes(dev, tb)
    dev.close()
    dev = open_device(state, tb)
    assert event_codes(dev, tb) == codes
    dev.close()


def test_restart_with_an_earlier_start_continues_from_the_saved_time(state: Path) -> None:
    """Re-running the same command line (same --start) must not freeze or rewind the meter."""
    tb = fast_timebase()
    dev = open_device(state, tb, history=HOUR)
    tb.t += HOUR
    e0, c0 = energy(dev, tb), clock_time(dev, tb)
    dev.close()
    tb.t = START  # the old --start again
    dev = open_device(state, tb)
    assert tb.t == pytest.approx(START + HOUR)  # the timebase was moved to the saved time
    assert clock_time(dev, tb) >= c0
    tb.t += QUARTER
    assert energy(dev, tb) - e0 == pytest.approx(POWER_W / 4, abs=1.5)
    dev.close()


@pytest.mark.parametrize("stop", ["close", "crash"])
def test_clock_offset_survives(state: Path, stop: str) -> None:
    tb = fast_timebase()
    dev = open_device(state, tb)
    keys = Keys()
    m = management(dev, tb, keys)
    m.action(8, CLOCK, 6, axdr.Long(600))  # shift_time +10 min
    assert clock_time(dev, tb) == pytest.approx(START + 600, abs=1.0)
    dev.close() if stop == "close" else crash(dev)

    dev = open_device(state, tb)
    assert clock_time(dev, tb) == pytest.approx(START + 600 + resumed_ahead(stop), abs=1.0)
    target = datetime(2026, 1, 1, 5, 0, tzinfo=timezone.utc)
    m = management(dev, tb, keys)
    assert m.set(8, CLOCK, 2, axdr.OctetString(CosemDateTime.from_datetime(target).to_bytes())) == 0
    dev.close() if stop == "close" else crash(dev)

    tb.t += 60.0
    dev = open_device(state, tb)
    assert clock_time(dev, tb) == pytest.approx(target.timestamp() + 60, abs=1.0)
    # Time setting is logged (IDIS codes 4 old time, 5 new time) and the log survived too.
    # (A crash adds a power failure (1, 2) for the few seconds the clock resumed ahead.)
    assert [c for c in event_codes(dev, tb) if c in (4, 5)][:4] == [4, 5, 4, 5]
    dev.close()


def test_billing_survives(state: Path) -> None:
    now = datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp()
    tb = fast_timebase(now)
    dev = open_device(state, tb, history=60 * DAY)  # from 2026-01-01: crosses Feb 1 and Mar 1
    counter = reader(dev, tb).get(1, BILLING_COUNTER, 2)
    billing = profile_rows(dev, tb, BILLING)
    assert counter == axdr.Unsigned(2)
    assert [r[0] for r in billing] == [datetime(2026, 2, 1, tzinfo=timezone.utc).timestamp(),
                                       datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()]
    assert billing[0][1] == pytest.approx(31 * 24 * POWER_W, abs=2)
    assert billing[1][1] == pytest.approx(59 * 24 * POWER_W, abs=2)
    crash(dev)

    dev = open_device(state, tb)
    assert reader(dev, tb).get(1, BILLING_COUNTER, 2) == counter
    assert profile_rows(dev, tb, BILLING) == billing
    dev.close()


@pytest.mark.parametrize("stop", ["close", "crash"])
def test_algorithm_selection_survives(state: Path, stop: str) -> None:
    tb = fast_timebase()
    dev = open_device(state, tb)
    m = management(dev, tb, Keys())
    assert m.set(1, ALGORITHM_P, 2, axdr.Enum(2)) == 0
    dev.close() if stop == "close" else crash(dev)

    dev = open_device(state, tb)
    assert reader(dev, tb).get(1, ALGORITHM_P, 2) == axdr.Enum(2)
    # The metrology engine measures with the restored selection, not the profile's default.
    assert dev.metrology.engine.selection[2] == 2
    dev.close()


@pytest.mark.parametrize("stop", ["close", "crash"])
def test_invocation_counters_never_go_back(state: Path, stop: str) -> None:
    tb = fast_timebase()
    dev = open_device(state, tb)
    keys = Keys()
    m = management(dev, tb, keys)
    for _ in range(3):
        m.get(3, ENERGY, 2)
    seen = list(m.server_ics)
    assert len(set(seen)) == 6  # AARE, f(StoC) and its response, 3 gets: all distinct
    last_client_ic = keys.invocation_counter - 1
    dev.close() if stop == "close" else crash(dev)

    dev = open_device(state, tb)
    assert public(dev, tb).get(1, IC_OBJECT, 2) == axdr.DoubleLongUnsigned(last_client_ic)
    with pytest.raises(ClientError):  # an old counter is a replay: refused
        management(dev, tb, Keys(invocation_counter=last_client_ic))
    m = management(dev, tb, keys)
    m.get(3, ENERGY, 2)
    assert min(m.server_ics) > max(seen)
    dev.close()


def test_history_backfill(state: Path) -> None:
    tb = fast_timebase()
    dev = open_device(state, tb, history=3 * DAY)
    lp = profile_rows(dev, tb, LOAD_PROFILE)
    assert len(lp) == 288
    times = [r[0] for r in lp]
    assert times == [START - 3 * DAY + QUARTER * k for k in range(1, 289)]
    assert energy(dev, tb) == pytest.approx(72 * POWER_W, abs=1.5)
    assert lp[-1][2] == energy(dev, tb)
    # One billing reset: the month changed from December to January at START.
    billing = profile_rows(dev, tb, BILLING)
    assert [r[0] for r in billing] == [START]
    dev.close()


def test_a_read_writes_nothing(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET of an energy register or of the clock changes nothing the meter keeps: no SQLite
    transaction (a crash after it still never shows a lower value: see the crash cases above)."""
    tb = FakeTimebase()
    dev = open_device(state, tb)
    client = reader(dev, tb)
    transactions = []
    real = dev.store._transaction

    def counted(*args: object, **kwargs: object) -> object:
        transactions.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dev.store, "_transaction", counted)
    for _ in range(3):
        tb.t += 1.0  # time moves on, within the clock's reserved mark
        assert isinstance(client.get(3, ENERGY, 2), axdr.DoubleLongUnsigned)
        assert isinstance(client.get(8, CLOCK, 2), axdr.OctetString)
    assert transactions == []
    monkeypatch.undo()
    dev.close()
