"""The optical probe's line offered on TCP as an RFC 2217 (Telnet Com Port Control) server.

A head end on another machine opens it with pyserial's ``rfc2217://HOST:PORT`` URL (or any RFC
2217 client) as if the probe were a local port. RFC 2217 carries the port's settings in Telnet
subnegotiations beside the data, so the IEC 62056-21 mode E switch (sign-on at 300 baud, then
the agreed rate) travels as SET-BAUDRATE commands, which a plain TCP bridge cannot carry.

The Telnet/RFC 2217 side is pyserial's own server half, ``serial.rfc2217.PortManager`` (option
negotiation, IAC escaping, the SET-* answers): it applies the client's settings to a serial
port object, here :class:`_ClientLine`, a never-opened ``serial.Serial`` that only records them.
The meter's own line speed is :attr:`Rfc2217Port.baud` (set by the optical opening); bytes pass
only while the two agree, as on a real optical head, where a client at the wrong rate gets
nothing readable either way. Only the baud rate is compared: the opening ignores the parity bit
(meter/link/iec62056_21.py), so 7E1 and 8N1 clients both sign on.

One client at a time (one probe on one optical port); a second connection is refused.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import cast

import serial  # pyserial (absolute import: meter.transport.serial is the serial-line medium)
from serial import rfc2217
from serial.rfc2217 import PortManager

from meter.transport.tcp import parse_host_port

__all__ = ["Rfc2217Port", "parse_rfc2217_url"]

log = logging.getLogger(__name__)

SCHEME = "rfc2217://"
# A Telnet subnegotiation (IAC SB ... IAC SE) the client leaves open grows PortManager's buffer
# with every byte; the longest RFC 2217 one (SET-BAUDRATE) holds 6 bytes.
_MAX_SUBNEGOTIATION = 64


def parse_rfc2217_url(text: str, default_host: str) -> tuple[str, int]:
    """``rfc2217://[HOST:]PORT`` -> (host, port); the host defaults to ``default_host``."""
    if not text.startswith(SCHEME):
        raise ValueError(f"not an rfc2217:// URL: {text!r}")
    return parse_host_port(text.removeprefix(SCHEME).rstrip("/"), default_host)


class _ClientLine(serial.Serial):
    """The client's end of the line as its RFC 2217 commands set it; never opened.

    PortManager writes the settings to it (SerialBase's setters only store them while the port
    is closed) and reads the modem lines from it: an optical head has none, so they are off.
    """

    def __init__(self, baudrate: int) -> None:
        super().__init__(None, baudrate)

    @property
    def cts(self) -> bool:
        return False

    @property
    def dsr(self) -> bool:
        return False

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return False

    def reset_input_buffer(self) -> None:
        """Nothing is buffered on the meter's side of the line."""

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on the meter's side of the line."""


