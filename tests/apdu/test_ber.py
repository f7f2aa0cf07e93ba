"""BER helpers (meter/codec/ber.py): known encodings and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.codec import ber
from meter.codec.buffer import Reader
from meter.errors import DecodeError

# 2.16.756.5.8.1.1 (LN context) as every DLMS AARQ carries it: 60 85 74 05 08 01 01.
LN_CONTEXT = bytes.fromhex("60857405080101")


def test_oid_known() -> None:
    assert ber.encode_oid((2, 16, 756, 5, 8, 1, 1)) == LN_CONTEXT
    assert ber.decode_oid(LN_CONTEXT) == (2, 16, 756, 5, 8, 1, 1)


@pytest.mark.parametrize(("value", "hex_"), [(0, "00"), (127, "7F"), (128, "0080"),
                                             (-1, "FF"), (-128, "80"), (-129, "FF7F"),
                                             (256, "0100")])
def test_integer_known(value: int, hex_: str) -> None:
    assert ber.encode_integer(value).hex().upper() == hex_
    assert ber.decode_integer(bytes.fromhex(hex_)) == value


def test_two_octet_tag() -> None:
    r = Reader(bytes.fromhex("5F1F0400001E1D"))
    assert ber.read_tlv(r) == (0x5F1F, bytes.fromhex("00001E1D"))
    assert ber.tlv(0x5F1F, bytes.fromhex("00001E1D")) == bytes.fromhex("5F1F0400001E1D")


@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=8), st.integers(0, 2),
       st.integers(0, 39))
@settings(max_examples=100)
def test_oid_roundtrip(rest: list[int], a: int, b: int) -> None:
    arcs = (a, b, *rest)
    assert ber.decode_oid(ber.encode_oid(arcs)) == arcs


@given(st.integers(-(2**63), 2**63 - 1))
@settings(max_examples=100)
def test_integer_roundtrip(v: int) -> None:
    assert ber.decode_integer(ber.encode_integer(v)) == v


_TAGS = st.integers(0, 0xFF).filter(lambda t: t & 0x1F != 0x1F) | st.just(0x5F1F)


@given(_TAGS, st.binary(max_size=300))
@settings(max_examples=100)
def test_tlv_roundtrip(tag: int, value: bytes) -> None:
    r = Reader(ber.tlv(tag, value))
    assert ber.read_tlv(r) == (tag, value)
    assert r.at_end()


@given(st.binary(max_size=40))
@settings(max_examples=300)
def test_decoders_raise_only_decode_error(data: bytes) -> None:
    for fn in (ber.decode_oid, ber.decode_integer, ber.decode_bit_string,
               lambda d: list(ber.iter_tlv(d))):
        try:
            fn(data)
        except DecodeError:
            pass
