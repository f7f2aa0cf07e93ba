"""``serve --pcap FILE`` (issue 13 item 2): a real meter captures HLS-GMAC sessions of gurux-dlms
and dlms-cosem (wrapper and HDLC over TCP, authenticated and encrypted), and ``acesm-meter decode
--pcap FILE`` reads every APDU back, each ciphered one deciphered with the key log beside it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop.clients import (
    DRIVERS,
    HDLC,
    MANAGEMENT,
    WRAPPER,
    Endpoint,
    Ref,
)
from support.paths import ROOT
from support.process import MeterProcess, meter_process

from meter.transport.pcap import key_log_path
from meter.transport.pcap_read import KeyLog, read_messages

CLOCK = Ref(8, "0.0.1.0.0.255", 2)
LDN = Ref(1, "0.0.42.0.0.255", 2)
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
# The ciphering APDUs as meter.apdu.describe names them.
CIPHERED = ("CipheredApdu (tag", "GeneralGloCiphering (tag", "GeneralDedCiphering (tag")


def decode_pcap(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meter.cli", "decode", "--pcap", str(path),
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=60)


def _sessions(meter: MeterProcess) -> None:
    """HLS-GMAC management sessions, each reading the logical device name and the clock."""
    counter = 100
    for client, framing in (("gurux", WRAPPER), ("gurux", HDLC), ("dlms-cosem", WRAPPER)):
        endpoint = Endpoint(framing, *meter.address("tcp" if framing == WRAPPER else "hdlc"))
        driver = DRIVERS[client](endpoint, MANAGEMENT, invocation_counter=counter)
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
    # Per session: AARQ/AARE (their initiates ciphered), HLS pass 3 and 4, two GETs, release.
    assert len(ciphered) >= 3 * 8
    for block in ciphered:
        assert "\ndeciphered:\n" in block, block
    plain = result.stdout
    assert plain.count("GetRequestNormal (tag") == 6  # two GETs per session, deciphered
    assert plain.count("GetResponseNormal (tag") == 6
    assert plain.count("('ACE0000000000001')") == 3  # the logical device name, in plain
    assert "not decoded" not in plain
    assert plain.count("wrapper: wPort 1 -> 1") >= 2 * 6  # wrapper requests of client SAP 1
    assert "hdlc: SNRM" in plain and "hdlc: DISC" in plain


def test_the_file_holds_tcp_streams_and_the_key_log(capture: Path) -> None:
    messages = list(read_messages(capture))
    flows = {m.flow for m in messages}
    assert len(flows) == 3 and all(f.startswith("tcp 127.0.0.1:") for f in flows)
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
