"""Interop fixtures: one meter subprocess per test session, and client drivers parametrized over
both client stacks (gurux-dlms, dlms-cosem) and both framings (TCP wrapper, HDLC over TCP).

The meter is started exactly as a head-end tester would (`python -m meter.cli serve ...`) and is
reached only through its sockets; its READY line names the ports it bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.process import MeterProcess, meter_process

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

# Invocation counter object of the management security context (profiles/acesm.toml).
INVOCATION_COUNTER = Ref(1, "0.0.43.1.0.255", 2)


@dataclass(frozen=True, slots=True)
class Meter:
    process: MeterProcess
    tcp: Endpoint
    hdlc: Endpoint

    def endpoint(self, framing: str) -> Endpoint:
        return self.tcp if framing == WRAPPER else self.hdlc


@pytest.fixture(scope="session")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    with serve(tmp_path_factory.mktemp("meter-state")) as started:
        yield started


@contextmanager
def serve(state: Path, history: str = "3d") -> Iterator[Meter]:
    """``acesm-meter serve`` on ``state`` with ``history`` back-filled, until the block ends."""
    with meter_process(state, "--tcp", "127.0.0.1:0", "--hdlc-over-tcp", "127.0.0.1:0",
                       "--history", history) as process:
        yield Meter(process, Endpoint(WRAPPER, *process.address("tcp")),
                    Endpoint(HDLC, *process.address("hdlc")))


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
    if meter.process.proc.poll() is not None:
        pytest.fail(f"meter exited ({meter.process.proc.returncode}):\n"
                    f"{meter.process.log_text()[-4000:]}")
