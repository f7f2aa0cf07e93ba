"""Running a device on its media: TCP (wrapper), HDLC over TCP, a serial line, the optical port.

The composition of the transports, in the shape of dlms-cosem's medium x framing split: TCP
carries the wrapper (IEC 62056-9-7) or HDLC; serial lines and the optical probe carry HDLC
(IEC 62056-46). Also drives ``device.tick`` on the device's own deadlines and picks uvloop when
it is installed (a dependency wherever it installs).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from meter.link.framing import Framing
from meter.link.iec62056_21 import ModeEOpening
from meter.timebase import Timebase
from meter.transport.faults import FaultyLink, LinkFaults
from meter.transport.optical import SIGN_ON_BAUD, OpticalLine, OpticalPort
from meter.transport.pcap import DEFAULT_MAX_BYTES, AssociationKeys, Capture, TappedLine
from meter.transport.pty import PtyPort
from meter.transport.rfc2217 import Rfc2217Port
from meter.transport.push import LineWriter, PushSender, PushSource
from meter.transport.serial import DEFAULT_BAUD, SerialLink, restart_line
from meter.stack import Stack
from meter.transport.session import DeadlineTimer, StackSession, WireClock
from meter.transport.tcp import (
    DEFAULT_MAX_UNSENT,
    ConnectionLimits,
    ListenerHooks,
    bound_address,
    fd_headroom,
    start_tcp_server,
)
from meter.transport.tcp_setup import PortSetup, WrapperListener

__all__ = ["Device", "MeterService", "Ready", "ServeConfig", "loop_factory"]

log = logging.getLogger(__name__)

# The device is ticked at least this often (real seconds), so a deadline it learns about
# from a request (a new capture period, say) is never missed for long.
_MAX_TICK_INTERVAL = 1.0


class Device(Protocol):
    """What the transports need from meter.device.Device."""

    def new_stack(self, framing: Framing, *, serial: bool = False, now: Callable[[], float]) -> Stack:
        """``now``: the simulated time the device is brought to before each request."""

    def tick(self, now: float) -> None: ...

    def next_deadline(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """Which media to serve; None leaves a medium off. Port 0 binds any free port.

    ``max_connections`` caps the TCP connections of all listeners together (None: as many as
    the file-descriptor limit leaves room for); ``max_unsent_bytes`` bounds the replies one
    connection may leave unread before the meter stops reading it (profile [limits]).
    """

    tcp: tuple[str, int] | None = None
    hdlc_tcp: tuple[str, int] | None = None
    serial: str | None = None  # pyserial URL or device path, or "pty" for a new pty pair
    serial_baud: int = DEFAULT_BAUD
    optical: bool = False  # the probe on a new pty
    optical_rfc2217: tuple[str, int] | None = None  # the probe as an RFC 2217 server instead
    max_connections: int | None = None
    max_unsent_bytes: int = DEFAULT_MAX_UNSENT
    pcap: Path | None = None  # capture every medium to this pcapng file (meter/transport/pcap.py)
    pcap_max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class Ready:
    """Where each enabled medium actually listens."""

    tcp: tuple[str, int] | None = None
    hdlc_tcp: tuple[str, int] | None = None
    serial: str | None = None
    optical: str | None = None

    def line(self) -> str:
        """``READY tcp=HOST:PORT hdlc=HOST:PORT serial=PATH optical=PATH`` (enabled parts only)."""
        parts = ["READY"]
        if self.tcp:
            parts.append(f"tcp={self.tcp[0]}:{self.tcp[1]}")
        if self.hdlc_tcp:
            parts.append(f"hdlc={self.hdlc_tcp[0]}:{self.hdlc_tcp[1]}")
        if self.serial:
            parts.append(f"serial={self.serial}")
        if self.optical:
            parts.append(f"optical={self.optical}")
        return " ".join(parts)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop when importable (3-4x less CPU per request), else the stdlib loop.

    ``ACESM_NO_UVLOOP=1`` forces the stdlib loop (benchmarks compare both; a fallback if a
    uvloop release misbehaves).
    """
    if os.environ.get("ACESM_NO_UVLOOP", "") not in ("", "0"):
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


