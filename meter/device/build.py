"""Profile -> COSEM objects and per-association access rights (the ACESM object model as data).

Each ``[[object]]`` entry names its class by profile name; class-specific keys become the
initial attribute values here. Rights: an association of role R may read an object whose
``read`` role is R or lower, write its writable attributes when ``write`` allows, and call its
methods when ``methods`` allows; ciphered associations add their protection bits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN, Rights, context_name, mechanism_name
from meter.cosem.base import AccessMode, Attr, CosemObject, MethodAccessMode
from meter.cosem.clock import Clock
from meter.cosem.data import MeasurementAlgorithm
from meter.cosem.register import scaler_unit
from meter.cosem.registry import class_named
from meter.cosem.script_table import SERVICES, ScriptTable, action
from meter.device.billing import close_billing_period
from meter.errors import EncodeError
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
_PORT_PROTECTION_SETTINGS = {"protection_mode", "allowed_failed_attempts", "initial_lockout_time",
                             "steepness_factor", "max_lockout_time"}


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


def _int(options: Mapping[str, Any], key: str, default: int) -> int:
    return int(options.get(key, default))


def build_object(spec: ObjectSpec, profile: Profile, directory: Mapping[Obis, CosemObject],
                 time_source: Callable[[], float],
                 algorithm_written: Callable[[int, int], None]) -> CosemObject:
    """One COSEM object from its profile entry (without its live bindings or buffer store).

    Profiles are built after the objects they capture, which ``directory`` holds.
    """
    o, where = spec.options, f"object {spec.obis}"
    kind = spec.kind
    if kind == "clock":
        return Clock(spec.obis, time_source, clock_base=axdr.Enum(_int(o, "clock_base", 1)),
                     time_zone=axdr.Long(_int(o, "time_zone", int(profile.meter.get("time_zone", 0)))))
    if kind == "measurement_algorithm":
        e = spec.obis.e
        algo = profile.metrology.get("algorithms", {}).get(str(e))
        if algo is None:
            raise ProfileError(f"{where}: no [metrology.algorithms.{e}] table")
        allowed = [0] + [int(v) for v in algo["values"]]
        return MeasurementAlgorithm(spec.obis, allowed, int(algo["selected"]),
                                    on_write=partial(algorithm_written, e))
    cls = class_named(kind)
    values: dict[str, axdr.Data] = {}
    if "value" in o:
        values["value"] = typed_value(o["value"], profile, where)
    if kind in ("register", "extended_register", "demand_register"):
        values["scaler_unit"] = scaler_unit(_int(o, "scaler", 0), _int(o, "unit", 255))
        if kind == "register" and "value" not in values:
            values["value"] = axdr.DoubleLongUnsigned(0)
    if kind == "demand_register":
        values["period"] = axdr.DoubleLongUnsigned(_int(o, "period", 900))
        values["number_of_periods"] = axdr.LongUnsigned(_int(o, "number_of_periods", 1))
    if kind == "profile_generic":
        values["capture_objects"] = capture_columns(directory, o.get("capture_objects", ()), where)
        values["capture_period"] = axdr.DoubleLongUnsigned(_int(o, "capture_period", 0))
        values["profile_entries"] = axdr.DoubleLongUnsigned(_int(o, "profile_entries", 100))
    if kind == "security_setup":
        values["security_policy"] = axdr.Enum(_int(o, "security_policy", 0))
        values["security_suite"] = axdr.Enum(_int(o, "security_suite", 0))
        values["server_system_title"] = axdr.OctetString(profile.system_title)
    if kind == "tcp_udp_setup":
        # [tcp] inactivity_timeout is the initial value; a SET by the head end overrides it.
        values["inactivity_time_out"] = axdr.LongUnsigned(
            int(profile.tcp.get("inactivity_timeout", 180)))
    if kind == "hdlc_setup":
        # [hdlc] gives the initial values; a SET by the head end overrides them (new_stack).
        values.update(hdlc_setup_values(profile))
    if kind == "port_protection":
        if "port_reference" not in o:
            raise ProfileError(f"{where}: port_protection needs a port_reference (a setup object)")
        values["port_reference"] = axdr.OctetString(Obis.parse(str(o["port_reference"])).to_bytes())
        values.update({a.name: _integer(a, int(o[a.name]), where) for a in cls.ATTRIBUTES
                       if a.name in _PORT_PROTECTION_SETTINGS and a.name in o})
    if kind == "single_action_schedule":
        values.update(_schedule(o, where))
    if kind == "script_table":
        values["scripts"] = _scripts(o.get("scripts", ()), profile, where)
        table = ScriptTable(spec.obis, **values)
        for script in o.get("scripts", ()):
            if script.get("closes_billing"):
                table.set_script_step(int(script["id"]), close_billing_period)
        return table
    return cls(spec.obis, **values)


def hdlc_setup_values(profile: Profile) -> dict[str, axdr.Data]:
    """HDLC setup attributes from ``[hdlc]``: what the meter's HDLC link runs with."""
    h = profile.hdlc
    window = axdr.Unsigned(int(h.get("window_size", 1)))
    max_info = axdr.LongUnsigned(int(h.get("max_info_field_length_limit", 2030)))
    return {
        "comm_speed": axdr.Enum(int(h.get("comm_speed", 5))),
        "window_size_transmit": window, "window_size_receive": window,
        "max_info_field_length_transmit": max_info, "max_info_field_length_receive": max_info,
        "inter_octet_time_out": axdr.LongUnsigned(int(h.get("inter_octet_timeout", 25))),
        "inactivity_time_out": axdr.LongUnsigned(int(h.get("inactivity_timeout", 120))),
        "device_address": axdr.LongUnsigned(int(h.get("physical_address", 17))),
    }


