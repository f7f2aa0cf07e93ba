"""The wrapper listener as the TCP-UDP setup object drives it (class 41, Blue Book 4.9.1).

- TCP_UDP_port: where the listener is. A SET moves it once the connection that made it ends
  (the head end gets its answer and its session on the old port): the meter then listens on
  the new port and no longer on the old one; the connections open on the old port are kept. A
  port a head end set is persisted, so the meter starts there; until one is set, the command
  line's address holds and TCP_UDP_port reads the port it bound.
- nb_of_sim_conn: wrapper connections served at once. The shared [limits] max_connections also
  applies, and the smaller wins: that one bounds what the meter's file descriptors hold (the
  meter's own safety, which no head end may raise), this one is the head end's choice below it.
- MSS: once a head end sets it, TCP_MAXSEG on the listening socket, so the SYN-ACK of every
  later connection announces it and the accepted sockets inherit it (Linux refuses values
  under 88: logged, the OS's choice stays).

The settings are read when the listener starts and whenever a wrapper connection ends.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

from meter.transport.tcp import ListenerHooks, bound_address

__all__ = ["PortSetup", "WrapperListener"]

log = logging.getLogger(__name__)


class PortSetup(Protocol):
    """What the listener reads of meter.cosem.tcp_udp_setup.TcpUdpSetup."""

    @property
    def port(self) -> int | None: ...

    @property
    def max_connections(self) -> int | None: ...

    @property
    def mss(self) -> int | None: ...

    def listening_on(self, port: int) -> None: ...


#: Binds (host, port) with these hooks, serving at once or not.
Bind = Callable[[str, int, ListenerHooks, bool], Awaitable[asyncio.Server]]


class WrapperListener:
    """The wrapper's asyncio server, moved and tuned as ``setup()`` says (None: no setup
    object, the command line alone); ``servers`` holds its current server (the owner starts
    and closes them), replaced on a move."""

    def __init__(self, host: str, bind: Bind, setup: Callable[[], PortSetup | None],
                 servers: list[asyncio.Server], label: str = "tcp") -> None:
        self._host = host
        self._bind = bind
        self._setup = setup
        self._servers = servers
        self._label = label
        self._server: asyncio.Server | None = None
        self._active = 0
        self._mss: int | None = None  # as applied to the listening socket
        self._refused_port: int | None = None  # a move that failed; not retried for that port
        self._follower: asyncio.Task[None] | None = None
        self._closed = False  # close() called: its connections end as the servers close
        self._here: int | None = None  # the port it listens on (kept: asked at every close)

    async def bind(self, port: int) -> tuple[str, int]:
        """Bind the command line's port, not serving yet (before the device is open)."""
        self._server = await self._bind(self._host, port, self, False)
        self._servers.append(self._server)
        address = bound_address(self._server)
        self._here = address[1]
        return address

    @property
    def port(self) -> int | None:
        """The port it listens on now (None before :meth:`bind`)."""
        return self._here

    async def follow_setup(self, serving: bool) -> tuple[str, int]:
        """Move to the setup's port and apply its MSS; returns where the listener is."""
        assert self._server is not None, "bind() first"
        setup = self._setup()
        here = bound_address(self._server)
        if setup is None:
            return here
        port = setup.port
        if port is not None and port != here[1] and port != self._refused_port:
            try:
                moved = await self._bind(self._host, port, self, serving)
            except OSError as exc:
                self._refused_port = port
                log.error("%s: cannot move to port %d (TCP-UDP setup), staying on %d: %s",
                          self._label, port, here[1], exc)
            else:
                self._server.close()  # stops listening; the open connections stay
                self._servers[self._servers.index(self._server)] = moved
                self._server, self._mss = moved, None
                here = bound_address(moved)
                self._here = here[1]
                log.info("%s: listening on %s:%d (TCP-UDP setup port)", self._label, *here)
        setup.listening_on(here[1])
        self._apply_mss(setup.mss)
        return here

    def _apply_mss(self, mss: int | None) -> None:
        if mss is None or mss == self._mss or self._server is None:
            return
        self._mss = mss
        for sock in self._server.sockets:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
            except OSError as exc:
                log.warning("%s: MSS %d not applied (the OS refuses it): %s", self._label, mss, exc)
                return
            log.debug("%s: MSS %d (read back %d)", self._label, mss,
                      sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))

    # --- ListenerHooks ---------------------------------------------------------------------

    def admits(self) -> bool:
        setup = self._setup()
        cap = None if setup is None else setup.max_connections
        return cap is None or self._active < cap

    def opened(self) -> None:
        self._active += 1

    def closed(self) -> None:
        self._active -= 1
        if self._closed:
            return  # the servers are closing: nothing to move (they have no socket left)
        if self._follower is not None and not self._follower.done():
            return  # a move under way reads the setup when it is done
        # Decided here, without a task: only a move awaits a bind. Most connections change
        # nothing, and a fleet ends thousands a second (a task each was 2.5 % of a read).
        try:
            moves = self._apply_setup()
        except Exception:  # a bug here must not stop the meter serving
            log.exception("%s: applying the TCP-UDP setup failed", self._label)
            return
        if moves:
            self._follower = asyncio.get_running_loop().create_task(self._follow())

    def _apply_setup(self) -> bool:
        """What of the setup needs no bind (TCP_UDP_port read back, the MSS); True when it
        asks for a move (follow_setup does it)."""
        setup = self._setup()
        here = self._here
        if setup is None or here is None:
            return False
        port = setup.port
        if port is not None and port != here and port != self._refused_port:
            return True
        setup.listening_on(here)
        self._apply_mss(setup.mss)
        return False

    async def _follow(self) -> None:
        try:
            await self.follow_setup(serving=True)
        except Exception:  # a bug here must not stop the meter serving
            log.exception("%s: applying the TCP-UDP setup failed", self._label)

    def close(self) -> None:
        """No more moves (the service is closing its servers)."""
        self._closed = True
        if self._follower is not None:
            self._follower.cancel()
