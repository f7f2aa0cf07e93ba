"""IEC local port setup (class 19) alone and as the mode E opening reads it; local-port pushes
decided in process (an HDLC UI frame for the line port_reference names) and sent by the edge
(meter/transport/push.py: a busy or missing line fails the attempt)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.meter import Meter
from support.process import profile_with

from meter import apdu as A
from meter.codec.axdr import Enum, Integer, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.local_port_setup import IecLocalPortSetup
from meter.cosem.names import LOCAL_PORT_SETUP
from meter.cosem.push_setup import PushSetup
from meter.cosem.registry import ObjectDirectory
from meter.device.port_setups import opening_factory
from meter.device.pushes import PushWork
from meter.errors import AccessError, DataAccessResult
from meter.link.hdlc.connection import LLC_RESPONSE
from meter.link.hdlc.frame import HdlcFrame
from meter.link.iec62056_21 import ModeEOpening
from meter.transport.push import PushSender

PUSH = Obis.parse("0.6.25.9.0.255")
HDLC_SETUP = Obis.parse("0.0.22.0.0.255")


def objects() -> tuple[IecLocalPortSetup, IecHdlcSetup, Context]:
    local, hdlc = IecLocalPortSetup(LOCAL_PORT_SETUP), IecHdlcSetup(HDLC_SETUP)
    return local, hdlc, Context(ObjectDirectory([local, hdlc]), None, lambda _e: None, lambda _o: None)


def identification(opening: ModeEOpening, request: bytes = b"/?!\r\n") -> bytes:
    opening.receive_data(request, 0.0)
    return opening.data_to_send()


def test_the_local_port_setup_rules_over_comm_speed() -> None:
    local, hdlc, ctx = objects()
    hdlc.set(2, Enum(6), ctx)  # 19200 on the HDLC setup: not what the sign-on offers
    openings = opening_factory("ACE", lambda: [hdlc, local])
    assert identification(openings()) == b"/ACE5\\2ACESM\r\n"  # prop_baud 5: 9600
    local.set(4, Enum(2), ctx)
    local.set(3, Enum(1), ctx)
    local.set(5, Enum(1), ctx)
    opening = openings()
    assert identification(opening) == b"/ACE2\\2ACESM\r\n"  # the next opening: 1200
    assert (opening.sign_on_baud, opening.reaction_time) == (600, 0.2)
    # Without a local port setup, comm_speed rules as before.
    assert identification(opening_factory("ACE", lambda: [hdlc])())[:5] == b"/ACE6"


def test_device_addr_picks_the_requests_answered() -> None:
    local, _, ctx = objects()
    local.set(6, OctetString(b"ACE0001"), ctx)
    openings = opening_factory("ACE", lambda: [local])
    assert identification(openings(), b"/?ACE0002!\r\n") == b""
    assert identification(openings(), b"/?ACE0001!\r\n")[:5] == b"/ACE5"
    assert identification(openings(), b"/?!\r\n")[:5] == b"/ACE5"  # any meter on the probe


@pytest.mark.parametrize(("index", "value"), [
    (2, Enum(3)), (3, Enum(10)), (4, Enum(255)), (5, Enum(2)),
    (6, OctetString(b"a/b")), (6, OctetString(b"x" * 33)), (6, OctetString(b"\x80")),
    (6, OctetString(b"ab\r\n")), (7, OctetString(b"p" * 33)), (9, OctetString(b"w" * 40)),
])
def test_bad_values_are_refused(index: int, value: Enum | OctetString) -> None:
    local, _, ctx = objects()
    before = local.get(index, ctx)
    with pytest.raises(AccessError) as exc:
        local.set(index, value, ctx)
    assert exc.value.result == DataAccessResult.OTHER_REASON
    assert local.get(index, ctx) == before


def test_wrong_types_are_type_unmatched() -> None:
    local, _, ctx = objects()
    with pytest.raises(AccessError) as exc:
        local.set(4, Integer(3), ctx)
    assert exc.value.result == DataAccessResult.TYPE_UNMATCHED


# --- local-port pushes --------------------------------------------------------------------------

def push_profile(tmp: Path, port: str) -> Path:
    return profile_with(tmp, f'''
[[object]]
obis = "{PUSH}"
class = "push_setup"
destination = "102"
port_reference = "{port}"
number_of_retries = 1
repetition_delay = [5, 100, 0]
''')


@pytest.mark.parametrize(("port", "line"), [("0.0.20.0.0.255", "optical"), ("0.0.22.0.0.255", "serial")])
def test_a_local_port_push_is_a_ui_frame_for_its_line(tmp_path: Path, port: str, line: str) -> None:
    meter = Meter(tmp_path / "state", push_profile(tmp_path, port))
    try:
        device, now = meter.device, meter.timebase.now()
        device.push_work(now)  # the installation push (no destination in acesm: none)
        client = meter.management()
        client.action(40, PUSH, 1, Integer(0))
        client.release()
        (work,) = device.push_work(now)
        assert (work.setup, work.line, work.port, work.host) == (PUSH, line, 102, "")
        frame = HdlcFrame.from_bytes(work.data)
        assert frame.control == 0x13  # UI, P/F set
        assert frame.destination.upper == 102 and frame.destination.size == 1
        assert (frame.source.upper, frame.source.lower) == (1, 17)  # logical 1, [hdlc] physical
        assert frame.info.startswith(LLC_RESPONSE)
        note = A.decode_apdu(frame.info[3:])
        assert isinstance(note, A.DataNotification)
        assert note.body.items[0] == OctetString(PUSH.to_bytes())
        # A failed attempt is retried after repetition_delay, then given up.
        device.push_done(work.job, False, "busy", now)
        assert device.pushes.next_due() == pytest.approx(now + 5)
        assert device.push_work(now + 4) == []
        (retry,) = device.push_work(now + 5)
        assert retry.attempt == 1
        device.push_done(retry.job, False, "busy", now + 5)
        assert device.push_work(now + 60) == []
    finally:
        meter.close()


@pytest.mark.parametrize(("value", "ok"), [
    ((5, b"102"), True), ((5, b"1"), True), ((5, b"127"), True), ((0, b"127.0.0.1:4059"), True),
    ((5, b"0"), False), ((5, b"128"), False), ((5, b"host:1"), False), ((5, b" 12"), False),
    ((0, b"102"), False), ((1, b"127.0.0.1:4059"), False), ((6, b"1"), False),
])
def test_push_destinations_by_transport(tmp_path: Path, value: tuple[int, bytes], ok: bool) -> None:
    setup = PushSetup(PUSH)
    ctx = Context(ObjectDirectory([setup]), None, lambda _e: None, lambda _o: None)
    transport, destination = value
    structure = Structure((Enum(transport), OctetString(destination), Enum(0)))
    if ok:
        setup.set(3, structure, ctx)
        assert setup.transport == transport and setup.programmed
    else:
        with pytest.raises(AccessError) as exc:
            setup.set(3, structure, ctx)
        assert exc.value.result == DataAccessResult.OTHER_REASON
        assert not setup.programmed
    with pytest.raises(AccessError):
        setup.set(8, OctetString(b"\x00\x00\x14\x00\x00"), ctx)  # port_reference: 6 bytes


class _Source:
    def __init__(self, work: list[PushWork]) -> None:
        self.work = work
        self.done: list[tuple[int, bool, str]] = []

    def connected(self, now: float) -> None:
        pass

    def push_work(self, now: float) -> list[PushWork]:
        out, self.work = self.work, []
        return out

    def push_done(self, job: int, delivered: bool, reason: str, now: float) -> None:
        self.done.append((job, delivered, reason))


def test_the_sender_writes_on_the_line_or_fails_the_attempt() -> None:
    written: list[bytes] = []

    def optical(data: bytes) -> bool:
        written.append(data)
        return len(written) == 1  # the second finds the line busy (a session is on)

    source = _Source([PushWork(1, PUSH, "", 102, b"one", 0, "optical"),
                      PushWork(2, PUSH, "", 102, b"two", 0, "optical"),
                      PushWork(3, PUSH, "", 102, b"three", 0, "serial")])

    async def run() -> None:
        sender = PushSender(source, lambda: 0.0, lambda: None, lines={"optical": optical})
        sender.poll()
        await asyncio.sleep(0)
        await sender.aclose()

    asyncio.run(run())
    assert written == [b"one", b"two"]
    assert source.done == [(1, True, ""), (2, False, "the optical line is busy"),
                           (3, False, "no serial line is served")]


# --- garbage never crashes: every write is taken or refused with a data-access result ----------

@given(transport=st.integers(0, 255), destination=st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_mutated_destinations_are_taken_or_refused(transport: int, destination: bytes) -> None:
    setup = PushSetup(PUSH)
    ctx = Context(ObjectDirectory([setup]), None, lambda _e: None, lambda _o: None)
    try:
        setup.set(3, Structure((Enum(transport), OctetString(destination), Enum(0))), ctx)
    except AccessError as exc:
        assert exc.result == DataAccessResult.OTHER_REASON
        assert not setup.programmed
        return
    assert transport in (0, 5)
    if transport == 5 and destination:
        assert setup.hdlc_destination == int(destination)


@given(index=st.integers(2, 9), raw=st.binary(max_size=40), number=st.integers(0, 255))
@settings(max_examples=300, deadline=None)
def test_mutated_local_port_writes_are_taken_or_refused(index: int, raw: bytes, number: int) -> None:
    local, _, ctx = objects()
    for value in (OctetString(raw), Enum(number)):
        try:
            local.set(index, value, ctx)
        except AccessError as exc:
            assert exc.result in (DataAccessResult.OTHER_REASON, DataAccessResult.TYPE_UNMATCHED)
    # whatever was taken, the next opening can be made from it
    opening = opening_factory("ACE", lambda: [local])()
    assert opening.max_baud_char in "0123456"
