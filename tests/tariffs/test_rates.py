"""Per-rate energy registers in a whole meter (issue 9 item 3): each rate register takes the
energy measured while its rate is active, and the rates add up to the total, across switches,
restarts and simulated kill -9s."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from device.helpers import BILLING, POWER_W, crash, fast_timebase, open_device, rows

from meter.codec import axdr
from meter.codec.axdr import OctetString
from meter.codec.obis import Obis
from meter.device import Device

from .calendar_data import ACTIVE_TARIFF, REGISTER_ACTIVATION

UTC = dt.timezone.utc
QUANTITIES = (1, 2, 3, 4)  # +A, -A, +R, -R
RATES = (1, 2, 3)


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def read(device: Device, obis: str) -> int:
    value = device.directory[Obis.parse(obis)].get(2, device.context(None))
    assert isinstance(value, axdr.DoubleLongUnsigned)
    return value.value


def rates(device: Device, c: int = 1) -> list[int]:
    return [read(device, f"1.0.{c}.8.{r}.255") for r in RATES]


def assert_rates_add_up(device: Device) -> None:
    for c in QUANTITIES:
        # Each register truncates to whole Wh: the sum is within one unit per rate of the total.
        assert 0 <= read(device, f"1.0.{c}.8.0.255") - sum(rates(device, c)) <= len(RATES)


def test_each_rate_takes_the_energy_of_the_hours_it_was_active(tmp_path: Path) -> None:
    # Wednesday 14 January 2026: off-peak to 07:00, peak 07:00-11:00, shoulder from 11:00.
    timebase = fast_timebase(utc(2026, 1, 14, 6, 30))
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    start = rates(device)
    for hour in range(7, 13):
        timebase.t = utc(2026, 1, 14, hour)
        device.tick(timebase.t)
    got = [now - before for now, before in zip(rates(device), start, strict=True)]
    expected = [4 * POWER_W, 1 * POWER_W, 0.5 * POWER_W]  # T1 peak, T2 shoulder, T3 off-peak
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, abs=2)
    assert_rates_add_up(device)
    device.close()


def test_a_head_end_switch_of_the_mask_moves_the_energy_at_that_moment(tmp_path: Path) -> None:
    timebase = fast_timebase(utc(2026, 1, 14, 8))
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    before = rates(device)
    timebase.t += 1800
    device.at(timebase.t)
    device.directory[REGISTER_ACTIVATION].set(4, OctetString(b"T2"), device.context(None))
    timebase.t += 900
    device.tick(timebase.t)
    got = [now - b for now, b in zip(rates(device), before, strict=True)]
    assert got[0] == pytest.approx(0.5 * POWER_W, abs=2)
    assert got[1] == pytest.approx(0.25 * POWER_W, abs=2)
    assert_rates_add_up(device)
    device.close()


def test_rates_add_up_after_crashes_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(9)
    t = utc(2026, 1, 16, 5)  # a Friday: switches at 07:00, 11:00, 17:00, 21:00, 23:00, then weekend
    for _ in range(8):
        timebase = fast_timebase(t)
        device = open_device(tmp_path, timebase)
        for _ in range(rng.randint(1, 4)):
            timebase.t += rng.uniform(60, 4 * 3600)
            device.tick(timebase.t)
        assert_rates_add_up(device)
        timebase.t += rng.uniform(1, 600)
        device.at(timebase.t)  # served, not committed by a tick: lost in the crash
        crash(device)
        t = timebase.t + rng.uniform(0, 3600)
    device = open_device(tmp_path, fast_timebase(t))
    device.at(t)
    assert_rates_add_up(device)
    assert min(rates(device)) > 0
    device.close()


def test_the_month_end_billing_row_holds_each_rate(tmp_path: Path) -> None:
    timebase = fast_timebase(utc(2026, 1, 31, 20))
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    timebase.t = utc(2026, 2, 1)  # the end-of-billing schedule: day 1, 00:00 local
    device.tick(timebase.t)
    buffer = device.directory[BILLING].get(2, device.context(None))
    row = rows(axdr.decode(buffer.to_bytes()))[-1]  # the encoded rows, as a client reads them
    assert row[0] == utc(2026, 2, 1)
    per_rate = [read(device, f"1.0.{c}.8.{r}.255") for r in RATES for c in QUANTITIES]
    assert list(row[7:7 + len(per_rate)]) == per_rate  # after the time, 5 totals and the demand
    assert row[1] - sum(per_rate[0::4]) in range(len(RATES) + 1)  # +A rates add up to +A
    device.close()


def test_a_clock_set_forward_or_back_moves_the_rate_not_the_energy(tmp_path: Path) -> None:
    from meter.codec.cosem_time import CosemDateTime

    timebase = fast_timebase(utc(2026, 1, 14, 6, 30))
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    assert device.directory[ACTIVE_TARIFF].get(2, device.context(None)) == axdr.Unsigned(3)

    def set_clock(moment: float) -> None:
        value = OctetString(CosemDateTime.from_datetime(dt.datetime.fromtimestamp(moment, UTC)).to_bytes())
        device.clock.set(2, value, device.context(None))
        device.commit()  # as a request does: the schedules re-plan on the clock's change

    before = rates(device)
    timebase.t += 600
    device.at(timebase.t)
    set_clock(utc(2026, 1, 14, 7, 40))  # forward over the 07:00 switch
    timebase.t += 1200
    device.tick(timebase.t)
    assert device.directory[ACTIVE_TARIFF].get(2, device.context(None)) == axdr.Unsigned(1)
    set_clock(utc(2026, 1, 14, 6, 0))  # back before it
    timebase.t += 1800
    device.tick(timebase.t)
    assert device.directory[ACTIVE_TARIFF].get(2, device.context(None)) == axdr.Unsigned(3)
    grown = [now - b for now, b in zip(rates(device), before, strict=True)]
    # True time ran 10 min off-peak, 20 min peak, 30 min off-peak: each counted once.
    assert grown[0] == pytest.approx(POWER_W / 3, abs=2)
    assert grown[2] == pytest.approx(POWER_W * 2 / 3, abs=2)
    assert_rates_add_up(device)
    device.close()


def test_maximum_demand_per_rate_and_its_reset_at_billing(tmp_path: Path) -> None:
    timebase = fast_timebase(utc(2026, 1, 14, 6, 50))  # off-peak; peak from 07:00
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    maxima = [f"1.0.1.6.{e}.255" for e in (0, 1, 2, 3)]
    timebase.t = utc(2026, 1, 14, 10, 59)
    device.tick(timebase.t)
    # The 07:00 period closed under off-peak, 07:15..10:45 under peak; no shoulder period yet.
    # (The 06:50 start makes the first period short: its average is below the load's.)
    got = [read(device, m) for m in maxima]
    assert got[0] == pytest.approx(POWER_W, abs=2) and got[1] == pytest.approx(POWER_W, abs=2)
    assert got[2] == 0 and 0 < got[3] < POWER_W
    timebase.t = utc(2026, 1, 14, 11, 16)
    device.tick(timebase.t)
    assert read(device, maxima[2]) == pytest.approx(POWER_W, abs=2)
    stamp = device.directory[Obis.parse(maxima[2])].get(5, device.context(None))
    assert stamp == OctetString(device.clock.cosem_at(utc(2026, 1, 14, 11, 15)).to_bytes())
    before = [read(device, m) for m in maxima]
    device.directory[Obis.parse("0.0.10.0.1.255")].action(1, axdr.LongUnsigned(1), device.context(None))
    assert [read(device, m) for m in maxima] == [0, 0, 0, 0]
    buffer = device.directory[BILLING].get(2, device.context(None))
    row = rows(axdr.decode(buffer.to_bytes()))[-1]
    assert list(row[-8::2]) == before  # value, capture time of each maximum
    device.close()
