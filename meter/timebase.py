"""Simulated time: the one place in the meter that reads the wall clock.

Every sans-IO core takes ``now`` (UTC epoch seconds) as an argument; the edges get it from a
Timebase. Simulated time runs from ``start`` at ``scale`` times the speed of a monotonic clock,
so a test meter can live through a billing period in minutes (``--time-scale``) and a stepped
wall clock (NTP) never makes the meter's time jump backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Timebase"]


class Timebase:
    """simulated now = start + (monotonic() - t0) * scale."""

    __slots__ = ("_monotonic", "_scale", "_start", "_t0")

    def __init__(
        self,
        start: float | None = None,
        scale: float = 1.0,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not scale > 0:
            raise ValueError(f"time scale must be positive, got {scale!r}")
        self._monotonic = monotonic
        self._scale = float(scale)
        self._start = wall() if start is None else float(start)
        self._t0 = monotonic()

    @property
    def scale(self) -> float:
        """Simulated seconds per real second."""
        return self._scale

    @property
    def start(self) -> float:
        """Simulated UTC epoch seconds at construction."""
        return self._start

    def monotonic(self) -> float:
        """Real seconds of the monotonic clock simulated time runs on (for what must not run
        at the time scale: the communication port lockout)."""
        return self._monotonic()

    def now(self) -> float:
        """Simulated UTC epoch seconds."""
        return self._start + (self._monotonic() - self._t0) * self._scale

    def resume_at(self, t: float) -> None:
        """Continue from simulated time ``t`` if it is ahead: a meter's time never runs back."""
        if t > self.now():
            self._start, self._t0 = float(t), self._monotonic()

    def wall_delay(self, sim_seconds: float) -> float:
        """Real seconds to wait for ``sim_seconds`` of simulated time to pass (never negative)."""
        return max(0.0, sim_seconds / self._scale)

    def __repr__(self) -> str:
        return f"Timebase(start={self._start!r}, scale={self._scale!r})"
