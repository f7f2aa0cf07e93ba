"""Application associations of one connection: ACSE (AARQ/AARE, RLRQ/RLRE) and the xDLMS
requests that run inside them (Green Book 9.3.2-9.3.5, IEC 62056-5-3 / 53).

States per client SAP: no association -> (AARQ accepted) associated, or pending while an HLS
exchange waits for ``reply_to_HLS_authentication`` -> associated; RLRQ or the lower layer going
away releases it. Every refusal uses the protocol's own answer: an AARE with a diagnostic, an
exception-response, a confirmed-service-error in the AARE user-information.
"""

from __future__ import annotations

import enum
import hmac
import logging
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from meter import apdu as A
from meter.apdu.describe import describe
from meter.apdu.initiate import Conformance
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN, AssociationStatus
from meter.cosem.base import AccessMode, Context
from meter.cosem.events import FraudEvent
from meter.cosem.registry import ObjectDirectory
from meter.cosem.security_setup import SecuritySetup
from meter.errors import DecodeError, MeterError, SecurityError
from meter.security import hls
from meter.server import hls_checks as checks
from meter.server import signing
from meter.server.protection import (
    GENERAL_OVERHEAD,
    REQUEST_PROTECTION,
    Envelope,
    ReplayError,
    SecurityContext,
    response_envelope,
    unwrap,
    wrap,
)
from meter.server.services import PLAIN, RequestSecurity, ServiceLimits, Services
from meter.server.signing import SignedRequest

log = logging.getLogger(__name__)

DLMS_VERSION = 6
CONTEXT_LN = 1
CONTEXT_LN_CIPHERED = 3
MECHANISM_LOWEST = 0
MECHANISM_LLS = 1
MECHANISM_HLS_MD5 = 3
MECHANISM_HLS_SHA1 = 4
MECHANISM_HLS_GMAC = 5
MECHANISM_HLS_SHA256 = 6
MECHANISM_HLS_ECDSA = 7
_HLS_MECHANISMS = (MECHANISM_HLS_GMAC, MECHANISM_HLS_SHA256, MECHANISM_HLS_ECDSA)
#: MD5 and SHA-1 (deprecated by the Green Book) run only for an association whose profile names
#: them: f() covers neither system title, so they need no ciphered context.
_DIGEST_MECHANISMS = {MECHANISM_HLS_MD5: hls.md5_response, MECHANISM_HLS_SHA1: hls.sha1_response}
#: Curve size (bits) of the ECDSA keys of each suite: P-256 for 1, P-384 for 2 (Green Book 9.2.3.4).
_ECDSA_BITS = {1: 256, 2: 384}

# Security events (fraud detection log codes, cosem-reference.md §4.1).

#: What the meter offers; the negotiated block is this AND the client's proposal. General block
#: transfer is deliberately absent: dlms-cosem proposes it but cannot receive it, and the
#: standard lets the server drop any bit it does not support (Green Book 9.4.6.1).
SERVER_CONFORMANCE = (
    Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.SELECTIVE_ACCESS
    | Conformance.MULTIPLE_REFERENCES | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE | Conformance.BLOCK_TRANSFER_WITH_ACTION
    | Conformance.GENERAL_PROTECTION | Conformance.DATA_NOTIFICATION
)

_CIPHERED = (A.CipheredApdu, A.GeneralGloCiphering, A.GeneralDedCiphering)
#: The longest APDU any framing carries (the wrapper's 16-bit length; Green Book 7.3.3.2).
MAX_APDU = 0xFFFF
#: AARQ and RLRQ come before (or end) the negotiation of the PDU size.
_ACSE_TAGS = frozenset((A.AARQ.TAG, A.RLRQ.TAG))
_REPLY_TO_HLS = 1


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """One configured association: who may open it and how (from the profile)."""

    client_sap: int
    name: str
    association: Obis
    mechanism: int = MECHANISM_LOWEST
    context: int = CONTEXT_LN
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
    # Communication port protection (class 124): ``port`` is the logical name of the setup
    # object of the connection's port (None: an unguarded port).
    def port_locked(self, port: Obis | None) -> bool: ...
    def authentication_failed(self, port: Obis | None) -> None: ...
    def authentication_succeeded(self, port: Obis | None) -> None: ...
    # HLS-ECDSA (mechanism 7): the server's digital-signature key of a Security setup, and the
    # public key of the client signing certificate imported there for ``system_title``.
    def signing_key(self, setup: Obis) -> ec.EllipticCurvePrivateKey | None: ...
    def client_signing_key(self, setup: Obis, system_title: bytes) -> ec.EllipticCurvePublicKey | None: ...


