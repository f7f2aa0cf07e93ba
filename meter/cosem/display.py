"""Consumer messages (Data, class_id 1; Blue Book OBIS 0.0.96.13.1.255 "consumer message via
display", 0.0.96.13.0.255 "consumer message via local port"; cosem-reference.md use case 18).

A consumer message is an octet-string a head end writes (SET attribute 2) for the customer: the
one via display is shown on the meter's LCD (meter/device/display.py), the one via the local port
goes out with the consumer information push on the local port (use case 12). An empty string
clears it. The device learns of each write through ``on_write`` (the LCD shows a message for its
time from then).
"""

from __future__ import annotations

from collections.abc import Callable

from meter.codec.axdr import Data as AxdrData, OctetString
from meter.codec.obis import Obis
from meter.cosem.base import Attr, Context, expect, on_set
from meter.cosem.data import Data
from meter.errors import AccessError, DataAccessResult

__all__ = ["MAX_MESSAGE", "ConsumerMessage"]

#: Longest message a head end may write (bytes): every input from outside is bounded (a few
#: screens of text on an LCD; one SET without block transfer).
MAX_MESSAGE = 256


class ConsumerMessage(Data):
    """A Data object holding a consumer message (octet-string, writable)."""

    NAME = "consumer_message"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "value", OctetString, static=False, default=OctetString(b"")),
    )

    def __init__(self, logical_name: Obis, **values: AxdrData) -> None:
        super().__init__(logical_name, **values)
        #: Called with this object after each successful write (set by the device).
        self.on_write: Callable[[ConsumerMessage], None] | None = None

    @property
    def text(self) -> bytes:
        return self.octets("value")

    @on_set("value")
    def write_value(self, value: AxdrData, ctx: Context) -> None:
        raw = expect(value, OctetString, "consumer message").value
        if len(raw) > MAX_MESSAGE:
            raise AccessError(DataAccessResult.OTHER_REASON,
                              f"consumer message: at most {MAX_MESSAGE} bytes")
        self.store("value", value)
        if self.on_write is not None:
            self.on_write(self)
