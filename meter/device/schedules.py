"""The single action schedules and Schedule entries, run on meter time given by the caller.

The scheduler (meter/device/scheduler.py) asks :meth:`Schedules.next_due` for the next time a
schedule names (meter time, UTC seconds; execution times are local time, which the Clock's
time zone and DST rules turn into UTC) and calls :meth:`Schedules.run` when its meter time
reaches it, so a live run, a time-scaled one and a history back-fill all fire every occurrence
once and in order. A schedule whose time was jumped over (the clock set forward, the meter off)
fires once when the meter next runs; one passed again after the clock was set back does not
fire again (each schedule remembers up to which meter time it has run).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Protocol

from meter.codec.obis import Obis
from meter.cosem.activity_calendar import ActivityCalendar
from meter.cosem.base import Context, CosemObject
from meter.cosem.names import CLOCK
from meter.cosem.registry import ObjectDirectory
from meter.cosem.schedule import Schedule
from meter.cosem.script_table import ScriptTable
from meter.cosem.local_dates import LocalTime
from meter.cosem.single_action_schedule import SingleActionSchedule
from meter.cosem.special_days import SpecialDaysTable
from meter.errors import AccessError

log = logging.getLogger(__name__)


class Timed(Protocol):
    """What Single action schedule and Schedule offer the scheduler."""

    logical_name: Obis
    checked: float | None

    def next_after(self, after: float, clock: LocalTime) -> float | None: ...

    def due(self, until: float, clock: LocalTime) -> list[tuple[float, Obis, int]]: ...


class Schedules:
    def __init__(self, directory: ObjectDirectory) -> None:
        self._directory = directory
        self._schedules: list[Timed] = [
            o for o in directory if isinstance(o, (SingleActionSchedule, Schedule, ActivityCalendar))]
        # An activity calendar looks a date up in the Special days table before its week, a
        # Schedule before its entries' weekdays (exec_specdays).
        special = [o for o in directory if isinstance(o, SpecialDaysTable)]
        for calendar in self._schedules:
            if isinstance(calendar, (ActivityCalendar, Schedule)) and special:
                calendar.special_days = special[0].day_id
        # next_due is asked before every request. Each schedule's next time is kept until it
        # runs or is reported changed (changed(): written, acted on, restored); a setting of the
        # clock or the special days re-plans them all. Planning one costs ~0.2 ms (local-time
        # wildcards), so a back-fill that re-planned every schedule after each run of the
        # 15-minute push scheduler spent most of its time here (issue 8). A cache keyed on
        # (checked, clock rules) instead misses what else a plan depends on (a calendar's last
        # applied action, its pending activation) and, as a run at the time already checked
        # leaves ``checked`` as it was, kept an overdue plan that the run had settled: the
        # scheduler ran it again at the same time, forever.
        self._clock = directory.get(CLOCK)
        self._global: set[object] = {*special, self._clock}
        self._members: set[object] = set(self._schedules)
        self._next: dict[Timed, float | None] = {}
        self._stale: set[Timed] = set(self._schedules)

    def start(self, meter_t: float) -> list[CosemObject]:
        """Schedules the meter runs for the first time run from ``meter_t``; returns them."""
        new = [s for s in self._schedules if s.checked is None]
        for s in new:
            s.checked = meter_t
        self._stale.update(new)
        return [s for s in new if isinstance(s, CosemObject)]

    def plans_on(self, objects: Collection[object]) -> bool:
        """Whether a plan rests on one of ``objects`` (a schedule, the clock, special days)."""
        return not (self._global.isdisjoint(objects) and self._members.isdisjoint(objects))

    def changed(self, objects: Iterable[object]) -> None:
        """``objects`` changed (written, acted on, restored): a schedule or the clock re-plans."""
        objects = set(objects)
        if not self._global.isdisjoint(objects):
            self._stale.update(self._schedules)
        elif not self._members.isdisjoint(objects):
            self._stale.update(s for s in self._schedules if s in objects)

    def _plan_one(self, s: Timed) -> float | None:
        after = s.checked
        if after is None:
            return None
        clock = self._directory.clock
        if isinstance(s, ActivityCalendar):
            # A calendar's rate is the one of the time the clock shows, set back too (a
            # setting re-plans it; until its next start the answer is the same).
            after = min(after, clock.timestamp())
        return s.next_after(after, clock)

    def _planned(self) -> dict[Timed, float | None]:
        if self._stale:
            for s in self._stale:
                self._next[s] = self._plan_one(s)
            self._stale.clear()
        return self._next

    def next_due(self) -> float | None:
        """The earliest meter time a schedule fires (earlier than now: overdue)."""
        return min((t for t in self._planned().values() if t is not None), default=None)

    def run(self, meter_t: float, ctx: Context) -> None:
        """Run, in order, what each schedule has due at or before ``meter_t`` (once each)."""
        clock = self._directory.clock
        due: list[tuple[float, Obis, int, Obis]] = []
        ran = [s for s, t in self._planned().items() if t is not None and t <= meter_t]
        for schedule in sorted(ran, key=lambda s: self._next[s] or 0.0):
            if isinstance(schedule, ActivityCalendar):
                schedule.activate_due(meter_t, clock, ctx)
            if isinstance(schedule, SingleActionSchedule):
                # Its due time is the one just planned from ``checked`` (SingleActionSchedule.due
                # would work it out again).
                due.append((self._next[schedule] or meter_t, *schedule.script, schedule.logical_name))
            else:
                due += [(t, table, script, schedule.logical_name) for t, table, script in schedule.due(meter_t, clock)]
            schedule.checked = meter_t
            if isinstance(schedule, CosemObject):
                ctx.changed(schedule)
        self._stale.update(ran)  # checked moved on
        # What the scripts write (a schedule, the clock) re-plans now, not at the next commit.
        written: set[CosemObject] = set()

        def note(obj: CosemObject) -> None:
            written.add(obj)
            ctx.changed(obj)

        run_ctx = Context(ctx.directory, ctx.association, ctx.log_event, note, ctx.persist)
        for t, name, script_id, by in sorted(due, key=lambda d: d[0]):
            self._execute(by, t, name, script_id, run_ctx)
        self.changed(written)

    def _execute(self, by: Obis, due: float, name: Obis, script_id: int, ctx: Context) -> None:
        table = self._directory.get(name)
        if not isinstance(table, ScriptTable):
            log.warning("%s: no script table %s", by, name)
            return
        log.info("%s due at %.0f: script %d of %s", by, due, script_id, name)
        try:
            table.run(script_id, ctx)
        except AccessError as exc:
            # A bad program is the head end's; the meter logs it and keeps running.
            log.warning("%s: script %d of %s failed: %s", by, script_id, name, exc)
