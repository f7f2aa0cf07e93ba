"""Values a head-end reads on the wire (issue 8): the running demand, the date of the last clock
setting, the AMR profile status in load-profile rows, and sag/swell durations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from support import START, FakeTimebase, Meter
from support.process import profile_with

from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis

from .helpers import rows

DEMAND = Obis.parse("1.0.1.4.0.255")
CLOCK = Obis.parse("0.0.1.0.0.255")
LAST_CLOCK_SETTING = Obis.parse("0.0.96.2.12.255")
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")
# AMR profile status bits on the wire (DSMR P3 / IDIS: bit 2 data not valid, 5 clock adjusted,
# 7 power down), written out here rather than imported: the test states what a head-end expects.
DATA_NOT_VALID, CLOCK_ADJUSTED, POWER_DOWN = 0x04, 0x20, 0x80
UNSPECIFIED = bytes.fromhex("FFFFFFFFFFFFFFFFFF800000")


def at(meter: Meter, seconds: float) -> None:
    meter.timebase.t = START + seconds


def test_block_demand_grows_within_the_period(tmp_path: Path) -> None:
    """current_average_value = energy of the running block so far / block length (Blue Book
    4.3.5): half-way through a steady load it is half the block's final average."""
    meter = Meter(tmp_path / "state")
    try:
        c = meter.reader()
        at(meter, 450)
        half = c.get(5, DEMAND, 2).to_python()
        at(meter, 901)
        last = c.get(5, DEMAND, 3).to_python()
        assert isinstance(half, int) and isinstance(last, int)
        assert last > 1000  # the profile's default load draws kW
        assert abs(half - last / 2) <= last * 0.01, (half, last)
        assert c.get(5, DEMAND, 2).to_python() <= last * 0.01  # a new block began at 900 s
    finally:
        meter.close()


def _clock(c: object) -> bytes:
    value = c.get(8, CLOCK, 2)  # type: ignore[attr-defined]
    assert isinstance(value, axdr.OctetString)
    return value.value


def _stamp(c: object) -> bytes:
    value = c.get(1, LAST_CLOCK_SETTING, 2)  # type: ignore[attr-defined]
    assert isinstance(value, axdr.OctetString)
    return value.value


def _seconds(raw: bytes) -> float:
    return CosemDateTime.from_bytes(raw).to_datetime().timestamp()


def test_every_clock_setting_stamps_the_date_of_last_clock_setting(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state")
    try:
        c = meter.management()
        assert _stamp(c) == UNSPECIFIED  # never set yet
        at(meter, 100)
        assert c.action(8, CLOCK, 6, axdr.Long(30)) is None  # shift_time
        assert _seconds(_stamp(c)) == _seconds(_clock(c)) == START + 130
        at(meter, 200)
        later = CosemDateTime.from_datetime(CosemDateTime.from_bytes(_clock(c)).to_datetime()
                                            + dt.timedelta(seconds=600), 0)
        assert c.set(8, CLOCK, 2, axdr.OctetString(later.to_bytes())) == 0  # SET of the time
        assert _seconds(_stamp(c)) == START + 830
        at(meter, 300)
        assert c.action(8, CLOCK, 3, axdr.Integer(0)) is None  # adjust_to_minute: 930 s -> 960 s
        assert _seconds(_stamp(c)) == _seconds(_clock(c)) == START + 960
    finally:
        meter.close()


def _statuses(c: object) -> list[int]:
    """The AMR profile status column (the second capture object) of the load profile."""
    rows = c.get(7, LOAD_PROFILE, 2)  # type: ignore[attr-defined]
    assert isinstance(rows, axdr.Array)
    return [int(row.items[1].value) for row in rows.items]  # type: ignore[attr-defined]


def test_load_profile_rows_carry_the_amr_profile_status(tmp_path: Path) -> None:
    """A row is flagged for the interval a clock adjustment or a power down fell in, and the
    row after it is clean again (DSMR P3 / IDIS bit map, meter/device/amr_status.py)."""
    meter = Meter(tmp_path / "state")
    try:
        c = meter.management()
        at(meter, 1000)
        assert c.action(8, CLOCK, 6, axdr.Long(5)) is None  # shift_time, in the 2nd interval
        at(meter, 2800)
        assert _statuses(c)[-3:] == [0, CLOCK_ADJUSTED | DATA_NOT_VALID, 0]
        c.close()
        meter.restart()  # off for a minute, inside the 4th interval
        at(meter, 3700)
        c = meter.reader()
        assert _statuses(c)[-2:] == [0, POWER_DOWN | DATA_NOT_VALID]
    finally:
        meter.close()


def test_demand_reset_starts_an_empty_period(tmp_path: Path) -> None:
    """After reset (method 1) the running period holds only what came after it: under a steady
    load P, 150 s into the 900 s period the reset started it reads P / 6."""
    meter = Meter(tmp_path / "state")
    try:
        c = meter.management()
        at(meter, 450)
        assert c.action(5, DEMAND, 1, axdr.Integer(0)) is None
        assert c.get(5, DEMAND, 2).to_python() == 0
        at(meter, 600)
        after = c.get(5, DEMAND, 2).to_python()
        at(meter, 1351)
        full = c.get(5, DEMAND, 3).to_python()  # the period 450-1350 s
        assert isinstance(after, int) and isinstance(full, int) and full > 1000
        assert abs(after - full / 6) <= full * 0.01, (after, full)
    finally:
        meter.close()


SAG_START, SAG_LENGTH = 10.0, 10.0
POWER_QUALITY_LOG = Obis.parse("0.0.99.98.4.255")
UNDER_VOLTAGE_L1, VOLTAGE_NORMAL_L1 = 76, 85  # IDIS power-quality event codes


def test_a_sag_is_logged_at_its_start_and_end_without_winding_time_back(tmp_path: Path) -> None:
    """The engine reports a disturbance once it is over, here minutes later in one step: the log
    entries carry the meter clock at its start and its end, and the meter's own time stays
    where the request brought it."""
    profile = profile_with(tmp_path, f"""
[[metrology.scenario.events]]
kind = "sag"
phases = ["A"]
start = {SAG_START}
duration = {SAG_LENGTH}
v_scale = 0.7
""")
    meter = Meter(tmp_path / "state", profile, timebase=FakeTimebase(START, scale=3600.0))
    try:
        c = meter.reader()
        at(meter, 600)
        entries = rows(c.get(7, POWER_QUALITY_LOG, 2))
        assert meter.device.t == START + 600
        assert [code for _, code in entries] == [UNDER_VOLTAGE_L1, VOLTAGE_NORMAL_L1]
        (t_under, _), (t_normal, _) = entries
        assert t_under - START == pytest.approx(SAG_START, abs=0.05)  # type: ignore[operator]
        assert t_normal - t_under == pytest.approx(SAG_LENGTH, abs=0.05)  # type: ignore[operator]
        assert _seconds(_clock(c)) == START + 600  # the clock reads the meter's time, not the sag's
    finally:
        meter.close()
