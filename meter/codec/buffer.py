"""Bounds-checked byte reader and writer shared by every codec.

Every decoder reads wire input through :class:`Reader`, whose only failure is
:class:`~meter.errors.DecodeError`. The A-XDR length form (one byte below 0x80, else 0x8N
followed by N big-endian bytes) lives here because A-XDR, BER and the APDUs all use it.
"""

from __future__ import annotations

import builtins
import struct

from meter.errors import DecodeError, EncodeError

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

#: Largest length we accept from the wire; anything bigger cannot fit in a real APDU and would
#: only be an attempt to make us allocate.
MAX_LENGTH = 1 << 24


class Reader:
    """Reads big-endian fields from ``data`` starting at ``pos``; raises DecodeError on overrun."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def expect_end(self, what: str = "data") -> None:
        if self.pos != self.end:
            raise DecodeError(f"{self.end - self.pos} trailing byte(s) after {what}")

    def _need(self, n: int) -> int:
        p = self.pos
        if n < 0 or p + n > self.end:
            raise DecodeError(f"need {n} byte(s) at offset {p}, have {self.end - p}")
        self.pos = p + n
        return p

    def peek_u8(self) -> int:
        if self.pos >= self.end:
            raise DecodeError(f"need 1 byte at offset {self.pos}, have 0")
        return self.data[self.pos]

    # The fixed-size reads check their bounds inline rather than through _need: they run a
    # dozen times per request, and a method call costs more than the read itself.
    def u8(self) -> int:
        p = self.pos
        if p >= self.end:
            raise DecodeError(f"need 1 byte(s) at offset {p}, have 0")
        self.pos = p + 1
        return self.data[p]

    def u16(self) -> int:
        p = self.pos
        if p + 2 > self.end:
            raise DecodeError(f"need 2 byte(s) at offset {p}, have {self.end - p}")
        self.pos = p + 2
        return int(_U16.unpack_from(self.data, p)[0])

    def u32(self) -> int:
        p = self.pos
        if p + 4 > self.end:
            raise DecodeError(f"need 4 byte(s) at offset {p}, have {self.end - p}")
        self.pos = p + 4
        return int(_U32.unpack_from(self.data, p)[0])

    def u64(self) -> int:
        p = self._need(8)
        return int(_U64.unpack_from(self.data, p)[0])

    def unpack(self, st: struct.Struct) -> tuple[object, ...]:
        p = self.pos
        if p + st.size > self.end:
            raise DecodeError(f"need {st.size} byte(s) at offset {p}, have {self.end - p}")
        self.pos = p + st.size
        return st.unpack_from(self.data, p)

    # The method named ``bytes`` shadows the builtin inside the class body, so annotations
    # below it spell the type as ``builtins.bytes``.
    def bytes(self, n: int) -> builtins.bytes:
        p = self._need(n)
        return bytes(self.data[p : p + n])

    def rest(self) -> builtins.bytes:
        p = self.pos
        self.pos = self.end
        return bytes(self.data[p : self.end])

    def length(self) -> int:
        """A-XDR / BER definite length."""
        p = self.pos
        if p >= self.end:
            raise DecodeError(f"need 1 byte(s) at offset {p}, have 0")
        first = self.data[p]
        self.pos = p + 1
        if first < 0x80:
            return first
        n = first & 0x7F
        if n == 0 or n > 4:
            raise DecodeError(f"unsupported length form 0x{first:02X}")
        value = int.from_bytes(self.bytes(n), "big")
        if value > MAX_LENGTH:
            raise DecodeError(f"length {value} too large")
        return value

    def sized(self) -> builtins.bytes:
        """A length-prefixed byte string."""
        n = self.length()
        p = self.pos
        if p + n > self.end:
            raise DecodeError(f"need {n} byte(s) at offset {p}, have {self.end - p}")
        self.pos = p + n
        return bytes(self.data[p : p + n])


class Writer:
    """Appends big-endian fields to a bytearray."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, v: int) -> None:
        if not 0 <= v <= 0xFF:
            raise EncodeError(f"{v} does not fit in one byte")
        self.buf.append(v)

    def u16(self, v: int) -> None:
        if not 0 <= v <= 0xFFFF:
            raise EncodeError(f"{v} does not fit in two bytes")
        self.buf += _U16.pack(v)

    def u32(self, v: int) -> None:
        if not 0 <= v <= 0xFFFFFFFF:
            raise EncodeError(f"{v} does not fit in four bytes")
        self.buf += _U32.pack(v)

    def write(self, b: bytes | bytearray) -> None:
        self.buf += b

    def length(self, n: int) -> None:
        self.buf += encode_length(n)

    def sized(self, b: bytes | bytearray) -> None:
        self.buf += encode_length(len(b))
        self.buf += b

    def getvalue(self) -> bytes:
        return bytes(self.buf)


def encode_length(n: int) -> bytes:
    """A-XDR / BER definite length."""
    if n < 0:
        raise EncodeError("negative length")
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(body) > 4:
        raise EncodeError(f"length {n} too large")
    return bytes((0x80 | len(body),)) + body
