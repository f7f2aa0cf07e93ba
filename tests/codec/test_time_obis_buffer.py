"""COSEM date-time, OBIS and the bounded reader: vectors, round trips, garbage safety."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.codec.buffer import Reader, encode_length
from meter.codec.cosem_time import CosemDate, CosemDateTime, CosemTime
from meter.codec.obis import Obis
from meter.errors import DecodeError, EncodeError

opt_byte = st.one_of(st.none(), st.integers(0, 254))


@given(st.one_of(st.none(), st.integers(0, 0xFFFE)), opt_byte, opt_byte, opt_byte, opt_byte, opt_byte,
       opt_byte, opt_byte, st.one_of(st.none(), st.integers(-0x7FFF, 0x7FFF)), opt_byte)
def test_date_time_roundtrip(y, mo, d, wd, h, mi, s, hs, dev, status) -> None:  # type: ignore[no-untyped-def]
    value = CosemDateTime(CosemDate(y, mo, d, wd), CosemTime(h, mi, s, hs), dev, status)
    raw = value.to_bytes()
    assert len(raw) == 12
    assert CosemDateTime.from_bytes(raw) == value


def test_date_time_vector() -> None:
    # 2026-01-01 (Thursday) 12:30:15.50, UTC+01:00 -> deviation -60 (Blue Book: UTC - local), DST off
    value = CosemDateTime.from_datetime(
        dt.datetime(2026, 1, 1, 12, 30, 15, 500000, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    assert value.to_bytes().hex() == "07ea0101040c1e0f32ffc400"
    back = value.to_datetime()
    assert back == dt.datetime(2026, 1, 1, 11, 30, 15, 500000, tzinfo=dt.timezone.utc)


def test_wildcards_cannot_become_a_datetime() -> None:
    with pytest.raises(DecodeError):
        CosemDateTime.from_bytes(bytes.fromhex("ffffffffff000000ff800000")).to_datetime()


@settings(max_examples=300)
@given(st.binary(min_size=12, max_size=12))
def test_any_12_bytes_decode_and_to_datetime_fails_cleanly(raw: bytes) -> None:
    value = CosemDateTime.from_bytes(raw)
    assert value.to_bytes() == raw
    try:
        value.to_datetime()
    except DecodeError:
        pass


@given(st.tuples(*[st.integers(0, 255)] * 6))
def test_obis_roundtrip(groups: tuple[int, ...]) -> None:
    o = Obis(*groups)
    assert Obis.from_bytes(o.to_bytes()) == o
    assert Obis.parse(str(o)) == o


def test_obis_forms() -> None:
    assert Obis.parse("1-0:1.8.0.255") == Obis(1, 0, 1, 8, 0, 255)
    assert Obis.parse("1-0:1.8.0") == Obis(1, 0, 1, 8, 0, 255)
    with pytest.raises(EncodeError):
        Obis.parse("1.0.1.8")
    with pytest.raises(DecodeError):
        Obis.from_bytes(b"\x01\x00")


@given(st.integers(0, 1 << 24))
def test_length_roundtrip(n: int) -> None:
    assert Reader(encode_length(n)).length() == n


@settings(max_examples=300)
@given(st.binary(max_size=12))
def test_reader_only_raises_decode_error(data: bytes) -> None:
    r = Reader(data)
    for op in (r.u8, r.u16, r.u32, r.u64, r.length, r.sized):
        try:
            op()
        except DecodeError:
            pass
