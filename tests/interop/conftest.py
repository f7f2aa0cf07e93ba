"""Interop fixtures: one meter subprocess per test session, and client drivers parametrized over
both client stacks (gurux-dlms, dlms-cosem) and both framings (TCP wrapper, HDLC over TCP).

The meter is started exactly as a head-end tester would (`python -m meter.cli serve ...`) and is
reached only through its sockets; its READY line names the ports it bound.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .clients import (
    DRIVERS,
    HDLC,
    MANAGEMENT,
    PUBLIC,
    WRAPPER,
    Association,
    Driver,
    Endpoint,
    GuruxDriver,
    Ref,
)

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"READY tcp=([\w.]+):(\d+) hdlc=([\w.]+):(\d+)")
START_TIMEOUT = 20.0
# Invocation counter object of the management security context (profiles/acesm.toml).
INVOCATION_COUNTER = Ref(1, "0.0.43.1.0.255", 2)


@dataclass(frozen=True, slots=True)
class Meter:
    process: subprocess.Popen[str]
    tcp: Endpoint
    hdlc: Endpoint
    stderr: list[str]

    def endpoint(self, framing: str) -> Endpoint:
        return self.tcp if framing == WRAPPER else self.hdlc


def _drain(stream: object, sink: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)


@pytest.fixture(scope="session")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    with serve(tmp_path_factory.mktemp("meter-state")) as started:
        yield started


@contextmanager
def serve(state: Path, history: str = "3d") -> Iterator[Meter]:
    """``acesm-meter serve`` on ``state`` with ``history`` back-filled, until the block ends."""
    command = [
        sys.executable, "-m", "meter.cli", "serve",
        "--tcp", "127.0.0.1:0", "--hdlc-over-tcp", "127.0.0.1:0",
        "--state", str(state), "--start", "2026-01-01T00:00:00Z", "--history", history,
    ]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    stderr: list[str] = []
    threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True).start()
    lines: list[str] = []

    def read_ready() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if READY.search(line):
                return

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    match = READY.search(lines[-1]) if lines else None
    if match is None:
        process.kill()
        process.wait(5)
        time.sleep(0.1)
        pytest.fail(
            f"meter did not print READY within {START_TIMEOUT} s (exit {process.returncode});\n"
            f"stdout: {''.join(lines)!r}\nstderr:\n{''.join(stderr)[-4000:]}"
        )
    tcp = Endpoint(WRAPPER, match.group(1), int(match.group(2)))
    hdlc = Endpoint(HDLC, match.group(3), int(match.group(4)))
    yield Meter(process, tcp, hdlc, stderr)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def next_invocation_counter(meter: Meter, framing: str) -> int:
    """The management IC to use next: the public client reads 0.0.43.1.0.255 first (DLMS UA
    practice for frame counters, cosem-reference.md use case 20); +1 is above both readings of it
    (last received or next expected), so the meter's replay check passes either way."""
    driver = GuruxDriver(meter.endpoint(framing), PUBLIC)
    driver.associate()
    try:
        outcome = driver.get(INVOCATION_COUNTER)
        assert outcome.ok, f"public read of the invocation counter failed: {outcome.result}"
        return int(outcome.value) + 1
    finally:
        driver.release()


Connect = Callable[[Association], Driver]


@pytest.fixture(params=["gurux", "dlms-cosem"])
def client_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[WRAPPER, HDLC])
def framing(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(meter: Meter, client_name: str, framing: str) -> Iterator[Connect]:
    """Open, associate and (at teardown) release drivers of the parametrized client and framing."""
    opened: list[Driver] = []

    def open_driver(association: Association) -> Driver:
        counter = next_invocation_counter(meter, framing) if association is MANAGEMENT else 0
        driver = DRIVERS[client_name](meter.endpoint(framing), association, counter)
        opened.append(driver)
        driver.associate()
        return driver

    yield open_driver
    for driver in opened:
        try:
            driver.release()
        except Exception:  # noqa: BLE001 - the test under way already reports the real failure
            pass
    if meter.process.poll() is not None:
        pytest.fail(f"meter exited ({meter.process.returncode}):\n{''.join(meter.stderr)[-4000:]}")
