"""One meter per state directory, and a start-up that touches the state only once it can serve
(issue 7, items 1 and 7), over real ``acesm-meter serve`` processes and sockets.

Two meters on one state directory would resume the same invocation counters under one key
(GCM IV reuse, Green Book 9.2.3.3.7): the second must fail at once, naming the first's PID,
without writing to the state; the lock goes with the process that held it, even after kill -9.
A port in use, or a serial device that does not exist, must fail before the state is opened: no
state created, an existing one unchanged.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import START

from .helpers import refused_start
from .test_crash import Meter, meters  # noqa: F401 (fixture)


def digest(state: Path) -> dict[str, str]:
    """Every file of the state directory and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(state.iterdir())}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A TCP port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_second_meter_on_a_state_is_refused_until_the_first_is_gone(
        tmp_path: Path, meters: list[Meter]) -> None:  # noqa: F811
    state = tmp_path / "state"
    first = Meter(state, START, tmp_path / "first.log")
    meters.append(first)
    os.kill(first.proc.pid, signal.SIGSTOP)  # the first writes nothing while the second tries
    try:
        before = digest(state)
        line = refused_start(state, "--tcp", "127.0.0.1:0")
        assert digest(state) == before, "the refused meter wrote to the state"
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)
    assert f"PID {first.proc.pid}" in line and str(state) in line
    first.kill()  # kill -9: the kernel drops the lock; the stale lock file does not block
    third = Meter(state, START, tmp_path / "third.log")
    meters.append(third)
    assert third.port > 0


MISSING_SERIAL = "/dev/does-not-exist"


@pytest.fixture(params=["tcp-port-in-use", "serial-missing"])
def unusable_medium(request: pytest.FixtureRequest, busy_port: int) -> tuple[list[str], str]:
    """Command-line arguments naming a medium that cannot be opened, and what the error says."""
    if request.param == "tcp-port-in-use":
        return ["--tcp", f"127.0.0.1:{busy_port}"], "address already in use"
    # With a TCP listener too: the serial port fails after the listener was bound, and both go.
    return ["--tcp", "127.0.0.1:0", "--serial", MISSING_SERIAL], f"could not open port {MISSING_SERIAL}"


def test_a_medium_that_cannot_open_creates_no_state(
        tmp_path: Path, unusable_medium: tuple[list[str], str]) -> None:
    args, error = unusable_medium
    state = tmp_path / "state"
    line = refused_start(state, *args)
    assert error in line
    assert not state.exists()


def test_a_medium_that_cannot_open_leaves_an_existing_state_unchanged(
        tmp_path: Path, unusable_medium: tuple[list[str], str], meters: list[Meter]) -> None:  # noqa: F811
    args, error = unusable_medium
    state = tmp_path / "state"
    meter = Meter(state, START, tmp_path / "meter.log")
    meters.append(meter)
    meter.proc.terminate()
    meter.proc.wait(10)
    before = digest(state)
    line = refused_start(state, *args, "--start", "2026-02-01T00:00:00")
    assert error in line
    assert digest(state) == before
