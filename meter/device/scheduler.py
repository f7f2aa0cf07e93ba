"""The single action schedules, run on meter time given by the caller.

The device asks :meth:`Scheduler.next_due` for the next time a schedule names (meter time, UTC
seconds; execution times are local time, which the Clock's time zone and DST rules turn into
UTC) and calls :meth:`Scheduler.run` when its meter time reaches it, so a live run, a
time-scaled one and a history back-fill all fire every occurrence once and in order. A schedule
whose time was jumped over (the clock set forward, the meter off) fires once when the meter next
runs; one passed again after the clock was set back does not fire again (each schedule
remembers up to which meter time it has run).
"""

from __future__ import annotations

import logging

from meter.cosem.base import Context, CosemObject
from meter.cosem.clock import Clock
from meter.cosem.registry import ObjectDirectory
from meter.cosem.script_table import ScriptTable
from meter.cosem.single_action_schedule import SingleActionSchedule
from meter.errors import AccessError

log = logging.getLogger(__name__)

#: Clock attributes that move local time against UTC (a write re-plans every schedule).
_LOCAL_TIME = ("time_zone", "daylight_savings_begin", "daylight_savings_end",
               "daylight_savings_deviation", "daylight_savings_enabled")


class Scheduler:
    def __init__(self, directory: ObjectDirectory) -> None:
        self._directory = directory
        self._schedules = [o for o in directory if isinstance(o, SingleActionSchedule)]
        # next_due is asked before every request: the plan is kept until what it depends on
        # changes (compared by identity: attribute values are replaced, never mutated).
        self._plan_key: tuple[object, ...] | None = None
        self._plan: list[tuple[float, SingleActionSchedule]] = []

    def start(self, meter_t: float) -> list[CosemObject]:
        """Schedules the meter runs for the first time run from ``meter_t``; returns them."""
        new = [s for s in self._schedules if s.checked is None]
        for s in new:
            s.checked = meter_t
        return list(new)

    def _key(self, clock: Clock) -> tuple[object, ...]:
        return (*(v for s in self._schedules for v in (s.checked, s.value("execution_time"))),
                *(clock.value(name) for name in _LOCAL_TIME))

    def _planned(self) -> list[tuple[float, SingleActionSchedule]]:
        if not self._schedules:
            return []
        clock = self._directory.clock
        key = self._key(clock)
        old = self._plan_key
        if old is None or any(a is not b for a, b in zip(key, old, strict=True)):
            plan = []
            for s in self._schedules:
                due = s.next_after(s.checked, clock) if s.checked is not None else None
                if due is not None:
                    plan.append((due, s))
            self._plan = sorted(plan, key=lambda p: p[0])
            self._plan_key = key
        return self._plan

    def next_due(self) -> float | None:
        """The earliest meter time a schedule fires (earlier than now: overdue)."""
        plan = self._planned()
        return plan[0][0] if plan else None

    def run(self, meter_t: float, ctx: Context) -> None:
        """Fire, in order, each schedule due at or before ``meter_t`` (once each)."""
        for due, schedule in [p for p in self._planned() if p[0] <= meter_t]:
            schedule.checked = meter_t
            ctx.changed(schedule)
            self._execute(schedule, due, ctx)

    def _execute(self, schedule: SingleActionSchedule, due: float, ctx: Context) -> None:
        try:
            name, script_id = schedule.script
            table = self._directory.get(name)
            if not isinstance(table, ScriptTable):
                log.warning("%s: no script table %s", schedule.logical_name, name)
                return
            log.info("%s due at %.0f: script %d of %s", schedule.logical_name, due, script_id, name)
            table.run(script_id, ctx)
        except (AccessError, AttributeError, ValueError) as exc:
            # A bad program is the head end's; the meter logs it and keeps running.
            log.warning("%s: script failed: %s", schedule.logical_name, exc)
