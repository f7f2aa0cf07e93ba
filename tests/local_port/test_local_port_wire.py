"""The local port, the display objects and the consumer information push on the wire (issue 10
item 4, use cases 12, 18, 19): gurux-dlms as shipped is the head end over the TCP wrapper of a
time-scaled meter process; pyserial is the optical probe on the meter's optical pty.

- IEC local port setup 0.0.20.0.0.255 (class 19): read; a SET of prop_baud changes what the next
  mode E identification proposes and the rate the line switches to; a SET of device_addr
  decides which sign-on requests the meter answers; bad values are refused.
- Consumer messages 0.0.96.13.1/0.255: written and read back; too long or of the wrong type,
  refused. Display lists 0.0.21.0.1/2.255: capture_objects read, capture then buffer read.
- The consumer information push 0.6.25.9.0.255 on the optical port (and on the serial pty, with
  port_reference the HDLC setup) every 20 simulated seconds
  (its scheduler's execution_time), read by a pty reader of the test's own: HDLC UI frames,
  taken apart here and parsed by gurux-dlms's own DataNotification handling.
"""

from __future__ import annotations

import struct
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import serial
from interop.clients import SUCCESS, Arg, GuruxDriver, Ref
from push.test_push_wire import management as push_management
from supply.test_relays_wire import read
from support.process import MeterProcess, meter_process, profile_with

from meter.codec.crc import crc16_x25

pytestmark = pytest.mark.interop

LOCAL_PORT = "0.0.20.0.0.255"
MESSAGE_DISPLAY, MESSAGE_LOCAL = "0.0.96.13.1.255", "0.0.96.13.0.255"
DISPLAY_LIST, ALTERNATE_LIST = "0.0.21.0.1.255", "0.0.21.0.2.255"
PUSH = "0.6.25.9.0.255"
ENUM, OCTET_STRING, INTEGER = 22, 9, 15
OTHER_REASON, TYPE_UNMATCHED = 250, 12
WAIT_S = 20.0
#: Simulated seconds a push may be stamped after its slot (0.5 s real at the time scale 20).
SLACK_S = 10.0


@contextmanager
def management(process: MeterProcess) -> Iterator[GuruxDriver]:
    """A gurux management association over the TCP wrapper (as tests/push does it)."""
    driver = push_management(process)
    try:
        yield driver
    finally:
        driver.release()


def sign_on(probe: serial.Serial, request: bytes = b"/?!\r\n") -> bytes:
    """Send a request at 300 baud; the identification message (b"" when none came)."""
    probe.baudrate = 300
    probe.reset_input_buffer()
    probe.write(request)
    return probe.read_until(b"\r\n")


