"""The clock synchronisation parameters of use case 7 (cosem-reference.md, use case 7):

- clock time-shift limit 1.0.0.9.11.255, a Register (3) in seconds: a clock setting that moves
  the time further than this is logged as such (event CLOCK_SHIFT_LIMIT_EXCEEDED besides the
  old-time / new-time pair every setting logs, meter/cosem/clock.py);
- clock synchronisation window 1.0.0.9.9.255, a Register (3) in seconds: how far from the head
  end's reference the meter's clock may be before it is synchronised (kept for the head end);
- clock synchronisation method 1.0.0.9.10.255, a Data (1) enum: how the meter is synchronised,
  (0) none, (1) adjust to quarter, (2) adjust to measuring period, (3) adjust to minute,
  (4) reserved, (5) adjust to preset time, (6) shift time (Blue Book OBIS list, the Clock's
  methods 1-6 [GX-PY OBISCodes.txt]).

Writes are validated (an unsigned number of seconds; a known method) and logged as a parameter
change; the limit is read by the Clock at each setting.
"""

from __future__ import annotations

from meter.codec import axdr
from meter.codec.axdr import Data as AxdrData
from meter.codec.axdr import Enum, OctetString
from meter.cosem.base import Attr, Context, bad_type, expect, on_set, out_of_range
from meter.cosem.data import Data
from meter.cosem.events import StandardEvent
from meter.cosem.register import Register

#: The methods 1.0.0.9.10.255 may name (4 is reserved).
SYNC_METHODS = frozenset({0, 1, 2, 3, 5, 6})
_UNSIGNED = (axdr.Unsigned, axdr.LongUnsigned, axdr.DoubleLongUnsigned)


class ClockSeconds(Register):
    """A register of seconds of the clock synchronisation (time-shift limit, sync window)."""

    NAME = "clock_seconds"

    @on_set("value")
    def write_value(self, value: AxdrData, ctx: Context) -> None:
        if not isinstance(value, _UNSIGNED):
            raise bad_type("seconds")
        self.store("value", value)
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)

    def seconds(self) -> float:
        """The value in seconds (its scaler applied)."""
        scaler: int = expect(self.items("scaler_unit")[0], axdr.Integer, "scaler").value
        return float(self.int_value("value")) * 10.0 ** scaler


class ClockSyncMethod(Data):
    """Clock synchronisation method 1.0.0.9.10.255."""

    NAME = "clock_sync_method"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "value", Enum, static=True, default=Enum(6)),
    )

    @on_set("value")
    def write_value(self, value: AxdrData, ctx: Context) -> None:
        if expect(value, Enum, "clock synchronisation method").value not in SYNC_METHODS:
            raise out_of_range("clock synchronisation method")
        self.store("value", value)
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)
