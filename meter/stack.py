"""One connection's protocol stack, sans-IO: a link framer (IEC 62056-47 wrapper or HDLC)
under the xDLMS application server.

Bytes and ``now`` go in, bytes come out; the transport only pumps. Before any response leaves,
the device commits what the request changed (``commit``), so nothing acknowledged on the wire is
lost to a crash. ``now`` is wire time (real seconds): it drives the link timers and goes with
each APDU to the application server.

A stack ends (``closed``) when its connection has nothing more to carry: on the wrapper, after
``idle_timeout`` seconds without a complete PDU (TCP-UDP setup inactivity_time_out; a
connection that never sends one, slowly or not at all, included); on HDLC, when the link ends
(DISC, inactivity timeout) or none is opened within the link's inactivity timeout. The medium
then closes (TCP) or waits for the next client afresh (serial line, optical sign-on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from meter.codec.obis import Obis
from meter.errors import RemoteProtocolError, StoreError
from meter.link.framing import Framing
from meter.link.hdlc.connection import HdlcConfig, HdlcServer, State
from meter.link.hdlc.events import ApduReceived, Connected, Disconnected
from meter.link.wrapper import WrapperConnection, WrapperPdu
from meter.server.association import ApplicationServer, Environment

log = logging.getLogger(__name__)


class Stack(Protocol):
    """What the transports need of one connection's stack (MeterStack, or a StackDelegate
    around one)."""

    closed: bool

    def connection_made(self, now: float) -> None: ...

    def receive_data(self, data: bytes, now: float) -> bytes: ...

    def next_deadline(self) -> float | None: ...

    def handle_timer(self, now: float) -> bytes: ...

    def connection_lost(self) -> None: ...


class StackDelegate:
    """A stack that passes every call to the one it wraps; a wrapper (the control API's tap,
    a fleet's connection count) overrides only what it adds to."""

    __slots__ = ("_stack",)

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    @property
    def closed(self) -> bool:
        return self._stack.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._stack.closed = value

    @property
    def observer(self) -> Callable[[int, bytes, bytes | None], None] | None:
        """The wrapped stack's APDU observer (MeterStack.observer; AttributeError where it has
        none), so a tap outside a fleet's connection count still sees each APDU."""
        return self._stack.observer  # type: ignore[attr-defined, no-any-return]

    @observer.setter
    def observer(self, value: Callable[[int, bytes, bytes | None], None] | None) -> None:
        self._stack.observer = value  # type: ignore[attr-defined]

    def connection_made(self, now: float) -> None:
        self._stack.connection_made(now)

    def receive_data(self, data: bytes, now: float) -> bytes:
        return self._stack.receive_data(data, now)

    def next_deadline(self) -> float | None:
        return self._stack.next_deadline()

    def handle_timer(self, now: float) -> bytes:
        return self._stack.handle_timer(now)

    def connection_lost(self) -> None:
        self._stack.connection_lost()


class MeterStack:
    """Framing + application server for one connection (TCP socket or serial line)."""

    def __init__(
        self,
        framing: Framing,
        env: Environment,
        commit: Callable[[], None],
        *,
        before: Callable[[], None] = lambda: None,
        server_wport: int = 1,
        hdlc_config: HdlcConfig | None = None,
        port: Obis | None = None,
        idle_timeout: float = 0.0,
    ) -> None:
        """``port``: the setup object of the port this connection came in on (its failed
        authentications count against that port's Communication port protection).
        ``idle_timeout``: wrapper inactivity time-out in seconds (0 = none)."""
        self.closed = False
        self._idle_timeout = idle_timeout
        self._heard: float | None = None  # when the wrapper last got a PDU / the link was last up
        self._server = ApplicationServer(env, port)
        self._commit = commit
        self._before = before
        #: Told of every APDU served (client SAP, request, response or None): the control
        #: API's counters and trace at the edge (meter/control/taps.py); None: nobody listens.
        self.observer: Callable[[int, bytes, bytes | None], None] | None = None
        self._server_wport = server_wport
        self._wrapper: WrapperConnection | None = None
        self._hdlc: HdlcServer | None = None
        if framing == Framing.WRAPPER:
            self._wrapper = WrapperConnection()
        elif framing == Framing.HDLC:
            self._hdlc = HdlcServer(hdlc_config or HdlcConfig())
            self._idle_timeout = self._hdlc.config.inactivity_timeout
        else:
            raise ValueError(f"unknown framing {framing!r}")

    def connection_made(self, now: float) -> None:
        """The connection opened at ``now``: its idle time counts from here."""
        self._heard = now

    def _apdu(self, client: int, apdu: bytes, now: float) -> bytes | None:
        self._before()
        response = self._server.handle(client, apdu, now)
        try:
            self._commit()
        except StoreError as exc:
            # What the request changed was stored, or undone and answered as a failure, before
            # its result (Context.persist); what failed here is the meter's own state (metrology
            # snapshot, clock mark, profile rows), which the next commit retries. The client
            # still gets its answer.
            log.error("state not stored after a request from client %d: %s", client, exc)
        if self.observer is not None:
            self.observer(client, apdu, response)
        return response

    def receive_data(self, data: bytes, now: float) -> bytes:
        if self._wrapper is not None:
            return self._receive_wrapped(data, now)
        return self._receive_hdlc(data, now)

    def _receive_wrapped(self, data: bytes, now: float) -> bytes:
        assert self._wrapper is not None
        try:
            pdus = self._wrapper.receive_data(data)
        except RemoteProtocolError as exc:
            # A wrapper header we cannot resynchronise from: the only safe answer is to close.
            self._end(str(exc), logging.WARNING)
            return b""
        if pdus:
            self._heard = now
        out = []
        for pdu in pdus:
            if pdu.destination_wport != self._server_wport:
                log.info("wrapper PDU for wPort %d ignored", pdu.destination_wport)
                continue
            response = self._apdu(pdu.source_wport, pdu.payload, now)
            if response is not None:
                out.append(WrapperPdu(self._server_wport, pdu.source_wport, response).to_bytes())
        return b"".join(out)

    def _receive_hdlc(self, data: bytes, now: float) -> bytes:
        assert self._hdlc is not None
        self._hdlc.receive_data(data, now)
        self._serve_hdlc(now)
        return self._hdlc.data_to_send()

    def _serve_hdlc(self, now: float) -> None:
        """Take up the link's events one by one, each APDU answered before the next event:
        its reply then goes out on the link it came in on, even when a DISC or SNRM came
        behind it in the same chunk. The stack ends with its link."""
        assert self._hdlc is not None
        link_ended = False
        while (event := self._hdlc.next_event(now)) is not None:
            if isinstance(event, ApduReceived):
                response = self._apdu(event.client_address, event.apdu, now)
                if response is not None:
                    self._hdlc.send_apdu(event.client_address, response)
            elif isinstance(event, (Connected, Disconnected)):
                # A new or lost HDLC connection ends the associations it carried (Green Book).
                self._server.release_all()
                link_ended = isinstance(event, Disconnected)
        if self._hdlc.state is not State.DISCONNECTED:
            self._heard = now
        elif link_ended:
            self._end("HDLC link ended")

    def next_deadline(self) -> float | None:
        idle = self._idle_deadline()
        if self._hdlc is None:
            return idle  # the wrapper has no timers of its own (asked after every request)
        link = self._hdlc.next_deadline()
        return idle if link is None else link if idle is None else min(link, idle)

    def _idle_deadline(self) -> float | None:
        # While an HDLC link is up its own inactivity timer watches it.
        if self._heard is None or self._idle_timeout <= 0 or self.closed or (
                self._hdlc is not None and self._hdlc.state is not State.DISCONNECTED):
            return None
        return self._heard + self._idle_timeout

    def handle_timer(self, now: float) -> bytes:
        out = b""
        if self._hdlc is not None:
            self._hdlc.handle_timer(now)
            self._serve_hdlc(now)
            out = self._hdlc.data_to_send()
        deadline = self._idle_deadline()
        if deadline is not None and now >= deadline:
            self._end(f"nothing received for {self._idle_timeout:g} s")
        return out

    def _end(self, reason: str, level: int = logging.INFO) -> None:
        log.log(level, "closing connection: %s", reason)
        self.closed = True
        self._server.release_all()

    def get_block_sent(self) -> int | None:
        """The block of a GET with blocks sent last on this connection while more are to come
        (its reply may be ciphered: the transport cannot read it there)."""
        return self._server.get_block_sent()

    def connection_lost(self) -> None:
        self._server.release_all()
