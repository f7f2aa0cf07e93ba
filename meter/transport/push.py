"""Sending the meter's pushes: the edge half of meter/device/pushes.py.

The device decides what is due and hands it out ready to send (one wrapper PDU per push, IEC
62056-47); this module opens a TCP connection to the push's destination, writes it, closes, and
reports the outcome, on which the device retries or forgets the push. Unconfirmed pushes
(push_operation_method 0): a connection refused, a timeout or a failed write is a failure, a
write that reached the peer's socket is a delivery.

A push to a local port (``PushWork.line``: "serial" or "optical", an HDLC UI frame) is written
on that line through the writer the service registered for it: a line that is not served, or
that is busy with a session (the optical port between sign-on and the end of its HDLC
association), fails the attempt, retried after repetition_delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from meter.device.pushes import PushWork

__all__ = ["LineWriter", "PushSender", "PushSource"]

log = logging.getLogger(__name__)

#: Real seconds a push may take to connect, and then to be written and closed.
PUSH_TIMEOUT = 10.0


class PushSource(Protocol):
    """What the sender needs of meter.device.Device."""

    def connected(self, now: float) -> None: ...

    def push_work(self, now: float) -> list[PushWork]: ...

    def push_done(self, job: int, delivered: bool, reason: str, now: float) -> None: ...


#: Writes one push on a local line; False when the line cannot take it now.
LineWriter = Callable[[bytes], bool]


class PushSender:
    """Sends what ``source`` has due whenever :meth:`poll` is called (after each device tick);
    ``wake`` is called after each outcome (the service ticks and re-arms on it)."""

    def __init__(self, source: PushSource, now: Callable[[], float], wake: Callable[[], None],
                 timeout: float = PUSH_TIMEOUT, lines: Mapping[str, LineWriter] | None = None) -> None:
        self._source = source
        self._lines = dict(lines or {})
        self._now = now
        self._wake = wake
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        """A push is on its way (a fleet keeps its meter built meanwhile)."""
        return bool(self._tasks)

    def connected(self) -> None:
        """The meter's listener is up (the "on connectivity" push)."""
        self._source.connected(self._now())
        self.poll()

    def poll(self) -> None:
        for work in self._source.push_work(self._now()):
            if work.line:
                self._send_on_line(work)
                continue
            task = asyncio.get_running_loop().create_task(self._send(work))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop sending; a push cut short stays queued in the device (sent after a restart)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _send_on_line(self, work: PushWork) -> None:
        write = self._lines.get(work.line)
        reason = f"no {work.line} line is served" if write is None else ""
        if write is not None:
            try:
                if not write(work.data):
                    reason = f"the {work.line} line is busy"
            except OSError as exc:
                reason = f"{type(exc).__name__}: {exc}"
        if reason:
            log.info("push %s on the %s line (attempt %d) failed: %s", work.setup, work.line,
                     work.attempt, reason)
        else:
            log.info("push %s sent on the %s line (%d bytes, attempt %d)", work.setup, work.line,
                     len(work.data), work.attempt)
        self._source.push_done(work.job, not reason, reason, self._now())
        asyncio.get_running_loop().call_soon(self._wake)  # not from inside the tick that polled

    async def _send(self, work: PushWork) -> None:
        target = f"{work.host}:{work.port}"
        reason = ""
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(work.host, work.port),
                                               self._timeout)
            try:
                writer.write(work.data)
                await asyncio.wait_for(writer.drain(), self._timeout)
            finally:
                writer.close()  # flushes what drain left; an error closing is no failed push
        except (OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.info("push %s to %s (attempt %d) failed: %s", work.setup, target, work.attempt, reason)
        else:
            log.info("push %s sent to %s (%d bytes, attempt %d)", work.setup, target,
                     len(work.data), work.attempt)
        try:
            self._source.push_done(work.job, not reason, reason, self._now())
        except Exception:
            log.exception("push %s: recording the outcome failed", work.setup)
        self._wake()
