from __future__ import annotations

import asyncio
import os

import serial

from meter.timebase import Timebase
from meter.transport.serial import SerialLink

from .conftest import EchoStack, on_loop, wait_for


class Greeter:
    """Writes b"hello" from its first timer, then records what it hears."""

    def __init__(self) -> None:
        self.closed = False
        self.deadline: float | None = 0.0
        self.heard = bytearray()

    def connection_made(self, now: float) -> None:
        pass

    def receive_data(self, data: bytes, now: float) -> bytes:
        self.heard += data
        return b""

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> bytes:
        self.deadline = None
        return b"hello"

    def connection_lost(self) -> None:
        pass


def test_loop_url_carries_bytes_through_the_reader_thread(
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    greeter = Greeter()
    link = on_loop(
        loop_thread, lambda: SerialLink("loop://", lambda: greeter, Timebase(), loop_thread)
    )
    on_loop(loop_thread, link.start)
    # The stack's first deadline is due at once; loop:// echoes what its timer writes.
    wait_for(lambda: bytes(greeter.heard) == b"hello")
    on_loop(loop_thread, link.close)


def test_pty_path_opened_with_pyserial(loop_thread: asyncio.AbstractEventLoop) -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        link = on_loop(loop_thread, lambda: SerialLink(path, EchoStack, Timebase(), loop_thread))
        on_loop(loop_thread, link.start)
        os.write(master, b"\x7eabc\n")
        assert _read_exactly(master, 5) == b"\x7eabc\n"
        # The stack closing (HDLC DISC) makes room for a fresh one on the same line.
        os.write(master, b"close\n")
        assert _read_exactly(master, 4) == b"bye\n"
        wait_for(lambda: len(EchoStack.instances) == 2)
        os.write(master, b"again\n")
        assert _read_exactly(master, 6) == b"again\n"
        assert EchoStack.instances[1].received[0][0] == b"again\n"
        on_loop(loop_thread, link.close)
    finally:
        os.close(master)
        os.close(slave)


def test_failing_stack_is_replaced(loop_thread: asyncio.AbstractEventLoop) -> None:
    master, slave = os.openpty()
    try:
        link = on_loop(
            loop_thread,
            lambda: SerialLink(os.ttyname(slave), EchoStack, Timebase(), loop_thread),
        )
        on_loop(loop_thread, link.start)
        os.write(master, b"boom\n")
        wait_for(lambda: len(EchoStack.instances) == 2)
        assert EchoStack.instances[0].lost
        os.write(master, b"ok\n")
        assert _read_exactly(master, 3) == b"ok\n"
        on_loop(loop_thread, link.close)
    finally:
        os.close(master)
        os.close(slave)


def test_defaults_are_9600_8n1(loop_thread: asyncio.AbstractEventLoop) -> None:
    link = on_loop(loop_thread, lambda: SerialLink("loop://", EchoStack, Timebase(), loop_thread))
    port = link._port  # noqa: SLF001
    assert (port.baudrate, port.bytesize, port.parity, port.stopbits) == (
        9600,
        serial.EIGHTBITS,
        serial.PARITY_NONE,
        serial.STOPBITS_ONE,
    )
    on_loop(loop_thread, link.close)


def _read_exactly(fd: int, n: int) -> bytes:
    import select

    out = b""
    while len(out) < n:
        ready, _, _ = select.select([fd], [], [], 5.0)
        assert ready, f"timed out after {out!r}"
        out += os.read(fd, n - len(out))
    return out
