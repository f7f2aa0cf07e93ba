from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.timebase import Timebase


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_starts_at_wall_clock_when_no_start_given() -> None:
    mono = Clock(5.0)
    tb = Timebase(wall=lambda: 1_700_000_000.0, monotonic=mono)
    assert tb.now() == 1_700_000_000.0
    mono.t += 2.5
    assert tb.now() == 1_700_000_002.5


def test_explicit_start_and_scale() -> None:
    mono = Clock()
    tb = Timebase(start=1_000.0, scale=60.0, wall=lambda: 9e9, monotonic=mono)
    assert tb.now() == 1_000.0
    mono.t += 1.0
    assert tb.now() == 1_060.0
    assert tb.scale == 60.0 and tb.start == 1_000.0


def test_wall_clock_steps_do_not_move_simulated_time() -> None:
    wall = Clock(1_000.0)
    mono = Clock()
    tb = Timebase(wall=wall, monotonic=mono)
    wall.t -= 3600  # NTP steps the wall clock back
    mono.t += 1.0
    assert tb.now() == 1_001.0


def test_wall_delay() -> None:
    tb = Timebase(start=0.0, scale=10.0, monotonic=Clock())
    assert tb.wall_delay(50.0) == 5.0
    assert tb.wall_delay(-3.0) == 0.0


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_rejects_non_positive_scale(scale: float) -> None:
    with pytest.raises(ValueError):
        Timebase(scale=scale)


@settings(max_examples=50)
@given(
    scale=st.floats(min_value=1e-3, max_value=1e4),
    elapsed=st.floats(min_value=0, max_value=1e6),
)
def test_delay_inverts_elapsed(scale: float, elapsed: float) -> None:
    mono = Clock(0.0)
    tb = Timebase(start=0.0, scale=scale, monotonic=mono)
    mono.t = tb.wall_delay(elapsed)
    assert tb.now() == pytest.approx(elapsed, rel=1e-9, abs=1e-6)
