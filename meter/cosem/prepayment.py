"""Prepayment (use case 21): Account (111), Credit (112), Charge (113), Token gateway (115), all
version 0. Attribute and method tables, enums and bits: cosem-reference.md §2.2 [GX-NET
Account.cs, Credit.cs, Charge.cs, TokenGateway.cs]; the types are the ones gurux-dlms encodes.

Money is an integer in the account currency's smallest unit (currency_scale, e.g. -2: cents).
Rules (ours where the Blue Book leaves it to the meter or is not public):

1. Charges are collected on their period (attribute 8, s of meter time, on the period's
   boundaries) by :meth:`Account.collect`, which the device calls when one falls due. A
   consumption-based charge (type 0) collects (commodity value now - at the last collection) x
   charge_per_unit x 10^(commodity_scale + price_scale); the fraction below one currency unit is
   carried to the next collection, so the sum collected is floor(units x rate) exactly. A
   time-based charge (type 1) collects charge_per_unit x 10^(commodity_scale + price_scale) per
   period elapsed. The first entry of charge_tables is the charge per unit (the tables are not
   switched by tariff here). A passive unit charge becomes active at
   unit_charge_activation_time, or at once by activate_passive_unit_charge.
2. A collection takes from the credits in use in priority order (1 first): the token credit,
   then an invoked emergency credit. What no credit covers is added to the account's
   aggregated_debt; amount_to_clear = aggregated_debt + emergency credit used, which the next
   token repays first. total_amount_paid of a charge counts what was collected and the debt a
   token repaid, so total_amount_paid + what it is owed (its part of aggregated_debt) is always
   all it charged. While the supply is disconnected a charge takes from the credits only where
   a credit_charge_configuration entry of it has bit 0 (collect when disconnected); else what
   it charges is debt.
3. Account status bits (attribute 4, bit 0 first): 0 in credit, 1 low credit (available_credit
   below low_credit_threshold), 6 out of credit (available_credit <= 0). Entering low credit and
   out of credit log events (PrepaymentEvent); in prepayment mode (payment_mode 2), running out
   opens the supply relay by a local disconnect (ready for reconnection). A top-up that brings
   the account back into credit reconnects by a local reconnect where the relay's control_mode
   has one (5-7); else the customer's button closes the relay (transition e). A relay closed
   while still out of credit (the button, the head end) opens again at the next collection. In
   credit mode (payment_mode 1) nothing is disconnected: charges accrue as debt.
4. Emergency credit (credit_type 2): selectable once the token credit falls below its
   credit_available_threshold; invoke_credit gives it preset_credit_amount (status 2 selected,
   3 in use once the token credit is spent); it is one-shot: it cannot be invoked again until a
   token has repaid it (it then returns to 0 enabled, amount 0).
5. Token gateway: enter(token) hands the octet-string to ``opener`` (the device's: the format
   and MAC of meter/security/prepay_token.py); the id must not have been used (the highest id
   and the 64 ids below it are remembered; an older id is refused). token_status
   {status_code, data_value}: 3 execution OK; 4 format, 5 authentication, 6 validation (used or
   too old id, account closed), 7 execution failure (amount over max_credit). A new account
   takes tokens (credit loaded before commissioning); it collects and disconnects only once
   activated (activate_account). A refused
   token answers other-reason and is logged (PrepaymentEvent.TOKEN_REFUSED).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from meter.codec.axdr import (
    Array, BitString, Data, DoubleLong, DoubleLongUnsigned, Enum, Integer, Long, Long64,
    LongUnsigned, OctetString, Structure, Unsigned, Utf8String)
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, expect, fields, in_range, integer, items,
    octets, on_action, on_set)
from meter.cosem.disconnect_control import ControlState, DisconnectControl, Trigger
from meter.cosem.events import PrepaymentEvent
from meter.cosem.names import (
    CHARGE_HISTORY, DISCONNECT_CONTROL, TOKEN_CREDIT_HISTORY)
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.profile_generic import ProfileGeneric
from meter.errors import AccessError, DataAccessResult, DecodeError

log = logging.getLogger(__name__)

__all__ = ["Account", "Charge", "Credit", "TokenGateway", "TokenRefused", "TokenStatus"]

_NOT_SPECIFIED = bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")
#: A token longer than this is a format failure before anything else looks at it.
MAX_TOKEN_BYTES = 64
#: Ids below the highest accepted one that are still remembered (one bit each).
TOKEN_WINDOW = 64
_INT32 = (-(1 << 31), (1 << 31) - 1)


class PaymentMode(enum.IntEnum):
    CREDIT = 1
    PREPAYMENT = 2


class AccountStatus(enum.IntEnum):
    NEW = 1
    ACTIVE = 2
    CLOSED = 3


class CreditType(enum.IntEnum):
    TOKEN = 0
    EMERGENCY = 2
    TIME_BASED = 3
    CONSUMPTION_BASED = 4


class CreditStatus(enum.IntEnum):
    ENABLED = 0
    SELECTABLE = 1
    SELECTED = 2
    IN_USE = 3
    CONSUMED = 4


class ChargeType(enum.IntEnum):
    CONSUMPTION = 0
    TIME = 1
    PAYMENT_EVENT = 2


class TokenStatus(enum.IntEnum):
    FORMAT_OK = 0
    AUTHENTICATION_OK = 1
    VALIDATION_OK = 2
    EXECUTION_OK = 3
    FORMAT_FAILURE = 4
    AUTHENTICATION_FAILURE = 5
    VALIDATION_FAILURE = 6
    EXECUTION_FAILURE = 7
    RECEIVED = 8


# current_credit_status bits (bit 0 = first bit of the bit-string).
IN_CREDIT, LOW_CREDIT, OUT_OF_CREDIT = 0, 1, 6


def _clip(value: int) -> int:
    return max(_INT32[0], min(_INT32[1], value))


def _bits(n: int, *set_bits: int) -> BitString:
    return BitString.from_bits("".join("1" if i in set_bits else "0" for i in range(n)))


def _obis_list(entry: ProfileEntry, key: str) -> tuple[Obis, ...]:
    try:
        return tuple(Obis.parse(str(o)) for o in entry.options.get(key, ()))
    except ValueError as exc:
        raise OptionError(f"{key}: {exc}") from None


def _ln(obis: Obis) -> OctetString:
    return OctetString(obis.to_bytes())


class Credit(CosemObject):
    CLASS_ID = 112
    VERSION = 0
    NAME = "credit"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "current_credit_amount", DoubleLong, static=False, default=DoubleLong(0)),
        Attr(3, "credit_type", Enum, default=Enum(0)),
        Attr(4, "priority", Unsigned, default=Unsigned(1)),
        Attr(5, "warning_threshold", DoubleLong, default=DoubleLong(0)),
        Attr(6, "limit", DoubleLong, default=DoubleLong(0)),
        Attr(7, "credit_configuration", BitString, default=_bits(5)),
        Attr(8, "credit_status", Enum, static=False, default=Enum(0)),
        Attr(9, "preset_credit_amount", DoubleLong, default=DoubleLong(0)),
        Attr(10, "credit_available_threshold", DoubleLong, default=DoubleLong(0)),
        Attr(11, "period", OctetString, default=OctetString(_NOT_SPECIFIED)),
    )
    METHODS = (Method(1, "update_amount"), Method(2, "set_amount_to_value"),
               Method(3, "invoke_credit"))

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        kind = entry.int_option("credit_type", 0)
        if kind not in (CreditType.TOKEN, CreditType.EMERGENCY):
            raise OptionError(f"credit_type {kind}: this meter has token (0) and emergency (2) credits")
        # configuration bits: token credit receives tokens (4); emergency needs paying back (2)
        config = _bits(5, 4) if kind == CreditType.TOKEN else _bits(5, 0, 1, 2)
        status = CreditStatus.IN_USE if kind == CreditType.TOKEN else CreditStatus.ENABLED
        return {**super().profile_values(entry),
                "credit_type": Enum(kind),
                "priority": Unsigned(entry.int_option("priority", 1)),
                "credit_configuration": config,
                "credit_status": Enum(int(status)),
                "preset_credit_amount": DoubleLong(entry.int_option("preset", 0)),
                "credit_available_threshold": DoubleLong(entry.int_option("available_threshold", 0)),
                "warning_threshold": DoubleLong(entry.int_option("warning_threshold", 0)),
                "limit": DoubleLong(entry.int_option("limit", 0))}

    @property
    def kind(self) -> int:
        return self.int_value("credit_type")

    @property
    def amount(self) -> int:
        return self.int_value("current_credit_amount")

    @property
    def status(self) -> CreditStatus:
        return CreditStatus(self.int_value("credit_status"))

    def set_status(self, status: CreditStatus) -> None:
        self.store("credit_status", Enum(int(status)))

    def set_amount(self, amount: int) -> None:
        self.store("current_credit_amount", DoubleLong(_clip(amount)))

    @property
    def usable(self) -> bool:
        """Counts in available_credit and may be collected from."""
        if self.kind == CreditType.EMERGENCY:
            return self.status in (CreditStatus.SELECTED, CreditStatus.IN_USE)
        return True

    @property
    def used(self) -> int:
        """Emergency credit spent, to be paid back by the next token."""
        if self.kind != CreditType.EMERGENCY or self.status in (
                CreditStatus.ENABLED, CreditStatus.SELECTABLE):
            return 0
        return max(0, self.int_value("preset_credit_amount") - self.amount)

    @on_set("current_credit_amount", "credit_status")
    def write_dynamic(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "moved by collections, tokens, methods")

    @on_set("credit_type")
    def write_type(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "credit_type is fixed by the profile")

    @on_action("update_amount")
    def update_amount(self, parameters: Data | None, ctx: Context) -> None:
        self.set_amount(self.amount + integer(parameters, "update_amount"))
        _account_of(self, ctx).settle(ctx)

    @on_action("set_amount_to_value")
    def set_amount_to_value(self, parameters: Data | None, ctx: Context) -> None:
        self.set_amount(integer(parameters, "set_amount_to_value"))
        _account_of(self, ctx).settle(ctx)

    @on_action("invoke_credit")
    def invoke_credit(self, parameters: Data | None, ctx: Context) -> None:
        """Select an emergency credit that is selectable (rule 4); anything else: other-reason."""
        if self.kind != CreditType.EMERGENCY or self.status != CreditStatus.SELECTABLE:
            raise AccessError(DataAccessResult.OTHER_REASON,
                              f"credit {self.logical_name} is not selectable ({self.status.name})")
        self.set_amount(self.int_value("preset_credit_amount"))
        self.set_status(CreditStatus.SELECTED)
        ctx.log_event(PrepaymentEvent.EMERGENCY_CREDIT_INVOKED)
        _account_of(self, ctx).settle(ctx)


def _unit_charge(value: Data, what: str) -> tuple[int, int, int]:
    """(commodity_scale, price_scale, charge_per_unit of the first table entry) of a
    unit_charge; type-unmatched if it is not one."""
    scaling, commodity, tables = fields(value, 3, what)
    commodity_scale, price_scale = (integer(x, what) for x in fields(scaling, 2, what))
    class_id, name, index = fields(commodity, 3, what)
    integer(class_id, what), integer(index, what)
    if len(octets(name, what)) != 6:
        raise AccessError(DataAccessResult.TYPE_UNMATCHED, f"{what}: a logical name is 6 bytes")
    rows = items(tables, what)
    per_unit = integer(fields(rows[0], 2, what)[1], what) if rows else 0
    for row in rows[1:]:
        fields(row, 2, what)
    in_range(commodity_scale, -20, 20, what)
    in_range(price_scale, -20, 20, what)
    return commodity_scale, price_scale, per_unit


def unit_charge(commodity: tuple[int, Obis, int], commodity_scale: int, price_scale: int,
                per_unit: int) -> Structure:
    class_id, obis, index = commodity
    return Structure((Structure((Integer(commodity_scale), Integer(price_scale))),
                      Structure((LongUnsigned(class_id), _ln(obis), Integer(index))),
                      Array((Structure((OctetString(b""), Long(per_unit))),))))


class Charge(CosemObject):
    CLASS_ID = 113
    VERSION = 0
    NAME = "charge"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "total_amount_paid", DoubleLong, static=False, default=DoubleLong(0)),
        Attr(3, "charge_type", Enum, default=Enum(0)),
        Attr(4, "priority", Unsigned, default=Unsigned(1)),
        Attr(5, "unit_charge_active", Structure, static=False),
        Attr(6, "unit_charge_passive", Structure),
        Attr(7, "unit_charge_activation_time", OctetString, default=OctetString(_NOT_SPECIFIED)),
        Attr(8, "period", DoubleLongUnsigned, default=DoubleLongUnsigned(60)),
        Attr(9, "charge_configuration", BitString, default=_bits(2, 1)),
        Attr(10, "last_collection_time", OctetString, static=False,
             default=OctetString(_NOT_SPECIFIED)),
        Attr(11, "last_collection_amount", DoubleLong, static=False, default=DoubleLong(0)),
        Attr(12, "total_amount_remaining", DoubleLong, static=False, default=DoubleLong(0)),
        Attr(13, "proportion", LongUnsigned, default=LongUnsigned(100)),
    )
    METHODS = (Method(1, "update_unit_charge"), Method(2, "activate_passive_unit_charge"),
               Method(3, "collect"), Method(4, "update_total_amount_remaining"),
               Method(5, "set_total_amount_remaining"))

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        # Private state: the commodity reading at the last collection (None: not read yet), the
        # fraction carried (in 10^-k currency units), the meter time of the next collection.
        self.last_reading: int | None = None
        self.carry = 0
        self.next_due: int | None = None
        self.owed = 0  # charged but not collected yet: this charge's part of aggregated_debt

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        kind = entry.int_option("charge_type", 0)
        if kind not in (ChargeType.CONSUMPTION, ChargeType.TIME):
            raise OptionError(f"charge_type {kind}: this meter collects types 0 and 1")
        raw = entry.options.get("commodity", ["1.0.1.8.0.255", 2])
        try:
            commodity = (3, Obis.parse(str(raw[0])), int(raw[1]))
        except (ValueError, IndexError, TypeError) as exc:
            raise OptionError(f"commodity: {exc}") from None
        active = unit_charge(commodity, entry.int_option("commodity_scale", 0),
                             entry.int_option("price_scale", 0), entry.int_option("charge_per_unit", 0))
        return {**super().profile_values(entry),
                "charge_type": Enum(kind),
                "priority": Unsigned(entry.int_option("priority", 1)),
                "unit_charge_active": active, "unit_charge_passive": active,
                "period": DoubleLongUnsigned(entry.int_option("period", 60))}

    def dump_private(self) -> Data:
        return Structure((Long64(-1 if self.last_reading is None else self.last_reading),
                          Long64(self.carry), Long64(-1 if self.next_due is None else self.next_due),
                          Long64(self.owed)))

    def load_private(self, value: Data) -> None:
        reading, carry, due, owed = (integer(x, "charge state")
                                     for x in fields(value, 4, "charge state"))
        self.last_reading = None if reading < 0 else reading
        self.carry = carry
        self.next_due = None if due < 0 else due
        self.owed = owed

    @property
    def period(self) -> int:
        return max(1, self.int_value("period"))

    def due(self, meter_t: float) -> int:
        """The meter time of the next collection (the first after ``meter_t`` if none yet)."""
        if self.next_due is None:
            self.next_due = (int(meter_t) // self.period + 1) * self.period
        return self.next_due

    def _commodity(self, ctx: Context) -> int:
        _, commodity, _ = self.items("unit_charge_active")
        class_id, name, index = items(commodity, "commodity")
        obj = ctx.directory.get(Obis.from_bytes(octets(name, "commodity")))
        if obj is None or obj.CLASS_ID != integer(class_id, "commodity"):
            raise AccessError(DataAccessResult.OBJECT_UNDEFINED, f"charge {self.logical_name}: no commodity")
        return integer(obj.get(integer(index, "commodity"), ctx.internal()), "commodity value")

    def _activate_if_due(self, meter_t: float, ctx: Context) -> None:
        at = self.octets("unit_charge_activation_time")
        if at == _NOT_SPECIFIED:
            return
        try:
            when = ctx.directory.clock.to_timestamp(_cosem_time(at))
        except (ValueError, OverflowError, AccessError):
            return  # a date with wildcards names no instant: nothing to activate
        if when <= meter_t:
            self._activate_passive()

    def _activate_passive(self) -> None:
        self.store("unit_charge_active", self.value("unit_charge_passive"))
        self.store("unit_charge_activation_time", OctetString(_NOT_SPECIFIED))

    def charge_since_last(self, meter_t: float, ctx: Context) -> int:
        """What this charge collects now (rule 1), its state moved on to ``meter_t``."""
        self._activate_if_due(meter_t, ctx)
        commodity_scale, price_scale, per_unit = _unit_charge(
            self.value("unit_charge_active"), "unit_charge_active")
        due = self.due(meter_t)
        periods = int(meter_t - due) // self.period + 1 if due <= meter_t else 0
        self.next_due = due + periods * self.period
        if self.int_value("charge_type") == ChargeType.TIME:
            units = periods
        else:
            reading = self._commodity(ctx)
            last, self.last_reading = self.last_reading, reading
            units = 0 if last is None or reading < last else reading - last
        exponent = commodity_scale + price_scale
        if exponent >= 0:
            return int(units * per_unit * 10 ** exponent)
        amount, self.carry = divmod(units * per_unit + self.carry, int(10 ** -exponent))
        return int(amount)

    def start(self, ctx: Context) -> bool:
        """Take the baseline reading (first start, account activation): nothing before it is
        charged. True if it was taken now."""
        if self.int_value("charge_type") != ChargeType.CONSUMPTION or self.last_reading is not None:
            return False
        try:
            self.last_reading = self._commodity(ctx)
        except AccessError as exc:
            log.warning("charge %s: %s", self.logical_name, exc)
            return False
        ctx.changed(self)
        return True

    def record(self, amount: int, meter_t: float, ctx: Context) -> None:
        self.store("last_collection_time", OctetString(ctx.directory.clock.octets_at(meter_t)))
        self.store("last_collection_amount", DoubleLong(_clip(amount)))
        self.paid(amount)

    def paid(self, amount: int) -> None:
        self.store("total_amount_paid", DoubleLong(_clip(self.int_value("total_amount_paid") + amount)))

    @on_set("total_amount_paid", "unit_charge_active", "last_collection_time",
            "last_collection_amount", "total_amount_remaining")
    def write_dynamic(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "moved by collections and methods")

    @on_set("charge_type")
    def write_type(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "charge_type is fixed by the profile")

    @on_set("unit_charge_passive")
    def write_passive(self, value: Data, ctx: Context) -> None:
        _unit_charge(value, "unit_charge_passive")
        self.store("unit_charge_passive", value)

    @on_set("unit_charge_activation_time")
    def write_activation(self, value: Data, ctx: Context) -> None:
        raw = expect(value, OctetString, "unit_charge_activation_time").value
        if raw != _NOT_SPECIFIED:
            _cosem_time(raw)
        self.store("unit_charge_activation_time", value)

    @on_set("period")
    def write_period(self, value: Data, ctx: Context) -> None:
        in_range(integer(value, "period"), 1, 31 * 86400, "period")
        self.store("period", value)
        self.next_due = None

    @on_action("update_unit_charge")
    def update_unit_charge(self, parameters: Data | None, ctx: Context) -> None:
        if not isinstance(parameters, Structure):
            raise AccessError(DataAccessResult.TYPE_UNMATCHED, "unit_charge: wrong type")
        self.write_passive(parameters, ctx)

    @on_action("activate_passive_unit_charge")
    def activate_passive_unit_charge(self, parameters: Data | None, ctx: Context) -> None:
        self._activate_passive()

    @on_action("collect")
    def collect(self, parameters: Data | None, ctx: Context) -> None:
        _account_of(self, ctx).collect(ctx.directory.clock.timestamp(), ctx, only=self)

    @on_action("update_total_amount_remaining")
    def update_total_amount_remaining(self, parameters: Data | None, ctx: Context) -> None:
        value = self.int_value("total_amount_remaining") + integer(parameters, "amount")
        self.store("total_amount_remaining", DoubleLong(_clip(value)))

    @on_action("set_total_amount_remaining")
    def set_total_amount_remaining(self, parameters: Data | None, ctx: Context) -> None:
        self.store("total_amount_remaining", DoubleLong(_clip(integer(parameters, "amount"))))


def _cosem_time(raw: bytes) -> CosemDateTime:
    try:
        return CosemDateTime.from_bytes(raw)
    except (DecodeError, ValueError):
        raise AccessError(DataAccessResult.OTHER_REASON, "not a date-time") from None


def _account_of(obj: CosemObject, ctx: Context) -> Account:
    for candidate in ctx.directory:
        if isinstance(candidate, Account) and obj.logical_name in candidate.references():
            return candidate
    raise AccessError(DataAccessResult.OTHER_REASON, f"{obj.logical_name} belongs to no account")


class Account(CosemObject):
    CLASS_ID = 111
    VERSION = 0
    NAME = "account"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "account_mode_and_status", Structure),
        Attr(3, "current_credit_in_use", Unsigned, static=False, default=Unsigned(0)),
        Attr(4, "current_credit_status", BitString, static=False, default=_bits(8)),
        Attr(5, "available_credit", DoubleLong, static=False, default=DoubleLong(0)),
        Attr(6, "amount_to_clear", DoubleLong, static=False, default=DoubleLong(0)),
        Attr(7, "clearance_threshold", DoubleLong, default=DoubleLong(0)),
        Attr(8, "aggregated_debt", DoubleLong, static=False, default=DoubleLong(0)),
        Attr(9, "credit_reference_list", Array, default=Array(())),
        Attr(10, "charge_reference_list", Array, default=Array(())),
        Attr(11, "credit_charge_configuration", Array, default=Array(())),
        Attr(12, "token_gateway_configuration", Array, default=Array(())),
        Attr(13, "account_activation_time", OctetString, default=OctetString(_NOT_SPECIFIED)),
        Attr(14, "account_closure_time", OctetString, default=OctetString(_NOT_SPECIFIED)),
        Attr(15, "currency", Structure),
        Attr(16, "low_credit_threshold", DoubleLong, default=DoubleLong(0)),
        Attr(17, "next_credit_available_threshold", DoubleLong, default=DoubleLong(0)),
        Attr(18, "max_provision", LongUnsigned, default=LongUnsigned(0)),
        Attr(19, "max_provision_period", DoubleLong, default=DoubleLong(0)),
    )
    METHODS = (Method(1, "activate_account"), Method(2, "close_account"), Method(3, "reset_account"))

    #: The most a top-up may bring the credit to (profile ``max_credit``; 0: int32 range only).
    max_credit = 0

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> Account:
        obj = cls(entry.obis, **cls.profile_values(entry))
        obj.max_credit = entry.int_option("max_credit", 0)
        return obj

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        mode = entry.int_option("payment_mode", PaymentMode.PREPAYMENT)
        status = entry.int_option("account_status", AccountStatus.ACTIVE)
        if mode not in (1, 2) or status not in (1, 2, 3):
            raise OptionError("payment_mode is 1 or 2, account_status 1, 2 or 3")
        credits, charges = _obis_list(entry, "credits"), _obis_list(entry, "charges")
        tokens = entry.options.get("token_credits", [[str(credits[0]), 100]] if credits else [])
        try:
            gateway = Array(tuple(Structure((_ln(Obis.parse(str(o))), Unsigned(int(p))))
                                  for o, p in tokens))
        except (ValueError, TypeError) as exc:
            raise OptionError(f"token_credits: {exc}") from None
        return {**super().profile_values(entry),
                "account_mode_and_status": Structure((Enum(mode), Enum(status))),
                "credit_reference_list": Array(tuple(_ln(o) for o in credits)),
                "charge_reference_list": Array(tuple(_ln(o) for o in charges)),
                "credit_charge_configuration": Array(tuple(
                    Structure((_ln(cr), _ln(ch), _bits(3))) for cr in credits for ch in charges)),
                "token_gateway_configuration": gateway,
                "currency": Structure((Utf8String(str(entry.options.get("currency", "EUR"))),
                                       Integer(entry.int_option("currency_scale", -2)), Enum(2))),
                "low_credit_threshold": DoubleLong(entry.int_option("low_credit_threshold", 0)),
                "clearance_threshold": DoubleLong(entry.int_option("clearance_threshold", 0))}

    # --- the objects it refers to ----------------------------------------------------------------

    def references(self) -> Iterator[Obis]:
        for name in ("credit_reference_list", "charge_reference_list"):
            for ln in self.items(name):
                yield Obis.from_bytes(octets(ln, name))

    def credits(self, ctx: Context) -> list[Credit]:
        found = [ctx.directory.get(Obis.from_bytes(octets(ln, "credit")))
                 for ln in self.items("credit_reference_list")]
        return sorted((c for c in found if isinstance(c, Credit)),
                      key=lambda c: c.int_value("priority"))

    def charges(self, ctx: Context) -> list[Charge]:
        found = [ctx.directory.get(Obis.from_bytes(octets(ln, "charge")))
                 for ln in self.items("charge_reference_list")]
        return [c for c in found if isinstance(c, Charge)]

    @property
    def mode(self) -> int:
        return integer(self.items("account_mode_and_status")[0], "payment_mode")

    @property
    def status(self) -> int:
        return integer(self.items("account_mode_and_status")[1], "account_status")

    @property
    def active(self) -> bool:
        return self.status == AccountStatus.ACTIVE

    def _set_status(self, status: AccountStatus) -> None:
        self.store("account_mode_and_status", Structure((Enum(self.mode), Enum(int(status)))))

    def _bit(self, bit: int) -> bool:
        status = self.value("current_credit_status")
        return isinstance(status, BitString) and status.bits[bit:bit + 1] == "1"

    def _add(self, name: str, amount: int) -> None:
        self.store(name, DoubleLong(_clip(self.int_value(name) + amount)))

    # --- the account's work ------------------------------------------------------------------------

    def start(self, ctx: Context) -> None:
        """First start or activation: the charges take their baselines."""
        if self.active:
            started = [charge.start(ctx) for charge in self.charges(ctx)]
            self.settle(ctx)
            history = ctx.directory.get(CHARGE_HISTORY)
            if any(started) and isinstance(history, ProfileGeneric):
                history.capture_now(ctx)  # the history's first row: the baseline

    def next_due(self, meter_t: float, ctx: Context) -> int | None:
        if not self.active:
            return None
        return min((c.due(meter_t) for c in self.charges(ctx)), default=None)

    def collect(self, meter_t: float, ctx: Context, only: Charge | None = None) -> int:
        """Collect every charge that is due at meter time ``meter_t`` (or ``only``, now);
        returns what was charged."""
        if not self.active:
            return 0
        total = 0
        for charge in self.charges(ctx):
            if only is not None and charge is not only:
                continue
            if only is None and charge.due(meter_t) > meter_t:
                continue
            try:
                amount = charge.charge_since_last(meter_t, ctx)
            except AccessError as exc:  # its commodity gone or its unit charge unusable
                log.warning("charge %s not collected: %s", charge.logical_name, exc)
                charge.next_due = None
                continue
            if only is not None:
                charge.next_due = None  # a collection on demand does not move the period
            self._take(charge, amount, ctx)
            charge.record(amount, meter_t, ctx)
            ctx.changed(charge)
            total += amount
            history = ctx.directory.get(CHARGE_HISTORY)
            if isinstance(history, ProfileGeneric):
                self.settle(ctx)
                history.capture_now(ctx, meter_t)
        self.settle(ctx)
        return total

    def _take(self, charge: Charge, amount: int, ctx: Context) -> None:
        """Rule 2: from the usable credits by priority; the rest becomes debt."""
        left = amount
        if self.mode == PaymentMode.PREPAYMENT and self._collects_now(charge, ctx):
            for credit in self.credits(ctx):
                if left <= 0:
                    break
                if not credit.usable or credit.amount <= 0:
                    continue
                taken = min(left, credit.amount)
                credit.set_amount(credit.amount - taken)
                left -= taken
                ctx.changed(credit)
        if left > 0:
            self._add("aggregated_debt", left)
            charge.paid(-left)  # not paid yet: a token pays it (rule 2)
            charge.owed += left

    def _collects_now(self, charge: Charge, ctx: Context) -> bool:
        """Whether ``charge`` takes from the credits now: always while the supply is
        connected; while it is not, only where a credit_charge_configuration entry of the
        charge has bit 0 (collect when supply disconnected). Otherwise it adds to the debt."""
        relay = ctx.directory.get(DISCONNECT_CONTROL)
        if not isinstance(relay, DisconnectControl) or relay.connected:
            return True
        for entry in self.items("credit_charge_configuration"):
            _, name, bits = fields(entry, 3, "credit_charge_configuration")
            if octets(name, "charge_reference") == charge.logical_name.to_bytes():
                if isinstance(bits, BitString) and bits.bits[:1] == "1":
                    return True
        return False

    def top_up(self, amount: int, ctx: Context) -> None:
        """A token's amount: repay emergency credit and debt first, the rest to the token
        credits in their token_gateway_configuration proportions."""
        credits = self.credits(ctx)
        left = amount
        for credit in credits:
            owed = credit.used
            if owed:
                repaid = min(owed, left)
                left -= repaid
                if repaid == owed:  # paid back: the one-shot emergency credit is ready again
                    credit.set_amount(0)
                    credit.set_status(CreditStatus.ENABLED)
                else:
                    credit.set_amount(credit.amount + repaid)
                ctx.changed(credit)
        debt = min(self.int_value("aggregated_debt"), left)
        if debt > 0:
            left -= debt
            self._add("aggregated_debt", -debt)
            self._repay_charges(debt, ctx)
        shares = [(Obis.from_bytes(octets(ln, "credit")), integer(p, "proportion"))
                  for ln, p in (fields(x, 2, "token_gateway_configuration")
                                for x in self.items("token_gateway_configuration"))]
        targets = [(c, p) for o, p in shares for c in credits if c.logical_name == o and p > 0]
        given = 0
        for k, (credit, share) in enumerate(targets):
            part = left - given if k == len(targets) - 1 else left * share // 100
            credit.set_amount(credit.amount + part)
            if credit.kind == CreditType.TOKEN:
                credit.set_status(CreditStatus.IN_USE)
            given += part
            ctx.changed(credit)
        self.settle(ctx)

    def _repay_charges(self, amount: int, ctx: Context) -> None:
        """Debt repaid counts as paid, on the charges that owe it, in their order."""
        for charge in self.charges(ctx):
            part = min(amount, charge.owed)
            if part > 0:
                charge.owed -= part
                charge.paid(part)
                amount -= part
                ctx.changed(charge)

    def credit_room(self, ctx: Context) -> int:
        """How much more credit a top-up may bring (max_credit)."""
        if self.max_credit <= 0:
            return _INT32[1] - max(0, self.int_value("available_credit"))
        return self.max_credit - self.int_value("available_credit") + self.int_value("amount_to_clear")

    def settle(self, ctx: Context) -> None:
        """Recompute available credit, statuses and bits; act on entering or leaving out of
        credit (rule 3)."""
        credits = self.credits(ctx)
        token_left = sum(c.amount for c in credits if c.kind == CreditType.TOKEN)
        in_use = 0
        for index, credit in enumerate(credits):
            before = credit.status
            if credit.kind == CreditType.TOKEN:
                credit.set_status(CreditStatus.IN_USE if credit.amount > 0 else CreditStatus.CONSUMED)
            elif credit.kind == CreditType.EMERGENCY:
                threshold = credit.int_value("credit_available_threshold")
                if before == CreditStatus.ENABLED and token_left < threshold:
                    credit.set_status(CreditStatus.SELECTABLE)
                elif before == CreditStatus.SELECTABLE and token_left >= threshold:
                    credit.set_status(CreditStatus.ENABLED)
                elif before == CreditStatus.SELECTED and token_left <= 0:
                    credit.set_status(CreditStatus.IN_USE)
                elif before == CreditStatus.IN_USE and credit.amount <= 0:
                    credit.set_status(CreditStatus.CONSUMED)
            if credit.status != before:
                ctx.changed(credit)
            if not in_use and credit.usable and credit.amount > 0:
                in_use = index + 1
        available = sum(c.amount for c in credits if c.usable)
        debt = self.int_value("aggregated_debt")
        to_clear = debt + sum(c.used for c in credits)
        if self.mode == PaymentMode.CREDIT:
            available = -debt
        low = available < self.int_value("low_credit_threshold")
        out = available <= 0
        was_low, was_out = self._bit(LOW_CREDIT), self._bit(OUT_OF_CREDIT)
        self.store("available_credit", DoubleLong(_clip(available)))
        self.store("amount_to_clear", DoubleLong(_clip(to_clear)))
        self.store("current_credit_in_use", Unsigned(in_use))
        self.store("current_credit_status", _bits(8, *(
            b for b, on in ((IN_CREDIT, not out), (LOW_CREDIT, low), (OUT_OF_CREDIT, out)) if on)))
        ctx.changed(self)
        if self.mode != PaymentMode.PREPAYMENT or not self.active:
            return
        if low and not was_low:
            ctx.log_event(PrepaymentEvent.LOW_CREDIT)
        if out and not was_out:
            ctx.log_event(PrepaymentEvent.CREDIT_EXHAUSTED)
            self._relay(Trigger.LOCAL_DISCONNECT, ctx)
        elif was_out and not out:
            ctx.log_event(PrepaymentEvent.CREDIT_RESTORED)
            self._relay(Trigger.LOCAL_RECONNECT, ctx)
        elif out and self._closed_without_credit(ctx):
            # The button (or the head end) closed the relay while out of credit: it opens
            # again at the next settlement (a collection). A mode with no local disconnect
            # logged its failure (68) once, when the credit ran out.
            self._relay(Trigger.LOCAL_DISCONNECT, ctx)

    def _closed_without_credit(self, ctx: Context) -> bool:
        relay = ctx.directory.get(DISCONNECT_CONTROL)
        return isinstance(relay, DisconnectControl) and relay.connected and "g" in relay.allowed()

    def _relay(self, trigger: Trigger, ctx: Context) -> None:
        relay = ctx.directory.get(DISCONNECT_CONTROL)
        if not isinstance(relay, DisconnectControl):
            return
        if trigger == Trigger.LOCAL_RECONNECT and relay.state != ControlState.READY_FOR_RECONNECTION:
            return  # disconnected by the head end (or connected already): not ours to close
        if trigger == Trigger.LOCAL_RECONNECT and "h" not in relay.allowed():
            log.info("account %s back in credit: the customer's button reconnects (mode %d)",
                     self.logical_name, relay.int_value("control_mode"))
            return
        try:
            relay.trigger(trigger, ctx.internal())
        except AccessError as exc:  # logged by the relay as a disconnect/reconnect failure (68)
            log.warning("account %s: %s refused: %s", self.logical_name, trigger.name, exc)

    # --- attributes and methods ------------------------------------------------------------------

    @on_set("current_credit_in_use", "current_credit_status", "available_credit",
            "amount_to_clear", "aggregated_debt", "credit_reference_list", "charge_reference_list")
    def write_dynamic(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "kept by the account itself")

    @on_set("account_mode_and_status")
    def write_mode(self, value: Data, ctx: Context) -> None:
        mode, status = (integer(x, "account_mode_and_status") for x in fields(value, 2, "mode"))
        in_range(mode, 1, 2, "payment_mode")
        if status != self.status:
            raise AccessError(DataAccessResult.READ_WRITE_DENIED, "account_status moves by methods")
        self.store("account_mode_and_status", value)
        self.settle(ctx)

    @on_set("credit_charge_configuration")
    def write_credit_charge_configuration(self, value: Data, ctx: Context) -> None:
        for entry in items(value, "credit_charge_configuration"):
            credit, charge, bits = fields(entry, 3, "credit_charge_configuration")
            if len(octets(credit, "credit")) != 6 or len(octets(charge, "charge")) != 6:
                raise AccessError(DataAccessResult.TYPE_UNMATCHED, "a reference is 6 bytes")
            expect(bits, BitString, "collection_configuration")
        self.store("credit_charge_configuration", value)

    @on_set("token_gateway_configuration")
    def write_token_gateway_configuration(self, value: Data, ctx: Context) -> None:
        total = 0
        for entry in items(value, "token_gateway_configuration"):
            credit, share = fields(entry, 2, "token_gateway_configuration")
            if len(octets(credit, "credit")) != 6:
                raise AccessError(DataAccessResult.TYPE_UNMATCHED, "a reference is 6 bytes")
            total += integer(share, "token_proportion")
        in_range(total, 100, 100, "token proportions (they add up to 100)")
        self.store("token_gateway_configuration", value)

    @on_set("currency")
    def write_currency(self, value: Data, ctx: Context) -> None:
        name, scale, unit = fields(value, 3, "currency")
        expect(name, Utf8String, "currency_name")
        in_range(integer(scale, "currency_scale"), -128, 127, "currency_scale")
        in_range(integer(unit, "currency_unit"), 0, 2, "currency_unit")
        self.store("currency", value)

    @on_set("low_credit_threshold")
    def write_low(self, value: Data, ctx: Context) -> None:
        self.store("low_credit_threshold", value)
        self.settle(ctx)

    @on_action("activate_account")
    def activate_account(self, parameters: Data | None, ctx: Context) -> None:
        if self.status == AccountStatus.ACTIVE:
            return
        self._set_status(AccountStatus.ACTIVE)
        clock = ctx.directory.clock
        self.store("account_activation_time", OctetString(clock.octets_at(clock.timestamp())))
        for charge in self.charges(ctx):
            charge.last_reading, charge.next_due = None, None
        self.store("current_credit_status", _bits(8))  # low / out of credit count from now
        self.start(ctx)

    @on_action("close_account")
    def close_account(self, parameters: Data | None, ctx: Context) -> None:
        self._set_status(AccountStatus.CLOSED)
        clock = ctx.directory.clock
        self.store("account_closure_time", OctetString(clock.octets_at(clock.timestamp())))

    @on_action("reset_account")
    def reset_account(self, parameters: Data | None, ctx: Context) -> None:
        """Back to new: amounts, debt and collection state cleared (a new tenancy)."""
        for credit in self.credits(ctx):
            credit.set_amount(0)
            credit.set_status(CreditStatus.ENABLED)
            ctx.changed(credit)
        for charge in self.charges(ctx):
            charge.store("total_amount_paid", DoubleLong(0))
            charge.last_reading, charge.carry, charge.next_due, charge.owed = None, 0, None, 0
            ctx.changed(charge)
        self.store("aggregated_debt", DoubleLong(0))
        self._set_status(AccountStatus.NEW)
        self.store("current_credit_status", _bits(8))
        self.settle(ctx)


@dataclass(frozen=True, slots=True)
class OpenedToken:
    token_id: int
    amount: int


class TokenRefused(Exception):
    """What ``TokenGateway.opener`` raises for a token it refuses."""

    def __init__(self, status: TokenStatus, why: str) -> None:
        super().__init__(why)
        self.status = status


def _no_opener(token: bytes) -> OpenedToken:
    raise TokenRefused(TokenStatus.AUTHENTICATION_FAILURE, "the meter has no token key")


class TokenGateway(CosemObject):
    CLASS_ID = 115
    VERSION = 0
    NAME = "token_gateway"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "token", OctetString, static=False, default=OctetString(b"")),
        Attr(3, "token_time", OctetString, static=False, default=OctetString(_NOT_SPECIFIED)),
        Attr(4, "token_description", Array, static=False, default=Array(())),
        Attr(5, "token_delivery_method", Enum, static=False, default=Enum(0)),
        Attr(6, "token_status", Structure, static=False,
             default=Structure((Enum(int(TokenStatus.FORMAT_OK)), _bits(8)))),
    )
    METHODS = (Method(1, "enter"),)

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: The device's token check (meter/device/prepayment.py): id and amount, or TokenRefused.
        self.opener: Callable[[bytes], OpenedToken] = _no_opener
        #: The profile's ``token_key`` (hex), which the device gives ``opener``.
        self.token_key: bytes | None = None
        self.highest = 0  # the highest token id accepted
        self.window = 0  # bit k: id highest - k was accepted (k < TOKEN_WINDOW)

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> TokenGateway:
        obj = cls(entry.obis, **cls.profile_values(entry))
        key = entry.options.get("token_key")
        obj.token_key = None if key is None else bytes.fromhex(str(key))
        return obj

    def dump_private(self) -> Data:
        return Structure((DoubleLongUnsigned(self.highest), Long64(self.window - (1 << 64)
                          if self.window >= 1 << 63 else self.window)))

    def load_private(self, value: Data) -> None:
        highest, window = (integer(x, "token window") for x in fields(value, 2, "token window"))
        self.highest, self.window = highest, window & ((1 << 64) - 1)

    def seen(self, token_id: int) -> str | None:
        """Why ``token_id`` cannot be used (None: it can)."""
        if token_id > self.highest:
            return None
        age = self.highest - token_id
        if age >= TOKEN_WINDOW:
            return f"token id {token_id} older than the last {TOKEN_WINDOW} below {self.highest}"
        if self.window >> age & 1:
            return f"token id {token_id} used already"
        return None

    def _remember(self, token_id: int) -> None:
        if token_id > self.highest:
            shift = token_id - self.highest
            self.window = (self.window << shift if shift < TOKEN_WINDOW else 0) & ((1 << 64) - 1)
            self.highest = token_id
        self.window |= 1 << (self.highest - token_id)

    @on_set("token", "token_time", "token_description", "token_delivery_method", "token_status")
    def write_dynamic(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "written by enter")

    @on_action("enter")
    def enter(self, parameters: Data | None, ctx: Context) -> None:
        token = expect(parameters, OctetString, "token").value
        clock = ctx.directory.clock
        self.store("token", OctetString(token[:MAX_TOKEN_BYTES]))
        self.store("token_time", OctetString(clock.octets_at(clock.timestamp())))
        self.store("token_delivery_method", Enum(0 if ctx.association is not None else 1))
        try:
            opened = self._check(token, ctx)
        except TokenRefused as refused:
            self.store("token_status", Structure((Enum(int(refused.status)), _bits(8))))
            self.store("token_description", Array((OctetString(str(refused).encode()[:64]),)))
            ctx.log_event(PrepaymentEvent.TOKEN_REFUSED)
            ctx.changed(self)
            log.warning("token refused (%s): %s", refused.status.name, refused)
            raise AccessError(DataAccessResult.OTHER_REASON, f"token refused: {refused}") from None
        self._account(ctx).top_up(opened.amount, ctx)
        self._remember(opened.token_id)
        self.store("token_status", Structure((Enum(int(TokenStatus.EXECUTION_OK)), _bits(8))))
        self.store("token_description", Array((
            OctetString(f"credit top-up id {opened.token_id} amount {opened.amount}".encode()),)))
        ctx.log_event(PrepaymentEvent.TOKEN_ACCEPTED)
        history = ctx.directory.get(TOKEN_CREDIT_HISTORY)
        if isinstance(history, ProfileGeneric):
            history.capture_now(ctx)
        log.info("token %d accepted: %d", opened.token_id, opened.amount)

    def _account(self, ctx: Context) -> Account:
        for candidate in ctx.directory:
            if isinstance(candidate, Account):
                return candidate
        raise TokenRefused(TokenStatus.EXECUTION_FAILURE, "the meter has no account")

    def _check(self, token: bytes, ctx: Context) -> OpenedToken:
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRefused(TokenStatus.FORMAT_FAILURE, f"token of {len(token)} bytes")
        opened = self.opener(token)  # format and authentication
        why = self.seen(opened.token_id)
        if why is not None:
            raise TokenRefused(TokenStatus.VALIDATION_FAILURE, why)
        account = self._account(ctx)
        if account.status == AccountStatus.CLOSED:
            raise TokenRefused(TokenStatus.VALIDATION_FAILURE, "the account is closed")
        if opened.amount > account.credit_room(ctx):
            raise TokenRefused(TokenStatus.EXECUTION_FAILURE, "the credit would exceed max_credit")
        return opened


__all__ += ["AccountStatus", "ChargeType", "CreditStatus", "CreditType", "OpenedToken",
            "PaymentMode", "unit_charge"]
