"""Fakes for the transport tests: an echo stack honouring the MeterStack contract, a device."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

T = TypeVar("T")


class EchoStack:
    """Echoes each newline-ended message (chunks may split them, as on a serial line).

    b"boom\\n" raises, b"close\\n" answers b"bye\\n" and closes, b"timer\\n" answers
    b"armed\\n" and arms a deadline 5 simulated seconds on; when it passes, handle_timer
    answers b"tick\\n".
    """

    instances: list[EchoStack] = []

    def __init__(self, framing: str = "wrapper") -> None:
        self.framing = framing
        self.closed = False
        self.lost = False
        self.deadline: float | None = None
        self.received: list[tuple[bytes, float]] = []
        self._buffer = b""
        self.started: float | None = None
        EchoStack.instances.append(self)

    def connection_made(self, now: float) -> None:
        self.started = now

    def receive_data(self, data: bytes, now: float) -> bytes:
        *messages, self._buffer = (self._buffer + data).split(b"\n")
        return b"".join(self._message(m + b"\n", now) for m in messages)

    def _message(self, data: bytes, now: float) -> bytes:
        self.received.append((data, now))
        if data == b"boom\n":
            raise RuntimeError("stack bug")
        if data == b"close\n":
            self.closed = True
            return b"bye\n"
        if data == b"timer\n":
            self.deadline = now + 5.0
            return b"armed\n"
        return data

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> bytes:
        if self.deadline is None or now < self.deadline:
            return b""
        self.deadline = None
        return b"tick\n"

    def connection_lost(self) -> None:
        self.lost = True


class FakeDevice:
    def __init__(self, tick_every: float | None = None) -> None:
        self.ticks: list[float] = []
        self.tick_every = tick_every
        self.closed = False
        self.framings: list[str] = []

    def new_stack(self, framing: str, *, serial: bool = False,
                  now: Callable[[], float] = lambda: 0.0) -> EchoStack:
        self.framings.append(framing)
        return EchoStack(framing)

    def tick(self, now: float) -> None:
        self.ticks.append(now)

    def next_deadline(self) -> float | None:
        if self.tick_every is None or not self.ticks:
            return None
        return self.ticks[-1] + self.tick_every

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def _reset_instances() -> None:
    EchoStack.instances.clear()


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a background thread, for tests whose client side blocks."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> T:
    """Run ``fn`` on the loop thread and return its result."""

    async def call() -> T:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=5)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition that real I/O on another thread will make true."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)
