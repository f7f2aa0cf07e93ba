"""Unsolicited APDUs (Green Book 9.5): DATA-NOTIFICATION [15] and EventNotificationRequest [194].

DataNotification's date-time is an OCTET STRING that is empty when absent (dlms-cosem's test
vector ``0F 00 00 01 DB 00 ...`` has length 0); EventNotificationRequest's time is an A-XDR
OPTIONAL OCTET STRING.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.common import (
    CosemAttributeDescriptor,
    read_data,
    read_octets,
    read_optional,
    write_octets,
    write_optional,
)
from meter.apdu.registry import Apdu
from meter.codec import axdr
from meter.codec.axdr import Data
from meter.codec.buffer import Reader, Writer
from meter.errors import EncodeError


@dataclass(frozen=True, slots=True)
class DataNotification(Apdu):
    TAG: ClassVar[int] = 0x0F
    long_invoke_id_and_priority: int
    date_time: bytes | None
    body: Data

    def __post_init__(self) -> None:
        if self.date_time == b"":
            raise EncodeError("an absent date_time is None, not b''")

    def encode_body(self, w: Writer) -> None:
        w.u32(self.long_invoke_id_and_priority)
        w.sized(self.date_time or b"")
        self.body.encode(w)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> DataNotification:
        liip = r.u32()
        dt = r.sized()
        return cls(liip, dt or None, axdr.read(r))


@dataclass(frozen=True, slots=True)
class EventNotificationRequest(Apdu):
    TAG: ClassVar[int] = 0xC2
    time: bytes | None
    attribute: CosemAttributeDescriptor
    value: Data

    def encode_body(self, w: Writer) -> None:
        write_optional(w, self.time, write_octets)
        self.attribute.encode(w)
        self.value.encode(w)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> EventNotificationRequest:
        time = read_optional(r, read_octets)
        return cls(time, CosemAttributeDescriptor.read(r), read_data(r))