def _schedule(o: Mapping[str, Any], where: str) -> dict[str, axdr.Data]:
    """executed_script, type and execution_time (time and date in hex, wildcards 0xFF)."""
    try:
        pairs = [(bytes.fromhex(t), bytes.fromhex(d)) for t, d in o.get("execution_time", ())]
        script = axdr.Structure((axdr.OctetString(Obis.parse(str(o["script"])).to_bytes()),
                                 axdr.LongUnsigned(_int(o, "script_selector", 1))))
        kind = axdr.Enum(_int(o, "type", 1))
    except (KeyError, ValueError, TypeError, AttributeError, EncodeError) as exc:
        raise ProfileError(f"{where}: script (obis), script_selector, type and execution_time "
                           f"([time, date] in hex) expected: {exc!r}") from None
    if any(len(t) != 4 or len(d) != 5 for t, d in pairs):
        raise ProfileError(f"{where}: execution_time entries are [time (4 bytes), date (5 bytes)]")
    times = tuple(axdr.Structure((axdr.OctetString(t), axdr.OctetString(d))) for t, d in pairs)
    return {"executed_script": script, "type": kind, "execution_time": axdr.Array(times)}


def _scripts(scripts: Any, profile: Profile, where: str) -> axdr.Array:
    """The scripts attribute; each action's class id is its target's (from the profile)."""
    kinds = {s.obis: s.kind for s in profile.objects}
    out = []
    try:
        for script in scripts:
            actions = []
            for a in script.get("actions", ()):
                target = Obis.parse(str(a["obis"]))
                if target not in kinds:
                    raise ProfileError(f"{where}: script action target {target} is not in the profile")
                parameter = typed_value(a["parameter"], profile, where) if "parameter" in a else axdr.Integer(0)
                actions.append(action(SERVICES[a["service"]], class_named(kinds[target]).CLASS_ID, target,
                                      int(a["index"]), parameter))
            out.append(axdr.Structure((axdr.LongUnsigned(int(script["id"])), axdr.Array(tuple(actions)))))
    except (KeyError, ValueError, TypeError, AttributeError, EncodeError) as exc:
        raise ProfileError(f"{where}: scripts are {{ id, actions = [{{ service = execute|write, obis, "
                           f"index, parameter }}] }}: {exc!r}") from None
    return axdr.Array(tuple(out))


def _integer(attr: Attr, value: int, where: str) -> axdr.Data:
    """``value`` as the integer type of the attribute table row ``attr``."""
    if attr.type not in axdr.INTEGER_TYPES:
        raise ProfileError(f"{where}: {attr.name} is not an integer attribute")
    # Every INTEGER_TYPES class takes its int value as the one constructor argument.
    return cast(Callable[[int], axdr.Data], attr.type)(value)


def association_object(spec: AssociationSpec, profile: Profile) -> AssociationLN:
    values: dict[str, axdr.Data] = {
        "application_context_name": context_name(spec.context),
        "authentication_mechanism_name": mechanism_name(spec.mechanism),
        "secret": axdr.OctetString(spec.secret),
    }
    if spec.security_setup is not None:
        values["security_setup_reference"] = axdr.OctetString(spec.security_setup.to_bytes())
    return AssociationLN(spec.obis, None, **values)


def capture_columns(directory: Mapping[Obis, CosemObject], columns: Any, where: str) -> axdr.Array:
    """capture_objects of a profile ([obis, attribute(, data_index)] entries), with class ids
    taken from the objects themselves."""
    items = []
    for entry in columns:
        obis, attribute = Obis.parse(str(entry[0])), int(entry[1])
        data_index = int(entry[2]) if len(entry) > 2 else 0
        obj = directory.get(obis)
        if obj is None:
            raise ProfileError(f"{where}: capture object {obis} is not in the profile")
        items.append(axdr.Structure((axdr.LongUnsigned(obj.CLASS_ID), axdr.OctetString(obis.to_bytes()),
                                     axdr.Integer(attribute), axdr.LongUnsigned(data_index))))
    return axdr.Array(tuple(items))

