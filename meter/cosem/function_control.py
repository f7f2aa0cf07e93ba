"""Function control (class_id 122, version 0; Blue Book "Function control").

Attributes (cosem-reference.md §2.2): 2 activation_status array of {function_name octet-string,
status boolean}; 3 function_list array of {function_name octet-string, function_specification
array of {class_id long-unsigned, logical_name octet-string}}. Methods 1
set_function_status(array of activation_status entries), 2 add_function(array of function_list
entries), 3 remove_function(array of function_name).

Rules (ours where the Blue Book leaves it to the meter):

1. A function is named once; its objects are its function_specification. A method naming an
   unknown function (1, 3) or a known one again (2) changes nothing and answers other-reason.
   At most MAX_FUNCTIONS functions of MAX_OBJECTS objects, names of MAX_NAME bytes.
2. A function added by add_function starts enabled.
3. add_function and remove_function take an array of entries (Blue Book) or one entry alone
   (a function_list structure, a name): gurux-dlms 1.0.203 ``addFunction``/``removeFunction``
   send one entry unwrapped.
4. While a function is disabled, SET and ACTION on its objects are refused with
   object-unavailable, whoever asks (a head end, or the meter's own scripts and schedules): the
   check is CosemObject.set/action asking ObjectDirectory.refusal, and the refusal names the
   function, which the server logs. GET still answers (a head end sees the state it left).
"""

from __future__ import annotations

import logging

from meter.codec.axdr import Array, Boolean, Data, LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, items, octets, on_action, on_set)
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult

log = logging.getLogger(__name__)

MAX_FUNCTIONS = 32
MAX_OBJECTS = 32
MAX_NAME = 32


def _name(value: Data) -> bytes:
    name = octets(value, "function_name")
    if not 1 <= len(name) <= MAX_NAME:
        raise AccessError(DataAccessResult.OTHER_REASON, f"a function name is 1..{MAX_NAME} bytes")
    return name


def _specification(value: Data) -> tuple[Data, ...]:
    objects = items(expect(value, Array, "function_specification"), "function_specification")
    if len(objects) > MAX_OBJECTS:
        raise AccessError(DataAccessResult.OTHER_REASON, f"at most {MAX_OBJECTS} objects")
    for item in objects:
        class_id, name = fields(item, 2, "function object")
        expect(class_id, LongUnsigned, "class_id")
        if len(expect(name, OctetString, "logical_name").value) != 6:
            raise bad_type("logical_name")
    return objects


def _entries(value: Data | None, single: type[Data], what: str) -> tuple[Data, ...]:
    """The entries of an array, or one ``single`` entry sent alone (rule 3)."""
    if isinstance(value, single):
        return (value,)
    return items(expect(value, Array, what), what)


def _unknown(name: bytes) -> AccessError:
    return AccessError(DataAccessResult.OTHER_REASON, f"no function {name!r}")


class FunctionControl(CosemObject):
    CLASS_ID = 122
    VERSION = 0
    NAME = "function_control"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "activation_status", Array, static=False, default=Array(())),
        Attr(3, "function_list", Array, default=Array(())),
    )
    METHODS = (Method(1, "set_function_status"), Method(2, "add_function"),
               Method(3, "remove_function"))

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """functions = [{ name, objects = [OBIS of objects in the profile], enabled = true }]."""
        listed, status = [], []
        try:
            for f in entry.options.get("functions", ()):
                objects = []
                for text in f.get("objects", ()):
                    obis = Obis.parse(str(text))
                    class_id = entry.class_id_of(obis)
                    if class_id is None:
                        raise OptionError(f"function {f['name']!r}: {obis} is not in the profile")
                    objects.append(Structure((LongUnsigned(class_id), OctetString(obis.to_bytes()))))
                name = OctetString(str(f["name"]).encode())
                listed.append(Structure((name, Array(tuple(objects)))))
                status.append(Structure((name, Boolean(bool(f.get("enabled", True))))))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise OptionError(f"functions are {{ name, objects = [obis], enabled }}: {exc!r}") from None
        return {**super().profile_values(entry), "function_list": Array(tuple(listed)),
                "activation_status": Array(tuple(status))}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        self._off: dict[Obis, str] = {}
        self._update()

    def refusal(self, obis: Obis) -> str | None:
        """Why operations on ``obis`` are refused now (its function is disabled), or None."""
        return self._off.get(obis) if self._off else None

    def _functions(self) -> dict[bytes, tuple[Data, ...]]:
        return {expect(n, OctetString, "function_name").value: expect(objs, Array, "objects").items
                for n, objs in (fields(f, 2, "function") for f in self.items("function_list"))}

    def _status(self) -> dict[bytes, bool]:
        return {expect(n, OctetString, "function_name").value: bool(expect(s, Boolean, "status").value)
                for n, s in (fields(e, 2, "activation_status") for e in self.items("activation_status"))}

    def _update(self) -> None:
        """Recompute which objects are switched off (after every change and every restore)."""
        status = self._status()
        self._off = {}
        for name, objects in self._functions().items():
            if not status.get(name, True):
                why = f"function {name.decode(errors='replace')!r} is disabled ({self.logical_name})"
                for item in objects:
                    _, ln = fields(item, 2, "function object")
                    self._off[Obis.from_bytes(expect(ln, OctetString, "logical_name").value)] = why

    def _store(self, functions: dict[bytes, tuple[Data, ...]], status: dict[bytes, bool],
               ctx: Context) -> None:
        self.store("function_list", Array(tuple(
            Structure((OctetString(n), Array(objs))) for n, objs in functions.items())))
        self.store("activation_status", Array(tuple(
            Structure((OctetString(n), Boolean(status.get(n, True)))) for n in functions)))
        self._update()
        ctx.changed(self)

    @on_set("activation_status", "function_list")
    def write_by_methods(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "changed by the methods")

    @on_action("set_function_status")
    def set_function_status(self, parameters: Data | None, ctx: Context) -> None:
        functions, status = self._functions(), self._status()
        changes: dict[bytes, bool] = {}
        for entry in items(expect(parameters, Array, "activation_status"), "activation_status"):
            name, value = fields(entry, 2, "activation_status entry")
            key = _name(name)
            if key not in functions:
                raise _unknown(key)
            changes[key] = expect(value, Boolean, "status").value is True
        for key, on in changes.items():
            if status.get(key, True) != on:
                log.info("function %r %s", key, "enabled" if on else "disabled")
        self._store(functions, {**status, **changes}, ctx)

    @on_action("add_function")
    def add_function(self, parameters: Data | None, ctx: Context) -> None:
        functions, status = self._functions(), self._status()
        for entry in _entries(parameters, Structure, "function_list"):
            name, spec = fields(entry, 2, "function_list entry")
            key = _name(name)
            if key in functions:
                raise AccessError(DataAccessResult.OTHER_REASON, f"function {key!r} exists")
            functions[key] = _specification(spec)
            status[key] = True
        if len(functions) > MAX_FUNCTIONS:
            raise AccessError(DataAccessResult.OTHER_REASON, f"at most {MAX_FUNCTIONS} functions")
        self._store(functions, status, ctx)

    @on_action("remove_function")
    def remove_function(self, parameters: Data | None, ctx: Context) -> None:
        functions, status = self._functions(), self._status()
        for name in _entries(parameters, OctetString, "function names"):
            key = _name(name)
            if key not in functions:
                raise _unknown(key)
            del functions[key]
            status.pop(key, None)
        self._store(functions, status, ctx)

    def load_state(self, state: dict[int, Data]) -> None:
        super().load_state(state)
        self._update()
