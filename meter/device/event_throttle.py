"""Repeated security events into a bounded number of fraud log entries.

A guesser makes thousands of identical failures (event 46, 49 or 50) a minute; one entry each
overflows the fraud log (500 entries) and pushes out what came before. So each event code gets
at most one entry per window of real time: the first failure of a burst is logged at once, the
rest are counted and the count goes with the next entry of that code (the meter's log line).
Every failure is still counted where counts live: port protection's failed/cumulative attempts
and the decryption-failure and replay counters (0.0.96.128.49.255, 0.0.96.128.50.255). The
window is real time, like the port lockout: it bounds what a real attacker writes per minute,
whatever the time scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["EventThrottle"]


class EventThrottle:
    """Per event code: one entry per ``window`` seconds of ``clock`` (a monotonic clock)."""

    __slots__ = ("_clock", "_last", "_suppressed", "_window")

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._clock = clock
        self._last: dict[int, float] = {}
        self._suppressed: dict[int, int] = {}

    def admit(self, code: int) -> int | None:
        """None: fold this event into its code's last entry; else it gets an entry, and the
        value is how many events of ``code`` were folded since the previous one."""
        now = self._clock()
        if now - self._last.get(code, -math.inf) < self._window:
            self._suppressed[code] = self._suppressed.get(code, 0) + 1
            return None
        self._last[code] = now
        return self._suppressed.pop(code, 0)
