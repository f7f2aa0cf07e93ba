"""Association LN (class_id 15, version 3; Blue Book §4.4.3).

One instance per configured association (0.0.40.0.e.255). Its rights table says which objects
the association sees and with which access_mode (v3 bit flags); objects absent from it are
invisible. Each connection works on its own copy (:meth:`AssociationLN.copy_for_connection`):
associated_partners_id and association_status are per connection, everything else (secret,
rights, configuration) is shared with the configured instance.

object_list selective access (Blue Book; selectors from recollection of the Blue Book text, M):
1 class_list (array of class_id), 2 object_id_list (array of {class_id, logical_name}),
3 object_id ({class_id, logical_name}). Each answers an array of object_list elements.
application_context_name and authentication_mechanism_name use the 7-arc structure form that
Gurux and most meters send (cosem-reference.md §2.2, §7 item 7).

The access_mode of an object_list element shows the protection an attribute or method needs
beyond the association's security policy (Blue Book 4.4.3 / 4.4.7: the protection required is
the stronger of the policy and the access rights, so what the policy already demands is not
repeated). Peers need this: gurux-dlms 1.0.203 parses a v3 attribute access_mode into
AccessMode3, an IntEnum rather than flags, so read|write combined with protection bits
(0x6D) fails the whole list with "ValueError: 109 is not a valid AccessMode3".
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Protocol

from meter.codec.axdr import (
    NULL, Array, BitString, Data, Enum, Integer, LongUnsigned, OctetString, Structure, Unsigned,
    VisibleString)
from meter.codec.obis import Obis
from meter.cosem.base import (
    AccessMode, Attr, Context, CosemObject, Method, MethodAccessMode, bad_type, expect, fields,
    integer, items, on_action, on_get, on_set, out_of_range)
from meter.cosem.security_setup import POLICY_BITS, SecuritySetup
from meter.cosem.names import CURRENT_ASSOCIATION
from meter.errors import AccessError, DataAccessResult, DecodeError


Rights = dict[Obis, tuple[dict[int, AccessMode], dict[int, MethodAccessMode]]]


class AssociationStatus(enum.IntEnum):
    NON_ASSOCIATED = 0
    ASSOCIATION_PENDING = 1
    ASSOCIATED = 2


class HlsSecret(Protocol):
    """Where change_HLS_secret puts a new HLS secret when it is not attribute 7 (e.g. the keys
    of HLS-GMAC); injected when the association is made."""

    def change(self, secret: bytes) -> bool:
        """Take ``secret``; False refuses it."""
        ...


def _arcs(kind: int, last: int) -> Structure:
    """{joint-iso-ccitt 2, country 16, country-name 756, identified-organization 5, DLMS-UA 8,
    kind (1 application context / 2 mechanism name), id}: OID 2.16.756.5.8.kind.id."""
    return Structure((Unsigned(2), Unsigned(16), LongUnsigned(756), Unsigned(5), Unsigned(8),
                      Unsigned(kind), Unsigned(last)))


def context_name(context_id: int) -> Structure:
    """1 LN no ciphering, 2 SN no ciphering, 3 LN with ciphering, 4 SN with ciphering."""
    return _arcs(1, context_id)


def mechanism_name(mechanism_id: int) -> Structure:
    """0 lowest, 1 LLS, 2..7 HLS (5 = GMAC)."""
    return _arcs(2, mechanism_id)


def xdlms_context_info(conformance: int, max_receive: int, max_send: int,
                       dlms_version: int = 6, quality_of_service: int = 0,
                       cyphering_info: bytes = b"") -> Structure:
    return Structure((BitString(conformance.to_bytes(3, "big"), 24), LongUnsigned(max_receive),
                      LongUnsigned(max_send), Unsigned(dlms_version), Integer(quality_of_service),
                      OctetString(cyphering_info)))


def _object_id(value: Data | None, what: str) -> tuple[int, Obis]:
    class_id, ln = fields(value, 2, what)
    try:
        obis = Obis.from_bytes(expect(ln, OctetString, what).value)
    except DecodeError:
        raise bad_type(what) from None
    return expect(class_id, LongUnsigned, what).value, obis


class _RightsTable:
    """An association's rights as its meter sees them (AssociationLN.rights)."""

    __slots__ = ("own", "table")

    def __init__(self, table: Rights) -> None:
        self.table, self.own = table, False


