"""The device's key store: Security setup (class 64 v1) methods 2-8 and attribute 6
(Blue Book 4.4.7 "Security setup"; Green Book DLMS UA 1000-2 9.2.3.4 key transfer, 9.2.6
certificates).

One :class:`KeyManager` per Security setup object is that object's ``KeyStore``
(cosem/security_setup.py: the cosem layer stays free of cryptography and storage) and owns what
its methods change:

* symmetric keys, persisted under ``keys/<setup>`` as JSON hex (``encryption``,
  ``authentication``, ``master``, ``broadcast``) with an fsync before the method answers;
* the server's ECC key pairs (suites 1/2) under ``keypair/<setup>/<type>`` (PKCS#8 DER),
  generated at first start with a self-signed certificate each;
* the certificates (``certs/<setup>``, JSON list of DER hex), listed live in attribute 6.

key_transfer takes effect as the Green Book says: the response to it is still protected with
the old keys, the new ones apply from the next APDU. The handler therefore only records them in
``SecurityContext.extra[PENDING_KEYS]``; :meth:`KeyManager.apply_pending` swaps them in once the
response has been wrapped (the device calls it from ``commit``, which the stack runs after the
server produced the response and before it leaves).

Failures answer other-reason (the parameters have the right types but cannot be used: a wrap
that does not verify, an unknown key id, a key of the wrong length, an unknown certificate); a
malformed parameter structure answers type-unmatched (cosem.base conventions). Nothing changes
unless every entry of a key_transfer is good.

import_certificate trusts a certificate only after ``certificates.check_certificate`` (curve of
the suite, validity at the meter clock, key usage, chain to an imported CA); a refusal answers
other-reason like any unusable certificate and stores nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meter.codec.axdr import Array, Data, Enum, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.base import Context, expect, fields, out_of_range
from meter.cosem.events import StandardEvent
from meter.cosem.security_setup import SecuritySetup
from meter.device.key_agreement import agree
from meter.device.persist import dump_json, load_json
from meter.errors import AccessError, SecurityError
from meter.persistence.counters import ReceivedCounter
from meter.persistence.store import Store
from meter.security import certificates as C
from meter.security import keywrap
from meter.security.keys import KeyId, check_key
from meter.server.protection import SecurityContext

log = logging.getLogger(__name__)

__all__ = ["PENDING_KEYS", "KeyManager", "stored_keys"]

#: SecurityContext.extra entry: keys accepted by key_transfer, not yet in force (name -> key).
PENDING_KEYS = "pending_keys"

#: key_id -> name in the stored JSON (and in PENDING_KEYS).
_KEY_NAMES = {
    KeyId.GLOBAL_UNICAST: "encryption",
    KeyId.GLOBAL_BROADCAST: "broadcast",
    KeyId.AUTHENTICATION: "authentication",
    KeyId.MASTER: "master",
}
#: stored name -> SecurityContext field.
_CONTEXT_FIELDS = {
    "encryption": "encryption_key",
    "broadcast": "broadcast_key",
    "authentication": "authentication_key",
    "master": "master_key",
}
#: The key pairs a suite 1/2 meter makes at first start (TLS only on request).
_FIRST_START_PAIRS = (C.CertificateType.DIGITAL_SIGNATURE, C.CertificateType.KEY_AGREEMENT)
_KEY_PAIR_TYPES = (C.CertificateType.DIGITAL_SIGNATURE, C.CertificateType.KEY_AGREEMENT,
                   C.CertificateType.TLS)
_KEY_IDS = frozenset(int(k) for k in KeyId)
_BY_ENTITY, _BY_SERIAL = 0, 1


def _keys_key(setup: Obis) -> str:
    return f"keys/{setup}"


def stored_keys(store: Store, setup: Obis, defaults: Mapping[str, bytes]) -> dict[str, bytes]:
    """The symmetric keys of ``setup``: the stored ones, else the profile's ``defaults``."""
    stored = load_json(store, _keys_key(setup))
    keys = {name: bytes(defaults[name]) for name in _CONTEXT_FIELDS if name in defaults}
    if isinstance(stored, dict):
        for name, value in stored.items():
            if name in _CONTEXT_FIELDS and isinstance(value, str):
                try:
                    keys[name] = bytes.fromhex(value)
                except ValueError:
                    log.error("stored %s key of %s unreadable, profile default kept", name, setup)
    return keys


