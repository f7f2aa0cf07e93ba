"""HDLC over a serial line (IEC 62056-46 frames on a 9600 8N1 port, IEC 62056-42 physical layer).

The port is opened with pyserial's ``serial_for_url``, so a device node, a pty path, ``loop://``
and ``socket://host:port`` all work. pyserial ports block, so a reader thread hands received
bytes to the event loop (``call_soon_threadsafe``); the stack itself only ever runs on the loop
thread, like every other stack of the device. A serial line outlives associations: when a stack
closes (DISC) or fails, a fresh one waits for the next client on the same port.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import serial  # pyserial (absolute import: this module is meter.transport.serial)

from meter.link.framing import Framing
from meter.transport.faults import FaultyLink, LinkFaults
from meter.transport.pcap import Flow, tapped
from meter.transport.session import Clock, StackFactory, StackSession

__all__ = ["DEFAULT_BAUD", "SerialLink", "restart_line"]

log = logging.getLogger(__name__)

DEFAULT_BAUD = 9600
# How long a blocked read may delay close(); pyserial has no portable read cancel for all URLs.
_READ_TIMEOUT = 0.05


class SerialLink:
    """One serial port serving HDLC through a stack from ``stack_factory``.

    Construct it, start it and close it on the event-loop thread (the stack's timers run on
    ``loop``); ``clock`` times them (wire time: a WireClock in service); ``flow`` taps the
    line when capturing (serve --pcap); ``faults`` make it misbehave (a cut restarts the
    stack, as a line drop would).
    """

    def __init__(
        self,
        url: str,
        stack_factory: StackFactory,
        clock: Clock,
        loop: asyncio.AbstractEventLoop,
        baudrate: int = DEFAULT_BAUD,
        flow: Flow | None = None,
        faults: LinkFaults | None = None,
    ) -> None:
        self.url = url
        self._loop = loop
        self._port = serial.serial_for_url(
            url,
            baudrate=baudrate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=_READ_TIMEOUT,
        )
        self._stack_factory = stack_factory
        self._clock = clock
        self._flow = flow
        self._link = None if faults is None else FaultyLink(faults, loop, Framing.HDLC,
                                                            self._write)
        self._session: StackSession | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name=f"serial {url}", daemon=True)

    def start(self) -> None:
        """Serve the port opened at construction: a stack is made only now, so the port can be
        opened (and fail) before the device that makes stacks exists."""
        link = self._link
        session = StackSession(self._stack_factory, self._clock, self._loop,
                               self._write if link is None else link.send,
                               StackSession.restart, f"serial {self.url}")
        self._session = session
        if link is not None:
            link.feed, link.block_sent = session.feed, session.get_block_sent
            link.on_cut = lambda: restart_line(session, link)
        self._thread.start()
        log.info("serial: serving HDLC on %s at %d baud", self.url, self._port.baudrate)

    def close(self) -> None:
        self._stop.set()
        if self._session is not None:
            self._session.close()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._port.close()

    def _write(self, data: bytes) -> None:
        if self._flow is not None:
            self._flow.sent(data)
        try:
            self._port.write(data)
        except serial.SerialException as exc:
            log.warning("serial %s: write failed: %s", self.url, exc)

    def _read_loop(self) -> None:
        session = self._session
        assert session is not None  # start() makes it before the thread runs
        feed: Callable[[bytes], None] = (session.feed if self._link is None
                                         else self._link.receive)
        if self._flow is not None:
            feed = tapped(self._flow.received, feed)
        while not self._stop.is_set():
            try:
                data = self._port.read(max(1, self._port.in_waiting))
            except OSError as exc:  # SerialException, or EIO from a vanished pty/USB adapter
                if not self._stop.is_set():
                    log.error("serial %s: read failed, port given up: %s", self.url, exc)
                return
            if data and not self._stop.is_set():
                self._loop.call_soon_threadsafe(feed, bytes(data))


def restart_line(session: StackSession, link: FaultyLink) -> None:
    """A link fault cut a line (serial, pty): the stack starts afresh, as after a line drop."""
    session.restart()
    link.reopen()
