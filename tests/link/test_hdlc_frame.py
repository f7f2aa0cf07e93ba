"""HDLC frame, address and parameter codecs: public captures, round trips, framer robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.errors import DecodeError, EncodeError
from meter.link.hdlc.address import HdlcAddress
from meter.link.hdlc.frame import Control, FrameKind, Framer, HdlcFrame
from meter.link.hdlc.params import HdlcParameters, negotiate


def H(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


# SNRM to logical 1 / physical 17 (4-byte address) from client 120, and the same with a
# parameter proposal: decoded line by line in a public C HDLC implementation's comments
# ("SNRM (CONNECTION) EXAMPLE WITHOUT ANY PARAMETER NEGOCIATION").
SNRM_4BYTE = H("7EA00A00020023F193232E7E")
SNRM_4BYTE_PARAMS = H("7EA0210002002321931964818012050180060180070400000001080400000007655E7E")
# A session with 1-byte addresses (client 1, server 1) from a public meter troubleshooting log:
# SNRM, UA with the default parameters, AARQ in I(0,0), AARE in I(0,1).
SNRM_1BYTE = H("7E A0 07 03 03 93 8C 11 7E")
UA_1BYTE = H("7E A0 1E 03 03 73 40 CC 81 80 12 05 01 80 06 01 80 07 04 00 00 00 01 08 04 00 00"
             " 00 01 53 3B 7E")
# The same meter's UA after an SNRM proposing 128/128 on two bytes (public firmware sources).
SNRM_PARAMS_2BYTE = H("7E A0 20 03 03 93 FE C9 81 80 14 05 02 00 80 06 02 00 80 07 04 00 00 00"
                      " 01 08 04 00 00 00 01 CE 6A 7E")
AARQ_I = H("7E A0 44 03 03 10 65 94 E6 E6 00 60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80"
           " 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 78 52 77 50 62 45 78 46 BE 10 04 0E 01 00 00"
           " 00 06 5F 1F 04 00 00 7E 1F 01 00 AF DF 7E")
AARE_I = H("7E A0 37 03 03 30 EF CA E6 E7 00 61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01"
           " 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 18 1D 01 80 00 07 A1 DC"
           " 7E")
# RR frames client 16 -> server 1, N(R) = 1 and 3, from a public Gurux-based test trace.
RR_NR1 = H("7E A0 07 03 21 31 17 87 7E")
RR_NR3 = H("7E A0 07 03 21 71 13 C5 7E")
# DISC to server 1 from client 32 (public Android meter-reading app), and a DM from a 2-byte
# server address 1/50 to client 16 (public Qt HDLC tool comments).
DISC = H("7E A0 07 03 41 53 56 A2 7E")
DM_2BYTE = H("7E A0 08 21 02 65 1F A6 F8 7E")

VECTORS = [
    (SNRM_4BYTE, HdlcAddress(1, 17, 4), HdlcAddress(120), FrameKind.SNRM),
    (SNRM_4BYTE_PARAMS, HdlcAddress(1, 17, 4), HdlcAddress(16), FrameKind.SNRM),
    (SNRM_1BYTE, HdlcAddress(1), HdlcAddress(1), FrameKind.SNRM),
    (UA_1BYTE, HdlcAddress(1), HdlcAddress(1), FrameKind.UA),
    (SNRM_PARAMS_2BYTE, HdlcAddress(1), HdlcAddress(1), FrameKind.SNRM),
    (AARQ_I, HdlcAddress(1), HdlcAddress(1), FrameKind.I),
    (AARE_I, HdlcAddress(1), HdlcAddress(1), FrameKind.I),
    (RR_NR1, HdlcAddress(1), HdlcAddress(16), FrameKind.RR),
    (RR_NR3, HdlcAddress(1), HdlcAddress(16), FrameKind.RR),
    (DISC, HdlcAddress(1), HdlcAddress(32), FrameKind.DISC),
    (DM_2BYTE, HdlcAddress(16), HdlcAddress(1, 50, 2), FrameKind.DM),
]


@pytest.mark.parametrize(("wire", "dst", "src", "kind"), VECTORS)
def test_public_vectors(wire: bytes, dst: HdlcAddress, src: HdlcAddress, kind: FrameKind) -> None:
    frame = HdlcFrame.from_bytes(wire)
    assert (frame.destination, frame.source) == (dst, src)
    assert Control.from_byte(frame.control).kind is kind
    assert frame.to_bytes() == wire


def test_vector_fields() -> None:
    i = Control.from_byte(HdlcFrame.from_bytes(AARE_I).control)
    assert (i.ns, i.nr, i.pf) == (0, 1, True)
    assert Control.from_byte(HdlcFrame.from_bytes(RR_NR3).control).nr == 3
    assert HdlcFrame.from_bytes(AARQ_I).info[:3] == H("E6E600")
    ua = HdlcParameters.from_bytes(HdlcFrame.from_bytes(UA_1BYTE).info)
    assert ua == HdlcParameters(128, 128, 1, 1)
    proposal = HdlcParameters.from_bytes(HdlcFrame.from_bytes(SNRM_4BYTE_PARAMS).info)
    assert proposal == HdlcParameters(128, 128, 1, 7)


def test_ua_answer_to_two_byte_proposal_is_byte_exact() -> None:
    proposal = HdlcParameters.from_bytes(HdlcFrame.from_bytes(SNRM_PARAMS_2BYTE).info)
    assert negotiate(HdlcParameters(), proposal).to_bytes() == HdlcFrame.from_bytes(UA_1BYTE).info


def test_negotiation_swaps_directions() -> None:
    own = HdlcParameters(max_info_tx=1000, max_info_rx=500, window_tx=7, window_rx=3)
    client = HdlcParameters(max_info_tx=256, max_info_rx=2000, window_tx=7, window_rx=2)
    assert negotiate(own, client) == HdlcParameters(1000, 256, 2, 3)


def test_params_errors_and_unknown() -> None:
    assert HdlcParameters.from_bytes(b"") == HdlcParameters()
    assert HdlcParameters.from_bytes(H("818006 0901FF 050140")) == HdlcParameters(64)
    for bad in ("818003050100", "828000", "81800305030000", "818004050100"):
        with pytest.raises(DecodeError):
            HdlcParameters.from_bytes(H(bad))
    assert HdlcParameters(max_info_tx=2030).to_bytes()[3:7] == H("050207EE")


def test_controls() -> None:
    assert Control(FrameKind.I, True, 3, 5).to_byte() == 0xB6
    assert Control(FrameKind.RNR, True, 0, 2).to_byte() == 0x55
    assert Control(FrameKind.FRMR, True).to_byte() == 0x97
    assert Control.from_byte(0x13) == Control(FrameKind.UI, True)
    for bad in (0x09, 0x0D, 0x2F, 0xE3):  # REJ, SREJ, SABM, XID
        with pytest.raises(DecodeError):
            Control.from_byte(bad)


def test_address_forms() -> None:
    assert HdlcAddress(0x3FFF, 0x3FFF, 4).to_bytes() == H("FEFEFEFF")
    assert HdlcAddress(1, 17, 2).to_bytes() == H("0223")
    for args in ((0x80,), (1, 0x80, 2), (1, None, 4), (1, 1, 3), (0x4000, 1, 4)):
        with pytest.raises(EncodeError):
            HdlcAddress(*args)
    with pytest.raises(DecodeError):  # three-byte address
        HdlcFrame.from_bytes(HdlcFrame(HdlcAddress(1), HdlcAddress(1), 0x93).to_bytes()
                             .replace(H("A00703"), H("A009020203")))


def test_frame_errors() -> None:
    good = bytearray(AARQ_I)
    for pos in (5, 7, 20, len(good) - 2):  # control, HCS, info, FCS
        bad = bytearray(good)
        bad[pos] ^= 0x01
        with pytest.raises(DecodeError):
            HdlcFrame.from_bytes(bytes(bad))
    with pytest.raises(DecodeError):
        HdlcFrame.from_bytes(H("7EA0070303938C11"))
    with pytest.raises(EncodeError):
        HdlcFrame(HdlcAddress(1), HdlcAddress(1), 0x10, bytes(2040)).to_bytes()


def test_framer_stream() -> None:
    stream = b"\x00garbage~~" + SNRM_1BYTE + AARQ_I[:-1] + AARE_I + b"\x7e\x7e\x01" + RR_NR1
    framer = Framer()
    got = [f for i in range(0, len(stream), 7) for f in framer.feed(stream[i:i + 7])]
    assert [f.to_bytes() for f in got] == [SNRM_1BYTE, AARQ_I, AARE_I, RR_NR1]
    assert not framer.pending()


def test_framer_drops_bad_frames() -> None:
    bad = bytearray(AARE_I)
    bad[30] ^= 0xFF
    assert [f.to_bytes() for f in Framer().feed(bytes(bad) + UA_1BYTE)] == [UA_1BYTE]
    framer = Framer()
    assert framer.feed(AARQ_I[:20]) == []
    assert framer.pending()


addresses = st.one_of(
    st.builds(HdlcAddress, st.integers(0, 0x7F)),
    st.builds(HdlcAddress, st.integers(0, 0x7F), st.integers(0, 0x7F), st.just(2)),
    st.builds(HdlcAddress, st.integers(0, 0x3FFF), st.integers(0, 0x3FFF), st.just(4)),
)
frames = st.builds(HdlcFrame, addresses, addresses, st.integers(0, 0xFF),
                   st.one_of(st.just(b""), st.binary(min_size=1, max_size=2030)), st.booleans())


@settings(max_examples=150)
@given(frames)
def test_frame_round_trip(frame: HdlcFrame) -> None:
    try:
        wire = frame.to_bytes()
    except EncodeError:
        assert len(frame.info) > 2020  # only oversize frames cannot be encoded
        return
    assert HdlcFrame.from_bytes(wire) == frame
    assert Framer().feed(wire) == [frame]


@settings(max_examples=100)
@given(st.lists(frames, max_size=4), st.binary(max_size=20), st.integers(1, 300))
def test_framer_chunks_and_garbage(items: list[HdlcFrame], garbage: bytes, chunk: int) -> None:
    items = [f for f in items if len(f.info) <= 2020]
    garbage = garbage.replace(b"\x7e", b"")  # a flag in garbage may legitimately eat a frame
    stream = garbage + b"".join(f.to_bytes() for f in items)
    framer = Framer()
    got = [f for i in range(0, len(stream), chunk) for f in framer.feed(stream[i:i + chunk])]
    assert got == items


@settings(max_examples=150)
@given(st.binary(max_size=300))
def test_random_bytes_only_decode_error(data: bytes) -> None:
    try:
        HdlcFrame.from_bytes(data)
    except DecodeError:
        pass
    try:
        HdlcParameters.from_bytes(data)
    except DecodeError:
        pass
    Framer().feed(data)


@settings(max_examples=150)
@given(st.sampled_from([v[0] for v in VECTORS]), st.integers(0, 200), st.integers(0, 255))
def test_mutated_frames(wire: bytes, pos: int, value: int) -> None:
    mutated = bytearray(wire)
    mutated[pos % len(wire)] = value
    for f in Framer().feed(bytes(mutated)):
        assert f.to_bytes() == bytes(mutated) or f.to_bytes() == wire


# -- frame boundaries (issue 7 item 11) ---------------------------------------------------------

@pytest.mark.parametrize("junk", [
    H("7E A0 FF 00 01"),  # a false start claiming 255 bytes
    H("7E A0 44 03 03 10 00 00 E6"),  # a plausible header whose HCS does not check
    H("7E A0 07 03"),  # a no-information frame cut short
    b"\x7e\xa0\xffgarbage\x7e\x7e",
])
def test_false_start_does_not_hold_good_frames(junk: bytes) -> None:
    framer = Framer()
    got = framer.feed(SNRM_1BYTE + junk + AARQ_I + junk + RR_NR1)
    assert [f.to_bytes() for f in got] == [SNRM_1BYTE, AARQ_I, RR_NR1]


def test_expire_releases_frames_behind_a_truncated_frame() -> None:
    framer = Framer()
    assert framer.feed(AARQ_I[:20] + SNRM_1BYTE + AARE_I[:30]) == []  # header of AARQ checks
    assert framer.pending()
    assert [f.to_bytes() for f in framer.expire()] == [SNRM_1BYTE]
    assert not framer.pending()
    assert [f.to_bytes() for f in framer.feed(RR_NR1)] == [RR_NR1]


small_frames = frames.filter(lambda f: len(f.info) <= 2020).map(HdlcFrame.to_bytes)


@settings(max_examples=200, deadline=None)
@given(st.lists(small_frames, min_size=1, max_size=4), st.data())
def test_any_split_gives_the_frames_one_by_one(wires: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(wires)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = Framer()
    got = [f for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)
           for f in framer.feed(stream[a:b])]
    assert [f.to_bytes() for f in got] == wires
    assert not framer.pending()


def no_frame(data: bytes) -> bool:
    """Junk contains no frame, even between the flags of the frames around it."""
    framer = Framer()
    return not framer.feed(b"\x7e" + data + b"\x7e") and not framer.expire()


# Junk: random bytes, false starts, frames cut short (whose header checks).
junk = st.one_of(
    st.binary(max_size=30),
    st.binary(max_size=8).map(lambda b: b"\x7e\xa0" + b),
    st.builds(lambda w, n: w[:min(n, len(w) - 1)], small_frames, st.integers(1, 60)),
).filter(no_frame)


@settings(max_examples=300, deadline=None)
@given(st.lists(small_frames, min_size=1, max_size=4), st.lists(junk, min_size=5, max_size=5),
       st.integers(1, 64))
def test_junk_never_loses_a_frame(wires: list[bytes], junks: list[bytes], chunk: int) -> None:
    """Junk before, between and after frames: every frame comes out, in order; what a frame
    cut short held back comes out at the latest when the inter-octet timeout expires it."""
    stream = junks[0] + b"".join(w + j for w, j in zip(wires, junks[1:], strict=False))
    framer = Framer()
    got = [f for i in range(0, len(stream), chunk) for f in framer.feed(stream[i:i + chunk])]
    got += framer.expire()
    assert [f.to_bytes() for f in got] == wires


@settings(max_examples=200, deadline=None)
@given(st.lists(small_frames, min_size=1, max_size=4),
       st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\x7e", b"")).filter(no_frame),
                min_size=5, max_size=5), st.integers(1, 64))
def test_junk_without_flags_holds_nothing_back(wires: list[bytes], junks: list[bytes],
                                               chunk: int) -> None:
    stream = junks[0] + b"".join(w + j for w, j in zip(wires, junks[1:], strict=False))
    framer = Framer()
    got = [f for i in range(0, len(stream), chunk) for f in framer.feed(stream[i:i + chunk])]
    assert [f.to_bytes() for f in got] == wires
