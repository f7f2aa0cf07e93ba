"""Per-rate energy registers: the metrology engine's totals split by the Register activation's
active mask (issue 9 item 3).

A register C.D.E of the register assignment with E = 1..63 (OBIS value group E: the tariff rate)
takes the share of total C.D.0 (an engine register key, "1.8.0" for 1.0.1.8.1.255) measured
while the active mask enables it. Per total, with R its rate registers and a the one the mask
enables (the first, if it names several):

* a register that is not a is worth its ``base`` (its value when it last stopped);
* a is worth total - (the bases of the others) - ``unassigned`` (what was measured while no
  rate register of that total was enabled);

so the rate registers and ``unassigned`` always add up to the total, whatever a crash restores:
only the bases and ``unassigned`` are kept (``RegisterActivation.split``, written with the
object), and they change only when the registers switch (before_switch). A meter that meets its
rate registers for the first time starts them at 0 and counts the total so far as unassigned.

Maximum demand (OBIS C.6.E: an extended register, value and capture time) takes the demand
register C.4.0's average of each demand period that closes, when it is higher: E = 0 every
period, E = r the periods that rate r ran (its rate registers enabled when the period closed).
The end-of-billing script resets them (method 1) after the billing capture; each reset first
adds the maximum to its cumulative maximum demand C.2.E (a Register of the same unit), if the
profile has one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.base import Context, CosemObject, integer
from meter.cosem.demand_register import DemandRegister
from meter.cosem.register import ExtendedRegister, Register
from meter.cosem.register_activation import RegisterActivation
from meter.cosem.registry import ObjectDirectory
from meter.device.bindings import Metrology, energy_data, register_factor

__all__ = ["Tariffs", "total_key"]


def total_key(obis: Obis) -> str | None:
    """The engine key of the total a rate register shares ("1.8.0"), None if it is no rate."""
    return f"{obis.c}.{obis.d}.0" if 1 <= obis.e <= 63 else None


def _accumulate(maximum: ExtendedRegister, cumulative: Register, ctx: Context) -> None:
    """Add the maximum demand ``maximum`` holds to ``cumulative`` (each in its own scaler)."""
    scale = 10.0 ** (integer(maximum.items("scaler_unit")[0], "scaler")
                     - integer(cumulative.items("scaler_unit")[0], "scaler"))
    total = cumulative.int_value("value") + round(maximum.int_value("value") * scale)
    cumulative.store("value", axdr.DoubleLongUnsigned(min(max(total, 0), 0xFFFFFFFF)))
    ctx.changed(cumulative)


class Tariffs:
    def __init__(self, directory: ObjectDirectory, metrology: Metrology, now: Callable[[], float],
                 context: Callable[[], Context]) -> None:
        """``now``: the meter's true time; ``context``: where a first start records the split."""
        self._metrology = metrology
        self._now = now
        self._by_key: dict[str, list[Obis]] = {}
        found = [o for o in directory if isinstance(o, RegisterActivation)]
        self._activation = found[0] if found else None
        if self._activation is None:
            return
        totals = metrology.engine.registers
        for obis in self._activation.assigned():
            register, key = directory.get(obis), total_key(obis)
            if isinstance(register, Register) and key in totals:
                self._by_key.setdefault(key, []).append(obis)
                register.bind(2, self._provider(register, key))
        self._activation.before_switch = self.switch
        #: (maximum demand register, the demand register feeding it, its rate or 0 for all)
        self._maxima: list[tuple[ExtendedRegister, DemandRegister, int]] = []
        for obj in directory:
            name = obj.logical_name
            feeder = directory.get(Obis(name.a, name.b, name.c, 4, 0, name.f))
            if isinstance(obj, ExtendedRegister) and name.d == 6 and isinstance(feeder, DemandRegister):
                self._maxima.append((obj, feeder, name.e))
                cumulative = directory.get(Obis(name.a, name.b, name.c, 2, name.e, name.f))
                if type(cumulative) is Register:
                    obj.before_reset = partial(_accumulate, obj, cumulative)
        split = self._activation.split
        if self._by_key and not any(key in split for key in self._by_key):
            split.update({key: totals[key] for key in self._by_key})
            context().changed(self._activation)

    def _provider(self, register: CosemObject, key: str) -> Callable[[], axdr.Data]:
        factor = register_factor(register)
        obis = register.logical_name

        def value() -> axdr.Data:
            self._metrology.to(self._now())
            # Never below 0: between a restore and the re-measuring after a crash the engine
            # may stand before the last switch (meter/device/startup.py).
            return energy_data(max(0.0, self._value(obis, key, self._metrology.engine.registers)) * factor)
        return value

    def _enabled(self, key: str) -> Obis | None:
        assert self._activation is not None
        active = self._activation.active_registers()
        return next((o for o in self._by_key[key] if o in active), None)

    def _value(self, obis: Obis, key: str, totals: dict[str, float]) -> float:
        assert self._activation is not None
        split = self._activation.split
        if obis != self._enabled(key):
            return split.get(str(obis), 0.0)
        others = sum(split.get(str(o), 0.0) for o in self._by_key[key] if o != obis)
        return totals.get(key, 0.0) - others - split.get(key, 0.0)

    def switch(self) -> None:
        """The registers may switch: fix what each is worth now (the engine brought up to now)."""
        assert self._activation is not None
        self._metrology.to(self._now())
        totals = self._metrology.engine.registers
        split = self._activation.split
        for key, registers in self._by_key.items():
            enabled = self._enabled(key)
            if enabled is not None:
                split[str(enabled)] = self._value(enabled, key, totals)
            else:
                split[key] = totals.get(key, 0.0) - sum(split.get(str(o), 0.0) for o in registers)

    def demand_closed(self, meter_t: float, ctx: Context) -> None:
        """A period boundary at meter time ``meter_t`` (after the demand registers were fed,
        before the schedules switch the rate): a demand period that ended raises the maxima."""
        if self._activation is None:
            return
        rates = {0} | {o.e for o in self._activation.active_registers()}
        for maximum, demand, rate in self._maxima:
            if rate not in rates or round(meter_t) % demand.int_value("period") != 0:
                continue
            scaler = integer(maximum.items("scaler_unit")[0], "scaler")
            value = min(max(round(demand.last_average / 10.0 ** scaler), 0), 0xFFFFFFFF)
            if value > maximum.int_value("value"):
                maximum.update_value(axdr.DoubleLongUnsigned(value), ctx)
                ctx.changed(maximum)
