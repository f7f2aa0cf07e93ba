"""Corrupted and lost HDLC frames, answered per the standard, with gurux-dlms as shipped.

What the standard says (ISO/IEC 13239 4.4 and 5.6, taken up by IEC 62056-46 / Green Book 8.4):
a station that receives a frame whose FCS (or, in the DLMS frame format, HCS) does not check
discards the frame whole, without any response and without looking at its control field, so
its state variables do not change. Recovery is the primary station's (the client's): when its
poll gets no valid answer within its response timeout, it repeats the frame. A secondary that
receives the repeat of the last I frame it accepted (its N(S) one below V(R)) does not take the
data again but answers the poll by sending its unacknowledged I frames again.

So: a corrupted request gets no answer and its repeat is served; a corrupted reply is thrown
away by the client, and the client's repeat of its request makes the meter send the same reply
frame again. The meter's side of both is checked here on the wire; gurux-dlms 1.0.203 gets the
second one wrong on its side (pinned below).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
import serial
from support.gurux_hdlc import GuruxHdlc

from .conftest import Served

pytestmark = pytest.mark.interop

LDN = "0.0.42.0.0.255"
NAME = b"ACE0000000000001"  # the default profile's logical device name
SILENCE = 0.5  # s: the client's response timeout here (the meter answers in milliseconds)


class Link:
    """gurux-dlms as an HDLC client on a byte pipe, with the raw frames at hand."""

    def __init__(self, send: Callable[[bytes], object], recv: Callable[[], bytes],
                 quiet: Callable[[], bool]) -> None:
        self.gurux = GuruxHdlc(send, recv)  # type: ignore[arg-type]
        self.send = send
        self.recv = recv
        self.quiet = quiet

    def get_request(self) -> bytes:
        from gurux_dlms.objects import GXDLMSData

        [request] = self.gurux.client.read(GXDLMSData(LDN), 2)
        return bytes(request)

    def name(self, request: bytes) -> bytes:
        """Send ``request`` (again) and parse the reply with gurux."""
        reply = self.gurux.exchange(request)
        return bytes(reply.value)


@pytest.fixture
def tcp_link(meter: Served) -> Iterator[tuple[Link, socket.socket]]:
    sock = socket.create_connection((meter.hdlc.host, meter.hdlc.port), timeout=5)

    def quiet() -> bool:
        sock.settimeout(SILENCE)
        try:
            sock.recv(1)
        except TimeoutError:
            return True
        finally:
            sock.settimeout(5)
        return False

    link = Link(sock.sendall, lambda: sock.recv(4096), quiet)
    link.gurux.connect()
    meter.call(meter.service.faults.reset_counters)
    yield link, sock
    sock.close()


@pytest.mark.parametrize("seed", range(5))  # five different bytes of the request corrupted
def test_a_corrupted_request_gets_no_answer_and_its_repeat_is_served(
        meter: Served, tcp_link: tuple[Link, socket.socket], seed: int) -> None:
    link, _ = tcp_link
    request = link.get_request()
    meter.faults(corrupt_in_every=1, seed=seed)
    link.send(request)
    assert link.quiet()  # discarded without a response
    meter.faults(corrupt_in_every=0)
    assert link.name(request) == NAME  # the client's repeat after its timeout
    counters = meter.counters()
    assert counters["corrupted_in"] == 1
    assert counters["received"] == 1  # counted while the fault was on


def _frame(sock: socket.socket) -> bytes:
    """One HDLC frame read by its length field (no byte stuffing in IEC 62056-46)."""
    head = b""
    while len(head) < 3:
        head += sock.recv(3 - len(head))
    length = (head[1] & 0x07) << 8 | head[2]
    body = b""
    while len(body) < length - 1:
        body += sock.recv(length - 1 - len(body))
    return head + body


def test_a_corrupted_reply_fails_the_fcs_check_and_the_repeat_gets_the_same_frame(
        meter: Served, tcp_link: tuple[Link, socket.socket]) -> None:
    from dlms_cosem.hdlc.exceptions import HdlcParsingError
    from dlms_cosem.hdlc.frames import InformationFrame
    from gurux_dlms import GXByteBuffer, GXReplyData

    link, sock = tcp_link
    request = link.get_request()
    meter.faults(corrupt_every=1, seed=0)  # seed 0: a byte of the information field
    sock.sendall(request)
    bad = _frame(sock)
    meter.faults(corrupt_every=0)
    # Both client stacks throw the corrupted frame away.
    with pytest.raises(HdlcParsingError):
        InformationFrame.from_bytes(bad)
    reply, notify, buffer = GXReplyData(), GXReplyData(), GXByteBuffer()
    buffer.set(bad)
    with pytest.raises(Exception, match="Wrong CRC"):
        link.gurux.client.getData(buffer, reply, notify)
    # The client repeats its request; the meter sends the same I frame again, intact.
    sock.sendall(request)
    good = _frame(sock)
    assert sum(a != b for a, b in zip(bad, good, strict=True)) == 1
    frame = InformationFrame.from_bytes(good)
    assert frame.payload[3:5] == b"\xc4\x01"  # LLC, then GET-Response-Normal
    assert NAME in frame.payload
    assert meter.counters()["corrupted"] == 1
    # Pinned gurux-dlms 1.0.203 bug: GXDLMS.getHdlcData runs settings.checkFrame (which moves
    # its expected N(S) on) before it checks the FCS, so the discarded frame still advanced
    # its receive counter and it now rejects the meter's correct repeat ("Invalid HDLC Frame:
    # 0x.. Expected: 0x..") and waits for more. ISO/IEC 13239 discards such a frame whole.
    reply, notify, buffer = GXReplyData(), GXReplyData(), GXByteBuffer()
    buffer.set(good)
    assert link.gurux.client.getData(buffer, reply, notify) is False
    assert reply.value is None


def _line_link(port: serial.Serial) -> Link:
    """gurux on a tty; a read that times out (the port's timeout) is the client's timeout."""

    def recv() -> bytes:
        chunk = port.read(max(1, port.in_waiting))
        if not chunk:
            raise TimeoutError("no reply")
        return bytes(chunk)

    return Link(port.write, recv, lambda: False)


def test_a_lost_reply_on_the_serial_line_is_sent_again_on_the_repeat(meter: Served) -> None:
    with serial.Serial(meter.serial, 9600, timeout=SILENCE) as port:
        link = _line_link(port)
        link.gurux.connect()
        request = link.get_request()
        meter.faults(drop_every=1)
        with pytest.raises(TimeoutError):
            link.name(request)
        meter.faults(drop_every=0)
        assert link.name(request) == NAME  # gurux repeats after its timeout: served
        assert meter.counters()["dropped"] == 1
        link.gurux.disconnect()


def _object_list(link: Link) -> int:
    """The whole object list (a GET with blocks at a small client max PDU); its entry count."""
    from gurux_dlms import GXByteBuffer, GXReplyData

    client = link.gurux.client
    reply, notify = GXReplyData(), GXReplyData()
    frame: bytes | bytearray = client.getObjectsRequest()  # one frame, not a list
    while True:
        link.send(bytes(frame))
        buffer = GXByteBuffer()
        while not client.getData(buffer, reply, notify):
            buffer.set(link.recv())
        if not reply.isMoreData():
            break
        frame = client.receiverReady(reply)
    return len(client.parseObjects(reply.data, True))


def _sign_on(probe: serial.Serial) -> Link:
    """Mode E at 300 baud (the rate offered is taken; a pty has none to change), then HDLC."""
    probe.write(b"/?!\r\n")
    ident = probe.read_until(b"\r\n")
    assert ident.startswith(b"/")
    probe.write(b"\x062" + ident[4:5] + b"2\r\n")
    link = _line_link(probe)
    link.gurux.client.maxReceivePDUSize = 64  # the public object list then takes ~5 blocks
    link.gurux.connect()
    return link


def test_a_cut_on_the_optical_port_hangs_up_and_the_next_sign_on_is_served(
        meter: Served) -> None:
    with serial.Serial(meter.optical, 300, timeout=2 * SILENCE) as probe:
        link = _sign_on(probe)
        entries = _object_list(link)
        assert entries >= 10
        link.gurux.disconnect()  # DISC: the port goes back to the sign-on
        meter.faults(cut_block=2)
        with pytest.raises(TimeoutError):
            _object_list(_sign_on(probe))  # block 2 came, then the meter hung up
        assert meter.counters()["cuts"] == 1
        assert _object_list(_sign_on(probe)) == entries  # a new sign-on, read whole
