"""Profile -> COSEM objects and per-association access rights (the ACESM object model as data).

Each ``[[object]]`` entry names its class by profile name; the class builds the object from the
entry's keys (``from_profile`` in its module). Rights: an association of role R may read an object whose
``read`` role is R or lower, write its writable attributes when ``write`` allows, and call its
methods when ``methods`` allows; ciphered associations add their protection bits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN, Rights, context_name, mechanism_name
from meter.cosem.base import AccessMode, CosemObject, MethodAccessMode
from meter.cosem.names import CURRENT_ASSOCIATION
from meter.cosem.disconnect_control import LOCAL_STEPS
from meter.cosem.hdlc_setup import link_values
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.registry import class_named
from meter.device.billing import close_billing_period
from meter.profile import AssociationSpec, ObjectSpec, Profile, ProfileError, typed_value
from meter.profile_schema import ROLES

_PROTECTION = {
    "authenticated_request": AccessMode.AUTHENTICATED_REQUEST,
    "encrypted_request": AccessMode.ENCRYPTED_REQUEST,
    "signed_request": AccessMode.DIGITALLY_SIGNED_REQUEST,
    "authenticated_response": AccessMode.AUTHENTICATED_RESPONSE,
    "encrypted_response": AccessMode.ENCRYPTED_RESPONSE,
    "signed_response": AccessMode.DIGITALLY_SIGNED_RESPONSE,
}

#: Attributes a client may never write whatever the profile says: identity and live values.
_NEVER_WRITABLE = {"logical_name", "buffer", "entries_in_use", "object_list",
                   "associated_partners_id", "association_status", "current_average_value",
                   "last_average_value", "capture_time", "start_time_current"}
_SECRET = "secret"
#: Meter behaviour a script marked with the key runs after its actions.
_SCRIPT_STEPS = {"closes_billing": close_billing_period, **LOCAL_STEPS}


def _allows(role: str, needed: str) -> bool:
    return needed != "none" and ROLES.index(role) >= ROLES.index(needed)


def protection_bits(spec: AssociationSpec) -> int:
    bits = 0
    for name in spec.protection:
        if name not in _PROTECTION:
            raise ProfileError(f"association {spec.name}: unknown protection {name!r}")
        bits |= _PROTECTION[name]
    return bits


def rights_for(spec: AssociationSpec, objects: Mapping[Obis, tuple[ObjectSpec, CosemObject]]) -> Rights:
    """What association ``spec`` may do with each object (absent = invisible to it)."""
    protection = protection_bits(spec)
    rights: Rights = {}
    for obis, (ospec, obj) in objects.items():
        if not _allows(spec.role, ospec.read):
            continue
        writable = set(ospec.options.get("writable", ())) or None
        attrs: dict[int, AccessMode] = {}
        for a in obj.ATTRIBUTES:
            mode = AccessMode.NO_ACCESS if a.name == _SECRET else AccessMode.READ
            can_write = (_allows(spec.role, ospec.write) and a.name not in _NEVER_WRITABLE
                         and (writable is None or a.index in writable))
            if can_write:
                mode |= AccessMode.WRITE
            attrs[a.index] = AccessMode(mode | protection) if mode else AccessMode.NO_ACCESS
        methods = {
            m.index: MethodAccessMode(MethodAccessMode.ACCESS | protection)
            if _allows(spec.role, ospec.methods) else MethodAccessMode.NO_ACCESS
            for m in obj.METHODS
        }
        rights[obis] = (attrs, methods)
    return rights


#: rights_for() of the last profiles' associations: a fleet's meters share one profile's object
#: definitions (meter/device/fleet.py), so their rights are computed once. Keyed by the
#: association and the identity of the profile's object entries (kept alive in the value, so
#: the identity is not reused); bounded.
_SHARED_RIGHTS: dict[tuple[AssociationSpec, int], tuple[object, Rights]] = {}
_SHARED_RIGHTS_MAX = 64


def shared_rights(spec: AssociationSpec, entries: tuple[ObjectSpec, ...],
                  objects: Mapping[Obis, tuple[ObjectSpec, CosemObject]]) -> Rights:
    """``rights_for(spec, objects)`` with the association's rights on itself, where ``objects``
    were built from ``entries`` (and the associations): one table for every meter of the same
    profile (an association copies it before changing it, cosem/association_ln.py)."""
    key = (spec, id(entries))
    hit = _SHARED_RIGHTS.get(key)
    if hit is None:
        if len(_SHARED_RIGHTS) >= _SHARED_RIGHTS_MAX:
            _SHARED_RIGHTS.clear()
        rights = rights_for(spec, objects)
        assoc = objects[spec.obis][1]
        assert isinstance(assoc, AssociationLN)
        rights[spec.obis] = rights[CURRENT_ASSOCIATION] = own_association_rights(spec, assoc)
        hit = _SHARED_RIGHTS[key] = (entries, rights)
    return hit[1]


def own_association_rights(spec: AssociationSpec, obj: AssociationLN) -> tuple[dict[int, AccessMode],
                                                                               dict[int, MethodAccessMode]]:
    """The current association is always readable by its own client; HLS pass 3 needs method 1."""
    protection = protection_bits(spec)
    attrs = {a.index: AccessMode(AccessMode.READ | protection) for a in obj.ATTRIBUTES
             if a.name != _SECRET}
    if spec.role == "management":
        attrs[7] = AccessMode(AccessMode.WRITE | protection)  # LLS secret, written not read
    methods = {m.index: MethodAccessMode.NO_ACCESS for m in obj.METHODS}
    methods[1] = MethodAccessMode(MethodAccessMode.ACCESS | protection)
    if spec.role == "management":
        methods[2] = MethodAccessMode(MethodAccessMode.ACCESS | protection)
    return attrs, methods


def build_object(spec: ObjectSpec, profile: Profile, directory: Mapping[Obis, CosemObject],
                 time_source: Callable[[], float],
                 algorithm_written: Callable[[int, int], None]) -> CosemObject:
    """One COSEM object from its profile entry (without its live bindings or buffer store): the
    class of ``spec.kind`` builds itself (``from_profile``).

    Profiles are built after the objects they capture, which ``directory`` holds.
    """
    where = f"object {spec.obis}"

    def class_id_of(obis: Obis) -> int | None:
        kind = _kinds(profile.objects).get(obis)
        return None if kind is None else class_named(kind).CLASS_ID

    entry = ProfileEntry(
        spec.obis, spec.options, profile.meter, profile.tcp, profile.hdlc, profile.metrology,
        profile.system_title, typed_value=lambda raw: typed_value(raw, profile, where),
        time_source=time_source, built=directory, class_id_of=class_id_of,
        algorithm_written=algorithm_written, script_steps=_SCRIPT_STEPS)
    try:
        return class_named(spec.kind).from_profile(entry)
    except OptionError as exc:
        raise ProfileError(f"{where}: {exc}") from None


_KINDS: list[tuple[tuple[ObjectSpec, ...], dict[Obis, str]]] = []


def _kinds(entries: tuple[ObjectSpec, ...]) -> dict[Obis, str]:
    """Each entry's class name by OBIS (the first entry of a code), for the last profile's
    entries (a fleet's meters share them)."""
    if not _KINDS or _KINDS[0][0] is not entries:
        kinds: dict[Obis, str] = {}
        for s in entries:
            kinds.setdefault(s.obis, s.kind)
        _KINDS[:] = [(entries, kinds)]
    return _KINDS[0][1]


def hdlc_setup_values(profile: Profile) -> dict[str, axdr.Data]:
    """HDLC setup attributes from ``[hdlc]`` (the optical port's link, which has no object)."""
    return link_values(profile.hdlc)


def association_entry(spec: AssociationSpec) -> ObjectSpec:
    """An association's own object entry: management may write every association's secret
    (attribute 7; Blue Book 4.4.3 Association LN sets the LLS secret with SET attribute 7)."""
    return ObjectSpec(spec.obis, "association_ln", "management", "management", "none",
                      {"writable": (7,)})


def association_object(spec: AssociationSpec, profile: Profile) -> AssociationLN:
    values: dict[str, axdr.Data] = {
        "application_context_name": context_name(spec.context),
        "authentication_mechanism_name": mechanism_name(spec.mechanism),
        "secret": axdr.OctetString(spec.secret),
    }
    if spec.security_setup is not None:
        values["security_setup_reference"] = axdr.OctetString(spec.security_setup.to_bytes())
    return AssociationLN(spec.obis, None, **values)
