"""Scenarios: TOML timelines of control operations the meter runs on its simulated time
(issue 12 item 2).

A scenario file::

    name = "a stormy day"
    [[step]]
    at = "2h"                  # simulated time after the scenario starts (a number: seconds)
    do = "outage"              # any control operation (meter/control/ops.py ACTIONS)
    duration = "3m"            # ... with its parameters beside it
    [[step]]
    every = "4h"               # repeated: from `from` (default 0) every `every` ...
    from = "1h"
    until = "23h"              # ... up to `until` (default: MAX_OCCURRENCES times)
    do = "sag"
    scale = 0.6
    duration = "20s"
    [[step]]
    at = "1d"
    do = "expect"              # compare an attribute; the result is logged and counted
    obis = "0.0.99.98.4.255"
    attribute = 7
    op = ">="
    value = 10

Steps fall due on the meter's true time (start + ``at``) and run in time order (in file order
at the same time). A ``jump`` step moves time on, so the steps it passes run at once, in order:
a month of billing takes as long as the meter takes to live through it. The run is driven by
the service's event loop (a timer on the timebase, no sleeping); :meth:`Run.run_due` does the
work and can be called directly (tests, a clock of one's own).
"""

from __future__ import annotations

import heapq
import logging
import tomllib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from meter.control.ops import ACTIONS, BadRequest, seconds
from meter.errors import MeterError

__all__ = ["MAX_OCCURRENCES", "Run", "Step", "Timeline", "TimelineError"]

log = logging.getLogger(__name__)

#: Bounds of one scenario: its steps, the times one repeated step fires, and the bytes of its file.
MAX_STEPS = 1000
MAX_OCCURRENCES = 10000
MAX_FILE_BYTES = 256 * 1024
#: Results kept for the status (the counts cover all of them).
KEPT_RESULTS = 200
_TIMING = {"at", "every", "from", "until", "do"}


class TimelineError(BadRequest):
    """A scenario that cannot be run as written (says where)."""


@dataclass(frozen=True, slots=True)
class Step:
    index: int  # 1-based, in file order
    action: str
    at: float  # first time due, s after the start
    every: float | None
    until: float | None
    params: Mapping[str, Any]

    def times(self) -> int:
        """How often the step fires."""
        if self.every is None:
            return 1
        if self.until is None:
            return MAX_OCCURRENCES
        return min(MAX_OCCURRENCES, int((self.until - self.at) // self.every) + 1)


@dataclass(frozen=True, slots=True)
class Timeline:
    name: str
    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str, source: str = "scenario") -> Timeline:
        if len(text.encode()) > MAX_FILE_BYTES:
            raise TimelineError(f"{source}: more than {MAX_FILE_BYTES} bytes")
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TimelineError(f"{source}: not TOML: {exc}") from None
        raw = doc.get("step", [])
        if not isinstance(raw, list) or not raw:
            raise TimelineError(f"{source}: no [[step]] tables")
        if len(raw) > MAX_STEPS:
            raise TimelineError(f"{source}: more than {MAX_STEPS} steps")
        steps = tuple(_step(k + 1, s, source) for k, s in enumerate(raw))
        return cls(str(doc.get("name", source)), steps)


def _step(index: int, raw: object, source: str) -> Step:
    where = f"{source}: step {index}"
    if not isinstance(raw, dict):
        raise TimelineError(f"{where}: a table expected")
    action = raw.get("do")
    if action not in ACTIONS:
        raise TimelineError(f"{where}: do = one of {', '.join(sorted(ACTIONS))}; got {action!r}")
    try:
        if "every" in raw:
            if "at" in raw:
                raise TimelineError(f"{where}: `at` or `every`, not both")
            every = seconds(raw["every"], "every")
            if every <= 0:
                raise TimelineError(f"{where}: every must be more than 0")
            at = seconds(raw.get("from", 0), "from")
            until = seconds(raw["until"], "until") if "until" in raw else None
        elif "at" in raw:
            at, every, until = seconds(raw["at"], "at"), None, None
        else:
            raise TimelineError(f"{where}: needs `at` or `every`")
    except TimelineError:
        raise
    except BadRequest as exc:
        raise TimelineError(f"{where}: {exc}") from None
    if at < 0 or (until is not None and until < at):
        raise TimelineError(f"{where}: times run forward from 0")
    params = {k: v for k, v in raw.items() if k not in _TIMING}
    return Step(index, str(action), at, every, until, params)


class Run:
    """One scenario running from true time ``start`` (the moment it was loaded)."""

    def __init__(self, timeline: Timeline, start: float,
                 perform: Callable[[str, Mapping[str, Any]], Any],
                 on_result: Callable[[Step, str], None] = lambda step, outcome: None) -> None:
        self.timeline = timeline
        self.start = start
        self._perform = perform
        self._on_result = on_result
        # (due, step index, occurrence): the next time of each step
        self._queue: list[tuple[float, int, int]] = [
            (start + s.at, s.index, 0) for s in timeline.steps]
        heapq.heapify(self._queue)
        self.steps_run = 0
        self.passed = 0
        self.failed = 0
        self.errors = 0
        self.results: deque[dict[str, Any]] = deque(maxlen=KEPT_RESULTS)

    @property
    def done(self) -> bool:
        return not self._queue

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def run_due(self, now: Callable[[], float], limit: int = 1000) -> int:
        """Run the steps due by ``now()`` (read again after each: a jump makes more due), at
        most ``limit`` of them; how many ran."""
        ran = 0
        while self._queue and self._queue[0][0] <= now() and ran < limit:
            due, index, occurrence = heapq.heappop(self._queue)
            step = self.timeline.steps[index - 1]
            if occurrence + 1 < step.times() and step.every is not None:
                heapq.heappush(self._queue, (due + step.every, index, occurrence + 1))
            self._run(step, due)
            ran += 1
        return ran

    def _run(self, step: Step, due: float) -> None:
        self.steps_run += 1
        record: dict[str, Any] = {"step": step.index, "do": step.action, "due": due}
        try:
            result = self._perform(step.action, step.params)
        except (BadRequest, LookupError, MeterError) as exc:
            self.errors += 1
            record["error"] = str(exc)
            log.warning("scenario %s: step %d (%s) failed: %s", self.timeline.name, step.index,
                        step.action, exc)
            outcome = "error"
        else:
            record["result"] = result
            outcome = "done"
            if step.action == "expect":
                ok = bool(result.get("ok"))
                outcome = "passed" if ok else "failed"
                if ok:
                    self.passed += 1
                else:
                    self.failed += 1
                log.log(logging.INFO if ok else logging.WARNING,
                        "scenario %s: step %d expect %s attribute %s %s %r: %s (read %r)",
                        self.timeline.name, step.index, result["obis"], result["attribute"],
                        result["op"], result["expected"], outcome.upper(), result["actual"])
            else:
                log.info("scenario %s: step %d %s", self.timeline.name, step.index, step.action)
        record["outcome"] = outcome
        self.results.append(record)
        self._on_result(step, outcome)

    def status(self) -> dict[str, Any]:
        return {"name": self.timeline.name, "start": self.start, "done": self.done,
                "next_due": self.next_due(), "steps_run": self.steps_run,
                "expectations": {"passed": self.passed, "failed": self.failed},
                "errors": self.errors, "results": list(self.results)}
