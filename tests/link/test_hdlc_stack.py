"""The HDLC link under a MeterStack, on the wire in memory: several frames in one chunk and junk
around them (issue 7 item 11), and a client that sends requests without taking the replies
(item 8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import PUBLIC, Meter, make_aarq

from meter import apdu as A
from meter.codec.obis import Obis
from meter.link.hdlc.address import HdlcAddress
from meter.link.hdlc.connection import LLC_REQUEST, LLC_RESPONSE
from meter.link.hdlc.frame import Control, FrameKind, Framer, HdlcFrame
from meter.stack import MeterStack

SERVER, CLIENT = HdlcAddress(1, 17, 2), HdlcAddress(PUBLIC)
AARQ = make_aarq().to_bytes()
GET_CLOCK = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(
    8, Obis.parse("0.0.1.0.0.255"), 2)).to_bytes()
# The current association's object_list: several 128-byte segments.
GET_OBJECTS = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(
    15, Obis.parse("0.0.40.0.0.255"), 2)).to_bytes()


def frame(kind: FrameKind, info: bytes = b"", ns: int = 0, nr: int = 0, pf: bool = True) -> bytes:
    return HdlcFrame(SERVER, CLIENT, Control(kind, pf, ns, nr).to_byte(), info).to_bytes()


def i_frame(apdu: bytes, ns: int, nr: int, pf: bool = True) -> bytes:
    return frame(FrameKind.I, LLC_REQUEST + apdu, ns, nr, pf)


SNRM, DISC = frame(FrameKind.SNRM), frame(FrameKind.DISC)


def rr(nr: int) -> bytes:
    return frame(FrameKind.RR, nr=nr)


def answer(wire: bytes) -> list[tuple[Control, HdlcFrame]]:
    got = [(Control.from_byte(f.control), f) for f in Framer().feed(wire)]
    assert all((f.destination, f.source) == (CLIENT, SERVER) for _, f in got)
    return got


def kinds(wire: bytes) -> list[FrameKind]:
    return [c.kind for c, _ in answer(wire)]


def apdu_of(wire: bytes) -> A.Apdu:
    [(control, f)] = answer(wire)
    assert control.kind is FrameKind.I and not f.segmented and f.info[:3] == LLC_RESPONSE
    return A.decode_apdu(f.info[3:])


class Line:
    """One HDLC connection to the meter, with its own clock."""

    def __init__(self, stack: MeterStack) -> None:
        self.stack, self.now = stack, 0.0

    def send(self, wire: bytes) -> bytes:
        self.now += 0.01
        return self.stack.receive_data(wire, self.now)


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    meter = Meter(tmp_path / "s", history=None)
    yield Line(meter.device.new_stack("hdlc", now=meter.timebase.now))
    meter.close()


def test_reply_goes_out_before_the_disc_behind_it(line: Line) -> None:
    assert kinds(line.send(SNRM)) == [FrameKind.UA]
    out = answer(line.send(i_frame(AARQ, 0, 0) + DISC))  # raised LocalProtocolError
    assert [c.kind for c, _ in out] == [FrameKind.I, FrameKind.UA]
    aare = A.decode_apdu(out[0][1].info[3:])
    assert isinstance(aare, A.AARE) and aare.result == 0
    assert kinds(line.send(rr(1))) == [FrameKind.DM]


def test_snrm_behind_a_request_opens_a_clean_link(line: Line) -> None:
    line.send(SNRM)
    assert kinds(line.send(i_frame(AARQ, 0, 0) + SNRM)) == [FrameKind.I, FrameKind.UA]
    assert kinds(line.send(rr(0))) == [FrameKind.RR]  # the old link's AARE stays on the old link
    aare = apdu_of(line.send(i_frame(AARQ, 0, 0)))
    assert isinstance(aare, A.AARE) and aare.result == 0


@pytest.mark.parametrize("junk", [bytes.fromhex("7EA0FF0001"), b"\x7e\xa0\xffgarbage"])
def test_false_start_before_and_between_frames(line: Line, junk: bytes) -> None:
    assert kinds(line.send(junk + SNRM)) == [FrameKind.UA]  # no answer before
    aare = apdu_of(line.send(junk + i_frame(AARQ, 0, 0) + junk))
    assert isinstance(aare, A.AARE) and aare.result == 0


def test_truncated_frame_holds_the_next_until_the_inter_octet_timeout(line: Line) -> None:
    assert line.send(i_frame(AARQ, 0, 0)[:20] + SNRM) == b""
    deadline = line.stack.next_deadline()
    assert deadline is not None and deadline <= line.now + 1.0
    assert kinds(line.stack.handle_timer(deadline)) == [FrameKind.UA]  # was lost


def test_request_while_a_reply_is_pending_is_refused_with_rnr(line: Line) -> None:
    line.send(SNRM)
    line.send(i_frame(AARQ, 0, 0))
    [(first, segment)] = answer(line.send(i_frame(GET_OBJECTS, 1, 1)))
    assert first.kind is FrameKind.I and segment.segmented
    # A new request instead of RR: not taken in (N(R) stays 2), RNR.
    [(busy, _)] = answer(line.send(i_frame(GET_CLOCK, 2, 2)))
    assert (busy.kind, busy.nr) == (FrameKind.RNR, 2)
    vr, segments = 2, 1
    while True:
        [(c, _)] = answer(line.send(rr(vr)))
        if c.kind is FrameKind.RR:
            break
        assert (c.kind, c.ns, c.nr) == (FrameKind.I, vr, 2)
        vr, segments = (vr + 1) & 7, segments + 1
    assert segments > 2 and c.nr == 2
    reply = apdu_of(line.send(i_frame(GET_CLOCK, 2, vr)))  # sent again, now taken in
    assert isinstance(reply, A.GetResponseNormal)


def test_client_that_never_polls_gets_at_most_one_reply(line: Line) -> None:
    line.send(SNRM)
    line.send(i_frame(AARQ, 0, 0))
    for n in range(1, 1001):  # requests without poll, N(S) counting on, never taking a reply
        assert line.send(i_frame(GET_CLOCK, n & 7, 1, pf=False)) == b""
    replies = 0
    vr = 1
    for _ in range(8):
        for c, _f in answer(line.send(rr(vr))):
            if c.kind is FrameKind.I:
                replies, vr = replies + 1, (vr + 1) & 7
    assert replies <= 1  # the meter had queued all 1,000 replies


def test_polls_piled_up_in_one_chunk_do_not_multiply_the_reply(line: Line) -> None:
    line.send(SNRM)
    line.send(i_frame(AARQ, 0, 0))
    first = line.send(i_frame(GET_OBJECTS, 1, 1))
    out = line.send(rr(1) * 1000)  # none acknowledges the segment: each asks for it again
    assert out == first  # was 1,000 copies