def _pending(security: SecurityContext) -> dict[str, bytes]:
    pending = security.extra.get(PENDING_KEYS)
    return dict(pending) if isinstance(pending, dict) else {}


def _refuse(why: str) -> Exception:
    log.info("security setup method refused: %s", why)
    return out_of_range(why)


class KeyManager:
    """Keys and certificates of one Security setup object; see the module docstring."""

    def __init__(self, setup: SecuritySetup, security: SecurityContext | None, store: Store, *,
                 now: Callable[[], float], random_bytes: Callable[[int], bytes]) -> None:
        self._setup = setup
        self._security = security
        self._store = store
        self._now = now
        self._random = random_bytes
        self._name = str(setup.logical_name)
        self._pairs: dict[C.CertificateType, C.PrivateKey] = {}
        for key_type in _KEY_PAIR_TYPES:
            raw = store.get(self._pair_key(key_type))
            if raw is not None:
                self._pairs[key_type] = C.load_private_key(raw)
        self._certs = self._load_certificates()
        if self.suite in (1, 2) and not self._pairs:
            for key_type in _FIRST_START_PAIRS:
                self._new_key_pair(key_type)
            log.info("%s: server key pairs generated (suite %d)", self._name, self.suite)
        setup.use_key_store(self)

    # --- state ---------------------------------------------------------------------------------

    @property
    def suite(self) -> int:
        return self._setup.int_value("security_suite")

    @property
    def server_system_title(self) -> bytes:
        return self._setup.octets("server_system_title")

    def _pair_key(self, key_type: C.CertificateType) -> str:
        return f"keypair/{self._name}/{int(key_type)}"

    def _load_certificates(self) -> list[C.CertificateInfo]:
        stored = load_json(self._store, f"certs/{self._name}")
        out = []
        for der in stored if isinstance(stored, list) else []:
            try:
                out.append(C.parse_certificate(bytes.fromhex(der), self.server_system_title))
            except (ValueError, TypeError, SecurityError) as exc:
                log.error("%s: stored certificate dropped: %s", self._name, exc)
        return out

    def _save_certificates(self) -> None:
        self._store.put(f"certs/{self._name}", dump_json([c.der.hex() for c in self._certs]),
                        durable=True)

    def certificates(self) -> Data:
        return Array(tuple(Structure((
            Enum(int(c.entity)), Enum(int(c.type)), OctetString(c.serial), OctetString(c.issuer),
            OctetString(c.subject), OctetString(c.subject_alt_name))) for c in self._certs))

    @property
    def logical_name(self) -> Obis:
        return self._setup.logical_name

    def signing_key(self) -> C.PrivateKey | None:
        """The server's digital-signature key pair (HLS-ECDSA, general-signing), if it has one."""
        return self._pairs.get(C.CertificateType.DIGITAL_SIGNATURE)

    def client_signing_keys(self) -> Iterator[tuple[bytes, ec.EllipticCurvePublicKey]]:
        """(system title, public key) of each imported client certificate for digital signature
        (or TLS), the most recently imported first."""
        for cert in reversed(self._certs):
            if cert.entity == C.CertificateEntity.CLIENT and cert.system_title is not None \
                    and cert.type in (C.CertificateType.DIGITAL_SIGNATURE, C.CertificateType.TLS):
                key = serialization.load_der_public_key(cert.public_key)
                if isinstance(key, ec.EllipticCurvePublicKey):
                    yield cert.system_title, key

    def client_signing_key(self, system_title: bytes) -> ec.EllipticCurvePublicKey | None:
        """Public key of the client signing certificate whose subject names ``system_title``."""
        return next((key for title, key in self.client_signing_keys() if title == system_title), None)

    def public_key(self, key_type: C.CertificateType) -> bytes | None:
        """SubjectPublicKeyInfo DER of the server's key pair of ``key_type`` (None: none yet)."""
        key = self._pairs.get(key_type)
        return None if key is None else C.public_key_der(key.public_key())

    # --- key_transfer (method 2) ----------------------------------------------------------------

    def key_transfer(self, parameters: Data | None, ctx: Context) -> None:
        security = self._security
        if security is None:
            raise _refuse("key_transfer on a Security setup that no association uses")
        entries = expect(parameters, Array, "key_transfer").items
        if not entries:
            raise _refuse("key_transfer without keys")
        new: dict[str, bytes] = {}
        for entry in entries:
            key_id, wrapped = fields(entry, 2, "key_data")
            kid = expect(key_id, Enum, "key_id").value
            blob = expect(wrapped, OctetString, "key_wrapped").value
            if kid not in _KEY_IDS:
                raise _refuse(f"unknown key_id {kid}")
            name = _KEY_NAMES[KeyId(kid)]
            if name in new:
                raise _refuse(f"key_id {kid} twice in one key_transfer")
            try:
                # Every key of the request is wrapped under the KEK in force now (a new KEK in
                # the same request applies to later transfers only).
                new[name] = check_key(security.suite, keywrap.unwrap(security.master_key, blob))
            except SecurityError as exc:
                raise _refuse(f"key_id {kid}: {exc}") from None
        self._stage(security, new, ctx)
        log.info("%s: key_transfer of %s accepted", self._name, ", ".join(sorted(new)))

    def _stage(self, security: SecurityContext, new: dict[str, bytes], ctx: Context) -> None:
        """Persist ``new`` keys and hold them pending until the response has gone (event 48)."""
        pending = {**_pending(security), **new}
        keys = {name: getattr(security, f) for name, f in _CONTEXT_FIELDS.items()
                if getattr(security, f) is not None}
        keys.update(pending)
        # Durable before the response: an acknowledged key change must survive a power cut.
        self._store.put(_keys_key(self._setup.logical_name),
                        dump_json({name: key.hex() for name, key in keys.items()}), durable=True)
        security.extra[PENDING_KEYS] = pending
        ctx.log_event(StandardEvent.GLOBAL_KEYS_CHANGED)

    # --- key_agreement (method 3) ---------------------------------------------------------------

    def key_agreement(self, parameters: Data | None, ctx: Context) -> Data:
        security = self._security
        if security is None:
            raise _refuse("key_agreement on a Security setup that no association uses")
        agreed, answer = agree(parameters, self.suite, self.server_system_title, self.signing_key(),
                               self.client_signing_keys(), lambda: C.generate_private_key(self.suite))
        self._stage(security, {_KEY_NAMES[k]: key for k, key in agreed.items()}, ctx)
        return answer

    def apply_pending(self) -> None:
        """Put keys accepted by key_transfer in force; call after the response was wrapped.

        A new global unicast key restarts the client's invocation counter (Green Book 9.2.3.3.7:
        the counter belongs to the key); the server's own counter just carries on, so it never
        repeats a value whatever the key.
        """
        security = self._security
        if security is None:
            return
        pending = _pending(security)
        security.extra.pop(PENDING_KEYS, None)
        if not pending:
            return
        for name, key in pending.items():
            setattr(security, _CONTEXT_FIELDS[name], key)
        if "encryption" in pending and isinstance(security.rx, ReceivedCounter):
            # After the keys are durable: a crash in between leaves the old counter, which only
            # refuses more, never replays.
            security.rx.reset()
        log.info("%s: new keys in force: %s", self._name, ", ".join(sorted(pending)))

    # --- key pairs and requests (methods 4, 5) --------------------------------------------------

    def _key_pair_type(self, parameters: Data | None) -> C.CertificateType:
        value = expect(parameters, Enum, "key_pair_type").value
        if value not in [int(t) for t in _KEY_PAIR_TYPES]:
            raise _refuse(f"key_pair_type {value}")
        return C.CertificateType(value)

    def _new_key_pair(self, key_type: C.CertificateType) -> None:
        key = C.generate_private_key(self.suite)
        self._store.put(self._pair_key(key_type), C.private_key_der(key), durable=True)
        self._pairs[key_type] = key
        # The certificates of the old key certify nothing any more; the meter holds a
        # self-signed one for the new key until a CA-issued certificate is imported.
        title = self.server_system_title
        serial = int.from_bytes(self._random(8), "big") >> 1 | 1
        now = dt.datetime.fromtimestamp(self._now(), dt.UTC)
        der = C.self_signed_certificate(key, title, key_type, serial, now)
        self._certs = [c for c in self._certs if not (
            c.entity == C.CertificateEntity.SERVER and c.type == key_type)]
        self._certs.append(C.parse_certificate(der, title))
        self._save_certificates()

    def generate_key_pair(self, parameters: Data | None, ctx: Context) -> None:
        key_type = self._key_pair_type(parameters)
        if self.suite not in (1, 2):
            raise _refuse(f"security suite {self.suite} has no key pairs")
        self._new_key_pair(key_type)
        log.info("%s: new %s key pair", self._name, key_type.name)

    def generate_certificate_request(self, parameters: Data | None, ctx: Context) -> Data:
        key_type = self._key_pair_type(parameters)
        key = self._pairs.get(key_type)
        if key is None:
            raise _refuse(f"no {key_type.name} key pair")
        return OctetString(C.certificate_request(key, self.server_system_title, key_type))

    # --- certificates (methods 6, 7, 8) ---------------------------------------------------------

    def import_certificate(self, parameters: Data | None, ctx: Context) -> None:
        der = expect(parameters, OctetString, "certificate").value
        try:
            info = C.parse_certificate(der, self.server_system_title)
            authorities = [c for c in self._certs
                           if c.entity == C.CertificateEntity.CERTIFICATION_AUTHORITY]
            C.check_certificate(info, self.suite, self._meter_time(ctx), authorities)
        except SecurityError as exc:
            raise _refuse(str(exc)) from None
        if info.entity == C.CertificateEntity.SERVER and info.public_key != self.public_key(info.type):
            raise _refuse("server certificate does not certify the server's key pair of its type")
        self._certs = [c for c in self._certs if not (
            (c.serial, c.issuer) == (info.serial, info.issuer)
            or (info.system_title is not None
                and (c.entity, c.type, c.system_title) == (info.entity, info.type, info.system_title)))]
        self._certs.append(info)
        self._save_certificates()
        log.info("%s: %s %s certificate imported", self._name, info.entity.name, info.type.name)

    def _meter_time(self, ctx: Context) -> float:
        """The meter clock (UTC seconds): validity is judged on the time the meter shows, which
        clock synchronisation may have moved away from the true time ``self._now`` returns."""
        try:
            return ctx.directory.clock.timestamp()
        except AccessError:  # a directory without a clock object: its time is the true time
            return self._now()

    def _find(self, parameters: Data | None) -> C.CertificateInfo:
        kind, options = fields(parameters, 2, "certificate_identification")
        by = expect(kind, Enum, "certificate_identification_type").value
        if by == _BY_ENTITY:
            entity, key_type, title = fields(options, 3, "certificate_identification_entity")
            by_entity = (expect(entity, Enum, "certificate_entity").value,
                         expect(key_type, Enum, "certificate_type").value,
                         expect(title, OctetString, "system_title").value)
            found = [c for c in self._certs if (c.entity, c.type, c.system_title) == by_entity]
        elif by == _BY_SERIAL:
            serial, issuer = fields(options, 2, "certificate_identification_serial")
            by_serial = (expect(serial, OctetString, "serial_number").value,
                         expect(issuer, OctetString, "issuer").value)
            found = [c for c in self._certs if (c.serial, c.issuer) == by_serial]
        else:
            raise _refuse(f"certificate_identification_type {by}")
        if not found:
            raise _refuse("no such certificate")
        return found[-1]

    def export_certificate(self, parameters: Data | None, ctx: Context) -> Data:
        return OctetString(self._find(parameters).der)

    def remove_certificate(self, parameters: Data | None, ctx: Context) -> None:
        info = self._find(parameters)
        self._certs = [c for c in self._certs if c is not info]
        self._save_certificates()
        log.info("%s: %s %s certificate removed", self._name, info.entity.name, info.type.name)
