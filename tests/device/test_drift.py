"""Clock drift (meter/device/drift.py, meter/cosem/clock.py): the clock steps one second each
time its crystal has drifted one, at the true times the rate gives, fast or slow; a 30-day jump
ends within one step of the drift the rate makes; the steps log no clock setting and keep the
load profile on meter time's quarter-hour grid; a head end's setting corrects the time and
restarts the accumulation, the rate staying; rate, reference and offset survive a restart and a
kill -9, and a state stored before drift existed (the offset alone) still loads."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import START, FakeTimebase, Keys, management, public, reader
from support.process import profile_with

from meter.codec import axdr
from meter.cosem.clock import DRIFT_STEP_S, MAX_DRIFT_PPM, Clock
from meter.cosem.names import CLOCK
from meter.device import Device
from meter.profile import ProfileError, load

from . import helpers
from .helpers import EVENT_LOG, LOAD_PROFILE, QUARTER, rows, timestamp

DAY = 86400.0
CLOCK_ADJUSTED = {4, 5}  # IDIS standard events: old time, new time (cosem-reference.md §4.1)


def meter_minus_true(device: Device, tb: FakeTimebase) -> float:
    """What a head end sees: the clock attribute read over DLMS minus true time."""
    return timestamp(public(device, tb).get(8, CLOCK, 2)) - tb.t


def to(device: Device, tb: FakeTimebase, t: float) -> None:
    tb.t = t
    device.tick(t)


def event_codes(device: Device, tb: FakeTimebase) -> list[int]:
    return [int(code) for _, code in rows(reader(device, tb).get(7, EVENT_LOG, 2)) if code is not None]  # type: ignore[call-overload]


@pytest.mark.parametrize("ppm", [100.0, -250.0])
def test_steps_fall_at_the_true_times_the_rate_gives(tmp_path: Path, ppm: float) -> None:
    tb = helpers.fast_timebase()
    dev = helpers.open_device(tmp_path / "state", tb)
    try:
        dev.set_drift(START, ppm)
        period = DRIFT_STEP_S * 1e6 / abs(ppm)  # 10,000 s at 100 ppm, 4,000 s at 250
        sign = math.copysign(1.0, ppm)
        assert dev.clock.drift_due() == START + period
        deadline = dev.next_deadline()
        assert deadline is not None and deadline <= START + period  # a fleet's heap sees it
        to(dev, tb, START + period - 0.5)
        assert dev.clock.deviation() == 0.0
        to(dev, tb, START + period)
        assert dev.clock.deviation() == sign
        to(dev, tb, START + 3 * period + 1)
        assert dev.clock.deviation() == 3 * sign
        assert meter_minus_true(dev, tb) == pytest.approx(3 * sign, abs=0.01)
        assert dev.clock.drift_due() == pytest.approx(START + 4 * period)
    finally:
        dev.close()


@pytest.mark.parametrize("ppm", [50.0, -37.5])
def test_a_30_day_jump_drifts_as_the_rate_says_on_the_quarter_hour_grid(tmp_path: Path,
                                                                        ppm: float) -> None:
    tb = helpers.fast_timebase()
    dev = helpers.open_device(tmp_path / "state", tb)
    try:
        before = event_codes(dev, tb)
        dev.set_drift(START, ppm)
        to(dev, tb, START + 30 * DAY)
        expected = ppm * 1e-6 * 30 * DAY  # 129.6 s fast / 97.2 s slow
        deviation = meter_minus_true(dev, tb)
        assert abs(deviation - expected) < DRIFT_STEP_S + 0.01, (deviation, expected)
        assert abs(deviation) <= abs(expected)  # whole steps only: never ahead of the rate
        # No clock setting was logged: a crystal just drifts.
        assert [c for c in event_codes(dev, tb)[len(before):] if c in CLOCK_ADJUSTED] == []
        times = [row[0] for row in rows(reader(dev, tb).get(7, LOAD_PROFILE, 2))]
        assert times and all(t % QUARTER == 0 for t in times)  # meter time's grid
        assert times == sorted(times)
        last_quarter = (START + 30 * DAY + deviation) // QUARTER * QUARTER
        assert times[-1] == last_quarter
    finally:
        dev.close()


def test_a_step_at_a_capture_boundary_comes_after_the_capture(tmp_path: Path) -> None:
    """A step due at the very instant of a quarter: the row is captured at the quarter (the time
    before the step), then the clock steps on."""
    tb = helpers.fast_timebase()
    dev = helpers.open_device(tmp_path / "state", tb)
    try:
        dev.set_drift(START, 1e6 / QUARTER)  # 1111.1 ppm: a step every 900 s, on the quarters
        to(dev, tb, START + 4 * QUARTER + 1)
        assert dev.clock.deviation() == 4.0
        times = [row[0] for row in rows(reader(dev, tb).get(7, LOAD_PROFILE, 2))]
        assert times[-4:] == [START + k * QUARTER for k in (1, 2, 3, 4)]
    finally:
        dev.close()


def test_a_setting_corrects_the_time_and_restarts_the_accumulation(tmp_path: Path) -> None:
    tb = helpers.fast_timebase()
    dev = helpers.open_device(tmp_path / "state", tb)
    try:
        dev.set_drift(START, 100.0)  # a step every 10,000 s
        to(dev, tb, START + 15_000)
        assert dev.clock.deviation() == 1.0
        before = event_codes(dev, tb)
        m = management(dev, tb, Keys(invocation_counter=1))
        m.action(8, CLOCK, 6, axdr.Long(-1))  # shift_time: the head end's correction (UC 6)
        assert meter_minus_true(dev, tb) == pytest.approx(0.0, abs=0.01)
        assert [c for c in event_codes(dev, tb)[len(before):] if c in CLOCK_ADJUSTED] == [4, 5]
        assert dev.clock.drift_ppm == 100.0  # the crystal's: the setting leaves it
        to(dev, tb, START + 20_000)  # would have been the next step without the setting
        assert dev.clock.deviation() == 0.0
        to(dev, tb, START + 25_000 - 1)
        assert dev.clock.deviation() == 0.0
        to(dev, tb, START + 25_000)  # 10,000 s after the setting
        assert dev.clock.deviation() == 1.0
    finally:
        dev.close()


@pytest.mark.parametrize("stop", ["close", "crash"])
def test_rate_reference_and_offset_survive_a_restart(tmp_path: Path, stop: str) -> None:
    tb = helpers.fast_timebase()
    dev = helpers.open_device(tmp_path / "state", tb)
    dev.set_drift(START, -100.0)
    to(dev, tb, START + 25_000)  # two steps; half-way to the third
    assert dev.clock.deviation() == -2.0
    dev.close() if stop == "close" else helpers.crash(dev)

    dev = helpers.open_device(tmp_path / "state", tb)
    try:
        assert dev.clock.drift_ppm == -100.0
        assert dev.clock.deviation() == -2.0
        assert dev.clock.drift_due() == START + 30_000  # the reference survived too
        to(dev, tb, START + 30_000)
        assert dev.clock.deviation() == -3.0
    finally:
        dev.close()


def test_a_stored_offset_alone_still_loads() -> None:
    now = [START]
    clock = Clock(CLOCK, lambda: now[0], drift_ppm=20.0)
    clock.load_private(axdr.Float64(12.5))  # a state from before drift existed
    assert (clock.deviation(), clock.drift_ppm) == (12.5, 20.0)
    assert clock.dump_private() == axdr.Float64(12.5)  # nothing drifted yet: stored as before
    assert clock.drift_due() == START + 50_000  # drift counts from when it is first asked
    copy = Clock(CLOCK, lambda: now[0])
    copy.load_private(clock.dump_private())
    assert (copy.deviation(), copy.drift_ppm, copy.drift_due()) == (12.5, 20.0, START + 50_000)


@settings(max_examples=60, deadline=None)
@given(st.floats(-MAX_DRIFT_PPM, MAX_DRIFT_PPM).filter(lambda p: abs(p) >= 1.0),
       st.floats(0.0, 5 * DAY))
def test_whole_steps_make_the_drift_the_rate_gives(ppm: float, span: float) -> None:
    """The clock alone, stepped wherever its drift falls due (as the scheduler does): after any
    span it is within one step of ppm x span, never past it, and every step was on time."""
    now = [START]
    clock = Clock(CLOCK, lambda: now[0], drift_ppm=ppm)
    while (due := clock.drift_due()) is not None and due <= START + span:
        assert due > now[0]
        now[0] = due
        clock.drift_step()
    exact = ppm * 1e-6 * span
    assert abs(clock.deviation() - exact) < DRIFT_STEP_S + 1e-6
    assert abs(clock.deviation()) <= abs(exact) + 1e-6


@pytest.mark.parametrize("ppm", [MAX_DRIFT_PPM * 1.01, -MAX_DRIFT_PPM - 1, math.inf, math.nan])
def test_a_rate_out_of_bounds_is_refused(ppm: float) -> None:
    clock = Clock(CLOCK, lambda: START)
    with pytest.raises(ValueError, match="drift"):
        clock.set_drift(ppm)
    assert clock.drift_ppm == 0.0 and clock.drift_due() is None


def test_the_profile_gives_the_rate_at_start(tmp_path: Path) -> None:
    path = profile_with(tmp_path, '[[object]]\nobis = "0.0.1.0.0.255"\ndrift_ppm = -50.0\n')
    tb = helpers.fast_timebase()
    dev = Device.open(path, tmp_path / "state", tb)
    try:
        assert dev.clock.drift_ppm == -50.0
        to(dev, tb, START + DAY)
        assert dev.clock.deviation() == -4.0  # 4.32 s slow a day
    finally:
        dev.close()
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(ProfileError, match="drift_ppm"):
        load(profile_with(bad, '[[object]]\nobis = "0.0.1.0.0.255"\ndrift_ppm = 20000\n'))


def test_the_profiles_drift_counts_from_the_first_start_across_restarts(tmp_path: Path) -> None:
    """Restarts before the first step do not restart the count: its reference is stored at once."""
    path = profile_with(tmp_path, '[[object]]\nobis = "0.0.1.0.0.255"\ndrift_ppm = 100.0\n')
    tb = helpers.fast_timebase()
    for k in range(1, 4):  # three kills -9, 3,000 s apart: none of them reaches a step
        dev = Device.open(path, tmp_path / "state", tb)
        to(dev, tb, START + k * 3000)
        helpers.crash(dev)
    dev = Device.open(path, tmp_path / "state", tb)
    try:
        assert dev.clock.drift_due() == START + 10_000
        to(dev, tb, START + 10_000)
        assert dev.clock.deviation() == 1.0
    finally:
        dev.close()
