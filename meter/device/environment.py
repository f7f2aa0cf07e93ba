"""What the application server asks of the meter (meter/server/association.py ``Environment``):
client policies, association objects, security contexts, port protection, signing keys.

A plain delegating adapter over the parts the device built; it holds no state of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric import ec

from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import Context
from meter.cosem.events import FraudEvent
from meter.cosem.port_protection import PortProtection
from meter.cosem.registry import ObjectDirectory
from meter.device.keys import KeyManager
from meter.server.association import ClientPolicy
from meter.server.protection import SecurityContext
from meter.server.services import ServiceLimits

__all__ = ["ServerEnvironment"]


class ServerEnvironment:
    def __init__(self, directory: ObjectDirectory, *, server_sap: int, max_receive_pdu: int,
                 service_limits: ServiceLimits, policies: Mapping[int, ClientPolicy],
                 templates: Mapping[int, AssociationLN], security: Mapping[Obis, SecurityContext],
                 key_managers: Sequence[KeyManager], guards: Sequence[PortProtection],
                 context: Callable[[AssociationLN | None], Context],
                 security_event: Callable[[FraudEvent, str], None],
                 session_event: Callable[[bool, str], None],
                 random_bytes: Callable[[int], bytes]) -> None:
        self.directory = directory
        self.server_sap = server_sap
        self.max_receive_pdu = max_receive_pdu
        self.service_limits = service_limits
        self._policies = policies
        self._templates = templates
        self._security = security
        self._key_managers = key_managers
        self._guards = guards
        self._context = context
        self.security_event = security_event
        self.session_event = session_event
        self.random_bytes = random_bytes

    def policy(self, client_sap: int) -> ClientPolicy | None:
        return self._policies.get(client_sap)

    def association_for(self, policy: ClientPolicy) -> AssociationLN:
        return self._templates[policy.client_sap].copy_for_connection()

    def security_context(self, setup: Obis) -> SecurityContext:
        return self._security[setup]

    def make_context(self, association: AssociationLN) -> Context:
        return self._context(association)

    def _port_guard(self, port: Obis | None) -> PortProtection | None:
        return next((g for g in self._guards if port is not None and g.port == port), None)

    def port_locked(self, port: Obis | None) -> bool:
        guard = self._port_guard(port)
        return guard is not None and guard.locked(self._context(None))

    def authentication_failed(self, port: Obis | None) -> None:
        guard = self._port_guard(port)
        if guard is not None:
            guard.authentication_failed(self._context(None))

    def authentication_succeeded(self, port: Obis | None) -> None:
        guard = self._port_guard(port)
        if guard is not None:
            guard.authentication_succeeded(self._context(None))

    def _key_manager(self, setup: Obis) -> KeyManager | None:
        return next((m for m in self._key_managers if m.logical_name == setup), None)

    def signing_key(self, setup: Obis) -> ec.EllipticCurvePrivateKey | None:
        manager = self._key_manager(setup)
        return None if manager is None else manager.signing_key()

    def client_signing_key(self, setup: Obis, system_title: bytes) -> ec.EllipticCurvePublicKey | None:
        manager = self._key_manager(setup)
        return None if manager is None else manager.client_signing_key(system_title)