class State(enum.Enum):
    IDLE = 0
    PENDING = 1  # HLS: waiting for reply_to_HLS_authentication
    ASSOCIATED = 2


@dataclass(slots=True)
class _Association:
    policy: ClientPolicy
    state: State
    cosem: AssociationLN
    services: Services
    security: SecurityContext | None
    client_system_title: bytes | None = None
    dedicated_key: bytes | None = None
    challenge_stoc: bytes = b""
    challenge_ctos: bytes = b""
    ciphered_initiate: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def _exception(state: A.StateError, service: A.ServiceError) -> bytes:
    return A.ExceptionResponse(state, service).to_bytes()


class ApplicationServer:
    """All associations carried by one connection, keyed by client SAP."""

    def __init__(self, env: Environment, port: Obis | None = None) -> None:
        self._env = env
        self._port = port
        self._by_client: dict[int, _Association] = {}

    def release_all(self) -> None:
        """The lower layer went away: every association of this connection ends."""
        for a in self._by_client.values():
            a.cosem.status = AssociationStatus.NON_ASSOCIATED
        self._by_client.clear()

    def is_associated(self, client_sap: int) -> bool:
        a = self._by_client.get(client_sap)
        return a is not None and a.state is State.ASSOCIATED

    def handle(self, client_sap: int, data: bytes) -> bytes | None:
        """One APDU from ``client_sap``; returns the response APDU (or None: nothing to send)."""
        if len(data) > self._env.max_receive_pdu and data[0] not in _ACSE_TAGS:
            # The meter announced its max-receive-PDU-size in the InitiateResponse; a longer
            # xDLMS APDU (ciphering included) is refused before it is decoded.
            log.info("client %d: APDU of %d bytes over the negotiated %d", client_sap, len(data),
                     self._env.max_receive_pdu)
            return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.PDU_TOO_LONG)
        try:
            apdu = A.decode_apdu(data)
        except DecodeError as exc:
            log.info("client %d: undecodable APDU (%s): %s", client_sap, exc, data[:64].hex())
            if data and data[0] in A.KNOWN_TAGS:
                return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON)
            return _exception(A.StateError.SERVICE_UNKNOWN, A.ServiceError.SERVICE_NOT_SUPPORTED)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("client %d ->\n%s", client_sap, describe(apdu))
        try:
            response = self._dispatch(client_sap, apdu)
        except Exception:  # a bug must not leave the client without an answer
            log.exception("client %d: %s failed", client_sap, type(apdu).__name__)
            response = _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON)
        # The client's max-receive-PDU-size bounds xDLMS APDUs, not the AARE/RLRE.
        assoc = None if isinstance(apdu, (A.AARQ, A.RLRQ)) else self._by_client.get(client_sap)
        limit = assoc.services.max_send if assoc is not None else MAX_APDU
        if response is not None and len(response) > limit:
            # Nothing should get here (blocks leave room for every envelope); if it does, the
            # client still gets an answer it can read, never a closed connection.
            log.error("client %d: response of %d bytes over the client's %d", client_sap,
                      len(response), limit)
            response = _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON)
        if response is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("client %d <-\n%s", client_sap, _describe_bytes(response))
        return response

    def _dispatch(self, client_sap: int, apdu: A.Apdu) -> bytes | None:
        if isinstance(apdu, A.AARQ):
            return self._associate(client_sap, apdu)
        assoc = self._by_client.get(client_sap)
        if isinstance(apdu, A.RLRQ):
            return self._release(client_sap, apdu)
        if assoc is None:
            log.info("client %d: %s outside an association", client_sap, type(apdu).__name__)
            return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OPERATION_NOT_POSSIBLE)
        return self._request(assoc, apdu)

    # --- xDLMS requests inside an association -----------------------------------------------

    def _request(self, assoc: _Association, apdu: object) -> bytes:
        envelope: Envelope | None = None
        sec = PLAIN
        # Read once per request: a security_activate protects from the next request on, never
        # its own response (Blue Book 4.4.7 security_activate).
        policy = self._security_policy(assoc)
        required = (assoc.policy.required_protection | policy) & REQUEST_PROTECTION
        signed: SignedRequest | None = None
        if isinstance(apdu, A.GeneralSigning):
            opened = self._open_signed(assoc, apdu)
            if isinstance(opened, bytes):
                return opened
            apdu, signed = opened
        signed_bit = _SIGNED_REQUEST if signed is not None else 0
        if signed is not None and not isinstance(apdu, _CIPHERED):
            sec = RequestSecurity(signed_bit)
        if isinstance(apdu, _CIPHERED):
            if assoc.security is None:
                return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.SERVICE_NOT_SUPPORTED)
            if required & ~(_request_bits(apdu.security_control) | signed_bit):
                # Refused before deciphering: an encryption-only APDU (anyone can forge one)
                # must not even reach the invocation counter when authentication is required.
                assoc.security.failures += 1
                self._env.security_event(FraudEvent.DECRYPTION_FAILED, f"security control "
                                         f"0x{apdu.security_control:02X} below policy 0x{required:02X}")
                return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.DECIPHERING_ERROR)
            try:
                plain, envelope = unwrap(apdu, assoc.security, assoc.client_system_title,
                                         assoc.dedicated_key)
            except ReplayError as exc:
                self._env.security_event(FraudEvent.REPLAY, str(exc))
                return A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED,
                                           A.ServiceError.INVOCATION_COUNTER_ERROR,
                                           exc.expected).to_bytes()
            except SecurityError as exc:
                assoc.security.failures += 1
                self._env.security_event(FraudEvent.DECRYPTION_FAILED, str(exc))
                return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.DECIPHERING_ERROR)
            try:
                apdu = A.decode_apdu(plain)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("deciphered:\n%s", describe(apdu))
            except DecodeError as exc:
                log.info("undecodable APDU inside a ciphered envelope: %s", exc)
                return self._protect(assoc, envelope, _exception(
                    A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON))
            if isinstance(apdu, _CIPHERED + (A.AARQ, A.RLRQ)):
                return self._protect(assoc, envelope, _exception(
                    A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OPERATION_NOT_POSSIBLE))
            sec = RequestSecurity(_request_bits(envelope.security_control) | signed_bit)
        response_bits = policy  # the policy's response bits, whatever the request touched
        if (required & ~sec.bits) or (
            assoc.state is State.PENDING and not _is_hls_reply(apdu)
        ):
            log.info("client %d: %s refused (state %s, protection 0x%02X, policy 0x%02X)",
                     assoc.policy.client_sap, type(apdu).__name__, assoc.state.name, sec.bits, policy)
            response = _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OPERATION_NOT_POSSIBLE)
        else:
            response = assoc.services.handle(apdu, sec)
            response_bits |= assoc.services.response_protection
        if assoc.state is State.PENDING and assoc.extra.pop("hls_failed", False):
            self._by_client.pop(assoc.policy.client_sap, None)
            assoc.cosem.status = AssociationStatus.NON_ASSOCIATED
        if assoc.security is not None:
            envelope = response_envelope(envelope, response_bits, assoc.security.suite,
                                         getattr(apdu, "TAG", 0))
        response = self._protect(assoc, envelope, response)
        # A signed request gets a signed response (Green Book 9.2.7.2.4: the response carries
        # the protection of its request), as does one the policy or the attribute asks for.
        if signed is not None or response_bits & _SIGNED_RESPONSE:
            response = self._sign(assoc, signed, response)
        return response

    def _open_signed(self, assoc: _Association,
                     apdu: A.GeneralSigning) -> tuple[A.Apdu, SignedRequest] | bytes:
        """The content of a signed request and its signature data, or the refusal to send."""
        security = assoc.security
        if security is None or security.suite not in _ECDSA_BITS:
            return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.SERVICE_NOT_SUPPORTED)
        key, _ = self._ecdsa_keys(assoc, apdu.originator_system_title)
        try:
            content, signed = signing.open_signed(apdu, security, key, assoc.client_system_title)
            inner = A.decode_apdu(content)
            if not isinstance(inner, _CIPHERED):  # a ciphered content has its own counter
                signing.check_transaction(signed, security)
        except ReplayError as exc:
            self._env.security_event(FraudEvent.REPLAY, f"general-signing: {exc}")
            return A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED,
                                       A.ServiceError.INVOCATION_COUNTER_ERROR, exc.expected).to_bytes()
        except SecurityError as exc:
            security.failures += 1
            self._env.security_event(FraudEvent.DECRYPTION_FAILED, f"general-signing: {exc}")
            return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.DECIPHERING_ERROR)
        except DecodeError as exc:
            log.info("undecodable APDU inside general-signing: %s", exc)
            return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON)
        if isinstance(inner, (A.AARQ, A.RLRQ)):
            return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OPERATION_NOT_POSSIBLE)
        return inner, signed

    def _sign(self, assoc: _Association, request: SignedRequest | None, response: bytes) -> bytes:
        """``response`` in a general-signing envelope under the server's signing key; the
        transaction-id of the request, or a fresh server invocation counter."""
        security = assoc.security
        _, key = self._ecdsa_keys(assoc, assoc.client_system_title or b"")
        if security is None or key is None:
            log.info("client %d: response must be signed, but no signing key", assoc.policy.client_sap)
            return _exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON)
        recipient = assoc.client_system_title or b""
        tid = request.transaction_id if request is not None else security.tx.next().to_bytes(8, "big")
        return signing.sign(response, key, security, recipient, tid)

    def _security_policy(self, assoc: _Association) -> int:
        """security_policy (v1 bits) of the association's Security setup; 0 without one."""
        setup = assoc.policy.security_setup
        obj = self._env.directory.get(setup) if setup is not None else None
        return obj.policy if isinstance(obj, SecuritySetup) else 0

    def _protect(self, assoc: _Association, envelope: Envelope | None, response: bytes) -> bytes:
        if envelope is None or assoc.security is None:
            return response
        if response[0] == A.ExceptionResponse.TAG and not envelope.kind.startswith("general"):
            # exception-response has no service-specific ciphered tag (Green Book 9.5 table of
            # glo-/ded- APDUs): it goes back plain; a general envelope can carry it.
            return response
        return wrap(response, envelope, assoc.security, assoc.dedicated_key)

    # --- ACSE --------------------------------------------------------------------------------

    def _associate(self, client_sap: int, aarq: A.AARQ) -> bytes:
        old = self._by_client.pop(client_sap, None)
        if old is not None:  # a new AARQ replaces whatever this client had
            old.cosem.status = AssociationStatus.NON_ASSOCIATED
        policy = self._env.policy(client_sap)
        if policy is None:
            context = aarq.application_context_name if aarq.application_context_name > 0 else CONTEXT_LN
            return self._reject(context, A.AcseServiceUser.NO_REASON_GIVEN)
        if aarq.application_context_name != policy.context:
            return self._reject(policy.context, A.AcseServiceUser.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
        if policy.mechanism != MECHANISM_LOWEST:
            if aarq.mechanism_name is None:
                return self._reject(policy.context, A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_REQUIRED)
            if aarq.mechanism_name != policy.mechanism:
                return self._reject(policy.context,
                                    A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
        elif aarq.mechanism_name not in (None, MECHANISM_LOWEST):
            return self._reject(policy.context, A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)

        security = self._env.security_context(policy.security_setup) if policy.security_setup else None
        ciphered = policy.context == CONTEXT_LN_CIPHERED
        title = aarq.calling_ap_title
        if ciphered and (title is None or len(title) != 8):
            return self._reject(policy.context, A.AcseServiceUser.CALLING_AP_TITLE_NOT_RECOGNIZED)

        # Authentication. A locked port still does the work of checking the credentials (the
        # ciphered InitiateRequest, the LLS password), then refuses every attempt with the
        # answer of a wrong password and counts it as a failed one: neither the bytes nor the
        # time of the answer tell a guesser whether the credentials were right.
        locked = policy.mechanism != MECHANISM_LOWEST and self._env.port_locked(self._port)
        # Any other refusal of a locked port is the same answer too.
        other = A.AcseServiceUser.AUTHENTICATION_FAILURE if locked else A.AcseServiceUser.NO_REASON_GIVEN

        # The xDLMS InitiateRequest, ciphered in a ciphered context.
        if aarq.user_information is None:
            return self._reject(policy.context, other)
        try:
            initiate, envelope = self._open_initiate(aarq.user_information, security, title, ciphered)
        except ReplayError as exc:
            self._env.security_event(FraudEvent.REPLAY, str(exc))
            return self._reject(policy.context, other)
        except SecurityError as exc:
            # An InitiateRequest that does not decipher under the association's keys is a
            # failed authentication too (a guessed key), whatever the mechanism.
            if security is not None:
                security.failures += 1
            self._env.security_event(FraudEvent.DECRYPTION_FAILED, f"AARQ: {exc}")
            self._env.authentication_failed(self._port)
            return self._reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE)
        except DecodeError as exc:
            log.info("client %d: bad InitiateRequest: %s", client_sap, exc)
            return self._reject(policy.context, other)

        cosem = self._env.association_for(policy)
        # The LLS secret is the association's attribute 7, which a management client may
        # write (Blue Book 4.4.3 secret); an empty one would let anyone in.
        lls_right = policy.mechanism == MECHANISM_LLS and bool(cosem.secret) and hmac.compare_digest(
            aarq.calling_authentication_value or b"", cosem.secret)
        if locked:
            self._authentication_failed(f"mechanism {policy.mechanism}, client {client_sap}, port locked")
            return self._reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE)

        error = _initiate_error(initiate)
        if error is not None:
            cse = A.ConfirmedServiceError(A.ConfirmedServiceKind.INITIATE_ERROR,
                                          A.ServiceErrorKind.INITIATE, error).to_bytes()
            return self._reject(policy.context, A.AcseServiceUser.NO_REASON_GIVEN, user_information=cse)

        stoc: bytes | None = None
        if policy.mechanism == MECHANISM_LLS:
            if not lls_right:
                self._authentication_failed(f"LLS, client {client_sap}")
                return self._reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE)
            self._env.authentication_succeeded(self._port)
        elif policy.mechanism >= 2:
            ctos = aarq.calling_authentication_value or b""
            # Green Book: the challenge is 8 to 64 octets (dlms-cosem sends 32).
            if not 8 <= len(ctos) <= 64:
                self._authentication_failed(f"bad CtoS length {len(ctos)}")
                return self._reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE)
            if policy.mechanism in _DIGEST_MECHANISMS:
                stoc = self._env.random_bytes(16)
            else:
                if policy.mechanism not in _HLS_MECHANISMS or security is None or (
                        policy.mechanism == MECHANISM_HLS_ECDSA and security.suite not in _ECDSA_BITS):
                    return self._reject(policy.context,
                                        A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
                # f() of mechanisms 5-7 depends on the client's system title (Green Book 9.2.7.4).
                if title is None or len(title) != 8:
                    return self._reject(policy.context, A.AcseServiceUser.CALLING_AP_TITLE_NOT_RECOGNIZED)
                stoc = self._env.random_bytes(16 if policy.mechanism == MECHANISM_HLS_GMAC else 32)

        conformance = Conformance(initiate.proposed_conformance) & SERVER_CONFORMANCE
        client_max = initiate.client_max_receive_pdu_size or MAX_APDU  # 0: no limit
        max_send = min(client_max, MAX_APDU)
        overhead = response_overhead(security.suite) if security is not None else 0
        assoc = _Association(
            policy=policy,
            state=State.PENDING if stoc is not None else State.ASSOCIATED,
            cosem=cosem,
            services=Services(self._env.directory, cosem, conformance, max_send,
                              lambda: self._env.make_context(cosem), overhead,
                              self._env.service_limits),
            security=security,
            client_system_title=title,
            dedicated_key=initiate.dedicated_key if envelope is not None else None,
            challenge_stoc=stoc or b"",
            challenge_ctos=aarq.calling_authentication_value or b"",
            ciphered_initiate=envelope is not None,
        )
        if stoc is not None:
            cosem.hls_reply = lambda f_stoc, a=assoc: self._hls_reply(a, f_stoc)
        cosem.client_sap, cosem.server_sap = client_sap, self._env.server_sap
        cosem.status = (AssociationStatus.ASSOCIATION_PENDING if stoc is not None
                        else AssociationStatus.ASSOCIATED)
        self._by_client[client_sap] = assoc

        response = A.InitiateResponse(
            negotiated_conformance=conformance,
            server_max_receive_pdu_size=self._env.max_receive_pdu,
            negotiated_dlms_version_number=DLMS_VERSION,
        ).to_bytes()
        if envelope is not None and security is not None:
            response = wrap(response, envelope, security, None)
        aare = A.AARE(
            application_context_name=policy.context,
            result=0,
            diagnostic_source=1,
            # Green Book: an HLS association answers "authentication-required" while pass 3/4
            # is due; gurux's client runs reply_to_HLS_authentication only when it sees it.
            diagnostic=(A.AcseServiceUser.AUTHENTICATION_REQUIRED if stoc is not None
                        else A.AcseServiceUser.NULL),
            responding_ap_title=security.server_system_title if security is not None else None,
            responder_acse_requirements=stoc is not None,
            mechanism_name=policy.mechanism if stoc is not None else None,
            responding_authentication_value=stoc,
            user_information=response,
        )
        log.info("client %d: association %s %s", client_sap, policy.name,
                 "pending HLS" if stoc is not None else "established")
        return aare.to_bytes()

    def _open_initiate(self, user_information: bytes, security: SecurityContext | None,
                       title: bytes | None, ciphered: bool) -> tuple[A.InitiateRequest, Envelope | None]:
        apdu = A.decode_apdu(user_information)
        envelope = None
        if isinstance(apdu, _CIPHERED):
            if security is None:
                raise SecurityError("ciphered InitiateRequest in a context without security")
            plain, envelope = unwrap(apdu, security, title, None)
            apdu = A.decode_apdu(plain)
        elif ciphered:
            raise SecurityError("a ciphered context needs a ciphered InitiateRequest")
        if not isinstance(apdu, A.InitiateRequest):
            raise DecodeError(f"user-information holds {type(apdu).__name__}, not an InitiateRequest")
        return apdu, envelope

    def _reject(self, context: int, diagnostic: int, user_information: bytes | None = None) -> bytes:
        log.info("AARQ rejected: diagnostic %s", diagnostic)
        return A.AARE(
            application_context_name=context,
            result=1,  # rejected-permanent
            diagnostic_source=1,  # acse-service-user
            diagnostic=diagnostic,
            responding_ap_title=None,
            responder_acse_requirements=False,
            mechanism_name=None,
            responding_authentication_value=None,
            user_information=user_information,
        ).to_bytes()

    def _authentication_failed(self, detail: str) -> None:
        self._env.security_event(FraudEvent.FAILED_AUTHENTICATION, detail)
        self._env.authentication_failed(self._port)

    def _hls_reply(self, assoc: _Association, f_stoc: bytes) -> bytes | None:
        """Pass 3 -> 4 of HLS: check f(StoC) from the client, answer f(CtoS) (None: refused)."""
        mechanism = assoc.policy.mechanism
        try:
            answer = self._check_hls(assoc, f_stoc)
        except (MeterError, ValueError) as exc:  # a malformed proof is a wrong one
            log.info("client %d: HLS pass 3 unusable: %s", assoc.policy.client_sap, exc)
            answer = None
        if answer is None:
            self._authentication_failed(f"HLS mechanism {mechanism}, client {assoc.policy.client_sap}")
            assoc.extra["hls_failed"] = True
            return None
        self._env.authentication_succeeded(self._port)
        assoc.state = State.ASSOCIATED
        assoc.cosem.status = AssociationStatus.ASSOCIATED
        return answer

    def _check_hls(self, assoc: _Association, f_stoc: bytes) -> bytes | None:
        """f(CtoS) if the client's f(StoC) is right for the association's mechanism, else None."""
        security, title = assoc.security, assoc.client_system_title
        stoc, ctos, mechanism = assoc.challenge_stoc, assoc.challenge_ctos, assoc.policy.mechanism
        answer = None
        if mechanism in _DIGEST_MECHANISMS:
            answer = checks.digest_reply(_DIGEST_MECHANISMS[mechanism], assoc.cosem.secret, stoc,
                                         ctos, f_stoc)
        elif security is not None and title is not None:
            server = security.server_system_title
            if mechanism == MECHANISM_HLS_GMAC:
                answer = checks.gmac_reply(security, title, stoc, ctos, f_stoc)
            elif mechanism == MECHANISM_HLS_SHA256:
                answer = checks.sha256_reply(assoc.cosem.secret, title, server, stoc, ctos, f_stoc)
            else:
                public, private = self._ecdsa_keys(assoc, title)
                if public is not None and private is not None:
                    answer = checks.ecdsa_reply(public, private, title, server, stoc, ctos, f_stoc)
        return answer

    def _ecdsa_keys(self, assoc: _Association, originator: bytes) -> tuple[
            ec.EllipticCurvePublicKey | None, ec.EllipticCurvePrivateKey | None]:
        """The client's (by system title) and the server's signing keys of the association's
        Security setup; None for one that is missing or not on the suite's curve."""
        setup, security = assoc.policy.security_setup, assoc.security
        if setup is None or security is None or security.suite not in _ECDSA_BITS:
            return None, None
        bits = _ECDSA_BITS[security.suite]
        public = self._env.client_signing_key(setup, originator)
        private = self._env.signing_key(setup)
        if public is None or private is None:
            log.info("no signing key pair for client %s (suite %d)", originator.hex(), security.suite)
        return (public if public is not None and public.curve.key_size == bits else None,
                private if private is not None and private.curve.key_size == bits else None)

    def _release(self, client_sap: int, rlrq: A.RLRQ) -> bytes:
        assoc = self._by_client.pop(client_sap, None)
        if assoc is not None:
            assoc.cosem.status = AssociationStatus.NON_ASSOCIATED
        user_information = None
        if assoc is not None and rlrq.user_information and assoc.ciphered_initiate \
                and assoc.security is not None:
            # A ciphered context answers the RLRQ's InitiateRequest with a ciphered InitiateResponse.
            try:
                _, envelope = self._open_initiate(rlrq.user_information, assoc.security,
                                                  assoc.client_system_title, True)
                if envelope is not None:
                    plain = A.InitiateResponse(
                        negotiated_conformance=assoc.services.conformance,
                        server_max_receive_pdu_size=self._env.max_receive_pdu,
                        negotiated_dlms_version_number=DLMS_VERSION).to_bytes()
                    user_information = wrap(plain, envelope, assoc.security, None)
            except (MeterError, DecodeError) as exc:
                log.info("client %d: RLRQ user-information ignored: %s", client_sap, exc)
        return A.RLRE(reason=0, user_information=user_information).to_bytes()


def response_overhead(suite: int) -> int:
    """The most an association with a security context of ``suite`` wraps around a response: a
    request may come glo- or general-ciphered whatever the AARQ used, a plain one may get a
    ciphered response (policy, access rights), and suites 1-2 may sign it."""
    return GENERAL_OVERHEAD + signing.overhead(suite)


def _describe_bytes(data: bytes) -> str:
    try:
        return describe(A.decode_apdu(data))
    except DecodeError:
        return data.hex()


_AUTHENTICATED_REQUEST = int(AccessMode.AUTHENTICATED_REQUEST)  # ints: IntFlag | is slow
_ENCRYPTED_REQUEST = int(AccessMode.ENCRYPTED_REQUEST)
_SIGNED_REQUEST = int(AccessMode.DIGITALLY_SIGNED_REQUEST)
_SIGNED_RESPONSE = int(AccessMode.DIGITALLY_SIGNED_RESPONSE)


def _request_bits(security_control: int) -> int:
    return ((_AUTHENTICATED_REQUEST if security_control & 0x10 else 0)
            | (_ENCRYPTED_REQUEST if security_control & 0x20 else 0))


def _is_hls_reply(apdu: object) -> bool:
    return (isinstance(apdu, A.ActionRequestNormal) and apdu.method.class_id == 15
            and apdu.method.method_id == _REPLY_TO_HLS
            and isinstance(apdu.parameters, axdr.OctetString))


def _initiate_error(req: A.InitiateRequest) -> int | None:
    """The InitiateError of a request we cannot serve (Green Book 9.4.2), or None."""
    if req.proposed_dlms_version_number < DLMS_VERSION:
        return A.InitiateError.DLMS_VERSION_TOO_LOW
    proposed = Conformance(req.proposed_conformance)
    if not proposed & (Conformance.GET | Conformance.SET | Conformance.ACTION) & SERVER_CONFORMANCE:
        return A.InitiateError.INCOMPATIBLE_CONFORMANCE
    if 0 < req.client_max_receive_pdu_size < 12:
        return A.InitiateError.PDU_SIZE_TOO_SHORT
    return None
