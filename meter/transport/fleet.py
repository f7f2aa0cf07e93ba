"""Serving a fleet (meter/device/fleet.py) on one event loop: one wrapper listener per meter
(and one HDLC-over-TCP listener when asked), one timer for the whole fleet.

A connection builds its meter (if it is not built) when it comes; the fleet's timer fires at
the earliest deadline over every built meter and every unbuilt meter's next push (the fleet's
heap), and at least once a second, like a single meter's (transport/service.py).

Each meter's wrapper listener follows that meter's TCP-UDP setup as a single meter's does
(transport/tcp_setup.py): it binds the fleet's numbering (base port + i), then the port a head
end set, once the connection that set it ends (persisted: a restarted fleet binds that port,
after every meter bound its numbering one); nb_of_sim_conn caps its connections and MSS is
announced. A port it cannot bind (another meter's, another program's) is refused and logged:
the meter stays where it listens and no other meter is touched. An unbuilt meter's setup is
read from its stored state (Fleet.stored), without building the meter.

Start-up pushes. Once every listener is up, each meter whose "on connectivity" push setup has a
destination (the profile's or one a head end wrote into that meter) is brought up live and
sends that push, as a single meter does when its listener comes up; on a meter's first start
its first build has queued its installation push too, which goes with it. At most
``connecting`` meters have their start-up pushes on the way at once, and the next is brought
up as one finishes: a fleet of 10,000 does not open 10,000 connections to its head end at once.
A meter whose pushes went out may be closed again like any other.

Link faults (``faults``, transport/fleet_faults.py): fleet-wide or a meter's own, on its wrapper
and HDLC-over-TCP listeners; a connection gets a FaultyLink only while its meter's faults have
something on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from meter.device.device import Device
from meter.device.fleet import Fleet
from meter.errors import MeterError
from meter.link.framing import Framing
from meter.stack import Stack
from meter.timebase import Timebase
from meter.transport.push import PushSender, PushSource
from meter.transport.fleet_faults import FleetFaults
from meter.transport.session import DeadlineTimer
from meter.transport.tcp import ConnectionLimits, ListenerHooks, bound_address, start_tcp_server
from meter.transport.tcp_setup import PortSetup, WrapperListener

__all__ = ["FleetService"]

log = logging.getLogger(__name__)

_MAX_TICK_INTERVAL = 1.0  # real seconds, as a single meter's (transport/service.py)
#: Real seconds of warming builds (~10 ms each) between turns of the loop (FleetService.warm).
_WARM_SLICE = 0.02
#: Meters whose start-up pushes are on their way at once, at most (module docstring).
CONNECTING = 32
#: Per loop turn, meters built for their start-up pushes and meters looked at (an unbuilt
#: one's stored push setup read): connections are served in between.
_CONNECT_BUILDS = 8
_CONNECT_LOOKS = 256
#: The level of each connection's "connected"/"disconnected" records: a fleet serves thousands
#: a second, so they show with -v only (a single meter's are INFO); refusals stay WARNING.
CONNECTION_LOG = logging.DEBUG


class FleetService:
    """Listeners for every meter of ``fleet``; ``progress(done, total)`` while binding."""

    def __init__(self, fleet: Fleet, timebase: Timebase, host: str, *, hdlc: bool = False,
                 limits: ConnectionLimits | None = None,
                 progress: Callable[[int, int], None] = lambda done, total: None,
                 connecting: int = CONNECTING, faults: FleetFaults | None = None) -> None:
        self.fleet = fleet
        # Link faults on every listener, fleet-wide or a meter's own (transport/fleet_faults.py).
        self.faults = FleetFaults() if faults is None else faults
        self._timebase = timebase
        self._host = host
        self._hdlc = hdlc
        self._limits = limits or ConnectionLimits(max_connections=1 << 62)
        self._progress = progress
        self._servers: list[asyncio.Server] = []
        self._senders: dict[int, PushSender] = {}
        self._timer: DeadlineTimer | None = None
        self.ports: dict[int, tuple[int, int | None]] = {}  # meter -> (wrapper, hdlc) bound
        self._listeners: dict[int, WrapperListener] = {}  # meter -> its wrapper listener
        self._window = max(1, connecting)
        self._awaiting: deque[int] = deque()  # meters yet to send their start-up pushes, in order
        self._waiting: set[int] = set()  # the same as a set (the fleet's tick may take one first)
        self._connecting: set[int] = set()  # meters whose start-up pushes are on their way
        self._connect_soon = False
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
                                              lambda: self._push_moved(index))
        listener = self._listeners.get(index)
        setup = self._port_setup(index)  # the device's own now
        if listener is not None and listener.port is not None and setup is not None:
            setup.listening_on(listener.port)  # TCP_UDP_port reads where it listens
        if self._timer is not None:
            loop.call_soon(self._wake)  # its deadlines count from now on

    def _push_moved(self, index: int) -> None:
        """Meter ``index``'s push sender moved on (sent, failed): its deadlines may have moved."""
        self.fleet.touch(index)
        self._wake()

    def released(self, index: int) -> None:
        """A meter was closed (Fleet ``on_released``): its sender goes (it held the device)."""
        self._senders.pop(index, None)

    async def start(self) -> None:
        """Bind and serve every listener (a numbering port in use fails the start, closing what
        was bound), move each wrapper listener to the port its meter's TCP-UDP setup names,
        then send the start-up pushes (module docstring)."""
        members = list(self.fleet.members.values())
        total = len(members)
        try:
            for n, member in enumerate(members, 1):
                ident = member.ident
                wrapper = await self._wrapper(ident.index, ident.port, ident.serial)
                hdlc = None
                if self._hdlc and ident.hdlc_port is not None:
                    hdlc = await self._listen(ident.hdlc_port, ident.index, Framing.HDLC, "hdlc-tcp")
                self.ports[ident.index] = (wrapper, hdlc)
                self._progress(n, total)
            # Every numbering port is bound before any meter moves: a port a head end set that
            # is another meter's is refused (logged), never the other meter's start.
            for index, listener in self._listeners.items():
                wrapper = (await listener.follow_setup(serving=False))[1]
                self.ports[index] = (wrapper, self.ports[index][1])
            for server in self._servers:
                await server.start_serving()
        except BaseException:
            await self.aclose()
            raise
        log.info("fleet: %d meters listening on %s", total, self._host)
        loop = asyncio.get_running_loop()
        self._timer = DeadlineTimer(loop, self._timebase, self._wake)
        self._awaiting = deque(self.fleet.members)
        self._waiting = set(self._awaiting)
        self._wake()

    async def warm(self, progress: Callable[[int, int], None] = lambda done, total: None) -> None:
        """Build the --resident meters after READY, for at most _WARM_SLICE real seconds a turn
        of the loop: the connections that come meanwhile are served between (building their
        own meters). A meter back-filling a long --history takes its own time (~7 s a year)."""
        t0 = self._timebase.monotonic()
        done, turn = 0, t0
        for done, total in self.fleet.warming():
            progress(done, total)
            if self._timebase.monotonic() - turn >= _WARM_SLICE:
                await asyncio.sleep(0)
                turn = self._timebase.monotonic()
        log.info("fleet: %d meters built after READY in %.1f s", done,
                 self._timebase.monotonic() - t0)

    def wrapper_port(self, index: int) -> int | None:
        """Where meter ``index``'s wrapper listener is now (None: not served here)."""
        listener = self._listeners.get(index)
        return None if listener is None else listener.port

    async def _wrapper(self, index: int, port: int, serial: str) -> int:
        """Meter ``index``'s wrapper listener on its numbering port (not serving yet), driven by
        its TCP-UDP setup from then on."""
        def factory() -> Stack:
            return self.stack_tap(index, self.fleet.new_stack(index, Framing.WRAPPER,
                                                              now=self._timebase.now), "tcp")

        async def bind(host: str, port: int, hooks: ListenerHooks, serving: bool) -> asyncio.Server:
            return await start_tcp_server(host, port, factory, None, "tcp", self._limits,
                                          start_serving=serving, hooks=hooks,
                                          faults_for=lambda: self.faults.applicable(index),
                                          connection_log=CONNECTION_LOG)

        listener = WrapperListener(self._host, bind, lambda: self._port_setup(index),
                                   self._servers, f"meter {serial}: tcp")
        self._listeners[index] = listener
        return (await listener.bind(port))[1]

    def _port_setup(self, index: int) -> PortSetup | None:
        """Meter ``index``'s TCP-UDP setup: the built meter's object, else its stored state
        (a state that does not load: logged, the fleet's numbering holds)."""
        try:
            return self.fleet.port_setup(index)
        except MeterError as exc:
            log.error("meter %s: TCP-UDP setup not read: %s",
                      self.fleet.members[index].ident.serial, exc)
            return None

    async def _listen(self, port: int, index: int, framing: Framing, label: str) -> int:
        def factory() -> Stack:
            return self.stack_tap(index, self.fleet.new_stack(index, framing,
                                                              now=self._timebase.now), label)

        server = await start_tcp_server(self._host, port, factory, None, label, self._limits,
                                        start_serving=False,  # one log line for all, not 10,000
                                        framing=framing,
                                        faults_for=lambda: self.faults.applicable(index),
                                        connection_log=CONNECTION_LOG)
        self._servers.append(server)
        await server.start_serving()
        return bound_address(server)[1]

    def wake(self, index: int | None = None) -> None:
        """Tick what is due now and re-arm the fleet's timer (after time moved or work was
        queued from outside, e.g. the control API; ``index``: the meter it was done to, whose
        deadlines may have moved)."""
        if index is not None:
            self.fleet.touch(index)
        self._wake()

    def _wake(self) -> None:
        now = self._timebase.now()
        try:
            for index in self.fleet.due(now):
                sender = self._senders.get(index)
                if sender is None:
                    continue
                if index in self._waiting and len(self._connecting) < self._window:
                    self._waiting.discard(index)  # built already: its start-up pushes now
                    if self.fleet.pushes_to(index):
                        self._connected(index, sender)
                        continue
                sender.poll()
                self.fleet.touch(index)
        except Exception:
            log.exception("fleet tick failed")
        self._connect_more(now)
        if self._timer is not None:
            self._timer.arm(self.fleet.next_deadline(), _MAX_TICK_INTERVAL)

    # --- start-up pushes ------------------------------------------------------------------

    def _connected(self, index: int, sender: PushSender) -> None:
        """Meter ``index`` (built) learns its listener is up: its "on connectivity" push."""
        sender.connected()
        self.fleet.touch(index)  # its pushes' deadlines moved
        if sender.busy:
            self._connecting.add(index)

    def _connect_more(self, now: float) -> None:
        """Bring up the next meters for their start-up pushes while fewer than the window have
        theirs on the way (a few per loop turn); called on every wake, so a push's outcome
        lets the next meter go."""
        if not self._awaiting:
            return
        self._connecting = {i for i in self._connecting if self.busy(i)}
        builds = looks = 0
        while (self._awaiting and len(self._connecting) < self._window
               and builds < _CONNECT_BUILDS and looks < _CONNECT_LOOKS):
            index = self._awaiting.popleft()
            if index not in self._waiting:
                continue  # the fleet's tick built it and it pushed then
            self._waiting.discard(index)
            looks += 1
            try:
                if not self.fleet.pushes_to(index):
                    continue  # no destination: nothing a single meter would send either
                self.fleet.live(index, now)
                builds += 1
                sender = self._senders.get(index)
                if sender is not None:
                    self._connected(index, sender)
            except Exception:  # one meter's failure must not stop the others' pushes
                log.exception("meter %s: start-up push failed",
                              self.fleet.members[index].ident.serial)
        if self._awaiting and len(self._connecting) < self._window and not self._connect_soon:
            self._connect_soon = True
            asyncio.get_running_loop().call_soon(self._connect_next_turn)

    def _connect_next_turn(self) -> None:
        self._connect_soon = False
        if self._timer is not None:  # not closed meanwhile
            self._wake()

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for listener in self._listeners.values():
            listener.close()  # no more moves
        self._listeners.clear()
        self._awaiting.clear()
        self._waiting.clear()
        for sender in self._senders.values():
            await sender.aclose()
        self._senders.clear()
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
