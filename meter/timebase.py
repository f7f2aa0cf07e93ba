"""Simulated time: the one place in the meter that reads the wall clock.

Every sans-IO core takes ``now`` (UTC epoch seconds) as an argument; the edges get it from a
Timebase. Simulated time runs from ``start`` at ``scale`` times the speed of a monotonic clock,
so a test meter can live through a billing period in minutes (``--time-scale``) and a stepped
wall clock (NTP) never makes the meter's time jump backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MAX_SCALE", "Timebase"]

#: The fastest simulated time runs: one simulated day per real second. Every simulated second
#: must be lived through (load-profile captures every 900 s, demand, billing, metrology), and a
#: year's back-fill takes ~15 s on a 2-core machine (~2e6 simulated s per real s, tools/bench):
#: at a day per second the meter used 15 % of a core keeping up (measured on that machine, busy
#: with other work) and each tick (one capture boundary, ~10 ms real apart) holds the loop well
#: under a millisecond; the state grows ~13 MB a real minute until the 15-minute load profile
#: (40,000 entries, ~21 real minutes) is full. Beyond that it falls
#: behind its own clock and never idles (at 1e9 it ran at 100 % CPU, ignored signals and wrote
#: 600 MB in 10 minutes). Longer spans belong to ``--history``, which fast-forwards off-line.
MAX_SCALE = 86400.0


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
        if not 0 < scale <= MAX_SCALE:
            raise ValueError(f"time scale must be > 0 and <= {MAX_SCALE:g}, got {scale!r}")
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

    def rescale(self, scale: float) -> None:
        """From now on run at ``scale`` simulated seconds per real second (the control API)."""
        if not 0 < scale <= MAX_SCALE:
            raise ValueError(f"time scale must be > 0 and <= {MAX_SCALE:g}, got {scale!r}")
        self._start, self._t0, self._scale = self.now(), self._monotonic(), float(scale)

    def wall_delay(self, sim_seconds: float) -> float:
        """Real seconds to wait for ``sim_seconds`` of simulated time to pass (never negative)."""
        return max(0.0, sim_seconds / self._scale)

    def __repr__(self) -> str:
        return f"Timebase(start={self._start!r}, scale={self._scale!r})"
