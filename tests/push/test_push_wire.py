"""Pushes on the wire (issue 10 item 1): a real meter process connects to a listener of the
test's own (a plain socket; wrapper, DATA-NOTIFICATION and AES-GCM taken apart here with
`cryptography` only) and every notification is parsed by gurux-dlms's own DataNotification
handling too. Time-scaled: 60 simulated seconds per real second."""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from interop.clients import INTEGER, MANAGEMENT, SUCCESS, WRAPPER, Arg, Endpoint, GuruxDriver, Ref
from interop.conftest import next_invocation_counter
from support.process import MeterProcess, profile_with

pytestmark = pytest.mark.interop

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = bytes.fromhex("4143450000000001")
INSTALLATION, CONNECTIVITY, INTERVAL = "0.7.25.9.0.255", "0.0.25.9.0.255", "0.1.25.9.0.255"
SCALE = "60"
START = "2026-01-01T00:14:00Z"  # the push scheduler's next quarter, 00:15, is a real second away
T0 = datetime(2026, 1, 1, 0, 14, tzinfo=UTC).timestamp()
WAIT_S = 30.0
#: Simulated seconds a push may be stamped after its due time (the loop's latency on a loaded
#: machine, 0.75 s real, at the time scale).
SLACK_S = 45.0


@dataclass(frozen=True, slots=True)
class Push:
    """One received notification, taken apart by the test itself."""

    source_wport: int
    destination_wport: int
    invoke_id: int
    time: float  # the notification's date-time (UTC s)
    name: str  # the push setup it names first in its body
    invocation_counter: int | None  # of its general-glo-ciphering, if ciphered
    apdu: bytes  # the plain DATA-NOTIFICATION
    wire: bytes  # the whole wrapper PDU


