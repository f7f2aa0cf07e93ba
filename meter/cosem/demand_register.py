"""Demand register (class_id 5, version 0; Blue Book §4.3.5): sliding-window demand.

The demand window is ``number_of_periods`` sub-periods of ``period`` seconds. The device drives
:meth:`DemandRegister.update` with meter time and the quantity accumulated since its previous
call (e.g. Wh of +A for a W demand: any quantity x·h gives an x demand). As in the Blue Book:

* current_average_value = (what the window's completed sub-periods plus the running one have
  accumulated) / window length; it grows through a block period (number_of_periods = 1);
* at each sub-period end, last_average_value = (the last number_of_periods sub-periods) / window
  length, capture_time = that end, start_time_current = the next sub-period's start.

The device brings the register up to date before each read of a live attribute (``refresh``):
between sub-period ends nothing else feeds it, and current_average_value must grow as energy
flows, not stay at 0 until the period closes.

Sub-periods are aligned to multiples of ``period`` since the epoch (quarter hours stay quarter
hours for every whole-quarter time zone), except after next_period/reset, which start one now.
An increment that spans a sub-period end is split in proportion to time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from meter.codec.axdr import (
    NULL, Array, Data, DoubleLong, DoubleLongUnsigned, Float64, LongUnsigned, OctetString,
    Structure)
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, expect, fields, integer, on_action, on_get, on_set,
    out_of_range)
from meter.cosem.profile_entry import ProfileEntry
from meter.cosem.register import UNSPECIFIED_DATE_TIME, check_scaler_unit, scaler_unit

_I32 = (-(1 << 31), (1 << 31) - 1)


def _opt(x: float | None) -> Float64:
    return Float64(math.nan if x is None else x)


def _unopt(value: Data) -> float | None:
    x = float(expect(value, Float64, "demand state").value)
    return None if math.isnan(x) else x


class DemandRegister(CosemObject):
    CLASS_ID = 5
    VERSION = 0
    NAME = "demand_register"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "current_average_value", None, static=False),
        Attr(3, "last_average_value", None, static=False),
        Attr(4, "scaler_unit", Structure, default=scaler_unit(0, 255)),
        Attr(5, "status", None, static=False, default=NULL),
        Attr(6, "capture_time", OctetString, static=False),
        Attr(7, "start_time_current", OctetString, static=False),
        Attr(8, "period", DoubleLongUnsigned, default=DoubleLongUnsigned(900)),
        Attr(9, "number_of_periods", LongUnsigned, default=LongUnsigned(1)),
    )
    METHODS = (Method(1, "reset"), Method(2, "next_period"))

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        return {**super().profile_values(entry),
                "scaler_unit": scaler_unit(entry.int_option("scaler", 0), entry.int_option("unit", 255)),
                "period": DoubleLongUnsigned(entry.int_option("period", 900)),
                "number_of_periods": LongUnsigned(entry.int_option("number_of_periods", 1))}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        self._restart()
        self._last_average = 0.0
        self._capture: float | None = None
        #: Set by the device: feeds the register what was measured up to now (update()).
        self.refresh: Callable[[], None] = lambda: None

    def _restart(self) -> None:
        self._start: float | None = None  # start of the running sub-period
        self._last_update: float | None = None
        self._running = 0.0
        # The completed sub-periods still inside the window (none for a block demand).
        self._done: deque[float] = deque(maxlen=self._n - 1)

    @property
    def _period(self) -> int:
        return self.int_value("period")

    @property
    def _n(self) -> int:
        return self.int_value("number_of_periods")

    # --- the demand computation ------------------------------------------------------------------

    def _window_average(self, total: float) -> float:
        return total * 3600.0 / (self._n * self._period)

    @property
    def current_average(self) -> float:
        return self._window_average(sum(self._done) + self._running)

    @property
    def last_average(self) -> float:
        return self._last_average

    def _close(self, end: float) -> None:
        """End the running sub-period at ``end``."""
        self._last_average = self._window_average(sum(self._done) + self._running)
        self._done.append(self._running)
        self._capture = end
        self._start = end
        self._running = 0.0

    def update(self, now: float, increment: float) -> None:
        """Add ``increment`` accumulated over (previous call, ``now``] (meter time, UTC s)."""
        period = self._period
        if self._start is None or self._last_update is None:
            self._start = math.floor(now / period) * period
            self._last_update = now
        span = now - self._last_update
        if now >= self._start + (self._n + 1) * period:
            # Far beyond the window (meter was off): nothing of the old window survives.
            self._done.clear()
            self._running = 0.0
            self._start = math.floor(now / period) * period - period
        t = max(self._last_update, self._start)
        while now >= self._start + period:
            end = self._start + period
            if span > 0:
                self._running += increment * (end - t) / span
            self._close(end)
            t = end
        self._running += increment * (now - t) / span if span > 0 else increment
        self._last_update = max(now, self._last_update)

    # --- attributes ------------------------------------------------------------------------------

    def _encode(self, x: float) -> Data:
        scaler = integer(self.items("scaler_unit")[0], "scaler")
        return DoubleLong(min(max(round(x / 10.0**scaler), _I32[0]), _I32[1]))

    def _date_time(self, ts: float | None, ctx: Context) -> Data:
        if ts is None:
            return UNSPECIFIED_DATE_TIME
        return OctetString(ctx.directory.clock.cosem_at(ts).to_bytes())

    @on_get("current_average_value")
    def read_current_average_value(self, ctx: Context, selector: int | None,
                                   parameters: Data | None) -> Data:
        self.refresh()
        return self._encode(self.current_average)

    @on_get("last_average_value")
    def read_last_average_value(self, ctx: Context, selector: int | None,
                                parameters: Data | None) -> Data:
        self.refresh()
        return self._encode(self._last_average)

    @on_get("capture_time")
    def read_capture_time(self, ctx: Context, selector: int | None,
                          parameters: Data | None) -> Data:
        self.refresh()
        return self._date_time(self._capture, ctx)

    @on_get("start_time_current")
    def read_start_time_current(self, ctx: Context, selector: int | None,
                                parameters: Data | None) -> Data:
        self.refresh()
        return self._date_time(self._start, ctx)

    @on_set("scaler_unit")
    def write_scaler_unit(self, value: Data, ctx: Context) -> None:
        check_scaler_unit(value)
        self.store("scaler_unit", value)

    @on_set("period")
    def write_period(self, value: Data, ctx: Context) -> None:
        if expect(value, DoubleLongUnsigned, "period").value == 0:
            raise out_of_range("period")
        self.refresh()  # what came before the change is fed in first, not to the new window
        self.store("period", value)
        self._restart()

    @on_set("number_of_periods")
    def write_number_of_periods(self, value: Data, ctx: Context) -> None:
        if expect(value, LongUnsigned, "number_of_periods").value == 0:
            raise out_of_range("number_of_periods")
        self.refresh()
        self.store("number_of_periods", value)
        self._restart()

    # --- methods ---------------------------------------------------------------------------------

    @on_action("reset")
    def reset(self, parameters: Data | None, ctx: Context) -> None:
        self.refresh()  # the energy before the reset is not the new period's
        now = ctx.directory.clock.timestamp()
        self._restart()
        self._start = self._last_update = self._capture = now
        self._last_average = 0.0

    @on_action("next_period")
    def next_period(self, parameters: Data | None, ctx: Context) -> None:
        self.refresh()
        now = ctx.directory.clock.timestamp()
        if self._start is None:
            self._start = now
        self._close(now)
        self._last_update = now

    # --- persistence -----------------------------------------------------------------------------

    def dump_private(self) -> Data:
        return Structure((
            _opt(self._start), _opt(self._last_update), Float64(self._running),
            Array(tuple(Float64(x) for x in self._done)), Float64(self._last_average),
            _opt(self._capture)))

    def load_private(self, value: Data) -> None:
        start, last, running, done, average, capture = fields(value, 6, "demand state")
        self._restart()
        self._start, self._last_update, self._capture = _unopt(start), _unopt(last), _unopt(capture)
        self._running = float(expect(running, Float64, "demand state").value)
        self._done.extend(float(expect(x, Float64, "demand state").value)
                          for x in expect(done, Array, "demand state").items)
        self._last_average = float(expect(average, Float64, "demand state").value)
