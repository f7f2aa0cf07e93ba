"""Demand registers fed from the metrology engine's energy totals.

Each ``source = "demand:KEY"`` register gets the energy of KEY measured since it was last fed:
at every period boundary (by the scheduler) and before each read of it (its refresh hook), so
current_average_value covers the running period up to the read. The last total each register
was fed with (its mark) is saved with the metrology snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from meter.codec.obis import Obis
from meter.cosem.base import CosemObject
from meter.cosem.demand_register import DemandRegister
from meter.cosem.registry import ObjectDirectory
from meter.device.bindings import Metrology, Source, SourceKind

__all__ = ["Demand"]


class Demand:
    def __init__(self, directory: ObjectDirectory, bound: Mapping[Obis, Source],
                 metrology: Metrology, now: Callable[[], float],
                 changed: Callable[[CosemObject], None], snapshot_due: Callable[[], None]) -> None:
        """``bound``: the profile's sources; ``now``: the meter's true time."""
        # (register, metrology key) of each demand source, found once (a year of back-fill
        # passes 35,040 period boundaries).
        self._registers = [(dr, s.key) for obis, s in bound.items() if s.kind is SourceKind.DEMAND
                           if isinstance(dr := directory[obis], DemandRegister)]
        self._metrology = metrology
        self._clock = directory.clock
        self._now = now
        self._changed = changed
        self._snapshot_due = snapshot_due
        self.marks: dict[str, float] = {}  # "demand.KEY" -> the total last fed
        for register, key in self._registers:
            register.refresh = self._refresher(register, key)

    def _refresher(self, register: DemandRegister, key: str) -> Callable[[], None]:
        """Before a read: what was measured up to now goes into the running demand period."""
        def refresh() -> None:
            self._metrology.to(self._now())
            self._snapshot_due()  # the marks are saved with the register's new state
            self._feed(register, key, self._clock.timestamp())
        return refresh

    def update(self, meter_t: float) -> None:
        """A period boundary at meter time ``meter_t``."""
        for register, key in self._registers:
            self._feed(register, key, meter_t)

    def _feed(self, register: DemandRegister, key: str, meter_t: float) -> None:
        mark = f"demand.{key}"
        total = self._metrology.engine.registers.get(key, 0.0)
        prev = self.marks.get(mark, total)
        self.marks[mark] = total
        register.update(meter_t, total - prev)
        self._changed(register)
