"""IEC 62056-47 wrapper: header vectors, stream splitting, bad headers, property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.errors import DecodeError, EncodeError, RemoteProtocolError
from meter.link.wrapper import WrapperConnection, WrapperPdu

H = bytes.fromhex

# A public-client AARQ wrapped from client wPort 0x10 to server wPort 0x01: header
# version 1, source, destination, length 0x1F (Green Book 7.3.3.2 figure "wrapper header").
AARQ = H("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
AARQ_WRAPPED = H("000100100001001F") + AARQ


def test_vector_round_trip() -> None:
    pdu = WrapperPdu(0x10, 0x01, AARQ)
    assert pdu.to_bytes() == AARQ_WRAPPED
    assert WrapperPdu.from_bytes(AARQ_WRAPPED) == pdu
    assert WrapperConnection.frame(0x10, 0x01, AARQ) == AARQ_WRAPPED


def test_stream_split_and_batched() -> None:
    conn = WrapperConnection()
    stream = AARQ_WRAPPED + WrapperPdu(1, 0x10, b"\x61\x00").to_bytes() + AARQ_WRAPPED[:5]
    got = [p for i in range(0, len(stream), 3) for p in conn.receive_data(stream[i:i + 3])]
    assert got == [WrapperPdu(0x10, 1, AARQ), WrapperPdu(1, 0x10, b"\x61\x00")]
    assert conn.buffered() == 5
    assert conn.receive_data(AARQ_WRAPPED[5:]) == [WrapperPdu(0x10, 1, AARQ)]
    assert conn.buffered() == 0


def test_empty_payload() -> None:
    assert WrapperConnection().receive_data(H("0001000100100000")) == [WrapperPdu(1, 0x10, b"")]


def test_bad_version_is_fatal() -> None:
    conn = WrapperConnection()
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(H("0002000100100000"))
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(AARQ_WRAPPED)  # the stream cannot be trusted any more


def test_oversized_length_is_fatal() -> None:
    with pytest.raises(RemoteProtocolError):
        WrapperConnection(max_payload=100).receive_data(H("00010001001000FF"))


def test_codec_errors() -> None:
    with pytest.raises(DecodeError):
        WrapperPdu.from_bytes(H("000100010010"))
    with pytest.raises(DecodeError):
        WrapperPdu.from_bytes(H("000100010010000201"))
    with pytest.raises(EncodeError):
        WrapperPdu(0x10000, 1, b"").to_bytes()
    with pytest.raises(EncodeError):
        WrapperConnection.frame(1, 1, bytes(0x10000))


pdus = st.builds(WrapperPdu, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
                 st.binary(max_size=300))


@settings(max_examples=200)
@given(pdus)
def test_round_trip(pdu: WrapperPdu) -> None:
    assert WrapperPdu.from_bytes(pdu.to_bytes()) == pdu


@settings(max_examples=100)
@given(st.lists(pdus, max_size=5), st.lists(st.integers(1, 50), min_size=1, max_size=10))
def test_any_chunking(items: list[WrapperPdu], sizes: list[int]) -> None:
    stream = b"".join(p.to_bytes() for p in items)
    conn, got, pos, i = WrapperConnection(), [], 0, 0
    while pos < len(stream):
        n = sizes[i % len(sizes)]
        got += conn.receive_data(stream[pos:pos + n])
        pos, i = pos + n, i + 1
    assert got == items


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_random_bytes(data: bytes) -> None:
    try:
        WrapperPdu.from_bytes(data)
    except DecodeError:
        pass
    try:
        WrapperConnection().receive_data(data)
    except RemoteProtocolError:
        pass
