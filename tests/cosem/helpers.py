"""Shared fixtures for the COSEM object tests: a directory with a clock on injected time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from meter.codec.obis import Obis
from meter.cosem.base import Context, CosemObject
from meter.cosem.clock import Clock
from meter.cosem.names import CLOCK
from meter.cosem.registry import ObjectDirectory

T0 = dt.datetime(2024, 1, 15, 10, 0, 0, tzinfo=dt.timezone.utc).timestamp()


@dataclass
class FakeTime:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    time: FakeTime
    directory: ObjectDirectory
    events: list[tuple[Obis, int]] = field(default_factory=list)
    changes: list[CosemObject] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        return self.directory.clock

    def ctx(self) -> Context:
        return Context(self.directory, None, lambda event: self.events.append((event.log, int(event))),
                       self.changes.append)


def world(*objects: CosemObject) -> World:
    time = FakeTime()
    return World(time, ObjectDirectory([Clock(CLOCK, time), *objects]))
