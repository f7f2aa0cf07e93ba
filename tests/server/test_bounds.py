"""Issue 7 item 8: what one request may make the meter hold. SET/ACTION in blocks: rights are
checked at the first block, the reassembled data is capped ([limits] max_request_bytes), an APDU
over the meter's negotiated max-receive-PDU-size (1024) is refused before it is decoded. GET:
items per list and bytes per response are bounded (max_list_items, max_response_bytes)."""

from __future__ import annotations

import pytest
from support import Meter

from meter import apdu as A
from meter.codec import axdr
from meter.errors import ActionResult, DataAccessResult
from meter.server.services import ServiceLimits

from .harness import CLOCK, LDN, LOAD_PROFILE

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
    n = ServiceLimits().request_bytes // len(chunk)
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


# --- GET: items per list, bytes per response -------------------------------------------------

def buffer_in_list(k: int) -> A.GetRequestWithList:
    return A.GetRequestWithList(0xC1, tuple((A.CosemAttributeDescriptor(7, LOAD_PROFILE, 2), None)
                                            for _ in range(k)))


def test_get_with_list_items_bounded(meter: Meter) -> None:
    c = meter.reader()
    limit = ServiceLimits().list_items
    reply = c.exchange(buffer_in_list(limit + 1))
    assert reply == A.GetResponseWithList(0xC1, (DAR.SCOPE_OF_ACCESS_VIOLATED,) * (limit + 1))
    small = A.GetRequestWithList(0xC1, ((A.CosemAttributeDescriptor(1, LDN, 2), None),) * limit)
    assert all(isinstance(r, axdr.OctetString) for r in c.exchange(small).results)  # type: ignore[attr-defined]


def test_get_response_bytes_bounded(meter: Meter) -> None:
    whole = meter.reader().get(7, LOAD_PROFILE, 2)
    size = len(whole.to_bytes())
    # A bound between one and two copies of the buffer (3 days: ~11 kB).
    meter.device.environment.service_limits = ServiceLimits(response_bytes=size + size // 2)
    c = meter.reader()
    reply = c.exchange(buffer_in_list(5))
    assert isinstance(reply, A.GetResponseWithList)
    assert reply.results[0] == whole
    assert reply.results[1:] == (DAR.SCOPE_OF_ACCESS_VIOLATED,) * 4
    meter.device.environment.service_limits = ServiceLimits(response_bytes=size - 1)
    c = meter.reader()
    single = c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(7, LOAD_PROFILE, 2)))
    assert single == A.GetResponseNormal(0xC1, DAR.SCOPE_OF_ACCESS_VIOLATED)
    assert isinstance(c.get(1, LDN, 2), axdr.OctetString)  # the association goes on


def test_a_long_buffer_goes_out_block_by_block_never_joined(meter: Meter,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows of a profile buffer go into blocks as the client asks for them: the whole
    buffer is never joined into one bytes object (issue 7 item 8: streamed block encoding)."""
    whole = meter.reader().get(7, LOAD_PROFILE, 2)
    c = meter.reader(max_pdu=512)

    def joined(self: axdr.RawArray) -> bytes:
        raise AssertionError("a long response joined the whole buffer")

    monkeypatch.setattr(axdr.RawArray, "to_bytes", joined)
    assert c.get(7, LOAD_PROFILE, 2) == whole
    reply = c.exchange(buffer_in_list(2))
    assert isinstance(reply, A.GetResponseWithDataBlock)  # the rest follows as blocks
