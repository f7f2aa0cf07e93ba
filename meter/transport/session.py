"""Pumping bytes and deadlines between one I/O medium and one sans-IO meter stack.

Every medium (TCP connection, serial port, pty) drives its stack the same way: bytes in with
``now``, reply bytes out, then a loop timer armed for ``stack.next_deadline()`` (aioquic's
``get_timer``/``handle_timer`` pattern; see design/style.md section 4.2). Everything runs on the
event-loop thread, so the device shared by all stacks is never touched concurrently.

The ``now`` a stack gets is wire time (:class:`WireClock`, the loop's monotonic clock): its timers
(HDLC inactivity and inter-octet, wrapper inactivity, IEC 62056-21) are about the line and run in
real seconds whatever the simulated time scale. The application layer reads simulated time from
the device's own Timebase.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from meter.stack import Stack

__all__ = ["Clock", "DeadlineTimer", "StackFactory", "StackSession", "WireClock",
           "wire_log"]

log = logging.getLogger(__name__)
# Hex dumps of every chunk live on their own logger so that -v (APDUs) can leave them out.
wire_log = logging.getLogger("meter.transport.wire")


StackFactory = Callable[[], Stack]


class Clock(Protocol):
    """A time base for deadlines: a Timebase (simulated time) or a WireClock (real time)."""

    def now(self) -> float: ...

    def wall_delay(self, seconds: float) -> float: ...


class WireClock:
    """Real seconds for wire timers: the event loop's monotonic clock."""

    __slots__ = ("loop", "now")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.now: Callable[[], float] = loop.time  # the loop's own method: one call less

    @staticmethod
    def wall_delay(seconds: float) -> float:
        return max(0.0, seconds)


class DeadlineTimer:
    """One loop timer that fires when a clock reaches a deadline.

    Re-arming is lazy: a later deadline keeps the timer already armed, and the callback must
    re-check the deadline when it fires. Inactivity deadlines move on every request, so this
    saves a cancel + call_at per request on the hot path.
    """

    __slots__ = ("_armed_for", "_callback", "_clock", "_handle", "_loop", "_loop_time")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        callback: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._clock = clock
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = 0.0
        # Deadlines in the loop's own seconds (a WireClock of this loop) are compared as they
        # are: the per-request re-arm then costs one comparison.
        self._loop_time = isinstance(clock, WireClock) and clock.loop is loop

    def arm(self, deadline: float | None, max_wall_delay: float | None = None) -> None:
        """Make sure the callback runs no later than ``deadline`` (in the clock's seconds)."""
        if deadline is None:
            if max_wall_delay is None:
                return
        elif (self._loop_time and max_wall_delay is None and self._handle is not None
              and self._armed_for <= deadline):
            return  # armed for earlier already (the lazy re-arm below, without its arithmetic)
        delay = (
            self._clock.wall_delay(deadline - self._clock.now())
            if deadline is not None
            else float("inf")
        )
        if max_wall_delay is not None:
            delay = min(delay, max_wall_delay)
        when = self._loop.time() + delay
        if self._handle is not None:
            if self._armed_for <= when:
                return
            self._handle.cancel()
        self._armed_for = when
        self._handle = self._loop.call_at(when, self._fire)

    def due(self, deadline: float | None) -> float | None:
        """In a lazily re-armed callback: the clock's now if ``deadline`` has come, else None
        (re-arming for it when it lies ahead)."""
        if deadline is None:
            return None
        now = self._clock.now()
        if deadline > now:
            self.arm(deadline)
            return None
        return now

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        """Cancelled for good: the callback is let go (a bound method of the owner would
        make the two a reference cycle, left to the garbage collector)."""
        self.cancel()
        self._callback = _nothing

    def _fire(self) -> None:
        self._handle = None
        self._callback()


class StackSession:
    """Feeds one medium's bytes into a stack, writes its replies and runs its timers.

    ``on_close(session)`` is called when the stack asks to close or raises: a TCP connection
    closes its transport, a serial line calls ``restart()`` to wait for the next client.
    ``clock`` gives the stack's ``now``: a WireClock in service (tests may scale it).
    """

    def __init__(
        self,
        stack_factory: StackFactory,
        clock: Clock,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[bytes], None],
        on_close: Callable[[StackSession], None],
        name: str,
    ) -> None:
        self._factory = stack_factory
        self._clock = clock
        self._write = write
        self._on_close = on_close
        self.name = name
        self._loop = loop
        self._timer = DeadlineTimer(loop, clock, self._on_timer)
        self._stack = stack_factory()
        self._done = False
        self._begin()

    def feed(self, data: bytes) -> None:
        """Bytes from the medium."""
        if self._done:
            return
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s <- %s", self.name, data.hex(" "))
        try:
            reply = self._stack.receive_data(data, self._clock.now())
        except Exception:
            log.exception("%s: stack failed on received data; closing", self.name)
            self._end()
            return
        self._after(reply)

    def get_block_sent(self) -> int | None:
        """The stack's GET block transfer under way (MeterStack.get_block_sent: the block sent
        last), for link faults; None when there is none or the stack does not tell."""
        query: Callable[[], int | None] | None = getattr(self._stack, "get_block_sent", None)
        return None if query is None else query()

    def restart(self) -> None:
        """Drop the current stack and start a fresh one on the same medium."""
        self.close()
        self._timer = DeadlineTimer(self._loop, self._clock, self._on_timer)
        self._stack = self._factory()
        self._done = False
        self._begin()
        log.info("%s: waiting for a new association", self.name)

    def _begin(self) -> None:
        # The stack's idle clock starts now: a client that never sends a byte also times out.
        self._stack.connection_made(self._clock.now())
        self._timer.arm(self._stack.next_deadline())

    def close(self) -> None:
        """The medium went away: stop the timers, release the associations, feed nothing more."""
        if self._done:
            return
        self._done = True
        # Closed for good (restart makes a new timer): the session and its stack are then freed
        # as the connection ends, not left in a cycle for the garbage collector.
        self._timer.close()
        try:
            self._stack.connection_lost()
        except Exception:
            log.exception("%s: stack failed on connection loss", self.name)

    def _after(self, reply: bytes) -> None:
        if reply:
            if wire_log.isEnabledFor(logging.DEBUG):
                wire_log.debug("%s -> %s", self.name, reply.hex(" "))
            self._write(reply)
            if self._done:
                return  # the write ended the medium
        if self._stack.closed:
            log.info("%s: stack closed the connection", self.name)
            self._end()
            return
        self._timer.arm(self._stack.next_deadline())

    def _on_timer(self) -> None:
        if self._done:
            return
        now = self._timer.due(self._stack.next_deadline())
        if now is None:
            return
        try:
            reply = self._stack.handle_timer(now)
        except Exception:
            log.exception("%s: stack failed in its timer; closing", self.name)
            self._end()
            return
        self._after(reply)

    def _end(self) -> None:
        self.close()
        self._on_close(self)


def _nothing() -> None:
    pass
