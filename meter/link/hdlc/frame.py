"""HDLC frame format type 3 and control field (Green Book 8.4.1, 8.4.2; IEC 62056-46 6.3, 6.4).

    7E | A0+S+length(11 bit) | destination | source | control | [HCS | information] | FCS | 7E

The length counts every byte between the flags. HCS covers format..control and is present only
when there is an information field; FCS covers format..information. Both are CRC-16/X.25 sent
least significant byte first. No byte stuffing: DLMS/COSEM relies on the length field (IEC
62056-46 6.3). :class:`Framer` cuts frames out of a byte stream and drops what does not check.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from meter.codec.buffer import Reader
from meter.codec.crc import crc16_x25, fcs_bytes
from meter.errors import DecodeError, EncodeError
from meter.link.hdlc.address import HdlcAddress, read_address

__all__ = ["FLAG", "MAX_FRAME_LENGTH", "Control", "FrameKind", "Framer", "HdlcFrame"]

log = logging.getLogger(__name__)

FLAG = 0x7E
_FORMAT_TYPE_3 = 0xA0
_SEGMENTATION = 0x08
#: 11-bit length field.
MAX_FRAME_LENGTH = 0x7FF
_MIN_FRAME_LENGTH = 2 + 1 + 1 + 1 + 2  # format, two 1-byte addresses, control, FCS


class FrameKind(enum.Enum):
    """Frame types a DLMS/COSEM secondary station deals with (Green Book 8.4.3.x)."""

    I = "I"  # noqa: E741 - the standard's name
    RR = "RR"
    RNR = "RNR"
    SNRM = "SNRM"
    DISC = "DISC"
    UA = "UA"
    DM = "DM"
    FRMR = "FRMR"
    UI = "UI"


# Unnumbered frames: control byte with the P/F bit (0x10) cleared.
_U_CODES = {
    0x83: FrameKind.SNRM,
    0x43: FrameKind.DISC,
    0x63: FrameKind.UA,
    0x0F: FrameKind.DM,
    0x87: FrameKind.FRMR,
    0x03: FrameKind.UI,
}
_U_BYTES = {kind: code for code, kind in _U_CODES.items()}
_S_CODES = {0x01: FrameKind.RR, 0x05: FrameKind.RNR}
_S_BYTES = {kind: code for code, kind in _S_CODES.items()}


@dataclass(frozen=True, slots=True)
class Control:
    """A decoded control field. ``ns`` is meaningful for I frames, ``nr`` for I, RR and RNR."""

    kind: FrameKind
    pf: bool = False
    ns: int = 0
    nr: int = 0

    def to_byte(self) -> int:
        pf = 0x10 if self.pf else 0
        if self.kind is FrameKind.I:
            return (self.nr & 7) << 5 | pf | (self.ns & 7) << 1
        if self.kind in _S_BYTES:
            return (self.nr & 7) << 5 | pf | _S_BYTES[self.kind]
        return _U_BYTES[self.kind] | pf

    @classmethod
    def from_byte(cls, c: int) -> Control:
        """Raises DecodeError for control values a DLMS/COSEM station does not implement."""
        pf = bool(c & 0x10)
        if not c & 1:
            return cls(FrameKind.I, pf, (c >> 1) & 7, c >> 5)
        if c & 2 == 0:
            kind = _S_CODES.get(c & 0x0F)
            if kind is None:
                raise DecodeError(f"unsupported supervisory control field 0x{c:02X}")
            return cls(kind, pf, 0, c >> 5)
        kind = _U_CODES.get(c & 0xEF)
        if kind is None:
            raise DecodeError(f"unsupported unnumbered control field 0x{c:02X}")
        return cls(kind, pf)


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One frame. ``control`` stays a raw byte so a station can FRMR what it cannot parse."""

    destination: HdlcAddress
    source: HdlcAddress
    control: int
    info: bytes = b""
    segmented: bool = False

    def to_bytes(self) -> bytes:
        header = self.destination.to_bytes() + self.source.to_bytes()
        length = 2 + len(header) + 1 + 2 + (len(self.info) + 2 if self.info else 0)
        if length > MAX_FRAME_LENGTH:
            raise EncodeError(f"HDLC frame length {length} exceeds {MAX_FRAME_LENGTH}")
        if not 0 <= self.control <= 0xFF:
            raise EncodeError(f"control field {self.control} does not fit in one byte")
        fmt = (_FORMAT_TYPE_3 | (_SEGMENTATION if self.segmented else 0)) << 8 | length
        body = bytearray(fmt.to_bytes(2, "big"))
        body += header
        body.append(self.control)
        if self.info:
            body += fcs_bytes(bytes(body))
            body += self.info
        body += fcs_bytes(bytes(body))
        return b"\x7e" + bytes(body) + b"\x7e"

    @classmethod
    def from_bytes(cls, data: bytes) -> HdlcFrame:
        """Decode one frame, flags included; raises DecodeError on any inconsistency."""
        if len(data) < _MIN_FRAME_LENGTH + 2 or data[0] != FLAG or data[-1] != FLAG:
            raise DecodeError("HDLC frame must be flag-delimited and at least 9 bytes")
        body = data[1:-1]
        r = Reader(body)
        fmt = r.u16()
        if fmt >> 12 != _FORMAT_TYPE_3 >> 4:
            raise DecodeError(f"HDLC frame format 0x{fmt >> 12:X} is not type 3 (0xA)")
        if fmt & 0x7FF != len(body):
            raise DecodeError(f"HDLC length field {fmt & 0x7FF} but frame has {len(body)}")
        destination = read_address(r)
        source = read_address(r)
        control = r.u8()
        if crc16_x25(body[:-2]) != int.from_bytes(body[-2:], "little"):
            raise DecodeError("HDLC FCS mismatch")
        info = b""
        if r.remaining() > 2:
            hcs_end = r.pos + 2
            # A 1-byte information field cannot exist: HCS and FCS would overlap it.
            if r.remaining() < 5 or crc16_x25(body[:r.pos]) != int.from_bytes(
                    body[r.pos:hcs_end], "little"):
                raise DecodeError("HDLC HCS mismatch")
            info = bytes(body[hcs_end:-2])
        elif r.remaining() != 2:
            raise DecodeError("HDLC frame truncated")
        return cls(destination, source, control, info, bool(fmt & (_SEGMENTATION << 8)))


