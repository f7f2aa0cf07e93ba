"""HDLC server: public exchange vectors, an in-memory client driver (segmentation both ways,
windowing), error handling (DM, FRMR), timers with injected time, and fuzzing in every state."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.errors import LocalProtocolError
from meter.link.hdlc.address import HdlcAddress
from meter.link.hdlc.connection import LLC_REQUEST, LLC_RESPONSE, HdlcConfig, HdlcServer, State
from meter.link.hdlc.events import ApduReceived, Connected, Disconnected, HdlcEvent
from meter.link.hdlc.frame import Control, FrameKind, Framer, HdlcFrame
from meter.link.hdlc.params import HdlcParameters


def H(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


SERVER = HdlcAddress(1, 17, 4)
DEFAULTS = HdlcParameters()


class Client:
    """A minimal HDLC primary station driving an HdlcServer in memory, checking every reply."""

    def __init__(self, server: HdlcServer, app: Callable[[bytes], bytes] | None = None,
                 sap: int = 16, server_address: HdlcAddress = SERVER,
                 params: HdlcParameters = DEFAULTS) -> None:
        self.server, self.app, self.params = server, app, params
        self.me, self.peer = HdlcAddress(sap), server_address
        self.now = 0.0
        self.vs = self.vr = 0
        self.events: list[HdlcEvent] = []
        self.link = HdlcParameters()
        self.sent_frames = 0

    def send(self, control: int, info: bytes = b"", segmented: bool = False) -> list[HdlcFrame]:
        return self.send_raw(HdlcFrame(self.peer, self.me, control, info, segmented).to_bytes())

    def send_raw(self, wire: bytes) -> list[HdlcFrame]:
        self.now += 0.01
        self.server.receive_data(wire, self.now)
        while (e := self.server.next_event(self.now)) is not None:
            self.events.append(e)
            if isinstance(e, ApduReceived) and self.app is not None:
                self.server.send_apdu(e.client_address, self.app(e.apdu))
        replies = Framer().feed(self.server.data_to_send())
        for r in replies:
            assert (r.destination, r.source) == (self.me, self.peer)
        return replies

    def connect(self) -> HdlcFrame:
        info = b"" if self.params == HdlcParameters() else self.params.to_bytes()
        [ua] = self.send(Control(FrameKind.SNRM, True).to_byte(), info)
        assert Control.from_byte(ua.control).kind is FrameKind.UA
        self.link = HdlcParameters.from_bytes(ua.info)
        self.vs = self.vr = 0
        return ua

    def request(self, apdu: bytes) -> bytes:
        data = LLC_REQUEST + apdu
        size, window = self.link.max_info_rx, self.link.window_rx
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        replies: list[HdlcFrame] = []
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            poll = last or (n + 1) % window == 0
            control = Control(FrameKind.I, poll, self.vs, self.vr).to_byte()
            self.vs = (self.vs + 1) & 7
            replies = self.send(control, chunk, not last)
            if poll and not last:
                [rr] = replies
                assert Control.from_byte(rr.control) == Control(FrameKind.RR, True, 0, self.vs)
            else:
                assert poll or replies == []
        response = bytearray()
        while True:
            assert replies and all(Control.from_byte(r.control).kind is FrameKind.I
                                   for r in replies)
            assert len(replies) <= self.link.window_tx
            for i, r in enumerate(replies):
                c = Control.from_byte(r.control)
                assert (c.ns, c.nr, c.pf) == (self.vr, self.vs, i == len(replies) - 1)
                assert len(r.info) <= self.link.max_info_tx
                self.vr = (self.vr + 1) & 7
                response += r.info
            if not replies[-1].segmented:
                break
            replies = self.send(Control(FrameKind.RR, True, 0, self.vr).to_byte())
        assert response[:3] == LLC_RESPONSE
        return bytes(response[3:])

    def disconnect(self) -> HdlcFrame:
        [reply] = self.send(Control(FrameKind.DISC, True).to_byte())
        return reply


def drain(server: HdlcServer, data: bytes = b"", now: float = 0.0) -> list[HdlcEvent]:
    """Every event ``data`` causes, for exchanges that answer nothing in between."""
    server.receive_data(data, now)
    return list(iter(lambda: server.next_event(now), None))


def echo(apdu: bytes) -> bytes:
    return apdu[::-1] * 3


def kinds(frames: list[HdlcFrame]) -> list[FrameKind]:
    return [Control.from_byte(f.control).kind for f in frames]


# -- public vectors (see test_hdlc_frame.py for their sources) ------------------------------

SNRM_1BYTE = H("7E A0 07 03 03 93 8C 11 7E")
UA_1BYTE = H("7E A0 1E 03 03 73 40 CC 81 80 12 05 01 80 06 01 80 07 04 00 00 00 01 08 04 00 00"
             " 00 01 53 3B 7E")
AARQ_I = H("7E A0 44 03 03 10 65 94 E6 E6 00 60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80"
           " 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 78 52 77 50 62 45 78 46 BE 10 04 0E 01 00 00"
           " 00 06 5F 1F 04 00 00 7E 1F 01 00 AF DF 7E")
AARE = H("61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E"
         " 08 00 06 5F 1F 04 00 00 18 1D 01 80 00 07")
AARE_I = H("7E A0 37 03 03 30 EF CA E6 E7 00") + AARE + H("A1 DC 7E")


def test_public_session_byte_exact() -> None:
    server = HdlcServer()
    assert drain(server, SNRM_1BYTE, 0.0) == [Connected(1, 1)]
    assert server.data_to_send() == UA_1BYTE
    [event] = drain(server, AARQ_I, 0.1)
    assert isinstance(event, ApduReceived) and event.apdu == AARQ_I[11:-3]
    server.send_apdu(1, AARE)
    assert server.data_to_send() == AARE_I


# -- full exchanges -------------------------------------------------------------------------

@pytest.mark.parametrize("window", [1, 3, 7])
@pytest.mark.parametrize("size", [1, 100, 600])
def test_exchange_segmentation_and_windows(window: int, size: int) -> None:
    config = HdlcConfig(max_info_tx=64, max_info_rx=48, window_tx=window, window_rx=window)
    server = HdlcServer(config)
    client = Client(server, echo, params=HdlcParameters(256, 256, 7, 7))
    client.connect()
    assert client.link == HdlcParameters(64, 48, window, window)
    apdu = bytes(range(256)) * 3
    for n in range(3):  # several requests so the sequence numbers wrap
        assert client.request(apdu[:size + n]) == echo(apdu[:size + n])
    assert [type(e) for e in client.events[:1]] == [Connected]
    [ua] = [client.disconnect()]
    assert kinds([ua]) == [FrameKind.UA]
    assert client.events[-1] == Disconnected(16, "DISC")
    assert server.state is State.DISCONNECTED


def test_address_forms_are_mirrored() -> None:
    for address in (HdlcAddress(1), HdlcAddress(1, 17, 2), HdlcAddress(1, 0x3FFF, 4),
                    HdlcAddress(1, 0x7F, 2)):
        client = Client(HdlcServer(), echo, server_address=address)
        client.connect()
        assert client.request(b"\xc0\x01") == echo(b"\xc0\x01")


def test_frames_for_others_are_ignored() -> None:
    server = HdlcServer(HdlcConfig(logical_addresses=(1, 2)))
    for address in (HdlcAddress(3), HdlcAddress(1, 18, 4), HdlcAddress(0x7F),
                    HdlcAddress(0x3FFF, 17, 4)):
        assert Client(server, server_address=address).send(0x93) == []
    assert Client(server, server_address=HdlcAddress(2, 17, 4)).connect()
    assert server.client_address == 16


def test_second_snrm_resets() -> None:
    client = Client(HdlcServer(), echo)
    client.connect()
    client.request(b"\x01")
    client.connect()
    assert client.events[-2:] == [Disconnected(16, "reset by SNRM"), Connected(16, 1)]
    assert client.request(b"\x02") == echo(b"\x02")


def test_dm_when_disconnected_and_busy() -> None:
    server = HdlcServer()
    client = Client(server)
    assert kinds([client.disconnect()]) == [FrameKind.DM]
    assert kinds(client.send(Control(FrameKind.I, True, 0, 0).to_byte(), LLC_REQUEST)) == [
        FrameKind.DM]
    assert kinds(client.send(Control(FrameKind.RR, True, 0, 0).to_byte())) == [FrameKind.DM]
    assert client.send(0x03, b"hello") == []  # UI ignored
    client.connect()
    other = Client(server, sap=1)
    assert kinds(other.send(0x93)) == [FrameKind.DM]
    assert server.client_address == 16


def frmr_info(frames: list[HdlcFrame]) -> bytes:
    [frame] = frames
    assert Control.from_byte(frame.control).kind is FrameKind.FRMR
    return frame.info


@pytest.mark.parametrize(("control", "info", "flags"), [
    (Control(FrameKind.I, True, 3, 0).to_byte(), LLC_REQUEST, 0x10),  # N(S) out of sequence
    (Control(FrameKind.I, True, 0, 2).to_byte(), LLC_REQUEST, 0x08),  # N(R) never sent
    (Control(FrameKind.RR, True, 0, 0).to_byte(), b"x", 0x03),  # info on RR
    (Control(FrameKind.I, True, 0, 0).to_byte(), bytes(200), 0x04),  # too long
    (Control(FrameKind.I, True, 0, 0).to_byte(), b"\x01\x02\x03", 0x01),  # no LLC header
    (0x3F, b"", 0x01),  # SABM: not implemented
    (Control(FrameKind.UA, True).to_byte(), b"", 0x01),
])
def test_frame_reject(control: int, info: bytes, flags: int) -> None:
    client = Client(HdlcServer(), echo)
    client.connect()
    assert frmr_info(client.send(control, info)) == bytes((control, 0, flags))
    # FRMR answers every poll until SNRM or DISC.
    assert frmr_info(client.send(Control(FrameKind.RR, True, 0, 0).to_byte()))[2] == flags
    assert kinds([client.disconnect()]) == [FrameKind.UA]


def test_repeated_i_frame_retransmits_answer() -> None:
    client = Client(HdlcServer(), echo)
    client.connect()
    request = Control(FrameKind.I, True, 0, 0).to_byte()
    [first] = client.send(request, LLC_REQUEST + b"\x05")
    [again] = client.send(request, LLC_REQUEST + b"\x05")  # as if `first` was lost
    assert again == first
    assert len([e for e in client.events if isinstance(e, ApduReceived)]) == 1


def test_lost_frame_in_window_is_resent() -> None:
    server = HdlcServer(HdlcConfig(max_info_tx=32, window_tx=3))
    client = Client(server, echo, params=HdlcParameters(window_rx=7))
    client.connect()
    replies = client.send(Control(FrameKind.I, True, 0, 0).to_byte(), LLC_REQUEST + bytes(40))
    assert [Control.from_byte(r.control).ns for r in replies] == [0, 1, 2]
    # The client got only the first one: RR N(R)=1 makes the server go back to 1.
    again = client.send(Control(FrameKind.RR, True, 0, 1).to_byte())
    assert again == replies[1:]


def test_rnr_holds_data() -> None:
    server = HdlcServer()
    client = Client(server, echo)
    client.connect()
    client.send(Control(FrameKind.RNR, False, 0, 0).to_byte())
    assert kinds(client.send(Control(FrameKind.I, True, 0, 0).to_byte(), LLC_REQUEST + b"1")) \
        == [FrameKind.RR]
    assert kinds(client.send(Control(FrameKind.RR, True, 0, 0).to_byte())) == [FrameKind.I]


def test_no_response_apdu_answers_rr() -> None:
    client = Client(HdlcServer())  # no application: nothing to send back
    client.connect()
    [rr] = client.send(Control(FrameKind.I, True, 0, 0).to_byte(), LLC_REQUEST + b"\x01")
    assert Control.from_byte(rr.control) == Control(FrameKind.RR, True, 0, 1)


def test_send_apdu_requires_connection() -> None:
    with pytest.raises(LocalProtocolError):
        HdlcServer().send_apdu(16, b"\x01")


# -- timers -----------------------------------------------------------------------------------

def test_inactivity_timeout() -> None:
    server = HdlcServer(HdlcConfig(inactivity_timeout=10.0))
    assert server.next_deadline() is None
    client = Client(server)
    client.connect()
    deadline = server.next_deadline()
    assert deadline is not None and deadline == pytest.approx(client.now + 10.0)
    server.handle_timer(deadline - 0.001)
    assert drain(server) == []
    server.handle_timer(deadline)
    assert drain(server) == [Disconnected(16, "inactivity timeout")]
    assert server.state is State.DISCONNECTED and server.next_deadline() is None


def test_inter_octet_timeout_discards_partial_frame() -> None:
    server = HdlcServer(HdlcConfig(inter_octet_timeout=0.5, inactivity_timeout=0))
    assert drain(server, SNRM_1BYTE[:4], 1.0) == []
    assert server.next_deadline() == 1.5
    server.handle_timer(1.5)
    assert server.next_deadline() is None
    assert drain(server, SNRM_1BYTE[4:] + SNRM_1BYTE, 2.0) == [Connected(1, 1)]


# -- fuzzing ------------------------------------------------------------------------------------

def _server_in(state: str) -> tuple[HdlcServer, Client]:
    server = HdlcServer(HdlcConfig(max_info_tx=32, window_tx=2, window_rx=2))
    client = Client(server, echo, params=HdlcParameters(window_tx=7, window_rx=7))
    if state != "ndm":
        client.connect()
    if state == "mid-rx":
        client.send(Control(FrameKind.I, False, 0, 0).to_byte(), LLC_REQUEST + b"ab", True)
    if state == "mid-tx":
        client.send(Control(FrameKind.I, True, 0, 0).to_byte(), LLC_REQUEST + bytes(100))
    if state == "frmr":
        client.send(0x3F)
    return server, client


STATES = ["ndm", "nrm", "mid-rx", "mid-tx", "frmr"]
valid_frames = st.builds(
    lambda ctl, info, seg: HdlcFrame(HdlcAddress(1, 17, 4), HdlcAddress(16), ctl, info, seg)
    .to_bytes(), st.integers(0, 255), st.binary(max_size=80), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(STATES), st.lists(st.one_of(valid_frames, st.binary(max_size=40)),
                                           max_size=6))
def test_fuzz_every_state(state: str, chunks: list[bytes]) -> None:
    server, client = _server_in(state)
    for chunk in chunks:
        client.now += 0.1
        server.receive_data(chunk, client.now)
        while (e := server.next_event(client.now)) is not None:
            if isinstance(e, ApduReceived):
                server.send_apdu(e.client_address, b"\x01")
        for reply in Framer().feed(server.data_to_send()):
            Control.from_byte(reply.control)  # the server only emits frames it can name
        server.handle_timer(client.now)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(STATES), st.integers(0, 200), st.integers(0, 255))
def test_mutated_frames_every_state(state: str, pos: int, value: int) -> None:
    server, client = _server_in(state)
    wire = bytearray(HdlcFrame(HdlcAddress(1, 17, 4), HdlcAddress(16),
                               Control(FrameKind.I, True, 0, 0).to_byte(),
                               LLC_REQUEST + b"\xc0\x01\x00").to_bytes())
    wire[pos % len(wire)] = value
    drain(server, bytes(wire), 1.0)
    server.data_to_send()


session_frames = st.one_of(
    valid_frames,
    st.builds(lambda kind, pf, ns, nr, info: HdlcFrame(
        HdlcAddress(1, 17, 4), HdlcAddress(16), Control(kind, pf, ns, nr).to_byte(),
        LLC_REQUEST + info if kind is FrameKind.I else b"").to_bytes(),
        st.sampled_from([FrameKind.I, FrameKind.I, FrameKind.RR, FrameKind.RNR, FrameKind.SNRM,
                         FrameKind.DISC]),
        st.booleans(), st.integers(0, 7), st.integers(0, 7), st.binary(max_size=40)),
)


def _run(state: str, chunks: list[bytes]) -> tuple[list[HdlcEvent], list[bytes]]:
    server, _ = _server_in(state)
    events: list[HdlcEvent] = []
    out: list[bytes] = []
    for chunk in chunks:
        server.receive_data(chunk, 1.0)
        while (e := server.next_event(1.0)) is not None:
            events.append(e)
            if isinstance(e, ApduReceived):
                server.send_apdu(e.client_address, echo(e.apdu))
        out += [f.to_bytes() for f in Framer().feed(server.data_to_send())]
    return events, out


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(STATES), st.lists(session_frames, min_size=1, max_size=8), st.data())
def test_any_split_of_frames_acts_as_one_by_one(state: str, wires: list[bytes],
                                                data: st.DataObject) -> None:
    """Frames concatenated and cut anywhere: the same events as the frames fed one at a time,
    and the same frames on the wire, each reply on the link its request came in on, except
    that an I frame is not repeated for a poll that came before the frame even left."""
    stream = b"".join(wires)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    events, sent = _run(state, chunks)
    one_by_one, sent_one_by_one = _run(state, wires)
    assert events == one_by_one
    rest, skipped = iter(sent_one_by_one), []
    for f in sent:  # the frames sent are those sent one by one, less some repeats
        for g in rest:
            if g == f:
                break
            skipped.append(g)
        else:
            raise AssertionError(f"{f.hex()} is not among the frames sent one by one")
    skipped += list(rest)
    assert all(Control.from_byte(HdlcFrame.from_bytes(f).control).kind is FrameKind.I
               for f in skipped)
