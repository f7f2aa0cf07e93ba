"""``serve --pcap FILE`` (issue 13 item 2): a real meter captures HLS-GMAC sessions of gurux-dlms
and dlms-cosem (wrapper and HDLC over TCP, authenticated and encrypted), and ``acesm-meter decode
--pcap FILE`` reads every APDU back, each ciphered one deciphered with the key log beside it."""

from __future__ import annotations

import errno
import io
import logging
import os
import random
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from interop.clients import (
    DRIVERS,
    HDLC,
    MANAGEMENT,
    PUBLIC,
    WRAPPER,
    Endpoint,
    Ref,
)
from support.gurux_hdlc import GuruxHdlc
from support.paths import ROOT
from support.process import MeterProcess, meter_process
from support.rfc2217_client import SIGN_ON, open_optical, read_clock, sign_on, switch

from meter import cli
from meter.transport.pcap import AssociationKeys, Capture, key_log_path
from meter.transport.pcap_read import KeyLog, read_messages

CLOCK = Ref(8, "0.0.1.0.0.255", 2)
LDN = Ref(1, "0.0.42.0.0.255", 2)
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
DEDICATED_KEY = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")
SESSIONS = 4
# The ciphering APDUs as meter.apdu.describe names them.
CIPHERED = ("CipheredApdu (tag", "GeneralGloCiphering (tag", "GeneralDedCiphering (tag")


def decode_pcap(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meter.cli", "decode", "--pcap", str(path),
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=60)


def _sessions(meter: MeterProcess) -> None:
    """HLS-GMAC management sessions, each reading the logical device name and the clock; the
    last with a dedicated key (gurux then sends general-ded-ciphering)."""
    counter = 100
    for client, framing, dedicated in (("gurux", WRAPPER, False), ("gurux", HDLC, False),
                                       ("dlms-cosem", WRAPPER, False), ("gurux", WRAPPER, True)):
        endpoint = Endpoint(framing, *meter.address("tcp" if framing == WRAPPER else "hdlc"))
        driver = DRIVERS[client](endpoint, MANAGEMENT, invocation_counter=counter)
        if dedicated:
            driver.client.ciphering.dedicatedKey = bytearray(DEDICATED_KEY)
        driver.associate()
        assert driver.get(LDN).value == b"ACE0000000000001"
        assert driver.get(CLOCK).ok
        driver.release()
        counter += 100


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("pcap")
    trace = tmp / "trace.pcapng"
    with meter_process(tmp / "state", "--tcp", "127.0.0.1:0", "--hdlc-over-tcp", "127.0.0.1:0",
                       "--pcap", str(trace)) as meter:
        _sessions(meter)
    yield trace


def _blocks(text: str) -> list[str]:
    return [b for b in text.split("\n\n") if b.strip()]


def test_every_apdu_of_an_hls_gmac_session_reads_back_deciphered(capture: Path) -> None:
    result = decode_pcap(capture)
    assert result.returncode == 0, result.stderr
    blocks = _blocks(result.stdout)
    ciphered = [b for b in blocks if any(name in b for name in CIPHERED)]
    # Per session: AARQ/AARE (their initiates ciphered), HLS pass 3 and 4, two GETs.
    assert len(ciphered) >= SESSIONS * 6
    for block in ciphered:
        assert "\ndeciphered:\n" in block, block
    plain = result.stdout
    assert plain.count("GetRequestNormal (tag") == 2 * SESSIONS  # two GETs each, deciphered
    assert plain.count("GetResponseNormal (tag") == 2 * SESSIONS
    assert plain.count("('ACE0000000000001')") == SESSIONS  # the logical device name, in plain
    # The dedicated key comes from the AARQ's initiate (deciphered with the global key).
    assert plain.count("GeneralDedCiphering (tag") == 4
    assert DEDICATED_KEY.hex(" ").upper() in plain
    assert "not decoded" not in plain
    # Three wrapper sessions of ten PDUs: AARQ/AARE, HLS pass 3/4, two GETs, RLRQ/RLRE.
    assert plain.count("wrapper: wPort 1 -> 1") == 3 * 10
    assert "hdlc: SNRM" in plain and "hdlc: DISC" in plain


def test_the_file_holds_tcp_streams_and_the_key_log(capture: Path) -> None:
    messages = list(read_messages(capture))
    flows = {m.flow for m in messages}
    assert len(flows) == SESSIONS and all(f.startswith("tcp 127.0.0.1:") for f in flows)
    keys = KeyLog.read(key_log_path(capture))
    first = keys.at(1, messages[0].time)
    assert first is not None and first.encryption_key == EK
    assert keys.at(16, messages[0].time) is None  # the public client has no Security setup


def test_without_the_key_log_nothing_is_deciphered(capture: Path, tmp_path: Path) -> None:
    empty = tmp_path / "none.keys"
    empty.write_text("")
    result = decode_pcap(capture, "--keys", str(empty))
    assert result.returncode == 0, result.stderr
    assert "deciphered:" not in result.stdout
    assert "CipheredApdu (tag" in result.stdout or "GeneralGloCiphering (tag" in result.stdout