class _Client(asyncio.Protocol):
    """One RFC 2217 connection: Telnet in and out through PortManager, data to the port."""

    def __init__(self, port: Rfc2217Port) -> None:
        self._port = port
        self._transport: asyncio.Transport | None = None
        self.line = _ClientLine(port.sign_on_baud)
        self._manager: PortManager | None = None
        self.name = port.label

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.name = f"{self._port.label} {peer[0]}:{peer[1]}"
        if not self._port.attach(self):
            log.warning("%s: the optical port has a client already: connection refused", self.name)
            transport.close()
            return
        log.info("%s: connected", self.name)
        # typeshed types both as serial.rfc2217.Serial (the client class); PortManager uses
        # the settings and modem lines of the one and write() of the other.
        self._manager = PortManager(cast(rfc2217.Serial, self.line), cast(rfc2217.Serial, self))

    def write(self, data: bytes) -> None:
        """Telnet bytes from PortManager (option answers, notifications) to the client."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def send(self, data: bytes) -> None:
        """Line data from the meter: escaped, and only while the client runs at its rate."""
        if self._manager is None or not data:
            return
        if self.line.baudrate != self._port.baud:
            log.debug("%s: %d byte(s) sent at %d baud lost on a client at %d", self.name,
                      len(data), self._port.baud, self.line.baudrate)
            return
        self.write(b"".join(self._manager.escape(data)))

    def data_received(self, data: bytes) -> None:
        manager = self._manager
        if manager is None:
            return
        # Data and commands share the stream: bytes before a SET-BAUDRATE went at the old rate
        # (a mode E ack and the client's switch behind it often come in one segment).
        chunk = bytearray()
        rate = self.line.baudrate
        try:
            for byte in manager.filter(data):
                if self.line.baudrate != rate:
                    self._deliver(chunk, rate)
                    chunk.clear()
                    rate = self.line.baudrate
                chunk += byte
        except (ValueError, KeyError, IndexError, struct.error) as exc:
            # PortManager catches ValueError only around the settings it applies; a malformed
            # subnegotiation (an unknown stop-bit code, say) raises out of filter().
            log.warning("%s: bad RFC 2217 command, closing: %r", self.name, exc)
            self.close()
            return
        if manager.suboption is not None and len(manager.suboption) > _MAX_SUBNEGOTIATION:
            log.warning("%s: Telnet subnegotiation longer than %d bytes, closing", self.name,
                        _MAX_SUBNEGOTIATION)
            self.close()
            return
        self._deliver(chunk, rate)

    def _deliver(self, data: bytearray, rate: int) -> None:
        if not data:
            return
        if rate != self._port.baud:
            log.debug("%s: %d byte(s) at %d baud lost on a line at %d", self.name, len(data),
                      rate, self._port.baud)
            return
        self._port.received(bytes(data))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._manager is not None:
            log.info("%s: disconnected%s", self.name, f" ({exc})" if exc else "")
            self._port.detach(self)
        self._manager = None
        self._transport = None


class Rfc2217Port:
    """The optical line as an RFC 2217 server: the medium of an OpticalPort (its ``line``).

    :meth:`bind` listens; until :meth:`start`, what a client sends is lost (no meter behind the
    probe yet). ``sign_on_baud`` is what a client's line is taken to run at before it sets one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int,
                 sign_on_baud: int, label: str = "optical-rfc2217") -> None:
        self._loop = loop
        self._host = host
        self._port = port
        self.sign_on_baud = sign_on_baud
        self.label = label
        self.baud = 0
        self._server: asyncio.Server | None = None
        self._client: _Client | None = None
        self._on_data: Callable[[bytes], None] = lambda _data: None
        #: Called when a client disconnects (OpticalPort.hang_up: the next one signs on anew).
        self.on_hangup: Callable[[], None] = lambda: None

    async def bind(self) -> None:
        self._server = await self._loop.create_server(lambda: _Client(self), self._host,
                                                      self._port, reuse_address=True)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._host, self._port = str(host), int(port)

    @property
    def path(self) -> str:
        """The URL a client opens, with the port really bound."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{SCHEME}{host}:{self._port}"

    def start(self, on_data: Callable[[bytes], None], baud: int) -> None:
        self._on_data = on_data
        self.set_baud(baud)
        log.info("%s: serving on %s", self.label, self.path)

    def write(self, data: bytes) -> None:
        if self._client is not None:
            self._client.send(data)

    def set_baud(self, baud: int) -> None:
        """The meter's line speed (IEC 62056-21 mode E switches it)."""
        if baud != self.baud:
            log.info("%s: line speed %d baud", self.label, baud)
        self.baud = baud

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.close()

    # --- from the connection ------------------------------------------------------------

    def attach(self, client: _Client) -> bool:
        if self._client is not None:
            return False
        self._client = client
        return True

    def detach(self, client: _Client) -> None:
        if self._client is client:
            self._client = None
            self.on_hangup()

    def received(self, data: bytes) -> None:
        self._on_data(data)
