"""A pseudo-terminal pair standing in for the meter's serial or optical port (POSIX only).

The meter keeps the master side; clients open the slave path with pyserial as if it were a
real port. The meter also keeps the slave open, so a client closing and reopening the path
does not hang up the master (reads would otherwise fail with EIO until the next open).
A pty carries no real line speed, so ``set_baud`` only records the agreed rate in the slave's
termios (where ``stty -F PATH`` shows it) and logs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import termios
import tty
from collections.abc import Callable

__all__ = ["PtyPort"]

log = logging.getLogger(__name__)

_READ_SIZE = 4096


class PtyPort:
    """Master side of a pty on the event loop: ``on_data`` gets what the client writes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, label: str = "pty") -> None:
        self._loop = loop
        self._label = label
        self._master, self._slave = os.openpty()
        # Raw 8N1, no echo, no CR/LF mapping: bytes pass exactly as written (HDLC is binary).
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.baud = 0
        self._on_data: Callable[[bytes], None] = lambda _data: None
        self._pending = bytearray()
        self._closed = False

    def start(self, on_data: Callable[[bytes], None], baud: int) -> None:
        """Begin delivering the client's bytes to ``on_data``."""
        self._on_data = on_data
        self.set_baud(baud)
        self._loop.add_reader(self._master, self._readable)
        log.info("%s: serving on %s", self._label, self.path)

    def write(self, data: bytes) -> None:
        """Queue bytes for the client; never blocks the loop."""
        if self._closed or not data:
            return
        if self._pending:
            self._pending += data
            return
        sent = self._try_write(data)
        if sent < len(data):
            self._pending += data[sent:]
            self._loop.add_writer(self._master, self._writable)

    def set_baud(self, baud: int) -> None:
        """Record the line speed the protocol agreed on (IEC 62056-21 mode E switches it)."""
        speed = getattr(termios, f"B{baud}", None)
        if speed is not None:
            attrs = termios.tcgetattr(self._slave)
            attrs[4] = attrs[5] = speed  # ispeed, ospeed
            termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        if baud != self.baud:
            log.info("%s: line speed %d baud", self._label, baud)
        self.baud = baud

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._master)
        self._loop.remove_writer(self._master)
        os.close(self._master)
        os.close(self._slave)

    def _try_write(self, data: bytes | bytearray) -> int:
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            log.warning("%s: write failed, %d byte(s) dropped: %s", self._label, len(data), exc)
            return len(data)

    def _writable(self) -> None:
        sent = self._try_write(self._pending)
        del self._pending[:sent]
        if not self._pending:
            self._loop.remove_writer(self._master)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO needs the slave closed, which we never do while serving
            log.error("%s: read failed, port given up: %s", self._label, exc)
            self._loop.remove_reader(self._master)
            return
        if data:
            self._on_data(data)
