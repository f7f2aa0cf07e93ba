"""Generic COSEM interface-class machinery (Blue Book, DLMS UA 1000-1 §4.1 "interface classes").

Each interface class declares its attributes and methods in ONE table (``ATTRIBUTES``/``METHODS``)
and inherits generic ``get``/``set``/``action`` from :class:`CosemObject`:

* an attribute value lives in the object, or is BOUND to a provider (a live metrology value);
* a class customises attribute ``x`` with a method decorated ``@on_get("x")``
  (``(ctx, selector, parameters) -> Data``) and/or ``@on_set("x")`` (``(value, ctx)``), and
  implements method ``m`` with one decorated ``@on_action("m")`` (``(parameters, ctx)``); names
  are the table's (Blue Book names, compared lower-cased). ``__init_subclass__`` files each
  handler under its row's index once, so a request finds it by index, and a name that is not in
  the table fails at import. An override in a subclass replaces the handler of the same Python
  name, decorated or not;
* the values stored are read back typed with ``int_value``/``octets``/``items`` (and
  ``integer``/``octets``/``items`` for the elements of a value);
* a class builds itself from its profile entry with ``from_profile`` (by default its
  ``profile_values``, which a class extends with its own options).

Result codes chosen where the Blue Book leaves it open (the Green Book's Data-Access-Result has no
"value out of range"):

* unknown attribute or method index -> object-undefined;
* wrong A-XDR type -> type-unmatched;
* a selector the attribute does not offer -> scope-of-access-violated: the request asks for a kind
  of access outside what the attribute's access_selectors (published in object_list) allow;
  selective-access parameters of the wrong shape -> type-unmatched;
* a value of the right type but outside its range -> other-reason (type-unmatched would tell the
  client its encoding is wrong, which it is not);
* a method in the table that this meter does not implement -> other-reason.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from meter.codec import axdr
from meter.codec.axdr import Data, OctetString
from meter.codec.obis import Obis
from meter.cosem.events import LogEvent
from meter.errors import AccessError, DataAccessResult

if TYPE_CHECKING:
    from meter.cosem.association_ln import AssociationLN
    from meter.cosem.profile_entry import ProfileEntry
    from meter.cosem.registry import ObjectDirectory

#: Key of :meth:`CosemObject.dump_state` for state that is no attribute (a clock offset, demand
#: accumulators). Attribute indices start at 1, so 0 never collides.
PRIVATE_STATE = 0


class AccessMode(enum.IntFlag):
    """attribute access_mode of Association LN v3 (bit flags) [GX-PY AccessMode3]."""

    NO_ACCESS = 0
    READ = 1
    WRITE = 2
    READ_WRITE = 3
    AUTHENTICATED_REQUEST = 4
    ENCRYPTED_REQUEST = 8
    DIGITALLY_SIGNED_REQUEST = 16
    AUTHENTICATED_RESPONSE = 32
    ENCRYPTED_RESPONSE = 64
    DIGITALLY_SIGNED_RESPONSE = 128


class MethodAccessMode(enum.IntFlag):
    """method access_mode of Association LN v3 [GX-PY MethodAccessMode3]."""

    NO_ACCESS = 0
    ACCESS = 1
    AUTHENTICATED_REQUEST = 4
    ENCRYPTED_REQUEST = 8
    DIGITALLY_SIGNED_REQUEST = 16
    AUTHENTICATED_RESPONSE = 32
    ENCRYPTED_RESPONSE = 64
    DIGITALLY_SIGNED_RESPONSE = 128


#: The protection bits of an access_mode (bits 2-4 request, 5-7 response); Security setup v1's
#: security_policy uses the same bits (security_setup.py).
REQUEST_PROTECTION = (AccessMode.AUTHENTICATED_REQUEST | AccessMode.ENCRYPTED_REQUEST
                      | AccessMode.DIGITALLY_SIGNED_REQUEST)
RESPONSE_PROTECTION = (AccessMode.AUTHENTICATED_RESPONSE | AccessMode.ENCRYPTED_RESPONSE
                       | AccessMode.DIGITALLY_SIGNED_RESPONSE)


@dataclass(frozen=True, slots=True)
class Attr:
    """One row of an attribute table. ``type`` None = a CHOICE the class checks itself."""

    index: int
    name: str
    type: type[Data] | None
    static: bool = True
    selectors: tuple[int, ...] = ()
    default: Data | None = None

    @property
    def py_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Method:
    index: int
    name: str

    @property
    def py_name(self) -> str:
        return self.name.lower()


_F = TypeVar("_F", bound=Callable[..., Any])
#: Attribute of a decorated function: (service, row names) it handles.
_HANDLES = "_cosem_handles"


def _handler(service: str, names: tuple[str, ...]) -> Callable[[_F], _F]:
    def mark(fn: _F) -> _F:
        setattr(fn, _HANDLES, (service, tuple(n.lower() for n in names)))
        return fn
    return mark


def on_get(*names: str) -> Callable[[_F], _F]:
    """Serve GET of the named attributes with ``(self, ctx, selector, parameters) -> Data``."""
    return _handler("get", names)


def on_set(*names: str) -> Callable[[_F], _F]:
    """Serve SET of the named attributes with ``(self, value, ctx)`` (type already checked)."""
    return _handler("set", names)


def on_action(*names: str) -> Callable[[_F], _F]:
    """Implement the named methods with ``(self, parameters, ctx) -> Data | None``."""
    return _handler("action", names)


def _no_event(event: LogEvent) -> None:
    pass


def _no_change(obj: CosemObject) -> None:
    pass


def _no_persist() -> None:
    pass


@dataclass(slots=True)
class Context:
    """What an object may see of the world during one request (or one device-internal call)."""

    directory: ObjectDirectory
    #: The association of the request; None for internal calls by the device.
    association: AssociationLN | None = None
    #: Record ``event`` in its event log (the device captures the log profile).
    log_event: Callable[[LogEvent], None] = _no_event
    #: The object's persistent state changed; persist it before the response goes out.
    changed: Callable[[CosemObject], None] = _no_change
    #: Persist what changed now (after a SET or ACTION, before its result is answered); raises
    #: StoreError, with the changes undone, when the store cannot take them (disk full).
    persist: Callable[[], None] = _no_persist

    def internal(self) -> Context:
        """The same world, without the requesting association (for captures by an object)."""
        if self.association is None:
            return self  # a device-internal context already (every logged event's capture)
        return Context(self.directory, None, self.log_event, self.changed, self.persist)


#: class_id -> the Blue Book class; filled by __init_subclass__ (read through cosem.registry).
CLASSES: dict[int, type[CosemObject]] = {}


def bad_type(what: str) -> AccessError:
    return AccessError(DataAccessResult.TYPE_UNMATCHED, f"{what}: wrong type")


def out_of_range(what: str) -> AccessError:
    return AccessError(DataAccessResult.OTHER_REASON, f"{what}: value out of range")


def expect(value: Data | None, cls: type[Any], what: str) -> Any:
    """``value`` if it is a ``cls``, else type-unmatched (for method and selector parameters)."""
    if not isinstance(value, cls):
        raise bad_type(what)
    return value


def fields(value: Data | None, n: int, what: str) -> tuple[Data, ...]:
    """The items of a structure of exactly ``n`` elements, else type-unmatched."""
    if not isinstance(value, axdr.Structure) or len(value.items) != n:
        raise bad_type(what)
    return value.items


_INTEGER_TYPES = frozenset(axdr.INTEGER_TYPES)


def integer(value: Data | None, what: str) -> int:
    """The Python int of any integer-typed Data, else type-unmatched."""
    if value is not None and type(value) in _INTEGER_TYPES:  # a set: this is on the GET path
        number = value.to_python()
        if isinstance(number, int):
            return number
    raise bad_type(what)


def octets(value: Data | None, what: str) -> bytes:
    """The bytes of an octet-string, else type-unmatched."""
    if not isinstance(value, OctetString):
        raise bad_type(what)
    return value.value


def items(value: Data | None, what: str) -> tuple[Data, ...]:
    """The elements of an array or structure, else type-unmatched."""
    if not isinstance(value, (axdr.Array, axdr.Structure)):
        raise bad_type(what)
    return value.items


def in_range(value: int, lo: int, hi: int, what: str) -> int:
    if not lo <= value <= hi:
        raise out_of_range(what)
    return value


#: Profile values shared by every object built with an equal one (Data is immutable): a fleet's
#: meters are built from one profile (meter/device/fleet.py), so most of their attribute values
#: are equal; sharing them saves ~100 KB a meter. Bounded: when full it starts again (sharing
#: is lost, never correctness).
_SHARED_VALUES: dict[Data, Data] = {}
_SHARED_VALUES_MAX = 1 << 16
#: Initial attribute tables shared by objects built alike (a fleet's meters), keyed by their
#: indices and the identities of their (shared) values: an entry keeps its values alive, so an
#: identity in a key is not reused while the entry lasts. An object copies its table before
#: its first write (CosemObject._writable).
_SHARED_TABLES: dict[tuple[tuple[int, int], ...], dict[int, Data]] = {}
#: The providers of an object with none bound (replaced by its own dict at the first bind).
_NO_PROVIDERS: dict[int, Callable[[], Data]] = {}


def _shared(value: Data) -> Data:
    if len(_SHARED_VALUES) >= _SHARED_VALUES_MAX:
        _SHARED_VALUES.clear()
    return _SHARED_VALUES.setdefault(value, value)


def _shared_table(table: dict[int, Data]) -> dict[int, Data]:
    if len(_SHARED_TABLES) >= _SHARED_VALUES_MAX:
        _SHARED_TABLES.clear()
    return _SHARED_TABLES.setdefault(tuple((i, id(v)) for i, v in table.items()), table)


class CosemObject:
    """An instance of a COSEM interface class, identified by its logical name."""

    CLASS_ID: ClassVar[int] = 0
    VERSION: ClassVar[int] = 0
    #: Profile name of the class (``class = "register"`` in profiles/*.toml).
    NAME: ClassVar[str] = ""
    ATTRIBUTES: ClassVar[tuple[Attr, ...]] = ()
    METHODS: ClassVar[tuple[Method, ...]] = ()
    _ATTR_BY_INDEX: ClassVar[dict[int, Attr]]
    _ATTR_BY_NAME: ClassVar[dict[str, Attr]]
    _METHOD_BY_INDEX: ClassVar[dict[int, Method]]
    #: index -> handler of the ``on_get``/``on_set``/``on_action`` rows (unbound functions).
    _GETTERS: ClassVar[dict[int, Callable[..., Data]]] = {}
    _SETTERS: ClassVar[dict[int, Callable[..., None]]] = {}
    _ACTIONS: ClassVar[dict[int, Callable[..., Data | None]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._ATTR_BY_INDEX = {a.index: a for a in cls.ATTRIBUTES}
        cls._ATTR_BY_NAME = {a.py_name: a for a in cls.ATTRIBUTES}
        cls._METHOD_BY_INDEX = {m.index: m for m in cls.METHODS}
        cls._file_handlers()
        # Only the class that defines a class_id is "the" class for it (MeasurementAlgorithm is
        # a Data too, but a client reading class 1 means Data).
        if "CLASS_ID" in cls.__dict__:
            CLASSES.setdefault(cls.CLASS_ID, cls)

    @classmethod
    def _file_handlers(cls) -> None:
        """Index the decorated handlers of the class and its bases by table row."""
        marks: dict[str, tuple[str, tuple[str, ...]]] = {}
        functions: dict[str, Callable[..., Any]] = {}
        for klass in reversed(cls.__mro__):
            for py_name, member in vars(klass).items():
                mark = getattr(member, _HANDLES, None)
                if mark is not None:
                    marks[py_name] = mark
                if py_name in marks and callable(member):
                    functions[py_name] = member  # an override keeps its base's rows
        rows: dict[str, dict[str, int]] = {
            "get": {n: a.index for n, a in cls._ATTR_BY_NAME.items()},
            "set": {n: a.index for n, a in cls._ATTR_BY_NAME.items()},
            "action": {m.py_name: m.index for m in cls.METHODS},
        }
        found: dict[str, dict[int, Callable[..., Any]]] = {"get": {}, "set": {}, "action": {}}
        for py_name, (service, names) in marks.items():
            for name in names:
                index = rows[service].get(name)
                if index is None:
                    if py_name in cls.__dict__:  # a typo in this class; a base's extra row is fine
                        raise TypeError(f"{cls.__name__}.{py_name}: no {service} row {name!r}")
                    continue
                found[service][index] = functions[py_name]
        cls._GETTERS, cls._SETTERS, cls._ACTIONS = found["get"], found["set"], found["action"]

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        self.logical_name = logical_name
        table: dict[int, Data] = {
            a.index: a.default for a in self.ATTRIBUTES if a.default is not None}
        self._providers = _NO_PROVIDERS
        for name, value in values.items():
            attr = self._ATTR_BY_NAME.get(name)
            if attr is None or attr.index == 1:
                raise TypeError(f"{type(self).__name__} has no settable attribute {name!r}")
            table[attr.index] = _shared(value)
        self._values = _shared_table(table)
        self._own_values = False

    def _writable(self) -> dict[int, Data]:
        """The object's own attribute table (copied from the shared one at the first write)."""
        if not self._own_values:
            self._values = dict(self._values)
            self._own_values = True
        return self._values

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.logical_name})"

    # --- building from a profile ---------------------------------------------------------------

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> CosemObject:
        """The object of one ``[[object]]`` entry (without live bindings or a buffer store)."""
        return cls(entry.obis, **cls.profile_values(entry))

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """Initial attribute values from the entry's options; every class takes ``value``."""
        if "value" not in entry.options:
            return {}
        return {"value": entry.typed_value(entry.options["value"])}

    # --- table lookups -----------------------------------------------------------------------

    def has_attribute(self, index: int) -> bool:
        return index in self._ATTR_BY_INDEX

    def has_method(self, index: int) -> bool:
        return index in self._METHOD_BY_INDEX

    def _attr(self, index: int) -> Attr:
        attr = self._ATTR_BY_INDEX.get(index)
        if attr is None:
            raise AccessError(DataAccessResult.OBJECT_UNDEFINED, f"no attribute {index}")
        return attr

    # --- stored values (for subclasses) -----------------------------------------------------

    def value(self, name: str) -> Data:
        """The current value of attribute ``name`` (bound, stored or null), without hooks."""
        index = self._ATTR_BY_NAME[name].index
        provider = self._providers.get(index)
        if provider is not None:
            return provider()
        return self._values.get(index, axdr.NULL)

    def int_value(self, name: str) -> int:
        """Attribute ``name`` as an int (its row holds an integer type)."""
        return integer(self.value(name), name)

    def octets(self, name: str) -> bytes:
        """Attribute ``name`` as bytes (its row holds an octet-string)."""
        return octets(self.value(name), name)

    def items(self, name: str) -> tuple[Data, ...]:
        """The elements of attribute ``name`` (its row holds an array or a structure)."""
        return items(self.value(name), name)

    def store(self, name: str, value: Data) -> None:
        """Store attribute ``name`` without checks (class code and internal device updates)."""
        self._writable()[self._ATTR_BY_NAME[name].index] = value

    def bind(self, index: int, provider: Callable[[], Data]) -> None:
        """Serve attribute ``index`` live from ``provider`` (set by the device)."""
        self._attr(index)
        if self._providers is _NO_PROVIDERS:
            self._providers = {}
        self._providers[index] = provider
        if index in self._values:
            del self._writable()[index]

    def is_bound(self, index: int) -> bool:
        return index in self._providers

    # --- generic services --------------------------------------------------------------------

    def get(self, index: int, ctx: Context, selector: int | None = None,
            parameters: Data | None = None) -> Data:
        attr = self._attr(index)
        if selector is not None and selector not in attr.selectors:
            raise AccessError(DataAccessResult.SCOPE_OF_ACCESS_VIOLATED,
                              f"attribute {index} has no selector {selector}")
        getter = self._GETTERS.get(index)
        if getter is not None:
            return getter(self, ctx, selector, parameters)
        if index == 1:
            return OctetString(self.logical_name.to_bytes())
        provider = self._providers.get(index)
        if provider is not None:
            return provider()
        return self._values.get(index, axdr.NULL)

    def set(self, index: int, value: Data, ctx: Context, selector: int | None = None,
            parameters: Data | None = None) -> None:
        attr = self._attr(index)
        if index == 1:
            raise AccessError(DataAccessResult.READ_WRITE_DENIED, "logical_name is read-only")
        if selector is not None and selector not in attr.selectors:
            raise AccessError(DataAccessResult.SCOPE_OF_ACCESS_VIOLATED,
                              f"attribute {index} has no selector {selector}")
        if attr.type is not None and not isinstance(value, attr.type):
            raise bad_type(attr.name)
        self._check_enabled(ctx)
        setter = self._SETTERS.get(index)
        if setter is not None:
            setter(self, value, ctx)
        elif index in self._providers:
            raise AccessError(DataAccessResult.READ_WRITE_DENIED, f"{attr.name} is a live value")
        else:
            self._writable()[index] = value
        ctx.changed(self)

    def action(self, index: int, parameters: Data | None, ctx: Context) -> Data | None:
        method = self._METHOD_BY_INDEX.get(index)
        if method is None:
            raise AccessError(DataAccessResult.OBJECT_UNDEFINED, f"no method {index}")
        implementation = self._ACTIONS.get(index)
        if implementation is None:
            raise AccessError(DataAccessResult.OTHER_REASON, f"{method.name} not implemented")
        self._check_enabled(ctx)
        result = implementation(self, parameters, ctx)
        ctx.changed(self)
        return result

    def _check_enabled(self, ctx: Context) -> None:
        """SET and ACTION of an object whose function Function control disabled (class 122) are
        object-unavailable, for head ends and the meter's scripts alike; GET still answers."""
        why = ctx.directory.refusal(self.logical_name)
        if why is not None:
            raise AccessError(DataAccessResult.OBJECT_UNAVAILABLE, why)

    # --- persistence -------------------------------------------------------------------------

    def dump_state(self) -> dict[int, Data]:
        """The mutable, non-bound attribute values (+ PRIVATE_STATE when the class has some)."""
        state = {i: v for i, v in self._values.items() if i not in self._providers}
        private = self.dump_private()
        if private is not None:
            state[PRIVATE_STATE] = private
        return state

    def load_state(self, state: dict[int, Data]) -> None:
        for index, value in state.items():
            if index == PRIVATE_STATE:
                self.load_private(value)
            elif index in self._ATTR_BY_INDEX and index != 1 and index not in self._providers:
                self._writable()[index] = value

    def dump_private(self) -> Data | None:
        """State that is no attribute value; None when the class has none."""
        return None

    def load_private(self, value: Data) -> None:
        """Restore what :meth:`dump_private` returned."""
