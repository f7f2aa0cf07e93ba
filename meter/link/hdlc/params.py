"""HDLC parameter negotiation in SNRM and UA (Green Book 8.4.5.3.2, IEC 62056-46 6.4.4.4.3.2).

    81 (format identifier) 80 (group identifier) group-length
       05 len max_info_field_length_transmit   06 len max_info_field_length_receive
       07 len window_size_transmit             08 len window_size_receive

Values are 1, 2 or 4 bytes, big-endian. An absent parameter takes its default (128 bytes,
window 1). Each side states the values from its own point of view, so the client's "transmit"
limits the server's "receive" and vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass

from meter.codec.buffer import Reader
from meter.errors import DecodeError, EncodeError

__all__ = ["DEFAULT_MAX_INFO", "DEFAULT_WINDOW", "HdlcParameters", "negotiate"]

DEFAULT_MAX_INFO = 128
DEFAULT_WINDOW = 1
_FORMAT_ID = 0x81
_GROUP_ID = 0x80
_MAX_INFO_TX, _MAX_INFO_RX, _WINDOW_TX, _WINDOW_RX = 0x05, 0x06, 0x07, 0x08
#: Largest information field a type-3 frame can carry with 4-byte server addresses.
MAX_INFO_LIMIT = 2030
MAX_WINDOW = 7


@dataclass(frozen=True, slots=True)
class HdlcParameters:
    """Link parameters from one station's point of view."""

    max_info_tx: int = DEFAULT_MAX_INFO
    max_info_rx: int = DEFAULT_MAX_INFO
    window_tx: int = DEFAULT_WINDOW
    window_rx: int = DEFAULT_WINDOW

    def to_bytes(self) -> bytes:
        """Information field of a UA/SNRM.

        Lengths take one byte when they fit and windows always four, the form meters answer
        with (e.g. UA ``81 80 12 05 01 80 06 01 80 07 04 00 00 00 01 08 04 00 00 00 01``).
        """
        group = bytearray()
        for pid, value, width in (
            (_MAX_INFO_TX, self.max_info_tx, 0),
            (_MAX_INFO_RX, self.max_info_rx, 0),
            (_WINDOW_TX, self.window_tx, 4),
            (_WINDOW_RX, self.window_rx, 4),
        ):
            if not 0 < value <= 0xFFFF:
                raise EncodeError(f"HDLC parameter 0x{pid:02X} value {value} out of range")
            size = width or (1 if value <= 0xFF else 2)
            group += bytes((pid, size)) + value.to_bytes(size, "big")
        return bytes((_FORMAT_ID, _GROUP_ID, len(group))) + bytes(group)

    @classmethod
    def from_bytes(cls, data: bytes) -> HdlcParameters:
        """Parse an SNRM/UA information field; an empty field means all defaults."""
        if not data:
            return cls()
        r = Reader(data)
        if r.u8() != _FORMAT_ID or r.u8() != _GROUP_ID:
            raise DecodeError("HDLC parameters: format 0x81 / group 0x80 expected")
        g = Reader(r.bytes(r.u8()))
        r.expect_end("HDLC parameter group")
        values = {_MAX_INFO_TX: DEFAULT_MAX_INFO, _MAX_INFO_RX: DEFAULT_MAX_INFO,
                  _WINDOW_TX: DEFAULT_WINDOW, _WINDOW_RX: DEFAULT_WINDOW}
        while not g.at_end():
            pid = g.u8()
            size = g.u8()
            if size not in (1, 2, 4):
                raise DecodeError(f"HDLC parameter 0x{pid:02X} has length {size}")
            value = int.from_bytes(g.bytes(size), "big")
            if pid in values:  # other parameters are not ours to interpret; skip them
                if value == 0:
                    raise DecodeError(f"HDLC parameter 0x{pid:02X} is zero")
                values[pid] = value
        return cls(values[_MAX_INFO_TX], values[_MAX_INFO_RX], values[_WINDOW_TX],
                   values[_WINDOW_RX])


def negotiate(own: HdlcParameters, proposed: HdlcParameters) -> HdlcParameters:
    """The server's answer to a client's proposal: the smaller of each pair, server's view.

    The client's transmit values bound what the server receives and the other way round.
    """
    return HdlcParameters(
        max_info_tx=min(own.max_info_tx, proposed.max_info_rx, MAX_INFO_LIMIT),
        max_info_rx=min(own.max_info_rx, proposed.max_info_tx, MAX_INFO_LIMIT),
        window_tx=min(own.window_tx, proposed.window_rx, MAX_WINDOW),
        window_rx=min(own.window_rx, proposed.window_tx, MAX_WINDOW),
    )
