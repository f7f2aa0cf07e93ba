"""A real meter (Device with two days of history) served in process on a loop thread, on TCP
(wrapper), HDLC over TCP, a serial pty and the optical probe's pty, so that the tests can
change its link faults live through the service object (``service.faults``, what the control
API calls) while clients talk to it over real sockets and ptys."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from interop.clients import HDLC, WRAPPER, Endpoint
from support.paths import PROFILE

from meter.device.device import Device
from meter.timebase import Timebase
from meter.transport.faults import FaultSettings, LinkFaults
from meter.transport.service import MeterService, ServeConfig

T = TypeVar("T")

START = 1767225600.0  # 2026-01-01T00:00:00Z
HISTORY = 2 * 86400.0
MAX_UNSENT = 16 * 1024  # the meter's max_unsent_bytes here: small, so bounds show quickly


@dataclass
class Served:
    loop: asyncio.AbstractEventLoop
    service: MeterService
    tcp: Endpoint
    hdlc: Endpoint
    serial: str
    optical: str

    def endpoint(self, framing: str) -> Endpoint:
        return self.tcp if framing == WRAPPER else self.hdlc

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the loop's thread (where the meter lives)."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def faults(self, **settings: Any) -> dict[str, Any]:
        return self.call(lambda: self.service.faults.update(**settings))

    def snapshot(self) -> dict[str, Any]:
        return self.call(self.service.faults.snapshot)

    def counters(self) -> dict[str, int]:
        return dict(self.snapshot()["counters"])

    def clear(self) -> None:
        """Every fault off (defaults), counters 0, the generator at seed 0."""
        defaults = FaultSettings()
        names = [n for n in FaultSettings.__dataclass_fields__ if n != "cut_times"]
        self.faults(**{n: getattr(defaults, n) for n in names})
        self.call(self.service.faults.reset_counters)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition the meter's loop thread will make true."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.005)


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    state: Path = tmp_path_factory.mktemp("faults-meter")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    timebase = Timebase(start=START)

    async def start() -> tuple[MeterService, Device, Any]:
        device = Device.open(PROFILE, state, timebase, history=HISTORY)
        service = MeterService(device, timebase, faults=LinkFaults())
        ready = await service.start(ServeConfig(tcp=("127.0.0.1", 0), hdlc_tcp=("127.0.0.1", 0),
                                                serial="pty", optical=True,
                                                max_unsent_bytes=MAX_UNSENT))
        return service, device, ready

    service, device, ready = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=120)
    assert ready.tcp and ready.hdlc_tcp and ready.serial and ready.optical
    served = Served(loop, service, Endpoint(WRAPPER, *ready.tcp), Endpoint(HDLC, *ready.hdlc_tcp),
                    ready.serial, ready.optical)
    try:
        yield served
    finally:
        asyncio.run_coroutine_threadsafe(service.aclose(), loop).result(timeout=10)
        served.call(device.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


@pytest.fixture
def meter(served: Served) -> Iterator[Served]:
    """The served meter with every fault off and counters at 0, before and after the test."""
    served.clear()
    yield served
    served.clear()
