"""Issue 7 item 2: every block of a long response, in every envelope a response can get (glo,
ded, general-glo, general-ded; suites 0-2; signed under suites 1-2), fits the client's
max-receive-PDU-size. A property over PDU sizes and response sizes, with the real encoders."""

from __future__ import annotations

import itertools

from cryptography.hazmat.primitives.asymmetric import ec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Meter

from meter import apdu as A
from meter.errors import EncodeError
from meter.server import channel, services, signing
from meter.server.channel import response_overhead
from meter.server.protection import Envelope, EnvelopeKind, SecurityContext, wrap
from meter.server.blocks import BLOCK_HEADER, Outgoing, block_size

from .harness import IC_OBJECT, LOAD_PROFILE

TITLE = bytes.fromhex("4143450000000001")
CLIENT = bytes.fromhex("4D4D4D0000000001")
KINDS = tuple(EnvelopeKind)
KEYS = {suite: ec.generate_private_key(ec.SECP256R1() if suite == 1 else ec.SECP384R1())
        for suite in (1, 2)}


class _Counter:
    def __init__(self) -> None:
        self._values = itertools.count(0xFFFFFFF0)  # 4-octet counters: the longest encoding

    def next(self) -> int:
        return next(self._values)

    @property
    def last(self) -> int:
        return 0

    def accept(self, value: int) -> bool:
        return True


def context(suite: int) -> SecurityContext:
    key = bytes(32 if suite == 2 else 16)
    return SecurityContext(suite, TITLE, key, key, key, _Counter(), _Counter())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from((0, 1, 2)), st.sampled_from(KINDS), st.booleans(), st.data())
def test_every_block_fits_every_envelope(suite: int, kind: EnvelopeKind, signed: bool, data: st.DataObject) -> None:
    overhead = response_overhead(suite)
    # Below that not even the smallest block (16 bytes) fits: see the test after this one.
    pdu = data.draw(st.integers(BLOCK_HEADER + overhead + 16, 0xFFFF), "client max PDU")
    size = block_size(pdu, overhead)
    raw_length = data.draw(st.sampled_from((size, size + 1, 3 * size - 1)), "response size")
    ctx = context(suite)
    last_block = (raw_length + size - 1) // size
    for number in sorted({1, last_block}):
        chunk = bytes(min(size, raw_length - (number - 1) * size))
        block = A.GetResponseWithDataBlock(0xC1, number == last_block, number, chunk).to_bytes()
        wire = wrap(A.GetResponseWithDataBlock.TAG, block, Envelope(kind, 0x30 | suite), ctx,
                    bytes(len(ctx.encryption_key)))
        if signed and suite in KEYS:
            wire = signing.sign(wire, KEYS[suite], ctx, CLIENT, bytes(signing.MAX_TRANSACTION_ID))
        assert len(wire) <= pdu, (len(wire), pdu)


def test_general_glo_blocks_fit_a_small_pdu(meter: Meter) -> None:
    """A general-glo-ciphered GET (as gurux and dlms-cosem send them) after a glo AARQ: each
    block's response fits the client's 256 bytes (9 bytes too many before: the overhead of the
    AARQ's envelope was used)."""
    whole = meter.reader().get(7, LOAD_PROFILE, 2)
    c = meter.management(general=True, max_pdu=256)
    sizes: list[int] = []
    transfer = c._transfer

    def recording(payload: bytes) -> bytes:
        reply = transfer(payload)
        sizes.append(len(reply))
        return reply

    c._transfer = recording  # type: ignore[method-assign]
    assert c.get(7, LOAD_PROFILE, 2) == whole
    assert len(sizes) > 10 and max(sizes) <= 256


def test_a_response_over_the_client_pdu_still_gets_an_answer(meter: Meter,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a response ever come out longer than the client's max PDU (here: blocks sized
    without the ciphering), the client gets an exception-response, never a closed connection."""
    monkeypatch.setattr(services, "block_size", lambda pdu, overhead: pdu - BLOCK_HEADER)
    c = meter.management(max_pdu=256)
    reply = c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(7, LOAD_PROFILE, 2)))
    assert reply == A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON)
    assert c.get(1, IC_OBJECT, 2) is not None  # and the association goes on


def test_a_response_that_cannot_be_encoded_still_gets_an_answer(meter: Meter,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    c = meter.management()

    def broken(*args: object) -> bytes:
        raise EncodeError("cannot encode")

    monkeypatch.setattr(channel, "wrap", broken)
    reply = c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(7, LOAD_PROFILE, 2)))
    assert reply == A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=40), st.integers(1, 700))
def test_blocks_of_pieces_round_trip(pieces: list[bytes], size: int) -> None:
    """A long response kept in pieces (a profile buffer's rows) comes out as full blocks, then a
    last one, which joined give back exactly its bytes."""
    out = Outgoing(pieces, size)
    blocks, last = [], False
    while not last:
        last, block = out.next_block()
        blocks.append(block)
    assert b"".join(blocks) == b"".join(pieces)
    assert all(len(b) == size for b in blocks[:-1]) and len(blocks[-1]) <= size
