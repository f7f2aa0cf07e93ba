"""Optical probe emulator: IEC 62056-21 mode E opening, then HDLC, on a pty or over RFC 2217.

A real optical port starts every session at 300 baud 7E1 with the sign-on ``/?!<CR><LF>``,
answers with its identification, takes the client's acknowledgement/option select
(``<ACK>2Z2<CR><LF>``: protocol control 2 = HDLC, Z = baud rate, mode 2 = binary) and switches
to HDLC at the agreed rate (IEC 62056-21:2002 6.3, protocol mode E; IEC 62056-46 afterwards).
The opening is the sans-IO ModeEOpening of meter.link.iec62056_21; this module pumps it, tracks
the agreed baud rate on its line (a pty, or an RFC 2217 server: meter/transport/rfc2217.py)
and, when the HDLC association ends (DISC or a failure), goes back to 300 baud and waits for
the next sign-on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from meter.link.iec62056_21 import (
    BaudRateChange,
    EnterHdlc,
    Failed,
    ModeEEvent,
    ModeEOpening,
)
from meter.link.framing import Framing
from meter.transport.faults import FaultyLink, LinkFaults, discard
from meter.transport.pty import PtyPort
from meter.transport.session import Clock, DeadlineTimer, StackFactory, StackSession

__all__ = ["SIGN_ON_BAUD", "OpticalLine", "OpticalPort"]

log = logging.getLogger(__name__)

SIGN_ON_BAUD = 300  # IEC 62056-21: every protocol mode opens at 300 baud


class OpticalLine(Protocol):
    """The medium under the probe: a PtyPort or an Rfc2217Port."""

    @property
    def path(self) -> str: ...

    @property
    def baud(self) -> int: ...

    def start(self, on_data: Callable[[bytes], None], baud: int) -> None: ...

    def write(self, data: bytes) -> None: ...

    def set_baud(self, baud: int) -> None: ...

    def close(self) -> None: ...


class OpticalPort:
    """A line speaking mode E: ``opening_factory()`` per session, then ``stack_factory()``.

    ``clock`` times the opening and the HDLC link (wire timers: a WireClock in service);
    ``line`` defaults to a new pty; ``faults`` act on its HDLC sessions (a cut hangs up:
    the next session signs on anew).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        stack_factory: StackFactory,
        opening_factory: Callable[[], ModeEOpening],
        line: OpticalLine | None = None,
        faults: LinkFaults | None = None,
    ) -> None:
        self._loop = loop
        self._clock = clock
        self._stack_factory = stack_factory
        self._opening_factory = opening_factory
        self._line: OpticalLine = line if line is not None else PtyPort(loop, "optical")
        self._opening = opening_factory()
        self._timer = DeadlineTimer(loop, clock, self._opening_timer)
        self._session: StackSession | None = None
        self._reply: asyncio.TimerHandle | None = None  # an identification held for tr
        self._faults = faults
        self._feed: Callable[[bytes], None] = discard  # the HDLC session's input (or its link's)

    @property
    def path(self) -> str:
        """What a client opens (the probe's end): the slave tty, or the rfc2217:// URL."""
        return self._line.path

    @property
    def baud(self) -> int:
        """Line speed currently agreed with the client."""
        return self._line.baud

    def start(self) -> None:
        self._line.start(self._received, self._opening.sign_on_baud)

    def close(self) -> None:
        self._timer.cancel()
        if self._reply is not None:
            self._reply.cancel()
        if self._session is not None:
            self._session.close()
        self._line.close()

    def push(self, data: bytes) -> bool:
        """Write a push (an HDLC UI frame, use case 12) on the line while it is idle: no HDLC
        session and no sign-on under way; False (not written) otherwise."""
        if self._session is not None or not self._opening.idle:
            return False
        self._line.write(data)
        return True

    def _received(self, data: bytes) -> None:
        if self._session is not None:
            self._feed(data)
            return
        if self._opening.idle:  # a new sign-on: offered as the settings are now (comm_speed)
            self._opening = self._opening_factory()
        # The opening gets one byte at a time, so that what a client sends right behind its
        # ack (SNRM, on a pty that has no baud rate to garble it) reaches HDLC, not the void.
        for i in range(len(data)):
            self._opening_events(self._opening.receive_data(data[i : i + 1], self._clock.now()))
            if self._session is not None:
                if i + 1 < len(data):
                    self._feed(data[i + 1 :])
                return
        self._timer.arm(self._opening.next_deadline())

    def _opening_timer(self) -> None:
        if self._session is not None:
            return
        now = self._timer.due(self._opening.next_deadline())
        if now is None:
            return
        self._opening_events(self._opening.handle_timer(now))
        self._timer.arm(self._opening.next_deadline())

    def _opening_events(self, events: list[ModeEEvent]) -> None:
        # Pending output (the identification) leaves at the old rate, before any switch; an
        # identification waits for the reaction time the local port setup asks (response_time).
        out = self._opening.data_to_send()
        if out and not events and self._opening.reaction_time > 0:
            self._reply = self._loop.call_later(self._opening.reaction_time, self._line.write, out)
        else:
            self._line.write(out)
        for event in events:
            if isinstance(event, BaudRateChange):
                self._line.set_baud(event.baud)
            elif isinstance(event, EnterHdlc):
                log.info("optical: mode E agreed, HDLC at %d baud", event.baud)
                self._timer.cancel()
                link = None if self._faults is None else FaultyLink(
                    self._faults, self._loop, Framing.HDLC, self._line.write)
                self._session = StackSession(
                    self._stack_factory,
                    self._clock,
                    self._loop,
                    self._line.write if link is None else link.send,
                    self._hdlc_ended,
                    "optical",
                )
                self._feed = self._session.feed
                if link is not None:
                    link.feed, link.on_cut = self._session.feed, self.hang_up
                    link.block_sent = self._session.get_block_sent
                    self._feed = link.receive
            elif isinstance(event, Failed):
                # The opening itself goes back to waiting for a request at 300 baud.
                log.warning("optical: mode E opening failed: %s", event.reason)
                self._line.set_baud(self._opening.sign_on_baud)

    def hang_up(self) -> None:
        """The client went away (its RFC 2217 connection closed): the next one signs on anew."""
        self._timer.cancel()
        if self._session is not None:
            session = self._session
            session.close()
            self._hdlc_ended(session)
        else:
            self._opening = self._opening_factory()
            self._line.set_baud(self._opening.sign_on_baud)

    def _hdlc_ended(self, _session: StackSession) -> None:
        """The HDLC association ended (DISC or a failure): a fresh opening at its sign-on rate
        (300 baud unless the local port setup's default_baud says otherwise)."""
        self._session = None
        self._opening = self._opening_factory()
        self._line.set_baud(self._opening.sign_on_baud)
