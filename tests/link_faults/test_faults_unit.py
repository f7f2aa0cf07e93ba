"""LinkFaults and FaultyLink without sockets: settings checked and bounded, decisions reproducible
from the seed, frames cut out of the stream whole (hypothesis: any chunking, garbage never
crashes), block numbers read from plain GET-with-blocks replies only, a line's held bytes
bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.link.framing import Framing
from meter.link.hdlc.address import HdlcAddress
from meter.link.hdlc.connection import LLC_RESPONSE
from meter.link.hdlc.frame import Control, FrameKind, HdlcFrame
from meter.link.wrapper import WrapperPdu
from meter.transport.faults import COUNTERS, FaultyLink, LinkFaults, parse_faults

LOOP = asyncio.new_event_loop()  # not run: only asked for its time and handed timers


@pytest.fixture(autouse=True, scope="module")
def _loop() -> Iterator[None]:
    yield
    LOOP.close()


def _link(faults: LinkFaults, framing: Framing = Framing.WRAPPER,
          max_held: int = 1 << 16) -> tuple[FaultyLink, list[bytes], list[bytes]]:
    written: list[bytes] = []
    fed: list[bytes] = []
    link = FaultyLink(faults, LOOP, framing, written.append, max_held)
    link.feed = fed.append
    return link, written, fed


def _wrapper(payload: bytes) -> bytes:
    return WrapperPdu(1, 16, payload).to_bytes()


def _hdlc(info: bytes, ns: int = 0) -> bytes:
    control = Control(FrameKind.I, True, ns, 0).to_byte()
    return HdlcFrame(HdlcAddress(16), HdlcAddress(1, 17, 4), control, info).to_bytes()


def _block(number: int, last: bool = False) -> bytes:
    """GET-Response-With-Datablock: tag, choice, invoke-id, last-block, block-number, raw."""
    return b"\xc4\x02\xc1" + bytes((last,)) + number.to_bytes(4, "big") + b"\x00\x04\x09\x02ab"


# --- settings ----------------------------------------------------------------------------------

def test_spec_is_parsed_and_checked() -> None:
    assert parse_faults("delay=0.2, jitter=0.1,drop=0.05,seed=7,cut-block=3") == {
        "delay": 0.2, "jitter": 0.1, "drop": 0.05, "seed": 7, "cut_block": 3}
    assert parse_faults("") == {}
    for bad in ("delay", "delay=x", "drop=1.5", "delay=61", "delay=-1", "drop_every=2.5",
                "teleport=1", "delay=nan", "refuse_every=-3"):
        with pytest.raises(ValueError):
            parse_faults(bad)


def test_a_bad_update_changes_nothing_and_a_snapshot_is_plain_data() -> None:
    faults = LinkFaults(delay=0.5)
    with pytest.raises(ValueError):
        faults.update(delay=1.0, drop=2.0)
    with pytest.raises(ValueError):
        faults.update(drop=True)
    snapshot = faults.snapshot()
    assert snapshot["settings"]["delay"] == 0.5
    assert set(snapshot["counters"]) == set(COUNTERS)
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert faults.active and not faults.incoming
    assert not faults.update(delay=0.0)["settings"]["delay"]
    assert not faults.active


def _drop_pattern(seed: int) -> list[int]:
    link, written, _ = _link(LinkFaults(drop=0.5, seed=seed))
    for i in range(64):
        link.send(_wrapper(bytes((0xC4, 0x01, i))))
    return [pdu[10] for pdu in written]


def test_the_seed_makes_runs_reproducible() -> None:
    assert _drop_pattern(7) == _drop_pattern(7)
    assert _drop_pattern(7) != _drop_pattern(8)
    assert 16 < len(_drop_pattern(7)) < 48


def test_every_nth_counts_from_when_it_is_set() -> None:
    faults = LinkFaults()
    link, written, _ = _link(faults)
    link.send(_wrapper(b"\xc4\x01\x00"))
    faults.update(drop_every=3)
    for i in range(1, 10):
        link.send(_wrapper(bytes((0xC4, 0x01, i))))
    assert [pdu[10] for pdu in written] == [0, 1, 2, 4, 5, 7, 8]
    assert faults.counters["dropped"] == 3
    assert faults.counters["replies"] == 9


def test_pipelined_replies_in_one_write_are_separate_replies() -> None:
    faults = LinkFaults(drop_every=2)
    link, written, _ = _link(faults)
    link.send(b"".join(_wrapper(bytes((0xC4, 0x01, i))) for i in range(4)))
    assert [pdu[10] for pdu in written] == [0, 2]


def test_corruption_stays_inside_the_frame() -> None:
    faults = LinkFaults(corrupt=1.0)
    for framing, frame in ((Framing.WRAPPER, _wrapper(b"\xc4\x01\xc1\x00\x09\x02ab")),
                           (Framing.HDLC, _hdlc(LLC_RESPONSE + b"\xc4\x01\xc1\x00\x09\x02ab"))):
        link, written, _ = _link(faults, framing)
        for _ in range(50):
            link.send(frame)
        for out in written:
            changed = [i for i, (a, b) in enumerate(zip(out, frame, strict=True)) if a != b]
            assert len(changed) == 1
            if framing == Framing.WRAPPER:
                assert changed[0] >= 8  # the header (and so the stream's framing) intact
            else:
                assert 0 < changed[0] < len(frame) - 1 and 0x7E not in out[1:-1]


# --- block numbers and the cut ----------------------------------------------------------------

def test_the_cut_follows_block_k_of_a_plain_get_with_blocks_only() -> None:
    for framing, wrap in ((Framing.WRAPPER, _wrapper),
                          (Framing.HDLC, lambda apdu: _hdlc(LLC_RESPONSE + apdu))):
        faults = LinkFaults(cut_block=3)
        cuts: list[bool] = []
        link, written, _ = _link(faults, framing)
        link.on_cut = lambda: cuts.append(True)
        link.send(wrap(b"\xcc\x10" + bytes(16)))  # a ciphered reply: no block number seen
        link.send(wrap(_block(1)))
        link.send(wrap(_block(2)))
        assert not link.closed
        link.send(wrap(_block(3)))
        assert link.closed and faults.counters["cuts"] == 1
        link.send(wrap(_block(4)))  # after the cut nothing more leaves
        assert len(written) == 4
        LOOP.run_until_complete(asyncio.sleep(0))
        assert cuts == [True]
        assert faults.settings.cut_times == 0 and not faults.active


def test_a_last_block_is_never_cut() -> None:
    faults = LinkFaults(cut_block=1)
    link, _, _ = _link(faults)
    link.send(_wrapper(_block(1, last=True)))
    assert not link.closed and faults.counters["cuts"] == 0


# --- the received stream -------------------------------------------------------------------------

_FRAMES = {
    Framing.WRAPPER: st.lists(st.binary(max_size=40).map(_wrapper), max_size=6),
    Framing.HDLC: st.lists(st.binary(max_size=40).map(lambda b: _hdlc(LLC_RESPONSE + b)),
                           max_size=6),
}


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([Framing.WRAPPER, Framing.HDLC]), st.data(),
       st.lists(st.integers(0, 10_000), max_size=8))
def test_splitting_into_frames_loses_and_adds_nothing(framing: Framing, data: st.DataObject,
                                                      cuts: list[int]) -> None:
    frames = data.draw(_FRAMES[framing])
    stream = b"".join(frames)
    # On, but striking beyond this test: the stream goes through the splitter.
    link, _, fed = _link(LinkFaults(drop_in_every=10**9), framing)
    for chunk in _chunks(stream, cuts):
        link.receive(chunk)
    assert b"".join(fed) == stream


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([Framing.WRAPPER, Framing.HDLC]),
       st.lists(st.binary(max_size=300), max_size=10), st.integers(0, 2**32))
def test_garbage_with_every_fault_on_never_crashes(framing: Framing, chunks: list[bytes],
                                                   seed: int) -> None:
    faults = LinkFaults(drop=0.2, drop_in=0.2, duplicate=0.2, corrupt=0.3, corrupt_in=0.3,
                        cut_block=1, seed=seed)
    link, written, fed = _link(faults, framing)
    for chunk in chunks:
        link.receive(chunk)
        link.send(chunk)
    assert sum(map(len, fed)) <= sum(map(len, chunks))
    assert sum(map(len, written)) <= 2 * sum(map(len, chunks))


def test_a_line_holds_at_most_max_held_bytes_of_delayed_replies() -> None:
    faults = LinkFaults(delay=10.0)
    link, written, _ = _link(faults, max_held=100)
    for _ in range(10):
        link.send(_wrapper(bytes(22)))  # 30 bytes each
    assert not written and link.held == 90
    assert faults.counters["overflow"] == 7 and faults.counters["delayed"] == 3
    link.close()
    assert link.held == 0


def test_a_flag_shared_between_two_hdlc_frames_opens_the_second() -> None:
    first, second = _hdlc(LLC_RESPONSE + b"one"), _hdlc(LLC_RESPONSE + b"two", ns=1)
    link, _, fed = _link(LinkFaults(drop_in_every=2), Framing.HDLC)
    link.receive(first + second[1:])  # one flag between them
    assert fed == [first]
    link, _, fed = _link(LinkFaults(drop_in_every=3), Framing.HDLC)
    link.receive(first + second[1:])
    assert b"".join(fed) == first + second  # each frame whole, with both its flags