class Framer:
    """Cuts flag-delimited frames out of a byte stream.

    Handles garbage between frames, a flag shared between two frames, frames split over
    several chunks and several frames per chunk. Frames whose length, HCS or FCS do not check
    are dropped silently, as HDLC requires, and the stream resynchronises on the next flag at
    once: a flag only holds the bytes after it back while it can still open a frame, i.e. its
    length is consistent with its addresses and, once the header is in, its HCS checks. A
    frame with a good header that is cut short holds the stream until :meth:`expire`.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[HdlcFrame]:
        buf = self._buffer
        buf += data
        frames: list[HdlcFrame] = []
        pos = 0
        while True:
            start = buf.find(FLAG, pos)
            if start < 0:
                pos = len(buf)
                break
            pos = start
            end = _frame_end(buf, start)
            if end is None:
                break  # a plausible frame start: wait for its bytes
            if end < 0 or buf[end] != FLAG:
                pos = start + 1  # not an opening flag (maybe a closing one): look further
                continue
            try:
                frames.append(HdlcFrame.from_bytes(bytes(buf[start:end + 1])))
            except DecodeError as exc:
                log.debug("dropping HDLC frame: %s", exc)
                pos = start + 1
                continue
            pos = end  # the closing flag may open the next frame
        del buf[:pos]
        return frames

    def expire(self) -> list[HdlcFrame]:
        """The inter-octet timeout: nothing buffered will be completed any more. The frames
        found behind a frame start that never completed come out; the rest is dropped."""
        frames: list[HdlcFrame] = []
        while self.pending():
            del self._buffer[0]  # the stalled opening flag (feed leaves the buffer at it)
            frames += self.feed(b"")
        self._buffer.clear()
        return frames

    def pending(self) -> bool:
        """True while part of a frame is buffered (the inter-octet timer then runs)."""
        return any(b != FLAG for b in self._buffer)


def _frame_end(buf: bytearray, start: int) -> int | None:
    """Index of the closing flag of the frame the flag at ``start`` opens; None while more
    bytes are needed to tell, -1 when no frame starts there."""
    if len(buf) - start < 3:
        return None
    fmt = buf[start + 1] << 8 | buf[start + 2]
    length = fmt & 0x7FF
    if fmt >> 12 != _FORMAT_TYPE_3 >> 4 or length < _MIN_FRAME_LENGTH:
        return -1
    end = start + 1 + length
    # Header: format, destination (1, 2 or 4 bytes), source (likewise), control.
    i = start + 3
    for _ in range(2):
        size = 0
        while True:
            if i >= end - 2:
                return -1  # the addresses would run into the FCS
            if i >= len(buf):
                return None
            size += 1
            i += 1
            if buf[i - 1] & 1:
                break
            if size == 4:
                return -1
        if size == 3:
            return -1
    hcs = i + 1  # past the control field
    if hcs + 2 != end:  # an information field: HCS, at least one byte, FCS
        if hcs + 5 > end:
            return -1
        if hcs + 2 > len(buf):
            return None
        if crc16_x25(bytes(buf[start + 1:hcs])) != buf[hcs] | buf[hcs + 1] << 8:
            return -1
    return end if end < len(buf) else None
