"""The register monitors (class 21) at work: when a monitored value crosses a threshold, the
script of that direction runs (meter/cosem/register_monitor.py).

The device asks :meth:`Monitors.check` whenever a monitored value may have moved (an alarm bit
raised, an alarm register written); each monitor compares the value with the one it saw last.
The first look after a start only takes the value in: a restart is no crossing.
"""

from __future__ import annotations

import logging

from meter.codec.obis import Obis
from meter.cosem.base import Context, integer
from meter.cosem.register_monitor import RegisterMonitor
from meter.cosem.registry import ObjectDirectory
from meter.cosem.script_table import ScriptTable
from meter.errors import MeterError

__all__ = ["Monitors"]

log = logging.getLogger(__name__)


class Monitors:
    def __init__(self, directory: ObjectDirectory) -> None:
        self._directory = directory
        self._monitors = [o for o in directory if isinstance(o, RegisterMonitor)]
        self._last: dict[Obis, int] = {}

    def _value(self, monitor: RegisterMonitor, ctx: Context) -> int | None:
        try:
            class_id, name, attribute = monitor.monitored()
            target = self._directory.get(name)
            if target is None or target.CLASS_ID != class_id:
                return None
            return integer(target.get(attribute, ctx), "monitored value")
        except MeterError as exc:
            log.debug("%s: monitored value unreadable: %s", monitor.logical_name, exc)
            return None

    def check(self, ctx: Context) -> None:
        """Run the scripts of every threshold crossed since the last look."""
        ctx = ctx.internal()
        for monitor in self._monitors:
            value = self._value(monitor, ctx)
            if value is None:
                continue
            last = self._last.get(monitor.logical_name)
            self._last[monitor.logical_name] = value
            if last is None or last == value:
                continue
            for threshold, up, down in monitor.program():
                if last <= threshold < value:
                    self._run(monitor, "up", *up, ctx)
                elif value <= threshold < last:
                    self._run(monitor, "down", *down, ctx)

    def _run(self, monitor: RegisterMonitor, direction: str, table_name: Obis, selector: int,
             ctx: Context) -> None:
        table = self._directory.get(table_name)
        if not isinstance(table, ScriptTable):
            log.warning("%s: action %s names no script table %s", monitor.logical_name,
                        direction, table_name)
            return
        log.info("%s: threshold crossed %s: script %d of %s", monitor.logical_name, direction,
                 selector, table_name)
        try:
            table.run(selector, ctx)
        except MeterError as exc:  # a bad program is the head end's; the meter keeps running
            log.warning("%s: script %d of %s failed: %s", monitor.logical_name, selector,
                        table_name, exc)
