"""DLMS/COSEM over TCP: an asyncio server with one sans-IO stack per connection.

IEC 62056-9-7 (TCP-UDP/IP communication profile; port 4059 is IANA's "dlms-cosem") carries
wrapper-framed APDUs; HDLC-over-TCP (IEC 62056-46 frames on a stream, as used by gateways and
Gurux' ``--hdlc`` mode) carries HDLC frames. Which framing a connection speaks is the stack's
business; this module only pumps bytes. It uses asyncio Protocols, not streams: measured at
60-80 µs of CPU per request (18-20 µs on uvloop) against ~110 µs through StreamReader/Writer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import cast

from meter.timebase import Timebase
from meter.transport.session import StackFactory, StackSession

__all__ = ["DEFAULT_PORT", "bound_address", "parse_host_port", "start_tcp_server"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4059  # IANA "dlms-cosem" (IEC 62056-9-7)


class _StackProtocol(asyncio.Protocol):
    """One TCP connection: bytes into its own stack, replies back out."""

    def __init__(self, stack_factory: StackFactory, timebase: Timebase, label: str) -> None:
        self._factory = stack_factory
        self._timebase = timebase
        self._label = label
        self._transport: asyncio.Transport | None = None
        self._session: StackSession | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # create_server gives stream transports
        self._transport = transport
        peer = transport.get_extra_info("peername")
        name = f"{self._label} {peer[0]}:{peer[1]}" if peer else self._label
        try:
            self._session = StackSession(
                self._factory,
                self._timebase,
                asyncio.get_running_loop(),
                transport.write,
                self._close_transport,
                name,
            )
        except Exception:
            log.exception("%s: could not create a stack; closing", name)
            transport.close()
            return
        log.info("%s: connected", name)

    def data_received(self, data: bytes) -> None:
        if self._session is not None:
            self._session.feed(data)

    def eof_received(self) -> bool | None:
        return None  # half-close from the client: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._session is not None:
            log.info("%s: disconnected%s", self._session.name, f" ({exc})" if exc else "")
            self._session.close()
            self._session = None

    def _close_transport(self, _session: StackSession) -> None:
        # close() flushes what is already buffered (the stack's last reply) before closing.
        if self._transport is not None:
            self._transport.close()


async def start_tcp_server(
    host: str,
    port: int,
    stack_factory: StackFactory,
    timebase: Timebase,
    label: str = "tcp",
    *,
    start_serving: bool = True,
) -> asyncio.Server:
    """Listen on host:port (port 0 = any free port); every connection gets ``stack_factory()``.

    ``start_serving=False`` binds without accepting or logging (``server.start_serving()``
    later, by a caller that logs where it listens)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _StackProtocol(stack_factory, timebase, label),
        host,
        port,
        reuse_address=True,
        start_serving=start_serving,
    )
    if start_serving:
        log.info("%s: listening on %s", label, ", ".join(_fmt(a) for a in _sockets(server)))
    return server


def bound_address(server: asyncio.Server) -> tuple[str, int]:
    """The (host, port) the first listening socket is bound to; tells port 0's real port."""
    host, port = _sockets(server)[0][:2]
    return str(host), int(port)


def parse_host_port(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``"[HOST:]PORT"`` -> (host, port); ``[::1]:4059`` for IPv6 hosts."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    host = host.strip("[]") or default_host
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, number


def _sockets(server: asyncio.Server) -> list[tuple[str, int]]:
    inet = (socket.AF_INET, socket.AF_INET6)
    return [s.getsockname() for s in server.sockets if s.family in inet]


def _fmt(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"
