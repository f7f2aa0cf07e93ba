"""Metering data read by the reader association: identification (Data, Blue Book 4.3.1), registers
with scaler_unit (Register, 4.3.2) and the load profile buffer by range and by entry (Profile generic,
4.3.6 selective access), large enough that the 256-byte client PDU forces GET block transfer
(Green Book 9.4.6.12) and, over HDLC, segmented I-frames."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from .clients import READER, Ref, parse_datetime
from .conftest import Connect

pytestmark = pytest.mark.interop

PROFILE = tomllib.loads((Path(__file__).resolve().parents[2] / "profiles/acesm.toml").read_text())
OBJECTS = {obj["obis"]: obj for obj in PROFILE["object"]}
REGISTERS = [obis for obis, obj in OBJECTS.items() if obj["class"] == "register"]
LOAD_PROFILE = "1.0.99.1.0.255"
CLOCK = Ref(8, "0.0.1.0.0.255", 2)
CAPTURE_PERIOD = OBJECTS[LOAD_PROFILE]["capture_period"]
COLUMNS = len(OBJECTS[LOAD_PROFILE]["capture_objects"])
METER = PROFILE["meter"]


def _scaled(driver: Any, obis: str) -> float:
    value = driver.get(Ref(3, obis, 2))
    scaler_unit = driver.get(Ref(3, obis, 3))
    assert value.ok and scaler_unit.ok, (obis, value.result, scaler_unit.result)
    return float(value.value) * 10.0 ** scaler_unit.value[0]


def test_identification(connect: Connect) -> None:
    driver = connect(READER)
    assert driver.get(Ref(1, "0.0.96.1.0.255", 2)).value == METER["serial"].encode()
    assert driver.get(Ref(1, "1.0.0.2.0.255", 2)).value == METER["firmware"].encode()
    driver.release()


def test_registers_scaler_unit_and_values(connect: Connect) -> None:
    """scaler_unit is exactly the profile's; energies are non-negative; instantaneous values sit near
    the profile's nominal supply (U, I, f) within generous bands (metrology adds noise/harmonics)."""
    driver = connect(READER)
    for obis in REGISTERS:
        outcome = driver.get(Ref(3, obis, 3))
        assert outcome.ok, (obis, outcome.result)
        assert outcome.value == [OBJECTS[obis]["scaler"], OBJECTS[obis]["unit"]], obis
    for obis in ("1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.3.8.0.255", "1.0.4.8.0.255"):
        assert _scaled(driver, obis) >= 0, obis
    assert _scaled(driver, "1.0.32.7.0.255") == pytest.approx(METER["voltage"], rel=0.15)
    assert _scaled(driver, "1.0.31.7.0.255") == pytest.approx(METER["current"], rel=0.5)
    assert _scaled(driver, "1.0.14.7.0.255") == pytest.approx(METER["frequency"], abs=1.0)
    assert _scaled(driver, "1.0.1.7.0.255") > 0
    driver.release()


def _assert_rows(rows: list[list[Any]]) -> list[Any]:
    assert all(len(row) == COLUMNS for row in rows), [len(row) for row in rows]
    times = [parse_datetime(row[0]) for row in rows]
    assert times == sorted(times) and len(set(times)) == len(times), times
    return times


def test_load_profile_by_range(connect: Connect) -> None:
    """Rows of the last 6 h: every capture time inside [from, to], strictly increasing, at least one
    per capture period; 24 rows of ~40 bytes do not fit one 256-byte PDU, so blocks are exchanged."""
    driver = connect(READER)
    now = parse_datetime(driver.get(CLOCK).value)
    start, end = now - timedelta(hours=6), now
    rows = driver.read_profile_range(LOAD_PROFILE, start, end)
    times = _assert_rows(rows)
    assert all(start <= t <= end for t in times), (start, end, times[0], times[-1])
    # Periodic captures sit on the period grid; management tests may add off-grid captures
    # (method 2) and move the clock, so only the grid rows are counted.
    periodic = [t for t in times if t.timestamp() % CAPTURE_PERIOD == 0]
    assert len(periodic) >= 6 * 3600 // CAPTURE_PERIOD - 1, len(periodic)
    driver.release()


@pytest.mark.parametrize("client_name", ["gurux"], indirect=True)
def test_load_profile_by_entry(connect: Connect) -> None:
    """Entry selector (dlms-cosem has none): the first 40 and the last 10 entries in use."""
    driver = connect(READER)
    in_use = driver.get(Ref(7, LOAD_PROFILE, 7))
    assert in_use.ok and in_use.value >= 50, in_use
    first = driver.read_profile_entries(LOAD_PROFILE, 1, 40)
    assert len(first) == 40
    last = driver.read_profile_entries(LOAD_PROFILE, in_use.value - 9, in_use.value)
    assert len(last) == 10
    first_times, last_times = _assert_rows(first), _assert_rows(last)
    assert first_times[-1] < last_times[0]
    assert last_times[-1] <= parse_datetime(driver.get(CLOCK).value)
    driver.release()