def wait_for(condition: Any, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def line_speed(probe: serial.Serial) -> list[int]:
    return termios.tcgetattr(probe.fileno())[4:6]


def test_local_port_setup_rules_the_mode_e_opening(tmp_path: Path) -> None:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--optical") as process, \
            serial.Serial(process.ready["optical"], 300, timeout=3) as probe:
        with management(process) as m:
            # default_mode 1 (DLMS/COSEM), default_baud 0 (300), prop_baud 5 (9600),
            # response_time 0 (20 ms), no device address
            assert [read(m, Ref(19, LOCAL_PORT, i)) for i in range(2, 7)] == [1, 0, 5, 0, b""]
            assert sign_on(probe)[:6] == b"/ACE5\\"  # 9600 proposed; no ack: a new request
            # starts the opening over
            # The head end lowers the proposed rate to 2400 baud and gives the meter an address.
            assert m.set(Ref(19, LOCAL_PORT, 4), Arg(ENUM, 3)) == SUCCESS
            assert m.set(Ref(19, LOCAL_PORT, 6), Arg(OCTET_STRING, b"12345678")) == SUCCESS
            assert read(m, Ref(19, LOCAL_PORT, 4)) == 3
            # Out of range, not printable, too long: refused, nothing changed.
            assert m.set(Ref(19, LOCAL_PORT, 4), Arg(ENUM, 10)) == OTHER_REASON
            assert m.set(Ref(19, LOCAL_PORT, 5), Arg(ENUM, 2)) == OTHER_REASON
            assert m.set(Ref(19, LOCAL_PORT, 6), Arg(OCTET_STRING, b"12!4")) == OTHER_REASON
            assert m.set(Ref(19, LOCAL_PORT, 7), Arg(OCTET_STRING, b"p" * 33)) == OTHER_REASON
            assert m.set(Ref(19, LOCAL_PORT, 4), Arg(INTEGER, 3)) == TYPE_UNMATCHED
            assert read(m, Ref(19, LOCAL_PORT, 4)) == 3
            assert read(m, Ref(19, LOCAL_PORT, 6)) == b"12345678"
        # A request for another meter is not answered; one for this address, or for any meter
        # (no address), is, proposing 2400 baud now.
        probe.timeout = 2
        assert sign_on(probe, b"/?87654321!\r\n") == b""
        ident = sign_on(probe, b"/?12345678!\r\n")
        assert ident[:6] == b"/ACE3\\", ident
        probe.write(b"\x06232\r\n")  # ack: HDLC (2) at 2400 (3), binary mode (2)
        wait_for(lambda: line_speed(probe) == [termios.B2400] * 2)
    assert "Traceback" not in process.log_text()


def test_consumer_messages_and_display_lists(tmp_path: Path) -> None:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0") as process, \
            management(process) as m:
        for name in (MESSAGE_DISPLAY, MESSAGE_LOCAL):
            assert read(m, Ref(1, name, 2)) == b""
            assert m.set(Ref(1, name, 2), Arg(OCTET_STRING, b"Power cut Tuesday 9-11")) == SUCCESS
            assert read(m, Ref(1, name, 2)) == b"Power cut Tuesday 9-11"
            assert m.set(Ref(1, name, 2), Arg(OCTET_STRING, b"x" * 257)) == OTHER_REASON
            assert m.set(Ref(1, name, 2), Arg(INTEGER, 1)) == TYPE_UNMATCHED
            assert read(m, Ref(1, name, 2)) == b"Power cut Tuesday 9-11"
        # The display lists: what the LCD scrolls through, as capture object definitions.
        columns = read(m, Ref(7, DISPLAY_LIST, 3))
        names = [".".join(str(b) for b in c[1]) for c in columns]
        assert names == ["0.0.1.0.0.255", "1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.1.8.1.255",
                         "1.0.1.8.2.255", "0.0.96.14.0.255", "1.0.32.7.0.255"]
        assert [(c[0], c[2]) for c in columns][:2] == [(8, 2), (3, 2)]
        assert len(read(m, Ref(7, ALTERNATE_LIST, 3))) == 4
        # capture (2) fills the one-entry buffer with the values the list names.
        assert m.action(Ref(7, DISPLAY_LIST, 2), Arg(INTEGER, 0)).result == SUCCESS
        buffer = read(m, Ref(7, DISPLAY_LIST, 2))
        assert len(buffer) == 1 and len(buffer[0]) == 7
    assert "Traceback" not in process.log_text()


# --- the consumer information push on the optical port -----------------------------------------

PUSH_PROFILE = f'''
[[object]]
obis = "{PUSH}"
class = "push_setup"
destination = "102"

[[object]]
obis = "{MESSAGE_LOCAL}"
class = "consumer_message"
value = {{ octet_string = "Hello customer" }}

[[object]]
obis = "0.6.15.0.4.255"
class = "single_action_schedule"
script = "0.0.10.0.108.255"
script_selector = 3
type = 5
execution_time = [["FFFF0000", "FFFFFFFFFF"], ["FFFF1400", "FFFFFFFFFF"], ["FFFF2800", "FFFFFFFFFF"]]
'''


def frames(data: bytes) -> list[bytes]:
    """The HDLC frames (flag to flag) in ``data``, whole ones only."""
    out = []
    pos = 0
    while (start := data.find(b"\x7e", pos)) >= 0 and start + 3 <= len(data):
        length = (data[start + 1] & 0x07) << 8 | data[start + 2]
        end = start + length + 1
        if end >= len(data):
            break
        assert data[end] == 0x7E
        out.append(data[start:end + 1])
        pos = end + 1
    return out


def take_apart(frame: bytes) -> tuple[int, bytes, datetime, bytes]:
    """A UI frame (IEC 62056-46 format type 3): client address, server address, the
    notification's date-time and the plain DATA-NOTIFICATION."""
    body = frame[1:-1]
    assert body[0] >> 4 == 0xA and not body[0] & 0x08  # format type 3, not segmented
    assert int.from_bytes(body[-2:], "little") == crc16_x25(body[:-2])  # FCS
    destination = body[2] >> 1
    assert body[2] & 1  # one-byte client address
    source, pos = body[3:7], 7  # four-byte server address
    assert source[3] & 1 and not any(b & 1 for b in source[:3])
    assert body[pos] == 0x13  # UI, P/F set
    assert int.from_bytes(body[pos + 1:pos + 3], "little") == crc16_x25(body[:pos + 1])  # HCS
    info = body[pos + 3:-2]
    assert info[:3] == b"\xe6\xe7\x00"  # LLC, response
    apdu = info[3:]
    assert apdu[0] == 0x0F and apdu[5] == 12  # DATA-NOTIFICATION with its date-time
    year, month, day, _, hour, minute, second = struct.unpack(">HBBBBBB", apdu[6:14])
    return destination, source, datetime(year, month, day, hour, minute, second, tzinfo=UTC), apdu


def gurux_notification(frame: bytes) -> Any:
    from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
    from gurux_dlms.enums import Command, InterfaceType

    client = GXDLMSClient(True, 102, 1, interfaceType=InterfaceType.HDLC)
    reply, notify = GXReplyData(), GXReplyData()
    client.getData(GXByteBuffer(frame), reply, notify)
    assert notify.command == Command.DATA_NOTIFICATION
    return notify


@pytest.mark.parametrize(("medium", "args", "port"), [
    ("optical", ("--optical",), "0.0.20.0.0.255"),  # port_reference: the local port setup
    ("serial", ("--serial", "pty"), "0.0.22.0.0.255"),  # the HDLC setup: the serial line
])
def test_consumer_information_pushed_on_a_local_port(tmp_path: Path, medium: str,
                                                     args: tuple[str, ...], port: str) -> None:
    text = PUSH_PROFILE.replace('destination = "102"',
                                f'destination = "102"\nport_reference = "{port}"')
    profile = profile_with(tmp_path, text)
    with meter_process(tmp_path / "state", "--profile", str(profile), "--tcp", "127.0.0.1:0",
                       *args, "--time-scale", "20", start="2026-01-01T00:00:05Z") as process, \
            serial.Serial(process.ready[medium], 300, timeout=0.2) as reader:
        data = b""
        deadline = time.monotonic() + WAIT_S
        while len(frames(data)) < 4 and time.monotonic() < deadline:
            data += reader.read(4096)
    got = frames(data)
    assert len(got) >= 4, (data.hex(), process.log_text()[-3000:])
    parts = [take_apart(f) for f in got]
    times = [p[2] for p in parts]
    # Every 20 simulated seconds, on the schedule's grid (00:00:20, 00:00:40, 00:01:00 ...):
    # one push per slot, each stamped when it left (the loop's latency, at most SLACK_S late).
    stamps = [t.timestamp() for t in times]
    assert all(s % 20 <= SLACK_S for s in stamps), times
    slots = [int(s // 20) for s in stamps]
    assert slots == list(range(slots[0], slots[0] + len(slots))), times
    for (client, source, _, _), frame in zip(parts, got, strict=True):
        assert client == 102
        upper, lower = (source[0] >> 1) << 7 | source[1] >> 1, (source[2] >> 1) << 7 | source[3] >> 1
        assert (upper, lower) == (1, 17)  # the management logical device, HDLC address 17
        notify = gurux_notification(frame)
        values = notify.value
        assert bytes(values[0]) == bytes.fromhex("0006190900FF")  # the push setup first
        assert bytes(values[-1]) == b"Hello customer"  # the consumer message via local port
        assert values[2] >= 0  # +A, the energy register's value
    assert "Traceback" not in process.log_text()
