"""Issue 7 item 8: what one request may make the meter hold. SET/ACTION in blocks: rights are
checked at the first block, the reassembled data is capped ([limits] max_request_bytes), an APDU
over the meter's negotiated max-receive-PDU-size (1024) is refused before it is decoded."""

from __future__ import annotations

from support import Meter

from meter import apdu as A
from meter.errors import ActionResult, DataAccessResult
from meter.server.services import MAX_REQUEST_BYTES

from .harness import CLOCK, LDN

DAR = DataAccessResult


def clock_time() -> A.CosemAttributeDescriptor:
    return A.CosemAttributeDescriptor(8, CLOCK, 2)


def test_set_blocks_without_rights_refused_at_the_first_block(meter: Meter) -> None:
    c = meter.public()
    reply = c.exchange(A.SetRequestWithFirstDataBlock(0xC1, clock_time(), None, False, 1, bytes(600)))
    assert reply == A.SetResponseLastDataBlock(0xC1, DAR.READ_WRITE_DENIED, 1)
    # Nothing in progress: a next block finds no long SET.
    again = c.exchange(A.SetRequestWithDataBlock(0xC1, False, 2, bytes(600)))
    assert again == A.SetResponseLastDataBlock(0xC1, DAR.NO_LONG_SET_IN_PROGRESS, 2)
    listed = c.exchange(A.SetRequestWithListAndFirstDataBlock(
        0xC1, ((clock_time(), None), (A.CosemAttributeDescriptor(1, LDN, 2), None)), False, 1, bytes(600)))
    assert listed == A.SetResponseLastDataBlockWithList(0xC1, (DAR.READ_WRITE_DENIED,) * 2, 1)


def test_action_blocks_without_rights_refused_at_the_first_block(meter: Meter) -> None:
    c = meter.public()
    shift = A.CosemMethodDescriptor(8, CLOCK, 6)
    reply = c.exchange(A.ActionRequestWithFirstPBlock(0xC1, shift, False, 1, bytes(600)))
    assert reply == A.ActionResponseNormal(0xC1, ActionResult.READ_WRITE_DENIED)
    again = c.exchange(A.ActionRequestWithPBlock(0xC1, False, 2, bytes(600)))
    assert again == A.ActionResponseNormal(0xC1, ActionResult.NO_LONG_ACTION_IN_PROGRESS)


def test_long_set_and_action_capped(meter: Meter) -> None:
    c = meter.management()
    chunk = bytes(900)  # ciphered, it still fits the meter's 1024
    n = MAX_REQUEST_BYTES // len(chunk)
    assert c.exchange(A.SetRequestWithFirstDataBlock(0xC1, clock_time(), None, False, 1, chunk)) == \
        A.SetResponseDataBlock(0xC1, 1)
    for block in range(2, n + 1):
        assert c.exchange(A.SetRequestWithDataBlock(0xC1, False, block, chunk)) == \
            A.SetResponseDataBlock(0xC1, block)
    over = c.exchange(A.SetRequestWithDataBlock(0xC1, False, n + 1, chunk))
    assert over == A.SetResponseLastDataBlock(0xC1, DAR.LONG_SET_ABORTED, n + 1)

    shift = A.CosemMethodDescriptor(8, CLOCK, 6)
    assert c.exchange(A.ActionRequestWithFirstPBlock(0xC1, shift, False, 1, chunk)) == \
        A.ActionResponseNextPBlock(0xC1, 1)
    for block in range(2, n + 1):
        c.exchange(A.ActionRequestWithPBlock(0xC1, False, block, chunk))
    over_action = c.exchange(A.ActionRequestWithPBlock(0xC1, False, n + 1, chunk))
    assert over_action == A.ActionResponseNormal(0xC1, ActionResult.LONG_ACTION_ABORTED)
    assert c.get(1, LDN, 2) is not None  # the association goes on


def test_apdu_over_the_negotiated_size_refused(meter: Meter) -> None:
    c = meter.public()
    big = A.SetRequestWithFirstDataBlock(0xC1, clock_time(), None, False, 1, bytes(60_000))
    assert c.exchange(big) == A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED,
                                                  A.ServiceError.PDU_TOO_LONG)
    fits = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(1, LDN, 2))
    assert len(fits.to_bytes()) <= 1024
    assert isinstance(c.exchange(fits), A.GetResponseNormal)
