"""Alarm registers, event counters and QoS thresholds: Data (1) and Register (3) objects with
meter behaviour (use cases 8, 11, 17; cosem-reference.md §1, §4.3).

* ``alarm_register`` (Data, double-long-unsigned): alarm registers 0.0.97.98.0/1.255 and alarm
  descriptors 0.0.97.98.20/21.255. The meter sets bits (meter/device/alarms.py); a head end can
  only clear them: a written value keeps just the bits set in both (writing 0 clears all, as
  OSGP's ClearAlarmRegister does; writing back what it read less the bits it handled clears
  those). The entry of an alarm register names its bit map (``bits``: [bit, event names...]),
  its ``filter`` and its ``descriptor``.
* ``event_counter`` (Data, double-long-unsigned): counts the events it names (``events``) or
  every event of a log (``log``): event counters 0.0.96.15.E.255, tamper counters
  0.0.96.20.x.255. Its profile entry leaves it unwritable (``write`` none).
* ``qos_threshold`` (Register): a voltage level or time threshold the PQ detector uses; a write
  (an unsigned integer of the stored type) takes effect at once (``on_write``).
"""

from __future__ import annotations

from collections.abc import Callable

from meter.codec import axdr
from meter.codec.axdr import Data as AxdrData, DoubleLongUnsigned, OctetString
from meter.codec.obis import Obis
from meter.cosem.base import Attr, Context, expect, on_set
from meter.cosem.data import Data
from meter.cosem.events import LogEvent, event_named
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.register import Register

__all__ = ["AlarmRegister", "EventCounter", "QosThreshold"]

_MAX = 0xFFFFFFFF
#: Both hold a double-long-unsigned the meter moves.
_ATTRIBUTES = (
    Attr(1, "logical_name", OctetString),
    Attr(2, "value", DoubleLongUnsigned, static=False, default=DoubleLongUnsigned(0)),
)


class AlarmRegister(Data):
    NAME = "alarm_register"
    ATTRIBUTES = _ATTRIBUTES

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> AlarmRegister:
        obj = cls(entry.obis, **cls.profile_values(entry))
        try:
            for row in entry.options.get("bits", ()):
                bit = int(row[0])
                if not 0 <= bit < 32:
                    raise ValueError(f"bit {bit} is not 0..31")
                for name in row[1:]:
                    obj.bits[event_named(str(name))] = obj.bits.get(event_named(str(name)), 0) | 1 << bit
            for key in ("filter", "descriptor"):
                if key in entry.options:
                    setattr(obj, key, Obis.parse(str(entry.options[key])))
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise OptionError(f"bits are [[bit, EVENT_NAME, ...], ...]: {exc}") from None
        return obj

    def __init__(self, logical_name: Obis, **values: AxdrData) -> None:
        super().__init__(logical_name, **values)
        #: Event -> the bits it raises here (from the profile's bit map).
        self.bits: dict[LogEvent, int] = {}
        self.filter: Obis | None = None
        self.descriptor: Obis | None = None
        #: Called after a head end's write (the register monitors look again).
        self.on_write: Callable[[Context], None] = lambda ctx: None

    @property
    def flags(self) -> int:
        return self.int_value("value")

    def raise_bits(self, bits: int) -> bool:
        """Set ``bits``; True if one was not set yet."""
        old = self.flags
        new = old | (bits & _MAX)
        if new == old:
            return False  # already up (every session after a HES's first): nothing to store
        self.store("value", DoubleLongUnsigned(new))
        return True

    @on_set("value")
    def write_value(self, value: AxdrData, ctx: Context) -> None:
        kept: int = expect(value, DoubleLongUnsigned, "alarm register").value
        self.store("value", DoubleLongUnsigned(self.flags & kept))
        self.on_write(ctx)


class EventCounter(Data):
    NAME = "event_counter"
    ATTRIBUTES = _ATTRIBUTES

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> EventCounter:
        try:
            events = frozenset(event_named(str(n)) for n in entry.options.get("events", ()))
            log = Obis.parse(str(entry.options["log"])) if "log" in entry.options else None
        except (KeyError, ValueError) as exc:
            raise OptionError(f"events are event names: {exc}") from None
        return cls(entry.obis, events, log)

    def __init__(self, logical_name: Obis, events: frozenset[LogEvent] = frozenset(),
                 log: Obis | None = None) -> None:
        super().__init__(logical_name)
        self.events = events
        self.log = log

    def counts(self, event: LogEvent) -> bool:
        return event in self.events or event.log == self.log

    def count(self) -> None:
        self.store("value", DoubleLongUnsigned(min(self.int_value("value") + 1, _MAX)))


class QosThreshold(Register):
    NAME = "qos_threshold"

    def __init__(self, logical_name: Obis, **values: AxdrData) -> None:
        super().__init__(logical_name, **values)
        #: Called after a successful write (the device gives the detector its new levels).
        self.on_write: Callable[[], None] = lambda: None

    @property
    def scaled(self) -> float:
        """The value in its unit (value x 10^scaler)."""
        scaler = self.items("scaler_unit")[0]
        assert isinstance(scaler, axdr.Integer)
        return self.int_value("value") * 10.0 ** scaler.value

    @on_set("value")
    def write_value(self, value: AxdrData, ctx: Context) -> None:
        expect(value, type(self.value("value")), "threshold")
        self.store("value", value)
        self.on_write()
