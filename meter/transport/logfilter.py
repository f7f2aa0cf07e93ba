"""Rate limiting of repeated log records, so that no client (nor the OS) can flood the log.

A meter under attack repeats itself: every refused connection, every bad frame, asyncio's
"socket.accept() out of system resource" on each accept retry. Records are grouped by logger,
level and message template; a group passes ``burst`` records per ``window`` seconds, the rest are
counted and the next record of the group that passes says how many were left out.
DEBUG records pass untouched: -v asks for everything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RepeatFilter"]

_MAX_GROUPS = 1024  # templates are few; a bound anyway, in case a message embeds its data


class _Group:
    __slots__ = ("left_out", "passed", "since")

    def __init__(self, since: float) -> None:
        self.since = since  # start of the current window
        self.passed = 0  # records passed in it
        self.left_out = 0  # records left out since the last one passed


class RepeatFilter(logging.Filter):
    def __init__(self, burst: int = 10, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._clock = clock
        self._groups: dict[tuple[str, int, object], _Group] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            return True
        key = (record.name, record.levelno, record.msg)
        now = self._clock()
        group = self._groups.get(key)
        if group is None or now - group.since >= self._window:
            left_out = group.left_out if group is not None else 0
            if group is None and len(self._groups) >= _MAX_GROUPS:
                self._groups.clear()
            group = self._groups[key] = _Group(now)
            if left_out:
                record.msg = f"{record.msg} [{left_out} similar record(s) left out]"
        if group.passed >= self._burst:
            group.left_out += 1
            return False
        group.passed += 1
        return True
