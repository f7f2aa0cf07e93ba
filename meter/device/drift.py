"""Clock drift: the crystal of the meter's real-time clock runs fast or slow.

The COSEM Clock (meter/cosem/clock.py) keeps the rate and the true time the drift accumulates
from; this part is what the scheduler asks and runs (meter/device/scheduler.py), like the
limiters' supervision: ``next_due`` on meter time, ``run`` when the scheduler has stepped there.
Each run moves the clock's offset by one whole step (DRIFT_STEP_S) — meter time minus true time
stays constant between steps, which the scheduler, the pushes and a fleet's deadline heap rely
on — and then has the schedules re-plan, as a time setting does; a step logs no event (nobody
set the clock). Stepping at the scheduler's true-time deadlines makes a live run, a time-scaled
one, a jump and a back-fill drift alike.
"""

from __future__ import annotations

from meter.cosem.base import Context
from meter.cosem.clock import Clock

__all__ = ["ClockDrift"]


class ClockDrift:
    """When the clock steps (a Supervision-like part of the scheduler)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def next_due(self) -> float | None:
        """The meter time of the next step (None: no drift)."""
        due = self._clock.drift_due()
        return None if due is None else due + self._clock.deviation()

    def run(self, ctx: Context) -> None:
        """The step the scheduler found due: the clock moves, and is persisted."""
        self._clock.drift_step()
        ctx.changed(self._clock)