def test_the_optical_port_is_captured_as_a_line(tmp_path: Path) -> None:
    """The optical port (here over RFC 2217) as LINKTYPE_USER0: the mode E text, then HDLC."""
    trace = tmp_path / "optical.pcapng"
    with meter_process(tmp_path / "state", "--optical", "rfc2217://127.0.0.1:0",
                       "--pcap", str(trace)) as meter:
        port = open_optical(meter)
        try:
            switch(port, sign_on(port))
            read_clock(port)
        finally:
            port.close()
    assert SIGN_ON in trace.read_bytes()  # the line's bytes as they crossed it
    assert b"\x06\x00\x00\x00\x2c\x00\x00\x00" not in trace.read_bytes()  # no empty packets
    messages = list(read_messages(trace))
    assert {m.flow for m in messages} == {"optical"}
    assert [m.inbound for m in messages[:2]] == [True, False]  # SNRM, UA
    result = decode_pcap(trace)
    assert result.returncode == 0, result.stderr
    for expected in ("hdlc: SNRM", "hdlc: UA", "GetRequestNormal", "GetResponseNormal",
                     "hdlc: DISC"):
        assert expected in result.stdout


def test_the_capture_stops_at_its_cap_and_the_meter_serves_on(tmp_path: Path) -> None:
    trace = tmp_path / "capped.pcapng"
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--pcap", str(trace),
                       "--pcap-max-bytes", "1500") as meter:
        for _ in range(3):
            driver = DRIVERS["gurux"](Endpoint(WRAPPER, *meter.address("tcp")), PUBLIC)
            driver.associate()
            assert driver.get(LDN).value == b"ACE0000000000001"
            driver.release()
        meter.wait_for_log("1500-byte cap reached", timeout=5)
    assert trace.stat().st_size <= 1500
    assert list(read_messages(trace))  # whole blocks up to the cap


class _FullDisk(io.BytesIO):
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_write_error_stops_the_capture_not_the_meter(caplog: pytest.LogCaptureFixture) -> None:
    capture = Capture(_FullDisk(200), io.BytesIO(), max_bytes=1 << 20)
    flow = capture.tcp_flow(("127.0.0.1", 50000), ("127.0.0.1", 4059))
    for _ in range(10):
        flow.received(bytes(100))  # the tap returns: the medium goes on serving
        flow.sent(bytes(100))
    flow.closed()
    assert capture.stopped
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left" in errors[0].getMessage()


def test_a_damaged_capture_gives_one_error_line_never_a_traceback(
        capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Cut short anywhere, or with bytes flipped: decode --pcap shows what it can read and,
    where the file stops making sense, says so in one line (exit 1)."""
    data = capture.read_bytes()
    keys = key_log_path(capture)
    rng = random.Random(13)
    damaged = tmp_path / "damaged.pcapng"
    cases = [data[:cut] for cut in range(0, len(data), 97)]
    for _ in range(150):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        cases.append(bytes(flipped))
    for case in cases:
        damaged.write_bytes(case)
        code = cli.main(["decode", "--pcap", str(damaged), "--keys", str(keys)])
        err = capsys.readouterr().err
        assert code in (0, 1)
        assert (code == 0) == (err == ""), err


def _serial_session(send: Callable[[bytes], None], recv: Callable[[], bytes]) -> None:
    client = GuruxHdlc(send, recv)
    client.connect()
    assert client.logical_device_name() == b"ACE0000000000001"
    client.disconnect()


def _assert_serial_capture(trace: Path) -> None:
    assert {m.flow for m in read_messages(trace)} == {"serial"}
    result = decode_pcap(trace)
    assert result.returncode == 0, result.stderr
    assert "hdlc: SNRM" in result.stdout and "('ACE0000000000001')" in result.stdout


def test_the_serial_pty_is_captured_as_a_line(tmp_path: Path) -> None:
    trace = tmp_path / "serial.pcapng"
    with meter_process(tmp_path / "state", "--serial", "pty", "--pcap", str(trace)) as meter:
        port = serial.Serial(meter.ready["serial"], 9600, timeout=5)
        try:
            _serial_session(port.write, lambda: port.read(max(1, port.in_waiting)))
        finally:
            port.close()
    _assert_serial_capture(trace)


def test_a_serial_port_is_captured_as_a_line(tmp_path: Path) -> None:
    """A device the meter opens with pyserial (here our own pty's slave end)."""
    trace = tmp_path / "serial.pcapng"
    master, slave = os.openpty()
    try:
        with meter_process(tmp_path / "state", "--serial", os.ttyname(slave),
                           "--pcap", str(trace)):
            def send(data: bytes) -> None:
                os.write(master, data)

            def recv() -> bytes:
                ready, _, _ = select.select([master], [], [], 5)
                return os.read(master, 4096) if ready else b""

            _serial_session(send, recv)
    finally:
        os.close(master)
        os.close(slave)
    _assert_serial_capture(trace)


def test_a_failing_key_provider_stops_the_capture_not_the_meter() -> None:
    def broken() -> list[AssociationKeys]:
        raise KeyError("no such Security setup")

    capture = Capture(io.BytesIO(), io.BytesIO(), max_bytes=1 << 20, keys=broken)
    flow = capture.line_flow("serial")
    flow.received(b"\x7e")  # returns: the serial line goes on serving
    assert capture.stopped
