"""A meter at its file-descriptor limit (issue 7 item 9), on both event loops: connections beyond
the cap are refused at once (accepted and closed), the log stays small, and once the idle
connections time out a good client gets in again."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import pytest
from support import WrapperClient
from support.process import meter_process, profile_with

from meter.codec import axdr
from meter.codec.obis import Obis

NOFILE = 256  # room for about 100 connections besides the accept batch and the reserve
LDN = Obis.parse("0.0.42.0.0.255")


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def _refused(sock: socket.socket, wait: float = 0.0) -> bool:
    """True when the meter has closed the connection (EOF or reset, within ``wait`` s)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except (TimeoutError, BlockingIOError):
        return False


@pytest.mark.parametrize("loop", ["uvloop", "stdlib"])
def test_at_the_fd_limit_new_clients_are_refused_cleanly_then_served(tmp_path: Path,
                                                                      loop: str) -> None:
    profile = profile_with(tmp_path, "[tcp]\ninactivity_timeout = 2\n")
    env = {"ACESM_NO_UVLOOP": "1" if loop == "stdlib" else "0"}
    with meter_process(tmp_path / "state", "--profile", str(profile), "--tcp", "127.0.0.1:0",
                       env=env, preexec_fn=_low_nofile) as m:
        idle = [socket.create_connection(m.address(), timeout=5) for _ in range(2 * NOFILE)]
        opened = time.monotonic()
        time.sleep(0.5)  # a refusal is immediate; an idle time-out takes 2 s
        refused = [s for s in idle if _refused(s)]
        # Some were served (kept open), the rest refused at once; none left hanging unserved.
        assert 0 < len(refused) < len(idle)
        late = socket.create_connection(m.address(), timeout=5)
        assert _refused(late, wait=3.0)  # at once, or after the kernel retries a burst (1 s)
        assert m.proc.poll() is None
        # The idle ones time out; then a good client is served.
        while time.monotonic() - opened < 2.5:
            time.sleep(0.1)
        client = WrapperClient(*m.address(), client_sap=16, timeout=5)
        client.associate()
        assert isinstance(client.get(1, LDN, 2), axdr.OctetString)
        client.close()
        for s in [*idle, late]:
            s.close()
        assert m.log.stat().st_size < 64 * 1024, m.log_text()[-2000:]
