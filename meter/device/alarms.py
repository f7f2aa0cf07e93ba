"""Alarms: the one place an event becomes counts and alarm bits (use cases 11, 17).

Every event the meter logs comes here after its log entry (meter/device/event_log.py calls
:meth:`Alarms.logged`): each event counter that counts it goes up, and it raises its alarm bits.
For each alarm register whose bit map (profile ``bits``) names the event, the bits are

* latched in the register's alarm descriptor whatever the filter (the descriptor keeps what
  happened until a head end writes it: a reset clears it);
* set in the alarm register where its alarm filter has them set (a filtered-out bit never
  reaches the register, so it never pushes);

then the register monitors look at the registers: one crossing its threshold runs its script
(the alarm push). An interruption raises its bit when it starts (:meth:`alarm`, from
meter/device/power_failures.py), not when its PQ log entry is written at its end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from meter.codec.axdr import DoubleLongUnsigned
from meter.cosem.alarms import AlarmRegister, EventCounter
from meter.cosem.base import Context, CosemObject
from meter.cosem.events import LogEvent, PowerQualityEvent
from meter.cosem.registry import ObjectDirectory
from meter.device.monitors import Monitors

__all__ = ["Alarms"]

log = logging.getLogger(__name__)

#: Events whose alarm is raised when they begin (an interruption), not when they are logged.
RAISED_AT_ONSET = frozenset(PowerQualityEvent.MISSING_VOLTAGE_L1.on_phase(k) for k in range(3))


class Alarms:
    def __init__(self, directory: ObjectDirectory, context: Callable[[], Context]) -> None:
        self._directory = directory
        self._context = context
        self.monitors = Monitors(directory)
        self._registers = [o for o in directory if isinstance(o, AlarmRegister)]
        self._counters = [o for o in directory if isinstance(o, EventCounter)]
        for register in self._registers:
            register.on_write = self.monitors.check
        # Which counters count an event and which registers have bits for it are fixed by the
        # profile: worked out once per event code, not over every counter at every event.
        self._counting: dict[LogEvent, list[EventCounter]] = {}
        self._raising: dict[LogEvent, list[tuple[AlarmRegister, int]]] = {}

    def start(self) -> None:
        """The monitors take in the values the meter starts with (restored ones)."""
        self.monitors.check(self._context())

    def logged(self, event: LogEvent, ctx: Context | None = None) -> None:
        """``event`` was written to its log (in ``ctx``, the device-internal context of its
        entry; made here without one): count it, raise its alarm."""
        if ctx is None:
            ctx = self._context()
        counters = self._counting.get(event)
        if counters is None:
            counters = self._counting[event] = self._counters_of(event)
        for counter in counters:
            counter.count()
            ctx.changed(counter)
        if event not in RAISED_AT_ONSET:
            self._raise(event, ctx, True)

    def _counters_of(self, event: LogEvent) -> list[EventCounter]:
        return [c for c in self._counters if c.counts(event)]

    def _raising_of(self, event: LogEvent) -> list[tuple[AlarmRegister, int]]:
        return [(r, r.bits[event]) for r in self._registers if r.bits.get(event, 0)]

    def written_by(self, event: LogEvent) -> list[CosemObject]:
        """The objects ``event`` may write: the counters that count it, the registers with
        bits for it and their descriptors (not kept: a meter never logging it keeps none)."""
        out: list[CosemObject] = list(self._counters_of(event))
        for register, _ in self._raising_of(event):
            out.append(register)
            descriptor = self._directory.get(register.descriptor) if register.descriptor else None
            if descriptor is not None:
                out.append(descriptor)
        return out

    def alarm(self, event: LogEvent, look: bool = True) -> None:
        """Raise ``event``'s alarm bits (descriptor, filtered register), then (``look``) let the
        monitors look."""
        self._raise(event, self._context(), look)

    def _raise(self, event: LogEvent, ctx: Context, look: bool) -> None:
        raised = False
        registers = self._raising.get(event)
        if registers is None:
            registers = self._raising[event] = self._raising_of(event)
        for register, bits in registers:
            descriptor = self._directory.get(register.descriptor) if register.descriptor else None
            latched = False
            if isinstance(descriptor, AlarmRegister) and descriptor.raise_bits(bits):
                ctx.changed(descriptor)
                latched = True
            mask = self._filter(register)
            set_now = register.raise_bits(bits & mask)
            if set_now:
                ctx.changed(register)
                raised = True
            # Bits already up (the same alarm again, every session of a HES): nothing changed.
            level = logging.INFO if latched or set_now else logging.DEBUG
            if log.isEnabledFor(level):
                log.log(level, "alarm %s: bits %08X of %s (filter %08X)", event.name, bits,
                        register.logical_name, mask)
        if raised and look:
            self.monitors.check(ctx)

    def look(self) -> None:
        """The monitors look at what they monitor (after alarms raised with ``look`` False)."""
        self.monitors.check(self._context())

    def _filter(self, register: AlarmRegister) -> int:
        """The register's filter (all bits pass without one)."""
        obj = self._directory.get(register.filter) if register.filter else None
        value = obj.value("value") if obj is not None else None
        return value.value if isinstance(value, DoubleLongUnsigned) else 0xFFFFFFFF
