"""Serving a fleet (meter/device/fleet.py) on one event loop: one wrapper listener per meter
(and one HDLC-over-TCP listener when asked), one timer for the whole fleet.

A connection builds its meter (if it is not built) when it comes; the fleet's timer fires at
the earliest deadline over every built meter and every unbuilt meter's next push (the fleet's
heap), and at least once a second, like a single meter's (transport/service.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from meter.device.device import Device
from meter.device.fleet import Fleet
from meter.link.framing import Framing
from meter.timebase import Timebase
from meter.transport.push import PushSender, PushSource
from meter.stack import Stack
from meter.transport.session import DeadlineTimer
from meter.transport.tcp import ConnectionLimits, bound_address, start_tcp_server

__all__ = ["FleetService"]

log = logging.getLogger(__name__)

_MAX_TICK_INTERVAL = 1.0  # real seconds, as a single meter's (transport/service.py)


class FleetService:
    """Listeners for every meter of ``fleet``; ``progress(done, total)`` while binding."""

    def __init__(self, fleet: Fleet, timebase: Timebase, host: str, *, hdlc: bool = False,
                 limits: ConnectionLimits | None = None,
                 progress: Callable[[int, int], None] = lambda done, total: None) -> None:
        self.fleet = fleet
        self._timebase = timebase
        self._host = host
        self._hdlc = hdlc
        self._limits = limits or ConnectionLimits(max_connections=1 << 62)
        self._progress = progress
        self._servers: list[asyncio.Server] = []
        self._senders: dict[int, PushSender] = {}
        self._timer: DeadlineTimer | None = None
        self.ports: dict[int, tuple[int, int | None]] = {}  # meter -> (wrapper, hdlc) bound
        # The control API's hooks (meter/control/fleet.py): each connection's stack and each
        # built meter's pushes as the sender sees them, counted; identity without --control.
        self.stack_tap: Callable[[int, Stack, str], Stack] = lambda index, stack, medium: stack
        self.push_tap: Callable[[int, Device], PushSource] = lambda index, device: device

    def busy(self, index: int) -> bool:
        """A push of meter ``index`` is on its way (the meter stays built meanwhile)."""
        sender = self._senders.get(index)
        return sender is not None and sender.busy

    def built(self, index: int, device: Device) -> None:
        """A meter was built (Fleet ``on_built``): its pushes get a sender."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        sender = self._senders.get(index)
        if sender is None or not sender.busy:
            self._senders[index] = PushSender(self.push_tap(index, device), self._timebase.now,
                                              self._wake)
        if self._timer is not None:
            loop.call_soon(self._wake)  # its deadlines count from now on

    def released(self, index: int) -> None:
        """A meter was closed (Fleet ``on_released``): its sender goes (it held the device)."""
        self._senders.pop(index, None)

    async def start(self) -> None:
        """Bind and serve every listener (a port in use fails the start, closing what was bound)."""
        members = list(self.fleet.members.values())
        total = len(members)
        try:
            for n, member in enumerate(members, 1):
                ident = member.ident
                wrapper = await self._listen(ident.port, ident.index, Framing.WRAPPER, "tcp")
                hdlc = None
                if self._hdlc and ident.hdlc_port is not None:
                    hdlc = await self._listen(ident.hdlc_port, ident.index, Framing.HDLC, "hdlc-tcp")
                self.ports[ident.index] = (wrapper, hdlc)
                self._progress(n, total)
        except BaseException:
            await self.aclose()
            raise
        log.info("fleet: %d meters listening on %s", total, self._host)
        loop = asyncio.get_running_loop()
        self._timer = DeadlineTimer(loop, self._timebase, self._wake)
        self._wake()

    async def _listen(self, port: int, index: int, framing: Framing, label: str) -> int:
        def factory() -> Stack:
            return self.stack_tap(index, self.fleet.new_stack(index, framing,
                                                              now=self._timebase.now), label)

        server = await start_tcp_server(self._host, port, factory, None, label, self._limits,
                                        start_serving=False)  # one log line for all, not 10,000
        self._servers.append(server)
        await server.start_serving()
        return bound_address(server)[1]

    def wake(self) -> None:
        """Tick what is due now and re-arm the fleet's timer (after time moved or work was
        queued from outside, e.g. the control API)."""
        self._wake()

    def _wake(self) -> None:
        now = self._timebase.now()
        try:
            for index in self.fleet.due(now):
                sender = self._senders.get(index)
                if sender is not None:
                    sender.poll()
        except Exception:
            log.exception("fleet tick failed")
        if self._timer is not None:
            self._timer.arm(self.fleet.next_deadline(), _MAX_TICK_INTERVAL)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sender in self._senders.values():
            await sender.aclose()
        self._senders.clear()
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
