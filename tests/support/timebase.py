"""A Timebase (meter/timebase.py interface: ``now()``, ``monotonic()``, ``resume_at()``,
``scale``) whose time moves only when a test says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

START = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


@dataclass
class FakeTimebase:
    """``scale`` > 10 makes the metrology engine fast-forward (closed form) instead of sampling."""

    t: float = START
    scale: float = 1.0
    mono: float = 0.0  # the real (monotonic) seconds of ``monotonic()``, moved by hand too

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def resume_at(self, t: float) -> None:
        self.t = max(self.t, t)
