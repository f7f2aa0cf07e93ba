"""A-XDR Data: byte vectors, round trips of every type (hypothesis) and garbage safety."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.codec import axdr
from meter.errors import DecodeError, EncodeError

# Encodings as the Green Book examples and both client stacks write them (e.g. the clock time
# octet-string, a scaler_unit structure {-3, Wh}, a bit-string of 3 bits).
VECTORS = [
    ("00", axdr.NULL),
    ("0300", axdr.Boolean(False)),
    ("03ff", axdr.Boolean(True)),
    ("0f fd", axdr.Integer(-3)),
    ("10 ff85", axdr.Long(-123)),
    ("11 05", axdr.Unsigned(5)),
    ("12 1234", axdr.LongUnsigned(0x1234)),
    ("05 fffffffe", axdr.DoubleLong(-2)),
    ("06 00000400", axdr.DoubleLongUnsigned(1024)),
    ("14 ffffffffffffffff", axdr.Long64(-1)),
    ("15 0000000000000001", axdr.Long64Unsigned(1)),
    ("16 1e", axdr.Enum(30)),
    ("17 3fc00000", axdr.Float32(1.5)),
    ("18 3ff8000000000000", axdr.Float64(1.5)),
    ("09 06 0000010000ff", axdr.OctetString(bytes.fromhex("0000010000ff"))),
    ("0a 03 414345", axdr.VisibleString(b"ACE")),
    ("0c 02 c3a9", axdr.Utf8String("é")),
    ("04 03 a0", axdr.BitString(b"\xa0", 3)),
    ("02 02 0f fd 16 1e", axdr.Structure((axdr.Integer(-3), axdr.Enum(30)))),
    ("01 02 11 01 11 02", axdr.Array((axdr.Unsigned(1), axdr.Unsigned(2)))),
    ("0d 12", axdr.Bcd(0x12)),
    ("19 07ea0101ff000000ff800000", axdr.DateTime(bytes.fromhex("07ea0101ff000000ff800000"))),
    ("1a 07ea0101ff", axdr.Date(bytes.fromhex("07ea0101ff"))),
    ("1b 0c000000", axdr.Time(bytes.fromhex("0c000000"))),
    ("ff", axdr.DontCare()),
    # compact-array of structure {unsigned, long-unsigned}: type description 02 02 11 12,
    # contents 6 bytes (two elements of 3 bytes)
    ("13 02 02 11 12 06 010002 030004",
     axdr.CompactArray(axdr.TypeDescription(2, 0, (axdr.TypeDescription(17), axdr.TypeDescription(18))),
                       (axdr.Structure((axdr.Unsigned(1), axdr.LongUnsigned(2))),
                        axdr.Structure((axdr.Unsigned(3), axdr.LongUnsigned(4)))))),
    # long length form: an octet-string of 200 bytes
    ("09 81c8" + "00" * 200, axdr.OctetString(bytes(200))),
]


@pytest.mark.parametrize("hexstr,value", VECTORS)
def test_vectors(hexstr: str, value: axdr.Data) -> None:
    raw = bytes.fromhex(hexstr.replace(" ", ""))
    assert value.to_bytes() == raw
    assert axdr.decode(raw) == value


def _ints() -> st.SearchStrategy[axdr.Data]:
    out = []
    for cls in axdr.INTEGER_TYPES:
        out.append(st.integers(cls.LO, cls.HI).map(cls))  # type: ignore[attr-defined]
    return st.one_of(out)


def _float32() -> st.SearchStrategy[axdr.Data]:
    return st.integers(0, 0xFFFFFFFF).map(
        lambda b: axdr.Float32(struct.unpack(">f", b.to_bytes(4, "big"))[0]))


SIMPLE = st.one_of(
    st.just(axdr.NULL),
    st.just(axdr.DontCare()),
    st.booleans().map(axdr.Boolean),
    _ints(),
    _float32(),
    st.floats(allow_nan=False).map(axdr.Float64),
    st.binary(max_size=300).map(axdr.OctetString),
    st.binary(max_size=40).map(axdr.VisibleString),
    st.text(max_size=40).map(axdr.Utf8String),
    st.text(alphabet="01", max_size=70).map(axdr.BitString.from_bits),
    st.binary(min_size=12, max_size=12).map(axdr.DateTime),
    st.binary(min_size=5, max_size=5).map(axdr.Date),
    st.binary(min_size=4, max_size=4).map(axdr.Time),
)


DATA = st.recursive(
    SIMPLE,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(lambda xs: axdr.Array(tuple(xs))),
        st.lists(children, max_size=5).map(lambda xs: axdr.Structure(tuple(xs))),
    ),
    max_leaves=20,
)


@st.composite
def compact_arrays(draw: st.DrawFn) -> axdr.CompactArray:
    """A compact-array of n copies of one structure shape, values drawn per element."""
    shape = draw(st.lists(st.sampled_from([axdr.Unsigned, axdr.LongUnsigned, axdr.DoubleLong,
                                           axdr.OctetString, axdr.Boolean]), min_size=1, max_size=4))

    def element(i: int) -> axdr.Data:
        items = []
        for cls in shape:
            if cls is axdr.OctetString:
                items.append(axdr.OctetString(draw(st.binary(max_size=10))))
            elif cls is axdr.Boolean:
                items.append(axdr.Boolean(draw(st.booleans())))
            else:
                items.append(cls(draw(st.integers(cls.LO, cls.HI))))  # type: ignore[attr-defined]
        return axdr.Structure(tuple(items))

    n = draw(st.integers(1, 6))
    elements = tuple(element(i) for i in range(n))
    return axdr.CompactArray(axdr.TypeDescription.of(elements[0]), elements)


@settings(max_examples=300)
@given(DATA)
def test_roundtrip(value: axdr.Data) -> None:
    assert axdr.decode(value.to_bytes()) == value


@settings(max_examples=100)
@given(compact_arrays())
def test_compact_array_roundtrip(value: axdr.CompactArray) -> None:
    assert axdr.decode(value.to_bytes()) == value


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_garbage_never_crashes(data: bytes) -> None:
    try:
        axdr.decode(data)
    except DecodeError:
        pass


@settings(max_examples=300)
@given(DATA, st.data())
def test_mutated_values_never_crash(value: axdr.Data, data: st.DataObject) -> None:
    raw = bytearray(value.to_bytes())
    if raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        axdr.decode(bytes(raw[:cut]))
    except DecodeError:
        pass


def test_nesting_bomb_is_refused() -> None:
    with pytest.raises(DecodeError):
        axdr.decode(b"\x01\x01" * 1000 + b"\x00")


def test_huge_count_is_refused_without_allocating() -> None:
    with pytest.raises(DecodeError):
        axdr.decode(bytes.fromhex("01 84 7fffffff".replace(" ", "")) + b"\x00")


def test_out_of_range_values_cannot_be_built() -> None:
    with pytest.raises(EncodeError):
        axdr.Unsigned(256)
    with pytest.raises(EncodeError):
        axdr.Integer(True)  # a bool is not an integer value
    with pytest.raises(EncodeError):
        axdr.BitString(b"\x01", 3)  # a set padding bit


def test_raw_values_are_written_as_given() -> None:
    inner = axdr.Array((axdr.Unsigned(7),))
    outer = axdr.Structure((axdr.Raw(inner.to_bytes()), axdr.NULL))
    assert axdr.decode(outer.to_bytes()) == axdr.Structure((inner, axdr.NULL))