class MeterService:
    """Serves one device on the configured media until ``aclose()``.

    ``faults`` (meter/transport/faults.py) act on every medium: ``service.faults.update(...)``
    changes them live, ``service.faults.snapshot()`` tells settings and counters. A fleet may
    hand one LinkFaults to all its meters' services; by default each has its own, all off.
    """

    def __init__(
        self,
        device: Device | None,
        timebase: Timebase,
        opening_factory: Callable[[], ModeEOpening] = ModeEOpening,
        tcp_setup: Callable[[], PortSetup | None] = lambda: None,
        keys: Callable[[], Iterable[AssociationKeys]] = tuple,
        faults: LinkFaults | None = None,
    ) -> None:
        self._device = device
        self.faults = faults if faults is not None else LinkFaults()
        self._timebase = timebase
        self._opening_factory = opening_factory
        self._tcp_setup = tcp_setup  # the wrapper listener follows it (transport/tcp_setup.py)
        self._keys = keys  # the associations' keys, for the capture's key log
        self._capture: Capture | None = None
        self._wrapper: WrapperListener | None = None
        self._servers: list[asyncio.Server] = []
        self._bound: dict[str, tuple[str, int]] = {}  # "tcp"/"hdlc-tcp" -> where it listens
        self._closers: list[Callable[[], None]] = []
        # Serial and optical media opened by bind(): label -> attach the device, give the path.
        self._starters: dict[str, Callable[[], str]] = {}
        self._opened = False
        self._tick_timer: DeadlineTimer | None = None
        self._limits = ConnectionLimits(max_connections=1)
        self._pushes: PushSender | None = None
        #: Local lines a push may go out on (meter/transport/push.py): "serial", "optical".
        self._push_lines: dict[str, LineWriter] = {}
        #: serve --control: wraps each new connection's stack (medium label given) to count and
        #: trace it (meter/control/taps.py); None: stacks as the device makes them.
        self.stack_tap: Callable[[Stack, str], Stack] | None = None

    async def bind(self, config: ServeConfig) -> None:
        """Bind the TCP listeners and open the serial port and the ptys, serving nothing yet: a
        port in use or a missing serial device fails here, before the device is opened (and
        writes to its state). On failure, closes what was opened."""
        loop = asyncio.get_running_loop()
        self._opened = True
        self._limits = ConnectionLimits(_max_connections(config), config.max_unsent_bytes)
        try:
            if config.pcap is not None:
                self._capture = Capture.open(config.pcap, config.pcap_max_bytes)
                self._capture.keys = self._keys
                self._closers.append(self._capture.close)
            for label, framing, address in (("tcp", Framing.WRAPPER, config.tcp),
                                            ("hdlc-tcp", Framing.HDLC, config.hdlc_tcp)):
                if address is not None:
                    self._bound[label] = await self._tcp(address, framing, label)
            if config.serial is not None:
                self._starters["serial"] = self._serial(loop, config.serial, config.serial_baud)
            if config.optical or config.optical_rfc2217 is not None:
                self._starters["optical"] = await self._optical(loop, config.optical_rfc2217)
        except BaseException:
            await self.aclose()
            raise

    async def start(self, config: ServeConfig, device: Device | None = None,
                    pushes: PushSource | None = None) -> Ready:
        """Serve every configured medium (opening them first unless :meth:`bind` did), on
        ``device`` when given (a service made without one); on failure, closes what was opened
        and re-raises. ``pushes``: the device's pushes to send (meter/transport/push.py); they
        start with the "on connectivity" push once the listeners are up."""
        loop = asyncio.get_running_loop()
        if device is not None:
            self._device = device
        try:
            if not self._opened:
                await self.bind(config)
            if self._wrapper is not None:
                self._bound["tcp"] = await self._wrapper.follow_setup(serving=False)
            for server in self._servers:
                await server.start_serving()
            for label, (host, port) in self._bound.items():
                log.info("%s: listening on %s:%d", label, host, port)
            paths = {label: begin() for label, begin in self._starters.items()}
        except BaseException:
            await self.aclose()
            raise
        self._tick_timer = DeadlineTimer(loop, self._timebase, self._tick)
        if pushes is not None:
            self._pushes = PushSender(pushes, self._timebase.now, self._tick,
                                      lines=self._push_lines)
            self._pushes.connected()
        self._tick()
        return Ready(tcp=self._bound.get("tcp"), hdlc_tcp=self._bound.get("hdlc-tcp"),
                     serial=paths.get("serial"), optical=paths.get("optical"))

    async def aclose(self) -> None:
        """Stop listening and ticking. The device itself stays open (its owner closes it)."""
        if self._tick_timer is not None:
            self._tick_timer.cancel()
        if self._pushes is not None:
            await self._pushes.aclose()
            self._pushes = None
        for server in self._servers:
            server.close()
        for close in reversed(self._closers):
            close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._bound.clear()
        self._closers.clear()
        self._starters.clear()
        self._push_lines.clear()
        self._wrapper = None
        self._capture = None
        self._opened = False

    async def _tcp(self, address: tuple[str, int], framing: Framing, label: str) -> tuple[str, int]:
        if framing == Framing.WRAPPER:
            factory = self._stack_factory(framing)

            async def bind(host: str, port: int, hooks: ListenerHooks, serving: bool) -> asyncio.Server:
                return await start_tcp_server(host, port, factory, None, label, self._limits,
                                              start_serving=serving, hooks=hooks,
                                              capture=self._capture, faults=self.faults)

            self._wrapper = WrapperListener(address[0], bind, self._tcp_setup, self._servers, label)
            self._closers.append(self._wrapper.close)
            return await self._wrapper.bind(address[1])
        server = await start_tcp_server(
            address[0], address[1], self._stack_factory(framing), None, label, self._limits,
            start_serving=False, capture=self._capture, faults=self.faults, framing=framing,
        )
        self._servers.append(server)
        return bound_address(server)

    def _serial(self, loop: asyncio.AbstractEventLoop, url: str, baud: int) -> Callable[[], str]:
        """Open the port (or create the pty) now; the returned starter serves it."""
        factory = self._stack_factory(Framing.HDLC, serial=True)
        if url == "pty":
            port = PtyPort(loop, "serial-pty")
            self._closers.append(port.close)

            line = self._tapped(port, "serial")
            self._push_lines["serial"] = partial(_write_line, line)
            link = FaultyLink(self.faults, loop, Framing.HDLC, line.write)

            def serve_pty() -> str:
                session = StackSession(
                    factory, WireClock(loop), loop, link.send, StackSession.restart, "serial-pty"
                )
                self._closers.append(session.close)
                link.feed, link.block_sent = session.feed, session.get_block_sent
                link.on_cut = lambda: restart_line(session, link)
                line.start(link.receive, baud)
                return line.path

            return serve_pty
        flow = None if self._capture is None else self._capture.line_flow("serial")
        serial_link = SerialLink(url, factory, WireClock(loop), loop, baud, flow, self.faults)
        self._closers.append(serial_link.close)

        def serve_link() -> str:
            serial_link.start()
            return url

        return serve_link

    async def _optical(self, loop: asyncio.AbstractEventLoop,
                       rfc2217: tuple[str, int] | None) -> Callable[[], str]:
        """Create the probe's pty, or listen for its RFC 2217 client, now (its HDLC session
        comes with a sign-on); the returned starter serves it."""
        line: OpticalLine
        if rfc2217 is not None:
            server = Rfc2217Port(loop, rfc2217[0], rfc2217[1], SIGN_ON_BAUD)
            self._closers.append(server.close)
            await server.bind()
            line = server
        else:
            line = PtyPort(loop, "optical")
        port = OpticalPort(loop, WireClock(loop), self._stack_factory(Framing.HDLC, serial=True),
                           self._opening_factory, self._tapped(line, "optical"), self.faults)
        self._closers.append(port.close)
        self._push_lines["optical"] = port.push
        if rfc2217 is not None:
            server.on_hangup = port.hang_up

        def serve_optical() -> str:
            port.start()
            return port.path

        return serve_optical

    def _tapped(self, line: OpticalLine, name: str) -> OpticalLine:
        """``line`` as it is, or captured as interface ``name`` (serve --pcap)."""
        if self._capture is None:
            return line
        return TappedLine(line, self._capture.line_flow(name))

    @property
    def device(self) -> Device:
        if self._device is None:
            raise RuntimeError("MeterService has no device before start()")
        return self._device

    def _stack_factory(self, framing: Framing, *, serial: bool = False) -> Callable[[], Stack]:
        """``serial``: HDLC on a serial line (port, pty, optical probe), not over TCP."""
        medium = "serial" if serial else "tcp" if framing == Framing.WRAPPER else "hdlc-tcp"

        def make() -> Stack:
            stack = self.device.new_stack(framing, serial=serial, now=self._timebase.now)
            return stack if self.stack_tap is None else self.stack_tap(stack, medium)

        return make

    def wake(self) -> None:
        """Tick the device now and re-arm for its next deadline (after the control API moved
        its time or queued work for it)."""
        self._tick()

    def _tick(self) -> None:
        try:
            self.device.tick(self._timebase.now())
            if self._pushes is not None:
                self._pushes.poll()
        except Exception:
            log.exception("device tick failed")
        if self._tick_timer is not None:
            self._tick_timer.arm(self.device.next_deadline(), _MAX_TICK_INTERVAL)


def _write_line(line: OpticalLine, data: bytes) -> bool:
    """A push on the serial pty: the line is the consumer information line, always ready."""
    line.write(data)
    return True


def _max_connections(config: ServeConfig) -> int:
    """The configured cap, kept under what the file-descriptor limit leaves room for."""
    room = fd_headroom()
    if config.max_connections is None:
        return room
    if config.max_connections > room:
        log.warning("max_connections %d exceeds the %d the file-descriptor limit leaves room "
                    "for; serving at most %d", config.max_connections, room, room)
        return room
    return config.max_connections
