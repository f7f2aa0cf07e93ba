"""BER (ITU-T X.690) helpers for the ACSE APDUs of IEC 62056-5-3 / Green Book 9.3
(AARQ/AARE/RLRQ/RLRE).

Only definite lengths (DER-style) are produced or accepted: DLMS never uses the indefinite form.
Tags are returned as one integer holding all tag octets, so the two-octet conformance tag reads as
``0x5F1F``. The length form is the one A-XDR shares, so :class:`Reader.length` is reused.
"""

from __future__ import annotations

from collections.abc import Iterator

from meter.codec.buffer import Reader, Writer, encode_length
from meter.errors import DecodeError, EncodeError

# Tag octet parts (X.690 8.1.2).
CLASS_CONTEXT = 0x80
CLASS_APPLICATION = 0x40
CONSTRUCTED = 0x20

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OBJECT_IDENTIFIER = 0x06
GRAPHIC_STRING = 0x19

#: Tag octets beyond the first; a real DLMS tag never needs more than one (0x5F 0x1F).
_MAX_TAG_OCTETS = 4


def read_tag(r: Reader) -> int:
    """One tag, all its octets packed big-endian into an int."""
    first = r.u8()
    tag = first
    if first & 0x1F != 0x1F:
        return tag
    for _ in range(_MAX_TAG_OCTETS):
        b = r.u8()
        tag = (tag << 8) | b
        if not b & 0x80:
            return tag
    raise DecodeError("BER tag too long")


def tag_bytes(tag: int) -> bytes:
    if tag < 0:
        raise EncodeError("negative BER tag")
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def read_tlv(r: Reader) -> tuple[int, bytes]:
    """One tag-length-value; the value is returned raw."""
    tag = read_tag(r)
    return tag, r.sized()


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Every TLV filling ``data`` (the contents of a constructed value)."""
    r = Reader(data)
    while not r.at_end():
        yield read_tlv(r)


def tlv(tag: int, value: bytes) -> bytes:
    return tag_bytes(tag) + encode_length(len(value)) + value


def write_tlv(w: Writer, tag: int, value: bytes) -> None:
    w.write(tlv(tag, value))


def expect_single(data: bytes, tag: int, what: str) -> bytes:
    """The value of the single TLV of ``tag`` making up ``data`` (an EXPLICIT wrapper's content)."""
    r = Reader(data)
    got, value = read_tlv(r)
    if got != tag:
        raise DecodeError(f"{what}: expected tag 0x{tag:02X}, got 0x{got:02X}")
    r.expect_end(what)
    return value


# --- INTEGER ------------------------------------------------------------------------------


def encode_integer(v: int) -> bytes:
    """Contents octets of a two's-complement INTEGER, minimal length."""
    n = max(1, (v + (v < 0)).bit_length() // 8 + 1)
    return v.to_bytes(n, "big", signed=True)


def decode_integer(data: bytes) -> int:
    if not data:
        raise DecodeError("empty BER INTEGER")
    if len(data) > 8:
        raise DecodeError("BER INTEGER too large")
    return int.from_bytes(data, "big", signed=True)


# --- OBJECT IDENTIFIER --------------------------------------------------------------------


def encode_oid(arcs: tuple[int, ...]) -> bytes:
    """Contents octets of an OBJECT IDENTIFIER (X.690 8.19)."""
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise EncodeError(f"invalid OID {arcs}")
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(data: bytes) -> tuple[int, ...]:
    if not data or data[-1] & 0x80:
        raise DecodeError("truncated OBJECT IDENTIFIER")
    values: list[int] = []
    acc = 0
    for b in data:
        if acc == 0 and b == 0x80:
            raise DecodeError("non-minimal OBJECT IDENTIFIER arc")
        acc = (acc << 7) | (b & 0x7F)
        if not b & 0x80:
            values.append(acc)
            acc = 0
    first = values[0]
    head = (min(first // 40, 2), first - 40 * min(first // 40, 2))
    return head + tuple(values[1:])


# --- BIT STRING ---------------------------------------------------------------------------


def encode_bit_string(value: bytes, unused_bits: int = 0) -> bytes:
    if not 0 <= unused_bits <= 7 or (unused_bits and not value):
        raise EncodeError("invalid BIT STRING padding")
    return bytes((unused_bits,)) + value


def decode_bit_string(data: bytes) -> tuple[bytes, int]:
    """(bytes, unused-bit count) of a primitive BIT STRING."""
    if not data or data[0] > 7 or (data[0] and len(data) == 1):
        raise DecodeError("invalid BIT STRING")
    return data[1:], data[0]
