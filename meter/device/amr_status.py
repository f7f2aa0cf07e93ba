"""The AMR profile status (0.0.96.10.1.255) captured with every load-profile row: how far the
row's interval can be trusted.

Bit map (bit 0 = LSB) of DSMR P3 / IDIS package 2, as OSGP reads it (AmrProfileStatusCodeFlag):
0 critical error, 1 clock invalid, 2 data not valid, 3 daylight saving, 4 not used,
5 clock adjusted, 6 recovered value, 7 power down. Clock invalid and daylight saving are the
clock's state at the capture; clock adjusted, power down and data not valid (the interval was
not one full, regular period of measurement) stick from the event until the next capture.
"""

from __future__ import annotations

from meter.codec.cosem_time import STATUS_DOUBTFUL, STATUS_DST_ACTIVE, STATUS_INVALID
from meter.cosem.events import LogEvent, StandardEvent


CLOCK_INVALID = 0x02
DATA_NOT_VALID = 0x04
DAYLIGHT_SAVING = 0x08
CLOCK_ADJUSTED = 0x20
POWER_DOWN = 0x80

#: Standard events and the bits they set for their interval.
EVENT_BITS = {StandardEvent.POWER_DOWN: POWER_DOWN | DATA_NOT_VALID,
              StandardEvent.CLOCK_ADJUSTED_NEW_TIME: CLOCK_ADJUSTED | DATA_NOT_VALID}


class AmrStatus:
    """The interval's sticky bits, and the status byte a capture takes."""

    def __init__(self, pending: int = 0) -> None:
        self.pending = pending

    def event(self, event: LogEvent) -> None:
        """An event log entry was made in this interval."""
        if isinstance(event, StandardEvent):
            self.pending |= EVENT_BITS.get(event, 0)

    def value(self, clock_status: int) -> int:
        """The status byte now, given the clock's status bits (Blue Book clock_status)."""
        bits = self.pending
        if clock_status & (STATUS_INVALID | STATUS_DOUBTFUL):
            bits |= CLOCK_INVALID
        if clock_status & STATUS_DST_ACTIVE:
            bits |= DAYLIGHT_SAVING
        return bits

    def interval_closed(self) -> None:
        """The load profile captured: the next row starts clean."""
        self.pending = 0
