"""The meter's time, moved on by the caller's ``now``: period boundaries (demand, load-profile
captures) and the schedules' firings (meter/device/schedules.py), in order.

``MeterTime.t`` is the true simulated time the meter has reached (UTC seconds). The COSEM clock
is ``t`` plus the meter's own offset (set by clock synchronisation); captures, demand periods
and the single action schedules run on the meter clock, the metrology engine on true time. To
reach ``now`` the scheduler steps ``t`` from one boundary to the next and does what falls due
there, so a live run, a time-scaled one and a history back-fill do the same work in the same
order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Protocol

from meter.cosem.base import Context
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.registry import ObjectDirectory
from meter.device.amr_status import AmrStatus
from meter.device.bindings import ENGINE_LAG, Metrology
from meter.device.demand import Demand
from meter.device.drift import ClockDrift
from meter.device.schedules import Schedules
from meter.device.tariffs import Tariffs

__all__ = ["MeterTime", "Scheduler"]


def _earlier(a: float | None, b: float | None) -> float | None:
    """The earlier of two times, either of which may be None (none)."""
    return a if b is None or (a is not None and a <= b) else b


class Supervision(Protocol):
    """A part that compares on meter time (the limiters, meter/device/relays.py)."""

    def next_due(self) -> float | None: ...

    def run(self, ctx: Context) -> None: ...


class MeterTime:
    """The true simulated time the meter has reached (UTC seconds)."""

    __slots__ = ("t",)

    def __init__(self, t: float) -> None:
        self.t = t


class Scheduler:
    def __init__(self, time: MeterTime, directory: ObjectDirectory, metrology: Metrology,
                 demand: Demand, amr: AmrStatus, context: Callable[[], Context]) -> None:
        """``context``: the device-internal context captures and scripts run in."""
        self._time = time
        self._directory = directory
        self._metrology = metrology
        self._demand = demand
        self._amr = amr
        self._context = context
        self.schedules = Schedules(directory)
        #: The limiters: their next comparison moves with the load, not with a write, so it is
        #: asked before every request (it is kept by them between changes).
        self.supervision: Supervision | None = None
        #: The clock's drift steps (meter/device/drift.py): asked like the supervision, run
        #: last at a boundary (a capture at the same instant holds the time before the step).
        self.drift = ClockDrift(directory.clock)
        # The tariff scripts the calendar runs switch the rate registers on the meter's time.
        self.tariffs = Tariffs(directory, metrology, lambda: time.t, context)
        # The directory is fixed once built; its profiles are looked at before every request
        # (next capture boundary), so found once here rather than by a scan each time.
        self._profiles = [o for o in directory if isinstance(o, ProfileGeneric)]
        self._profiles_set: frozenset[object] = frozenset(self._profiles)
        # Before every request: the capture periods are kept until a profile is written
        # (changed()), and the next boundary with the meter times it holds for (a clock set
        # back or forward leaves that span, so it needs no hook of its own).
        self._periods: list[tuple[ProfileGeneric, int]] | None = None
        self._span = (math.inf, -math.inf)  # [from, until): the next boundary is ``until``
        # The true time of the next boundary or firing as last worked out: until then a
        # request only moves t. Any write (a clock setting, a schedule, a capture period)
        # has it worked out again.
        self._deadline = -math.inf

    def changed(self, objects: Collection[object]) -> None:
        """``objects`` were written, acted on or restored (Persistence.on_persist): a profile's
        capture period, a schedule or the clock may have changed."""
        if not objects:
            return
        self.schedules.changed(objects)
        # The kept deadline rests on the schedules, the clock, special days and the profiles'
        # capture periods; what else a request changes (the counter and last event code every
        # session writes) leaves it as it is.
        periods = not self._profiles_set.isdisjoint(objects)
        if periods or self.schedules.plans_on(objects):
            self._deadline = -math.inf
        if periods and self._periods is not None:
            self._forget_periods()

    def _forget_periods(self) -> None:
        self._periods = None
        self._span = (math.inf, -math.inf)

    def advance(self, now: float) -> None:
        """Run captures, demand and the schedules up to true time ``now``."""
        if now >= self._deadline or self._supervision_due(now):
            self._run_until(now)
        time = self._time
        if now > time.t:
            time.t = now
        engine = self._metrology.engine
        if time.t - engine.now >= ENGINE_LAG and not engine.steady_through(time.t):
            self._metrology.to(time.t)  # a PQ event or an interruption may surface

    def _supervision_due(self, now: float) -> bool:
        watch = _earlier(self._watch(), self.drift.next_due())
        return watch is not None and watch - (self._directory.clock.timestamp() - self._time.t) <= now

    def _watch(self) -> float | None:
        return self.supervision.next_due() if self.supervision is not None else None

    def _run_until(self, now: float) -> None:
        clock = self._directory.clock
        while True:
            meter_t = clock.timestamp()
            offset = meter_t - self._time.t
            periodic = self._next_boundary(meter_t)
            due = self.schedules.next_due()  # overdue (before meter_t) after a clock jump
            watch = self._watch()
            drift = self.drift.next_due()
            boundary = _earlier(_earlier(_earlier(periodic, due), watch), drift)
            if boundary is None or boundary - offset > now:
                # The limiters' next comparison is not kept here: _supervision_due asks them.
                kept = _earlier(periodic, due)
                self._deadline = math.inf if kept is None else kept - offset
                break
            at = max(boundary, meter_t)
            self._time.t = at - offset
            self._metrology.to(self._time.t)
            self._at_boundary(at, periodic == at, due is not None and due <= at,
                              watch is not None and watch <= at, drift is not None and drift <= at)

    def next_deadline(self) -> float | None:
        """The true time of the next boundary or firing."""
        meter_t = self._directory.clock.timestamp()
        watch = _earlier(self._watch(), self.drift.next_due())
        offset = meter_t - self._time.t
        if self._deadline > self._time.t:
            kept = None if self._deadline == math.inf else self._deadline
            return _earlier(kept, None if watch is None else watch - offset)
        planned = _earlier(self._next_boundary(meter_t), self.schedules.next_due())
        if planned is None or planned > meter_t:
            # Nothing due now: what _run_until would keep, kept (a fleet plans each meter
            # after its build and its ticks; its next request then only moves t).
            self._deadline = math.inf if planned is None else planned - offset
        boundary = _earlier(planned, watch)
        return None if boundary is None else boundary - offset

    def _periodic(self) -> list[tuple[ProfileGeneric, int]]:
        """Profiles capturing on a period, with it (read again after a profile was written)."""
        if self._periods is None:
            self._periods = [(o, period) for o in self._profiles
                             if (period := o.int_value("capture_period")) > 0]
        return self._periods

    def _next_boundary(self, meter_t: float) -> float | None:
        since, until = self._span
        if since <= meter_t < until:
            return until
        periods = self._periodic()
        if not periods:
            return None
        steps = [math.floor(meter_t / p) for _, p in periods]
        until = min((n + 1) * p for n, (_, p) in zip(steps, periods, strict=True))
        self._span = (max(n * p for n, (_, p) in zip(steps, periods, strict=True)), until)
        return until

    def _at_boundary(self, meter_t: float, periodic: bool, scheduled: bool,
                     supervised: bool = False, drifted: bool = False) -> None:
        ctx = self._context()
        # Demand first and captures last: a billing capture at a period's end holds the
        # period just closed, and the load profile row the state after the scripts.
        if periodic:
            self._demand.update(meter_t)
            self.tariffs.demand_closed(meter_t, ctx)
        if scheduled:
            self.schedules.run(meter_t, ctx)
            self._forget_periods()  # the scripts may have written a capture period
        if supervised and self.supervision is not None:
            self.supervision.run(ctx)
        if periodic:
            captured = False
            for p, period in self._periodic():
                if round(meter_t) % period == 0:
                    p.capture_now(ctx)
                    captured = True
            if captured:
                self._amr.interval_closed()
        if drifted:  # last: what fell due at this instant ran on the time before the step
            self.drift.run(ctx)
            self.schedules.changed((self._directory.clock,))  # re-plan now, as a setting does
