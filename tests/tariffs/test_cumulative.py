"""Cumulative maximum demand (issue 9 item 3): each billing reset of the maxima 1.0.1.6.E.255
adds what each held to 1.0.1.2.E.255, per rate and over all rates; the sums survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from device.helpers import POWER_W, fast_timebase, open_device

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.device import Device

from .test_rates import read, utc

MAXIMA = [f"1.0.1.6.{e}.255" for e in (0, 1, 2, 3)]
CUMULATIVE = [f"1.0.1.2.{e}.255" for e in (0, 1, 2, 3)]
END_OF_BILLING = Obis.parse("0.0.10.0.1.255")


def bill(device: Device) -> None:
    device.directory[END_OF_BILLING].action(1, axdr.LongUnsigned(1), device.context(None))
    device.commit()


def test_each_billing_reset_adds_the_maxima_to_their_cumulative_registers(tmp_path: Path) -> None:
    timebase = fast_timebase(utc(2026, 1, 14, 6, 50))  # off-peak; peak 07:00, shoulder 11:00
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    assert [read(device, c) for c in CUMULATIVE] == [0, 0, 0, 0]
    timebase.t = utc(2026, 1, 14, 11, 16)
    device.tick(timebase.t)
    first = [read(device, m) for m in MAXIMA]
    assert first[0] == pytest.approx(POWER_W, abs=2) and first[2] == pytest.approx(POWER_W, abs=2)
    bill(device)
    assert [read(device, m) for m in MAXIMA] == [0, 0, 0, 0]
    assert [read(device, c) for c in CUMULATIVE] == first
    device.close()

    device = open_device(tmp_path, timebase)  # the sums persist
    device.at(timebase.t)
    assert [read(device, c) for c in CUMULATIVE] == first
    timebase.t = utc(2026, 1, 14, 12, 1)  # shoulder periods only
    device.tick(timebase.t)
    second = [read(device, m) for m in MAXIMA]
    assert second[1] == 0 and second[2] == pytest.approx(POWER_W, abs=2)
    bill(device)
    assert [read(device, c) for c in CUMULATIVE] == [a + b for a, b in zip(first, second, strict=True)]
    device.close()
