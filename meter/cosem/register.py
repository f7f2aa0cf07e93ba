"""Register (class_id 3, v0) and Extended register (class_id 4, v0): Blue Book §4.3.2, §4.3.4.

A register's value is usually BOUND to the metrology engine by the device; ``reset`` of a bound
value is other-reason (the live source owns it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from meter.codec import axdr
from meter.codec.axdr import NULL, Data, DoubleLongUnsigned, Enum, Integer, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, fields, octets, on_action, on_set)
from meter.cosem.profile_entry import ProfileEntry
from meter.errors import AccessError, DataAccessResult

#: A date-time with every field "not specified" (Blue Book 4.1.6.1): the capture time of a value
#: never captured.
UNSPECIFIED_DATE_TIME = OctetString(bytes.fromhex("FFFFFFFFFFFFFFFFFF800000"))


def scaler_unit(scaler: int, unit: int) -> Structure:
    """scaler_unit ::= structure {scaler integer, unit enum} (Blue Book 4.3.2)."""
    return Structure((Integer(scaler), Enum(unit)))


def check_scaler_unit(value: Data) -> None:
    scaler, unit = fields(value, 2, "scaler_unit")
    if not isinstance(scaler, Integer) or not isinstance(unit, Enum):
        raise bad_type("scaler_unit")


def check_simple(value: Data, what: str) -> None:
    """Register values are simple types (numbers, strings), never arrays or structures."""
    if isinstance(value, (axdr.Array, axdr.Structure, axdr.CompactArray)):
        raise bad_type(what)


def zero_like(value: Data) -> Data:
    """The reset value of a register holding ``value``: zero of the same type."""
    if isinstance(value, axdr.INTEGER_TYPES):
        # An integer's encoding is its tag and a fixed-size body: all-zero body = zero.
        raw = value.to_bytes()
        return axdr.decode(raw[:1] + bytes(len(raw) - 1))
    if isinstance(value, (axdr.Float32, axdr.Float64)):
        return type(value)(0.0)
    return NULL


class Register(CosemObject):
    CLASS_ID = 3
    VERSION = 0
    NAME = "register"
    ATTRIBUTES: ClassVar[tuple[Attr, ...]] = (  # widened: ExtendedRegister adds attributes
        Attr(1, "logical_name", OctetString),
        Attr(2, "value", None, static=False, default=DoubleLongUnsigned(0)),
        Attr(3, "scaler_unit", Structure, default=scaler_unit(0, 255)),
    )
    METHODS = (Method(1, "reset"),)

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        return {**super().profile_values(entry),
                "scaler_unit": scaler_unit(entry.int_option("scaler", 0), entry.int_option("unit", 255))}

    @on_set("value")
    def write_value(self, value: Data, ctx: Context) -> None:
        check_simple(value, "value")
        self.store("value", value)

    @on_set("scaler_unit")
    def write_scaler_unit(self, value: Data, ctx: Context) -> None:
        check_scaler_unit(value)
        self.store("scaler_unit", value)

    @on_action("reset")
    def reset(self, parameters: Data | None, ctx: Context) -> None:
        if self.is_bound(2):
            raise AccessError(DataAccessResult.OTHER_REASON, "value is live; no reset handler")
        self.store("value", zero_like(self.value("value")))


class ExtendedRegister(Register):
    CLASS_ID = 4
    VERSION = 0
    NAME = "extended_register"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "value", None, static=False, default=DoubleLongUnsigned(0)),
        Attr(3, "scaler_unit", Structure, default=scaler_unit(0, 255)),
        Attr(4, "status", None, static=False, default=NULL),
        Attr(5, "capture_time", OctetString, static=False, default=UNSPECIFIED_DATE_TIME),
    )
    METHODS = (Method(1, "reset"),)

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Called before a reset, the value still held (the device adds a maximum demand to
        #: its cumulative register, meter/device/tariffs.py).
        self.before_reset: Callable[[Context], None] | None = None

    @on_set("capture_time")
    def write_capture_time(self, value: Data, ctx: Context) -> None:
        if len(octets(value, "capture_time")) != 12:
            raise bad_type("capture_time")
        self.store("capture_time", value)

    def update_value(self, value: Data, ctx: Context, status: Data | None = None) -> None:
        """A new value from the device, stamped with the meter clock's current time."""
        self.store("value", value)
        if status is not None:
            self.store("status", status)
        self.store("capture_time", OctetString(ctx.directory.clock.now_cosem().to_bytes()))

    @on_action("reset")
    def reset(self, parameters: Data | None, ctx: Context) -> None:
        if self.before_reset is not None:
            self.before_reset(ctx)
        super().reset(parameters, ctx)
        self.store("status", NULL)
        self.store("capture_time", OctetString(ctx.directory.clock.now_cosem().to_bytes()))
