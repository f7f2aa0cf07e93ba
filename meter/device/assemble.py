"""The profile made into the meter's objects: the object directory (profile order, then the
associations), each association's client policy and rights, each Security setup's context,
and the profile buffers backed by the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import REQUEST_PROTECTION, CosemObject
from meter.cosem.names import SAP_ASSIGNMENT
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.registry import ObjectDirectory
from meter.device import build
from meter.device.keys import stored_keys
from meter.device.persist import StoredProfileBuffer, restore_object
from meter.persistence.counters import InvocationCounter, ReceivedCounter
from meter.persistence.store import Store
from meter.profile import ObjectSpec, Profile
from meter.server.association import ClientPolicy
from meter.server.protection import SecurityContext

__all__ = ["Assembly", "assemble"]



@dataclass
class Assembly:
    directory: ObjectDirectory = field(default_factory=ObjectDirectory)
    buffers: list[StoredProfileBuffer] = field(default_factory=list)
    policies: dict[int, ClientPolicy] = field(default_factory=dict)  # by client SAP
    templates: dict[int, AssociationLN] = field(default_factory=dict)  # by client SAP
    security: dict[Obis, SecurityContext] = field(default_factory=dict)  # by Security setup


def assemble(p: Profile, store: Store, server_sap: int, time_source: Callable[[], float],
             algorithm_written: Callable[[int, int], None]) -> Assembly:
    """``time_source``: the meter's true time (the clock adds its offset)."""
    out = Assembly()
    built: dict[Obis, tuple[ObjectSpec, CosemObject]] = {}
    so_far: dict[Obis, CosemObject] = {}  # the objects built before each (read while building)
    # Profiles capture other objects, so they are built last.
    for spec in sorted(p.objects, key=lambda s: s.kind == "profile_generic"):
        obj = build.build_object(spec, p, so_far, time_source, algorithm_written)
        so_far[spec.obis] = obj
        if isinstance(obj, ProfileGeneric):
            buf = StoredProfileBuffer(store, f"profile/{spec.obis}", store.count(f"profile/{spec.obis}") or 1)
            obj.buffer = buf
            restore_object(store, obj)  # capacity and columns before rows are trusted
            buf.set_capacity(obj.int_value("profile_entries"))
            out.buffers.append(buf)
        built[spec.obis] = (spec, obj)
    for a in p.associations:
        built[a.obis] = (build.association_entry(a), build.association_object(a, p))
    for spec in p.objects:  # directory order = profile order
        out.directory.add(built[spec.obis][1])
    specs = {spec.obis: spec for spec in p.objects}
    for a in p.associations:
        assoc = built[a.obis][1]
        assert isinstance(assoc, AssociationLN)
        out.directory.add(assoc)
        assoc.rights = build.shared_rights(a, p.objects, built)
        out.templates[a.client_sap] = assoc
        out.policies[a.client_sap] = ClientPolicy(
            client_sap=a.client_sap, name=a.name, association=a.obis, mechanism=a.mechanism,
            context=a.context, secret=a.secret, security_setup=a.security_setup,
            required_protection=build.protection_bits(a) & REQUEST_PROTECTION)
        if a.security_setup is not None and a.security_setup not in out.security:
            out.security[a.security_setup] = _security_context(
                p, store, out.directory, specs.get(a.security_setup), a.security_setup)
    sap = out.directory.get(SAP_ASSIGNMENT)
    if sap is not None:
        sap.store("sap_assignment_list", axdr.Array((axdr.Structure((
            axdr.LongUnsigned(server_sap), axdr.OctetString(p.ldn))),)))
    return out


def _security_context(p: Profile, store: Store, directory: ObjectDirectory,
                      spec: ObjectSpec | None, setup: Obis) -> SecurityContext:
    # A Security setup may carry its own profile keys (suite 2 needs 32-byte ones).
    own = spec.options.get("keys", {}) if spec is not None else {}
    keys = stored_keys(store, setup, {**p.keys, **{k: bytes.fromhex(v) for k, v in own.items()}})
    setup_obj = directory.get(setup) or None
    suite = setup_obj.int_value("security_suite") if setup_obj is not None else 0
    return SecurityContext(
        suite=suite,
        server_system_title=p.system_title,
        encryption_key=keys["encryption"],
        authentication_key=keys["authentication"],
        master_key=keys["master"],
        broadcast_key=keys.get("broadcast"),
        tx=InvocationCounter(store, f"ic/tx/{setup}", start=1),  # 0 looks unused to clients
        rx=ReceivedCounter(store, f"ic/rx/{setup}"),
    )