class AssociationLN(CosemObject):
    CLASS_ID = 15
    VERSION = 3
    NAME = "association_ln"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "object_list", Array, selectors=(1, 2, 3)),
        Attr(3, "associated_partners_id", Structure),
        Attr(4, "application_context_name", Structure, default=context_name(1)),
        # Default conformance: block transfer with get/set/action, multiple references, get, set,
        # selective access, action (bits 11-14, 19-21, 23); the server writes what it negotiates.
        Attr(5, "xDLMS_context_info", Structure,
             default=xdlms_context_info(0x001E1D, 1024, 1024)),
        Attr(6, "authentication_mechanism_name", Structure, default=mechanism_name(0)),
        Attr(7, "secret", OctetString, default=OctetString(b"")),
        Attr(8, "association_status", Enum, static=False),
        Attr(9, "security_setup_reference", OctetString, default=OctetString(bytes(6))),
        Attr(10, "user_list", Array, default=Array()),
        Attr(11, "current_user", Structure, static=False,
             default=Structure((Unsigned(0), VisibleString(b"")))),
    )
    METHODS = (
        Method(1, "reply_to_HLS_authentication"),
        Method(2, "change_HLS_secret"),
        Method(3, "add_object"),
        Method(4, "remove_object"),
        Method(5, "add_user"),
        Method(6, "remove_user"),
    )

    #: Where change_HLS_secret goes, injected by whoever makes the association (the device);
    #: None: attribute 7 (secret).
    hls_secret: HlsSecret | None = None

    def __init__(self, logical_name: Obis, rights: Rights | None = None, **values: Data) -> None:
        super().__init__(logical_name, **values)
        self.rights = rights if rights is not None else {}
        self.client_sap = 0
        self.server_sap = 0
        #: Written by the application server from its association state (server/acse.py).
        self.status = AssociationStatus.NON_ASSOCIATED

    @property
    def rights(self) -> Rights:
        """Which objects this association may see and how: a table shared with every meter built
        from the same profile until one of this meter's associations changes it (add_object,
        remove_object), then this meter's own (its connections see the change at once)."""
        return self._rights.table

    @rights.setter
    def rights(self, value: Rights) -> None:
        self._rights = _RightsTable(value)  # shared with the per-connection copies

    def _rights_to_change(self) -> Rights:
        box = self._rights
        if not box.own:
            box.table, box.own = dict(box.table), True
        return box.table

    def copy_for_connection(self) -> AssociationLN:
        """A per-connection instance sharing configuration, secret and rights with this one."""
        self._writable()  # the table the copies write into is this meter's, not a shared one
        clone = object.__new__(type(self))  # copy.copy's shallow copy, without its dispatch
        clone.__dict__.update(self.__dict__)
        clone.client_sap = clone.server_sap = 0
        clone.status = AssociationStatus.NON_ASSOCIATED
        return clone

    # --- for the server ----------------------------------------------------------------------

    @property
    def secret(self) -> bytes:
        return self.octets("secret")

    @property
    def mechanism_id(self) -> int:
        return integer(self.items("authentication_mechanism_name")[-1], "mechanism_id")

    @property
    def context_id(self) -> int:
        return integer(self.items("application_context_name")[-1], "context_id")

    def access_of(self, obis: Obis) -> tuple[dict[int, AccessMode], dict[int, MethodAccessMode]] | None:
        """The access rights this association has on ``obis``; None: the object is not in
        its object_list. One lookup: the server asks before every request."""
        rights = self.rights.get(obis)
        if rights is None and obis == CURRENT_ASSOCIATION:
            return self.rights.get(self.logical_name)  # "my own association": this instance's
        return rights

    def _rights_of(self, obis: Obis) -> tuple[dict[int, AccessMode], dict[int, MethodAccessMode]]:
        return self.access_of(obis) or ({}, {})

    def is_visible(self, obis: Obis) -> bool:
        return self.access_of(obis) is not None

    def attribute_access(self, obis: Obis, index: int) -> AccessMode:
        return self._rights_of(obis)[0].get(index, AccessMode.NO_ACCESS)

    def method_access(self, obis: Obis, index: int) -> MethodAccessMode:
        return self._rights_of(obis)[1].get(index, MethodAccessMode.NO_ACCESS)

    # --- object_list ---------------------------------------------------------------------------

    def _policy(self, ctx: Context) -> int:
        """The protection bits of this association's security_policy (0 without a setup)."""
        name = self.value("security_setup_reference")
        setup = (ctx.directory.get(Obis.from_bytes(name.value))
                 if isinstance(name, OctetString) and len(name.value) == 6 else None)
        return setup.policy & POLICY_BITS if isinstance(setup, SecuritySetup) else 0

    def _element(self, obj: CosemObject, obis: Obis, policy: int) -> Structure:
        attrs, methods = self._rights_of(obis)
        attribute_access = Array(tuple(
            Structure((Integer(a.index),
                       Enum(int(attrs.get(a.index, AccessMode.NO_ACCESS)) & ~policy),
                       Array(tuple(Integer(s) for s in a.selectors)) if a.selectors else NULL))
            for a in obj.ATTRIBUTES))
        method_access = Array(tuple(
            Structure((Integer(m.index),
                       Enum(int(methods.get(m.index, MethodAccessMode.NO_ACCESS)) & ~policy)))
            for m in obj.METHODS))
        return Structure((LongUnsigned(obj.CLASS_ID), Unsigned(obj.VERSION),
                          OctetString(obis.to_bytes()),
                          Structure((attribute_access, method_access))))

    def _visible(self, ctx: Context) -> Iterator[tuple[CosemObject, Obis]]:
        for obj in ctx.directory:
            if obj.logical_name in self.rights:
                yield obj, obj.logical_name
        if CURRENT_ASSOCIATION in self.rights and CURRENT_ASSOCIATION not in ctx.directory:
            yield self, CURRENT_ASSOCIATION

    @on_get("object_list")
    def read_object_list(self, ctx: Context, selector: int | None,
                         parameters: Data | None) -> Data:
        visible = list(self._visible(ctx))
        if selector == 1:
            classes = {integer(c, "class_list") for c in expect(parameters, Array, "").items}
            visible = [(o, n) for o, n in visible if o.CLASS_ID in classes]
        elif selector in (2, 3):
            ids = ([_object_id(i, "object_id") for i in expect(parameters, Array, "").items]
                   if selector == 2 else [_object_id(parameters, "object_id")])
            visible = [(o, n) for o, n in visible if (o.CLASS_ID, n) in ids]
        policy = self._policy(ctx)
        return Array(tuple(self._element(o, n, policy) for o, n in visible))

    # --- per-connection and write-only attributes --------------------------------------------

    @on_get("associated_partners_id")
    def read_associated_partners_id(self, ctx: Context, selector: int | None,
                                    parameters: Data | None) -> Data:
        return Structure((Integer(self.client_sap), LongUnsigned(self.server_sap)))

    @on_get("association_status")
    def read_association_status(self, ctx: Context, selector: int | None,
                                parameters: Data | None) -> Data:
        return Enum(int(self.status))

    @on_get("secret")
    def read_secret(self, ctx: Context, selector: int | None, parameters: Data | None) -> Data:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "the secret is write-only")

    @on_set("object_list", "associated_partners_id", "association_status", "current_user")
    def _read_only(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "set by the association itself")

    # --- methods -------------------------------------------------------------------------------

    @on_action("reply_to_HLS_authentication")
    def reply_to_hls_authentication(self, parameters: Data | None, ctx: Context) -> Data:
        # Pass 3 of a pending HLS association is the application server's own (it holds the
        # challenges); one that reaches the object has no exchange to answer.
        expect(parameters, OctetString, "f(StoC)")
        raise AccessError(DataAccessResult.OTHER_REASON, "no HLS authentication pending")

    @on_action("change_HLS_secret")
    def change_hls_secret(self, parameters: Data | None, ctx: Context) -> None:
        secret = expect(parameters, OctetString, "secret")
        if self.hls_secret is None:
            self.store("secret", secret)
        elif not self.hls_secret.change(secret.value):
            raise out_of_range("secret")

    @on_action("add_object")
    def add_object(self, parameters: Data | None, ctx: Context) -> None:
        class_id, _version, ln, access = fields(parameters, 4, "object_list_element")
        cid, obis = _object_id(Structure((class_id, ln)), "object_list_element")
        obj = ctx.directory.get(obis)
        if obj is None or obj.CLASS_ID != cid:
            raise out_of_range("add_object: no such object")
        attribute_access, method_access = fields(access, 2, "access_rights")
        attrs: dict[int, AccessMode] = {}
        for item in expect(attribute_access, Array, "attribute_access").items:
            index, mode, _selectors = fields(item, 3, "attribute_access_item")
            attrs[integer(index, "attribute_id")] = AccessMode(integer(mode, "access_mode"))
        methods: dict[int, MethodAccessMode] = {}
        for item in expect(method_access, Array, "method_access").items:
            index, mode = fields(item, 2, "method_access_item")
            methods[integer(index, "method_id")] = MethodAccessMode(integer(mode, "access_mode"))
        self._rights_to_change()[obis] = (attrs, methods)

    @on_action("remove_object")
    def remove_object(self, parameters: Data | None, ctx: Context) -> None:
        class_id, _version, ln, _access = fields(parameters, 4, "object_list_element")
        _cid, obis = _object_id(Structure((class_id, ln)), "object_list_element")
        if obis not in self.rights or self._rights_to_change().pop(obis, None) is None:
            raise out_of_range("remove_object: not in the object list")

    @on_action("add_user")
    def add_user(self, parameters: Data | None, ctx: Context) -> None:
        user_id, name = fields(parameters, 2, "user")
        entry = Structure((expect(user_id, Unsigned, "user_id"), expect(name, VisibleString, "")))
        users = [u for u in self.items("user_list") if items(u, "user")[0] != entry.items[0]]
        self.store("user_list", Array((*users, entry)))

    @on_action("remove_user")
    def remove_user(self, parameters: Data | None, ctx: Context) -> None:
        user_id, _name = fields(parameters, 2, "user")
        users = self.items("user_list")
        kept = tuple(u for u in users if items(u, "user")[0] != user_id)
        if len(kept) == len(users):
            raise out_of_range("remove_user: no such user")
        self.store("user_list", Array(kept))
