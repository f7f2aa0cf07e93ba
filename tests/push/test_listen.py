"""``acesm-meter listen`` (issue 10 item 5): a head end's push port for users. It receives a
meter process's pushes, deciphers them with the keys given, prints one line per notification
(-v: the whole notification below it), and exits non-zero on a malformed one."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.paths import ROOT
from support.process import meter_process

from .test_push_wire import AK, CONNECTIVITY, EK, INSTALLATION, INTERVAL, START, push_profile

pytestmark = pytest.mark.interop

TIMEOUT = 60.0


@contextmanager
def listen(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``python -m meter.cli listen 127.0.0.1:0 ARGS`` and the port its LISTENING line names."""
    proc = subprocess.Popen([sys.executable, "-m", "meter.cli", "listen", "127.0.0.1:0", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("LISTENING 127.0.0.1:"), first
        yield proc, int(first.rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)


def obis_hex(name: str) -> str:
    return bytes(int(b) for b in name.split(".")).hex()


def test_listen_prints_one_line_per_push_deciphered_with_the_keys(tmp_path: Path) -> None:
    with listen("--count", "3", "--key-ek", EK.hex(), "--key-ak", AK.hex(), "-v") as (proc, port), \
            meter_process(tmp_path / "state", "--profile", str(push_profile(tmp_path, port)),
                          "--tcp", "127.0.0.1:0", "--time-scale", "60", start=START):
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    lines = [line for line in out.splitlines() if " DataNotification id=" in line]
    assert len(lines) == 3, out
    assert all(" wport 1->102 " in line for line in lines)
    assert sorted(next(n for n in (INSTALLATION, CONNECTIVITY, INTERVAL) if obis_hex(n) in line)
                  for line in lines) == sorted((INSTALLATION, CONNECTIVITY, INTERVAL))
    interval = next(line for line in lines if obis_hex(INTERVAL) in line)
    assert " GeneralGloCiphering IC=" in interval  # deciphered: its values are on the line
    assert "time=2026-01-01T00:1" in interval
    assert "DataNotification (tag 0x0F)" in out  # -v: the whole notification too


def send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(struct.pack(">HHHH", 1, 1, 0x66, len(payload)) + payload)


@pytest.mark.parametrize("payload", [
    bytes.fromhex("0F000000010C"),  # a DATA-NOTIFICATION cut short
    bytes.fromhex("C001C100010000000000FF0200"),  # a GET request: no notification
    bytes.fromhex("DB084143450000000001103000000001") + bytes(12),  # the tag does not verify
], ids=["truncated", "not-a-notification", "bad-tag"])
def test_listen_exits_non_zero_on_a_malformed_notification(payload: bytes) -> None:
    with listen("--key-ek", EK.hex(), "--key-ak", AK.hex()) as (proc, port):
        send(port, payload)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "malformed notification from 127.0.0.1:" in err
    assert "Traceback" not in err
