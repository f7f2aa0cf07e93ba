"""Register activation (class_id 6, version 0; Blue Book §4.3.5).

Attributes (cosem-reference.md, Register activation): 2 register_assignment array of {class_id
long-unsigned, logical_name octet-string}; 3 mask_list array of {mask_name octet-string,
index_list array of unsigned}; 4 active_mask octet-string. Methods 1 add_register(structure
{class_id, logical_name}), 2 add_mask(structure {mask_name, index_list}), 3
delete_mask(octet-string).

The registers the active mask's index_list names (1-based positions in register_assignment) are
the ones that accumulate: the tariff scripts switch the rate by writing active_mask. The
"currently active tariff" is the position of the active mask in mask_list (1-based; 0 none).
Every write keeps the three consistent: a mask naming a position the assignment has not, or an
active mask that is no mask, is refused with other-reason and nothing changes.

The object also keeps, for the device (meter/device/tariffs.py), how the energy was split when
the active set last changed (``split``, persisted with it): it is told before every change that
may switch the registers (``before_switch``).
"""

from __future__ import annotations

from collections.abc import Callable

from meter.codec.axdr import Array, Data, Float64, LongUnsigned, OctetString, Structure, Unsigned
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, octets, on_action, on_set)
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult, EncodeError

__all__ = ["MAX_ENTRIES", "RegisterActivation"]

#: Registers and masks the object holds at most (every input from outside is bounded).
MAX_ENTRIES = 64


def _refused(why: str) -> AccessError:
    return AccessError(DataAccessResult.OTHER_REASON, why)


def _register(value: Data) -> Obis:
    class_id, name = fields(value, 2, "register assignment")
    expect(class_id, LongUnsigned, "class_id")
    raw = octets(name, "logical_name")
    if len(raw) != 6:
        raise bad_type("logical_name")
    return Obis.from_bytes(raw)


def _mask(value: Data) -> tuple[bytes, tuple[int, ...]]:
    name, index_list = fields(value, 2, "register act mask")
    indices = tuple(expect(i, Unsigned, "index").value for i in expect(index_list, Array, "index_list").items)
    return octets(name, "mask_name"), indices


def _bounded(value: Data, what: str) -> tuple[Data, ...]:
    entries: tuple[Data, ...] = expect(value, Array, what).items
    if len(entries) > MAX_ENTRIES:
        raise _refused(f"{what}: more than {MAX_ENTRIES} entries")
    return entries


