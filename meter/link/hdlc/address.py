"""HDLC address field (Green Book 8.4.2.2, IEC 62056-46 6.4.2).

Each address byte carries 7 address bits and, in its least significant bit, the extension bit:
0 = more bytes follow, 1 = last byte. A client address is one byte. A server address is one
byte (upper HDLC address only), two bytes (upper, lower) or four bytes (two each). The upper
address selects the logical device, the lower one the physical device.
"""

from __future__ import annotations

from dataclasses import dataclass

from meter.codec.buffer import Reader
from meter.errors import DecodeError, EncodeError

__all__ = [
    "ALL_STATION_1",
    "ALL_STATION_4",
    "NO_STATION",
    "HdlcAddress",
    "is_all_station",
    "read_address",
]

#: Reserved values (Green Book 8.4.2.2 table "Reserved special HDLC addresses").
NO_STATION = 0x00
ALL_STATION_1 = 0x7F  # 7-bit address part of the 1- and 2-byte forms
ALL_STATION_4 = 0x3FFF  # 14-bit upper or lower address of the four-byte form


@dataclass(frozen=True, slots=True)
class HdlcAddress:
    """An address as it appears on the wire: ``upper`` (logical), ``lower`` (physical), size.

    ``lower`` is None for the one-byte form, where only the upper address is present.
    """

    upper: int
    lower: int | None = None
    size: int = 1

    def __post_init__(self) -> None:
        limit = 0x3FFF if self.size == 4 else 0x7F
        if self.size not in (1, 2, 4):
            raise EncodeError(f"HDLC address size {self.size} is not 1, 2 or 4")
        if (self.lower is None) != (self.size == 1):
            raise EncodeError("a lower HDLC address goes with the 2- and 4-byte forms only")
        for part in (self.upper, self.lower):
            if part is not None and not 0 <= part <= limit:
                raise EncodeError(f"HDLC address {part} does not fit a {self.size}-byte address")

    def to_bytes(self) -> bytes:
        if self.size == 1:
            return bytes((self.upper << 1 | 1,))
        lower = self.lower or 0  # not None: __post_init__ ties it to the 2- and 4-byte forms
        if self.size == 2:
            return bytes((self.upper << 1, lower << 1 | 1))
        return bytes((
            (self.upper >> 7) << 1, (self.upper & 0x7F) << 1,
            (lower >> 7) << 1, (lower & 0x7F) << 1 | 1,
        ))


def read_address(reader: Reader) -> HdlcAddress:
    """Read one address: bytes up to and including the first one with the extension bit set."""
    parts: list[int] = []
    while True:
        b = reader.u8()
        parts.append(b >> 1)
        if b & 1:
            break
        if len(parts) == 4:
            raise DecodeError("HDLC address longer than 4 bytes")
    if len(parts) == 1:
        return HdlcAddress(parts[0])
    if len(parts) == 2:
        return HdlcAddress(parts[0], parts[1], 2)
    if len(parts) == 4:
        return HdlcAddress(parts[0] << 7 | parts[1], parts[2] << 7 | parts[3], 4)
    raise DecodeError("3-byte HDLC address")


def is_all_station(value: int, size: int) -> bool:
    """True for the broadcast value of a part of an address of ``size`` bytes."""
    return value == (ALL_STATION_4 if size == 4 else ALL_STATION_1)
