"""What the application server asks of the meter: the configured associations (from the
profile) and the :class:`Environment` protocol the device implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from meter.apdu.acse import ApplicationContextName, MechanismName
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import Context
from meter.cosem.events import FraudEvent
from meter.cosem.registry import ObjectDirectory
from meter.server.protection import SecurityContext
from meter.server.services import ServiceLimits


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """One configured association: who may open it and how (from the profile)."""

    client_sap: int
    name: str
    association: Obis
    mechanism: int = MechanismName.NONE
    context: int = ApplicationContextName.LOGICAL_NAME
    secret: bytes = b""
    security_setup: Obis | None = None
    required_protection: int = 0  # RequestSecurity bits every request must carry


class Environment(Protocol):
    """What the device provides to the application server."""

    directory: ObjectDirectory
    max_receive_pdu: int
    server_sap: int
    service_limits: ServiceLimits  # what one request may make the meter hold ([limits])

    def policy(self, client_sap: int) -> ClientPolicy | None: ...
    def association_for(self, policy: ClientPolicy) -> AssociationLN: ...
    def security_context(self, setup: Obis) -> SecurityContext: ...
    def make_context(self, association: AssociationLN) -> Context: ...
    def random_bytes(self, n: int) -> bytes: ...
    def security_event(self, event: FraudEvent, detail: str) -> None: ...
    # An association opened (accepted; pending HLS too) or refused (communication log).
    def session_event(self, opened: bool, detail: str) -> None: ...
    # Communication port protection (class 124): ``port`` is the logical name of the setup
    # object of the connection's port (None: an unguarded port).
    def port_locked(self, port: Obis | None) -> bool: ...
    def authentication_failed(self, port: Obis | None) -> None: ...
    def authentication_succeeded(self, port: Obis | None) -> None: ...
    # HLS-ECDSA (mechanism 7) and general-signing: the server's digital-signature key of a
    # Security setup, and the public key of the client signing certificate imported there for
    # ``system_title`` (signing.SigningKeys).
    def signing_key(self, setup: Obis) -> ec.EllipticCurvePrivateKey | None: ...
    def client_signing_key(self, setup: Obis, system_title: bytes) -> ec.EllipticCurvePublicKey | None: ...