class RegisterActivation(CosemObject):
    CLASS_ID = 6
    VERSION = 0
    NAME = "register_activation"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "register_assignment", Array, default=Array(())),
        Attr(3, "mask_list", Array, default=Array(())),
        Attr(4, "active_mask", OctetString, static=False, default=OctetString(b"")),
    )
    METHODS = (Method(1, "add_register"), Method(2, "add_mask"), Method(3, "delete_mask"))

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """registers = [obis, ...]; masks = [{ name, registers = [1-based positions] }];
        active_mask = a mask's name."""
        o = entry.options
        try:
            registers = []
            for text in o.get("registers", ()):
                obis = Obis.parse(str(text))
                class_id = entry.class_id_of(obis)
                if class_id is None:
                    raise OptionError(f"register {obis} is not in the profile")
                registers.append(Structure((LongUnsigned(class_id), OctetString(obis.to_bytes()))))
            masks = [Structure((OctetString(str(mask["name"]).encode()),
                                Array(tuple(Unsigned(int(i)) for i in mask["registers"]))))
                     for mask in o.get("masks", ())]
            values = {"register_assignment": Array(tuple(registers)), "mask_list": Array(tuple(masks)),
                      "active_mask": OctetString(str(o.get("active_mask", "")).encode())}
            _consistent(values["register_assignment"], values["mask_list"], values["active_mask"])
        except (KeyError, ValueError, TypeError, AttributeError, EncodeError, AccessError) as exc:
            raise OptionError(f"registers, masks [{{ name, registers }}] and active_mask: {exc}") from None
        return {**super().profile_values(entry), **values}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Named amounts the device keeps with the masks (meter/device/tariffs.py).
        self.split: dict[str, float] = {}
        #: Called before a change that may switch the registers (the device closes the split).
        self.before_switch: Callable[[], None] = lambda: None
        self._active: tuple[tuple[Data, ...], frozenset[Obis]] | None = None

    # --- what the meter reads ------------------------------------------------------------------

    def assigned(self) -> list[Obis]:
        """register_assignment's registers, in order."""
        return [_register(r) for r in self.items("register_assignment")]

    def active_registers(self) -> frozenset[Obis]:
        """The registers the active mask enables (found once per value: read per GET)."""
        raw = tuple(self.value(n) for n in ("register_assignment", "mask_list", "active_mask"))
        if self._active is None or any(a is not b for a, b in zip(self._active[0], raw, strict=True)):
            registers = self.assigned()
            found: frozenset[Obis] = frozenset()
            for mask in self.items("mask_list"):
                name, indices = _mask(mask)
                if name == self.octets("active_mask"):
                    found = frozenset(registers[i - 1] for i in indices)
            self._active = (raw, found)
        return self._active[1]

    def rate(self) -> int:
        """The position of the active mask in mask_list (1-based); 0 when none is active."""
        active = self.octets("active_mask")
        names = [_mask(m)[0] for m in self.items("mask_list")]
        return names.index(active) + 1 if active in names else 0

    # --- writes and methods --------------------------------------------------------------------

    def _change(self, ctx: Context, **values: Data) -> None:
        merged = {n: values.get(n, self.value(n)) for n in ("register_assignment", "mask_list", "active_mask")}
        _consistent(merged["register_assignment"], merged["mask_list"], merged["active_mask"])
        self.before_switch()
        for name, value in values.items():
            self.store(name, value)

    @on_set("register_assignment")
    def write_register_assignment(self, value: Data, ctx: Context) -> None:
        self._change(ctx, register_assignment=value)

    @on_set("mask_list")
    def write_mask_list(self, value: Data, ctx: Context) -> None:
        self._change(ctx, mask_list=value)

    @on_set("active_mask")
    def write_active_mask(self, value: Data, ctx: Context) -> None:
        self._change(ctx, active_mask=value)

    @on_action("add_register")
    def add_register(self, parameters: Data | None, ctx: Context) -> None:
        entry: Structure = expect(parameters, Structure, "register assignment")
        _register(entry)
        self._change(ctx, register_assignment=Array((*self.items("register_assignment"), entry)))

    @on_action("add_mask")
    def add_mask(self, parameters: Data | None, ctx: Context) -> None:
        """A mask of the same name is replaced."""
        mask: Structure = expect(parameters, Structure, "register act mask")
        name, _ = _mask(mask)
        kept = [m for m in self.items("mask_list") if _mask(m)[0] != name]
        self._change(ctx, mask_list=Array((*kept, mask)))

    @on_action("delete_mask")
    def delete_mask(self, parameters: Data | None, ctx: Context) -> None:
        name = octets(parameters, "mask_name")
        kept = tuple(m for m in self.items("mask_list") if _mask(m)[0] != name)
        if len(kept) == len(self.items("mask_list")):
            raise _refused(f"no mask {name!r}")
        if name == self.octets("active_mask"):
            raise _refused("the active mask cannot be deleted")
        self._change(ctx, mask_list=Array(kept))


    def dump_private(self) -> Data | None:
        return Array(tuple(Structure((OctetString(k.encode()), Float64(v)))
                           for k, v in sorted(self.split.items())))

    def load_private(self, value: Data) -> None:
        self.split = {}
        for item in expect(value, Array, "split").items:
            name, amount = fields(item, 2, "split")
            self.split[octets(name, "split").decode()] = float(expect(amount, Float64, "split").value)


def _consistent(assignment: Data, mask_list: Data, active: Data) -> None:
    registers = [_register(r) for r in _bounded(assignment, "register_assignment")]
    if len(set(registers)) != len(registers):
        raise _refused("register_assignment: a register twice")
    names = []
    for mask in _bounded(mask_list, "mask_list"):
        name, indices = _mask(mask)
        if any(not 1 <= i <= len(registers) for i in indices):
            raise _refused(f"mask {name!r} names a register the assignment has not")
        names.append(name)
    if len(set(names)) != len(names):
        raise _refused("mask_list: two masks of one name")
    active_name = octets(active, "active_mask")
    if active_name and active_name not in names:
        raise _refused(f"active_mask {active_name!r} is no mask")
