"""The relays made physical: each Disconnect control object switches load in the metrology
engine, and the limiters supervise what the engine measures.

The supply relay (no ``load`` option, 0.0.96.3.10.255) cuts the whole load current when open;
a load-management relay (``load = "NAME"``) cuts the share the scenario gives that named load
(``[metrology.scenario] loads``). The supply voltage stays, so voltage, frequency and PQ
events on the supply side still measure while energy and demand stop (Scenario.switched).
The relay states live in the objects (persisted); the engine is told at start and at each move.

Limiter supervision (meter/cosem/limiter.py) runs on the scheduler's steps: a limiter compares
when the load may have changed (a scenario boundary: a load step, a disturbance, a switching),
SETTLE_S after it so the instantaneous values are measured on the new load alone, and dates the
change at the boundary itself, so a step over the threshold trips min_over_threshold_duration
after the step; a limiter on a demand register compares every SAMPLE_S (its value creeps).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable

from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.demand_register import DemandRegister
from meter.cosem.disconnect_control import ControlState, DisconnectControl
from meter.cosem.limiter import Limiter
from meter.cosem.registry import ObjectDirectory
from meter.device.bindings import Metrology
from meter.errors import AccessError, DataAccessResult

__all__ = ["SAMPLE_S", "SETTLE_S", "LimiterSupervision", "Relays"]

log = logging.getLogger(__name__)

#: Seconds after a load change the limiter compares: one measuring block of the engine.
SETTLE_S = 1.0
#: Seconds between the comparisons of a limiter that monitors a demand register.
SAMPLE_S = 1.0
#: Clock offsets (meter - true time, s) closer than this are the same (float rounding).
_SAME_OFFSET = 1e-3
#: Seconds by which a step's time may miss the time it was planned for (float rounding).
_EPS = 1e-6


class Relays:
    def __init__(self, directory: ObjectDirectory, metrology: Metrology,
                 now: Callable[[], float]) -> None:
        """``now``: the meter's true time (the engine is measured up to it before a switch)."""
        self._relays = [o for o in directory if isinstance(o, DisconnectControl)]
        self._metrology = metrology
        self._now = now
        for relay in self._relays:
            relay.on_output = self._switched

    def apply(self) -> None:
        """Tell the engine which relays are open (at start; after each move)."""
        self._switched(True)

    def _switched(self, connected: bool) -> None:
        engine = self._metrology.engine
        scale = 1.0
        for relay in self._relays:
            if not relay.connected:
                scale = 0.0 if relay.load is None else scale - engine.scenario.load_share(relay.load)
        self._metrology.to(self._now())  # what was measured so far keeps the old load
        engine.scale_load(max(scale, 0.0))

    def press_button(self, name: Obis, ctx: Context) -> ControlState:
        """The customer's button on relay ``name``; AccessError when its mode refuses."""
        relay = next((r for r in self._relays if r.logical_name == name), None)
        if relay is None:
            raise AccessError(DataAccessResult.OBJECT_UNDEFINED, f"no relay {name}")
        relay.press_button(ctx)
        return relay.state


class LimiterSupervision:
    """When each limiter compares, on meter time (what the scheduler asks of a timer).

    Load changes are kept on true time (a clock setting moves no scenario boundary): the
    boundaries up to ``_consumed`` have been compared after; a comparison consumes those at
    least SETTLE_S old (with _EPS to spare, so float rounding of the step's time can never
    leave the boundary it ran for pending and run it again).
    """

    def __init__(self, directory: ObjectDirectory, metrology: Metrology,
                 now: Callable[[], float]) -> None:
        """``now``: the meter's true time (scenario boundaries are on true time)."""
        self._limiters = [o for o in directory if isinstance(o, Limiter)]
        self._clock = directory.clock if self._limiters else None
        self._metrology = metrology
        self._now = now
        self._first: float | None = None  # meter time of the first comparison after a start
        self._last: float | None = None  # true time of the last comparison
        self._consumed = -math.inf  # true time up to which load changes have been compared
        self._edges: tuple[object, list[float]] = (None, [])
        # next_due is asked before every request: kept until a comparison runs, a limiter is
        # written, the scenario changes (a relay switched) or the clock is set.
        self._plan: tuple[object, float, float | None] | None = None  # (scenario, offset, due)

    def _boundaries(self) -> list[float]:
        """The scenario's finite boundaries on true time (cached per scenario)."""
        engine = self._metrology.engine
        if self._edges[0] is not engine.scenario:
            edges = [engine.origin + b for b in engine.scenario.boundaries() if math.isfinite(b)]
            self._edges = (engine.scenario, sorted(edges))
        return self._edges[1]

    def next_due(self) -> float | None:
        """The meter time of the next comparison (None: no limiter)."""
        clock = self._clock
        if clock is None:
            return None
        meter_t = clock.timestamp()
        if self._last is None:
            # The first comparison after a start: once the engine has measured the load.
            if self._first is None:
                self._first = meter_t + SETTLE_S
            return self._first
        offset = meter_t - self._now()
        scenario = self._metrology.engine.scenario
        plan = self._plan
        if plan is not None and plan[0] is scenario and abs(plan[1] - offset) < _SAME_OFFSET:
            for lim in self._limiters:
                if lim.stale:
                    break
            else:
                return plan[2]
        times = [t for t in (lim.next_due(meter_t, clock) for lim in self._limiters) if t is not None]
        edges = self._boundaries()
        k = bisect.bisect_right(edges, self._consumed)
        if k < len(edges):
            times.append(edges[k] + SETTLE_S + offset)
        if any(self._on_demand(lim) for lim in self._limiters):
            times.append(self._last + SAMPLE_S + offset)
        due = min(times, default=None)
        self._plan = (scenario, offset, due)
        return due

    def run(self, ctx: Context) -> None:
        """Compare every limiter now (the scheduler's step is at the meter clock's now)."""
        if self._clock is None:
            return
        meter_t = self._clock.timestamp()
        now = self._now()
        consumed = max(self._consumed, now - SETTLE_S + _EPS)
        changed = meter_t
        if self._last is not None:
            edges = self._boundaries()
            lo = bisect.bisect_right(edges, self._consumed)
            hi = bisect.bisect_right(edges, consumed)
            if hi > lo:  # the change this comparison is for (the latest, if several)
                changed = edges[hi - 1] + meter_t - now
        for limiter in self._limiters:
            limiter.supervise(limiter.monitored(ctx), changed, ctx)
        self._last, self._consumed, self._plan = now, consumed, None

    def _on_demand(self, limiter: Limiter) -> bool:
        class_id, _, _ = limiter.items("monitored_value")
        return class_id.to_python() == DemandRegister.CLASS_ID
