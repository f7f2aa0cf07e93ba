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
from collections.abc import Callable
from typing import Protocol

from meter.cosem.base import Context
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.registry import ObjectDirectory
from meter.device.amr_status import AmrStatus
from meter.device.bindings import ENGINE_LAG, Metrology
from meter.device.demand import Demand
from meter.device.schedules import Schedules
from meter.device.tariffs import Tariffs

__all__ = ["MeterTime", "Scheduler"]


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
        self.supervision: Supervision | None = None
        # The tariff scripts the calendar runs switch the rate registers on the meter's time.
        self.tariffs = Tariffs(directory, metrology, lambda: time.t, context)
        # The directory is fixed once built; its profiles are looked at before every request
        # (next capture boundary), so found once here rather than by a scan each time.
        self._profiles = [o for o in directory if isinstance(o, ProfileGeneric)]

    def advance(self, now: float) -> None:
        """Run captures, demand and the schedules up to true time ``now``."""
        clock = self._directory.clock
        while True:
            meter_t = clock.timestamp()
            offset = meter_t - self._time.t
            periodic = self._next_boundary(meter_t)
            due = self.schedules.next_due()  # overdue (before meter_t) after a clock jump
            watch = self.supervision.next_due() if self.supervision is not None else None
            boundary = min((b for b in (periodic, due, watch) if b is not None), default=None)
            if boundary is None or boundary - offset > now:
                break
            at = max(boundary, meter_t)
            self._time.t = at - offset
            self._metrology.to(self._time.t)
            self._at_boundary(at, periodic == at, due is not None and due <= at,
                              watch is not None and watch <= at)
        self._time.t = max(self._time.t, now)
        if self._time.t - self._metrology.engine.now >= ENGINE_LAG:
            self._metrology.to(self._time.t)

    def next_deadline(self) -> float | None:
        """The true time of the next boundary or firing."""
        meter_t = self._directory.clock.timestamp()
        watch = self.supervision.next_due() if self.supervision is not None else None
        times = [b for b in (self._next_boundary(meter_t), self.schedules.next_due(), watch)
                 if b is not None]
        return min(times) - (meter_t - self._time.t) if times else None

    def _periodic(self) -> list[tuple[ProfileGeneric, int]]:
        """Profiles capturing on a period, with it (read each time: capture_period is writable)."""
        out = []
        for o in self._profiles:
            period = o.int_value("capture_period")
            if period > 0:
                out.append((o, period))
        return out

    def _next_boundary(self, meter_t: float) -> float | None:
        periods = self._periodic()
        if not periods:
            return None
        return min((math.floor(meter_t / p) + 1) * p for _, p in periods)

    def _at_boundary(self, meter_t: float, periodic: bool, scheduled: bool,
                     supervised: bool = False) -> None:
        ctx = self._context()
        # Demand first and captures last: a billing capture at a period's end holds the
        # period just closed, and the load profile row the state after the scripts.
        if periodic:
            self._demand.update(meter_t)
            self.tariffs.demand_closed(meter_t, ctx)
        if scheduled:
            self.schedules.run(meter_t, ctx)
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