def decipher(payload: bytes) -> tuple[bytes, int]:
    """general-glo-ciphering (Green Book 9.3.12): title, SC, IC, AES-GCM with a 12-byte tag."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    assert payload[0] == 0xDB and payload[1] == 8
    title = payload[2:10]
    assert title == SERVER_TITLE
    length, pos = payload[10], 11
    assert length < 0x80
    content = payload[pos:pos + length]
    sc, ic = content[0], int.from_bytes(content[1:5], "big")
    assert sc & 0x30 == 0x30  # authenticated and encrypted
    body, tag = content[5:-12], content[-12:]
    decryptor = Cipher(algorithms.AES(EK), modes.GCM(title + content[1:5], tag, min_tag_length=12)).decryptor()
    decryptor.authenticate_additional_data(bytes([sc]) + AK)
    return decryptor.update(body) + decryptor.finalize(), ic


def take_apart(wire: bytes) -> Push:
    version, source, destination, length = struct.unpack(">HHHH", wire[:8])
    assert version == 1 and length == len(wire) - 8
    apdu, ic = wire[8:], None
    if apdu[0] == 0xDB:
        apdu, ic = decipher(apdu)
    assert apdu[0] == 0x0F  # DATA-NOTIFICATION
    invoke_id = int.from_bytes(apdu[1:5], "big")
    assert apdu[5] == 12
    year, month, day, _, hour, minute, second = struct.unpack(">HBBBBBB", apdu[6:14])
    when = datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    body = apdu[18:]
    # structure { octet-string(6) the setup's logical name, ... }
    assert body[0] == 0x02 and body[2:4] == b"\x09\x06"
    name = ".".join(str(b) for b in body[4:10])
    return Push(source, destination, invoke_id, when, name, ic, apdu, wire)


def gurux_parse(wire: bytes) -> Any:
    """gurux-dlms's own reading of a pushed wrapper PDU: its notification reply data."""
    from gurux_dlms import GXByteBuffer, GXReplyData
    from gurux_dlms.enums import Authentication, Command, InterfaceType, Security
    from gurux_dlms.secure import GXDLMSSecureClient

    client = GXDLMSSecureClient(True, 0x66, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    client.ciphering.blockCipherKey = bytearray(EK)
    client.ciphering.authenticationKey = bytearray(AK)
    reply, notify = GXReplyData(), GXReplyData()
    client.getData(GXByteBuffer(wire), reply, notify)
    assert notify.command == Command.DATA_NOTIFICATION
    return notify


class Listener:
    """The head end's push port: accepts connections and keeps what each one sent."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.received: list[Push] = []
        self._lock = threading.Condition()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
            with self._lock:
                self.received.append(take_apart(data))
                self._lock.notify_all()

    def wait(self, count: int, timeout: float = WAIT_S) -> list[Push]:
        return self.wait_until(lambda got: len(got) >= count, timeout)

    def wait_until(self, done: Callable[[list[Push]], bool], timeout: float = WAIT_S) -> list[Push]:
        with self._lock:
            self._lock.wait_for(lambda: done(self.received), timeout)
            return list(self.received)

    def close(self) -> None:
        self.sock.close()


def retry_times(log: str, name: str) -> list[float]:
    """The simulated times the meter set for ``name``'s retries, from its log."""
    found = re.findall(rf"push {re.escape(name)} \(job \d+\) failed .*; retry \d+ due in [\d.]+ s, at (\S+)", log)
    return [datetime.fromisoformat(t).timestamp() for t in found]


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def push_profile(tmp: Path, port: int, *, retries: int = 2, delay: str = "[30, 200, 0]") -> Path:
    text = "".join(f'''
[[object]]
obis = "{name}"
class = "push_setup"
destination = "127.0.0.1:{port}"
number_of_retries = {retries}
repetition_delay = {delay}
''' for name in (INSTALLATION, CONNECTIVITY, INTERVAL))
    return profile_with(tmp, text)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def start(state: Path, profile: Path, start_at: str = START) -> MeterProcess:
    state.mkdir(parents=True, exist_ok=True)
    meter = MeterProcess(state, "--start", start_at, "--profile", str(profile), "--tcp", "127.0.0.1:0",
                         "--time-scale", SCALE)
    meter.wait_ready()
    return meter


@dataclass(frozen=True, slots=True)
class _Wire:
    tcp: Endpoint

    def endpoint(self, framing: str) -> Endpoint:
        return self.tcp


def management(meter: MeterProcess) -> GuruxDriver:
    wire = _Wire(Endpoint(WRAPPER, *meter.address("tcp")))
    driver = GuruxDriver(wire.tcp, MANAGEMENT, next_invocation_counter(wire, WRAPPER))  # type: ignore[arg-type]
    driver.associate()
    return driver


def test_installation_connectivity_interval_and_method_pushes(tmp_path: Path, listener: Listener) -> None:
    meter = start(tmp_path / "state", push_profile(tmp_path, listener.port))
    try:
        first = listener.wait(2)
        assert sorted(p.name for p in first[:2]) == [CONNECTIVITY, INSTALLATION]
        for push in first[:2]:
            assert (push.source_wport, push.destination_wport) == (1, 0x66)
            assert push.invocation_counter is None  # the profile leaves these plain
            assert T0 <= push.time < T0 + 60  # at start-up, before the push scheduler's quarter
            notify = gurux_parse(push.wire)
            assert bytes(notify.value[0]) == bytes(int(b) for b in push.name.split("."))
        installation = next(p for p in first if p.name == INSTALLATION)
        assert [bytes(v) for v in gurux_parse(installation.wire).value[1:3]] == [
            b"ACE0000000000001", b"0000000000001"]
        # The push scheduler at 00:15 runs the interval push within its 60 s window.
        interval = listener.wait(3)[2]
        assert interval.name == INTERVAL
        assert T0 + 60 <= interval.time <= T0 + 120 + SLACK_S
        assert interval.invocation_counter is not None  # general-glo under 0.0.43.0.0.255
        assert gurux_parse(interval.wire).value[0] == bytearray.fromhex("0001190900FF")
        # A head end asks for one by method push (1).
        driver = management(meter)
        try:
            assert driver.action(Ref(40, INTERVAL, 1), Arg(INTEGER, 0)).result == SUCCESS
        finally:
            driver.release()
        asked = listener.wait(4)[3]
        assert asked.name == INTERVAL and asked.invocation_counter is not None
        assert asked.invocation_counter > interval.invocation_counter
        assert len({p.invoke_id for p in listener.received}) == 4
    finally:
        meter.close()
    assert "Traceback" not in meter.log_text()


def test_retries_follow_repetition_delay_then_the_push_arrives(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: the destination is down
    # 14 simulated minutes before the push scheduler's next quarter: no interval push meanwhile.
    meter = start(tmp_path / "state", push_profile(tmp_path, port), "2026-01-01T00:01:00Z")
    server: Listener | None = None
    try:
        # repetition_delay [30 s, 200 %]: retries at +30 and +90 simulated s (0.5 s, 1.5 s real).
        meter.wait_for_log("(job 2) failed", WAIT_S)
        meter.wait_for_log("retry 1 due in 30.0 s", WAIT_S)
        meter.wait_for_log("retry 2 due in 60.0 s", WAIT_S)
        server = Listener(port)
        got = server.wait(2)
        assert sorted(p.name for p in got) == [CONNECTIVITY, INSTALLATION], meter.log_text()
        for push in got:
            first, second = retry_times(meter.log_text(), push.name)
            # 30 s grown by 200 %, counted from when the retry before it failed (it failed some
            # wire latency after it was due)
            assert 60.0 <= second - first <= 60.0 + SLACK_S
            assert int(second) <= push.time <= second + SLACK_S  # at the second retry (whole s)
    finally:
        meter.close()
        if server is not None:
            server.close()


def test_retries_stop_at_number_of_retries(tmp_path: Path) -> None:
    meter = start(tmp_path / "state", push_profile(tmp_path, free_port(), retries=1, delay="[6, 100, 0]"))
    try:
        # The interval push at 00:15 (within 60 s) fails too, and gives up, a simulated minute
        # or more after the first two gave up: by then they have tried nothing more.
        meter.wait_for_log(f"push {INTERVAL} (job 3) failed", WAIT_S)
        meter.wait_for_log("(job 3) failed (ConnectionRefusedError: [Errno 111] Connection "
                           "refused); gave up after 1 retries", WAIT_S)
        log = meter.log_text()
    finally:
        meter.close()
    for name in (INSTALLATION, CONNECTIVITY):
        assert log.count(f"push {name} to ") == 2, log  # the try and one retry
        assert log.count(f"push {name} (job") == 2  # failed, then failed and gave up
    assert log.count(f"push {INTERVAL} (job 3) failed") == 2


def test_a_queued_push_survives_a_restart_and_arrives_once(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state"
    profile = push_profile(tmp_path, port, retries=5, delay="[120, 100, 0]")
    meter = start(state, profile)
    try:
        meter.wait_for_log(f"push {CONNECTIVITY} (job 2) failed", WAIT_S)
        meter.wait_for_log(f"push {INSTALLATION} (job 1) failed", WAIT_S)
    finally:
        meter.close()  # both wait for their retry, 120 simulated s (2 s real) on
    server = Listener(port)
    try:
        again = start(state, profile)
        try:
            def arrived(got: list[Push]) -> bool:
                return sorted(p.name for p in got if p.name != INTERVAL) == [
                    CONNECTIVITY, CONNECTIVITY, INSTALLATION]
            got = server.wait_until(arrived)
        finally:
            again.close()
        assert arrived(got), again.log_text()
        ids = [p.invoke_id for p in server.received]
        assert len(ids) == len(set(ids))  # none twice
        assert {1, 2} <= set(ids)  # the queued ones, kept across the restart
    finally:
        server.close()
