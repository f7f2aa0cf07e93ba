"""The secure channel of one association: opening each request from its envelopes and sealing
its response in the same kind (Green Book 9.2.7.2; security suites 0-2).

A request comes plain, glo-/ded-ciphered, general-glo/ded-ciphered, or general-signed around
any of those (cipher, then sign). Opening checks the signature and its freshness, deciphers and
authenticates, and checks the invocation counter (via :mod:`meter.server.protection` and
:mod:`meter.server.signing`); what it cannot open gets the protocol's refusal, and a fraud event
where the Blue Book counts one. Sealing gives the response at least the protection of its request
(its envelope kind, signed if it was signed, Green Book 9.2.7.2.4) and of what the security
policy and the access rights ask for the response.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from meter import apdu as A
from meter.codec.obis import Obis
from meter.cosem.events import FraudEvent
from meter.cosem.security_setup import SecuritySetup
from meter.errors import DecodeError, SecurityError
from meter.security.gcm import SC_AUTHENTICATION, SC_ENCRYPTION
from meter.server import signing
from meter.server.access_bits import (
    AUTHENTICATED_REQUEST,
    ENCRYPTED_REQUEST,
    REQUEST_PROTECTION,
    SIGNED_REQUEST,
    SIGNED_RESPONSE,
)
from meter.server.environment import Environment
from meter.server.protection import (
    GENERAL_KINDS,
    GENERAL_OVERHEAD,
    Envelope,
    ReplayError,
    SecurityContext,
    response_envelope,
    unwrap,
    wrap,
)
from meter.server.reply import Reply, exception
from meter.server.services import PLAIN, RequestSecurity
from meter.server.signing import SignedRequest

log = logging.getLogger(__name__)

CIPHERED = (A.CipheredApdu, A.GeneralGloCiphering, A.GeneralDedCiphering)
_ENVELOPES = frozenset((*CIPHERED, A.GeneralSigning))
#: APDUs that never travel inside an envelope: ACSE opens and ends the association around it.
_NOT_ENCLOSED = (*CIPHERED, A.AARQ, A.RLRQ)


@dataclass(slots=True)
class Opened:
    """A request out of its envelopes: the APDU, the protection it came with (access_mode v3
    request bits), and what its response needs (its ciphering, its signature data, the
    security policy it came under)."""

    apdu: A.Apdu
    security: RequestSecurity
    envelope: Envelope | None
    signed: SignedRequest | None
    policy: int  # security_policy (v1 bits) when it came: its response bits too
    underprotected: bool  # it lacks protection the association or the policy requires


def request_bits(security_control: int) -> int:
    """The access_mode v3 request bits a security control byte stands for."""
    return ((AUTHENTICATED_REQUEST if security_control & SC_AUTHENTICATION else 0)
            | (ENCRYPTED_REQUEST if security_control & SC_ENCRYPTION else 0))


def response_overhead(suite: int) -> int:
    """The most an association with a security context of ``suite`` wraps around a response: a
    request may come glo- or general-ciphered whatever the AARQ used, a plain one may get a
    ciphered response (policy, access rights), and suites 1-2 may sign it."""
    return GENERAL_OVERHEAD + signing.overhead(suite)


#: A head end's plain InitiateRequest is the same in every AARQ it sends (nothing fresh in it),
#: so the last few are decoded once each, like the AARQ around them (apdu/acse.py _memo_aarq);
#: a ciphered one (a new invocation counter each time) and a long one are not kept.
_plain_initiate = functools.lru_cache(maxsize=32)(A.decode_apdu)
_PLAIN_INITIATE_MAX = 64


def open_initiate(user_information: bytes, security: SecurityContext | None, title: bytes | None,
                  ciphered: bool) -> tuple[A.InitiateRequest, Envelope | None]:
    """The xDLMS InitiateRequest of an AARQ or RLRQ, out of its envelope in a ciphered context.
    Raises SecurityError (ReplayError) or DecodeError."""
    if 0 < len(user_information) <= _PLAIN_INITIATE_MAX and user_information[0] == A.InitiateRequest.TAG:
        apdu = _plain_initiate(user_information)
    else:
        apdu = A.decode_apdu(user_information)
    envelope = None
    if isinstance(apdu, CIPHERED):
        if security is None:
            raise SecurityError("ciphered InitiateRequest in a context without security")
        plain, envelope = unwrap(apdu, security, title, None)
        apdu = A.decode_apdu(plain)
    elif ciphered:
        raise SecurityError("a ciphered context needs a ciphered InitiateRequest")
    if not isinstance(apdu, A.InitiateRequest):
        raise DecodeError(f"user-information holds {type(apdu).__name__}, not an InitiateRequest")
    return apdu, envelope


@functools.lru_cache(maxsize=32)
def _encoded(response: A.InitiateResponse) -> bytes:
    """An InitiateResponse's bytes: the same few (one per negotiated conformance and PDU
    size) for every association, encoded once each."""
    return response.to_bytes()


def seal_initiate(response: A.InitiateResponse, envelope: Envelope | None,
                  security: SecurityContext | None) -> bytes:
    """The InitiateResponse, ciphered as its InitiateRequest came."""
    data = _encoded(response)
    if envelope is None or security is None:
        return data
    return wrap(A.InitiateResponse.TAG, data, envelope, security, None)


class SecureChannel:
    """Opening requests and sealing responses for one association."""

    def __init__(self, env: Environment, security: SecurityContext | None, setup: Obis | None,
                 required_protection: int, client_system_title: bytes | None,
                 dedicated_key: bytes | None) -> None:
        """``required_protection``: access_mode v3 request bits every request must carry."""
        self._env = env
        self.security = security
        self._setup = setup
        # A plain int whatever the caller gave (an AccessMode): IntFlag arithmetic on every
        # request costs microseconds (server/access_bits.py).
        self._required = int(required_protection)
        self.client_system_title = client_system_title
        self._dedicated_key = dedicated_key

    def policy(self) -> int:
        """security_policy (v1 bits) of the association's Security setup now; 0 without one.
        Read once per request: a security_activate protects from the next request on, never
        its own response (Blue Book 4.4.7 security_activate)."""
        setup = self._setup
        obj = self._env.directory.get(setup) if setup is not None else None
        return obj.policy if isinstance(obj, SecuritySetup) else 0

    def key_pair(self, originator: bytes) -> tuple[
            ec.EllipticCurvePublicKey | None, ec.EllipticCurvePrivateKey | None]:
        """The signing keys of the client ``originator`` and of the server (signing.key_pair)."""
        return signing.key_pair(self._env, self._setup, self.security, originator)

    # --- requests ----------------------------------------------------------------------------

    def open(self, apdu: A.Apdu) -> Opened | bytes:
        """``apdu`` out of its envelopes, or the refusal to send (bytes)."""
        policy = self.policy()
        required = (self._required | policy) & REQUEST_PROTECTION
        if type(apdu) not in _ENVELOPES:
            return Opened(apdu, PLAIN, None, None, policy, required != 0)
        signed: SignedRequest | None = None
        if isinstance(apdu, A.GeneralSigning):
            unsigned = self._open_signed(apdu)
            if isinstance(unsigned, bytes):
                return unsigned
            apdu, signed = unsigned
            if not isinstance(apdu, CIPHERED):
                return Opened(apdu, RequestSecurity(SIGNED_REQUEST), None, signed, policy,
                              bool(required & ~SIGNED_REQUEST))
        assert isinstance(apdu, CIPHERED)
        signed_bit = SIGNED_REQUEST if signed is not None else 0
        security = self.security
        if security is None:
            return _refusal(A.ServiceError.SERVICE_NOT_SUPPORTED)
        if required & ~(request_bits(apdu.security_control) | signed_bit):
            # Refused before deciphering: an encryption-only APDU (anyone can forge one)
            # must not even reach the invocation counter when authentication is required.
            security.failures += 1
            self._env.security_event(FraudEvent.DECRYPTION_FAILED, f"security control "
                                     f"0x{apdu.security_control:02X} below policy 0x{required:02X}")
            return _refusal(A.ServiceError.DECIPHERING_ERROR)
        try:
            plain, envelope = unwrap(apdu, security, self.client_system_title, self._dedicated_key)
        except ReplayError as exc:
            self._env.security_event(FraudEvent.REPLAY, str(exc))
            return _refusal(A.ServiceError.INVOCATION_COUNTER_ERROR, exc.expected)
        except SecurityError as exc:
            security.failures += 1
            self._env.security_event(FraudEvent.DECRYPTION_FAILED, str(exc))
            return _refusal(A.ServiceError.DECIPHERING_ERROR)
        try:
            inner = A.decode_apdu(plain)
        except DecodeError as exc:
            log.info("undecodable APDU inside a ciphered envelope: %s", exc)
            return self._wrap(exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON),
                              envelope)
        if isinstance(inner, _NOT_ENCLOSED):
            return self._wrap(exception(A.StateError.SERVICE_NOT_ALLOWED,
                                        A.ServiceError.OPERATION_NOT_POSSIBLE), envelope)
        bits = request_bits(envelope.security_control) | signed_bit
        return Opened(inner, RequestSecurity(bits), envelope, signed, policy, bool(required & ~bits))

    def _open_signed(self, apdu: A.GeneralSigning) -> tuple[A.Apdu, SignedRequest] | bytes:
        """The content of a signed request and its signature data, or the refusal to send."""
        security = self.security
        if security is None or not signing.signs(security.suite):
            return _refusal(A.ServiceError.SERVICE_NOT_SUPPORTED)
        key, _ = self.key_pair(apdu.originator_system_title)
        try:
            content, signed = signing.open_signed(apdu, security, key, self.client_system_title)
            inner = A.decode_apdu(content)
            if isinstance(inner, A.GeneralSigning):
                raise SecurityError("general-signing inside general-signing")
            if not isinstance(inner, CIPHERED):  # a ciphered content has its own counter
                signing.check_transaction(signed, security)
        except ReplayError as exc:
            self._env.security_event(FraudEvent.REPLAY, f"general-signing: {exc}")
            return _refusal(A.ServiceError.INVOCATION_COUNTER_ERROR, exc.expected)
        except SecurityError as exc:
            security.failures += 1
            self._env.security_event(FraudEvent.DECRYPTION_FAILED, f"general-signing: {exc}")
            return _refusal(A.ServiceError.DECIPHERING_ERROR)
        except DecodeError as exc:
            log.info("undecodable APDU inside general-signing: %s", exc)
            return _refusal(A.ServiceError.OTHER_REASON)
        if isinstance(inner, (A.AARQ, A.RLRQ)):
            return _refusal(A.ServiceError.OPERATION_NOT_POSSIBLE)
        return inner, signed

    # --- responses ---------------------------------------------------------------------------

    def seal(self, reply: Reply, opened: Opened) -> bytes:
        """The response to ``opened`` on the wire: ciphered as its request came, strengthened to
        what the policy and the access rights ask for the response (access_mode v3 bits), signed
        if its request was signed or those bits ask for it."""
        # The policy's response bits, whatever the request touched.
        response_bits = opened.policy | reply.protection
        envelope = opened.envelope
        if self.security is not None:
            envelope = response_envelope(envelope, response_bits, self.security.suite)
        data = reply.data if envelope is None else self._wrap(reply, envelope)
        if opened.signed is not None or response_bits & SIGNED_RESPONSE:
            data = self._sign(opened.signed, data)
        return data

    def _wrap(self, reply: Reply, envelope: Envelope) -> bytes:
        security = self.security
        if security is None or (reply.tag == A.ExceptionResponse.TAG and envelope.kind not in GENERAL_KINDS):
            # exception-response has no service-specific ciphered tag (Green Book 9.5 table of
            # glo-/ded- APDUs): it goes back plain; a general envelope can carry it.
            return reply.data
        return wrap(reply.tag, reply.data, envelope, security, self._dedicated_key)

    def _sign(self, request: SignedRequest | None, response: bytes) -> bytes:
        """``response`` in a general-signing envelope under the server's signing key; the
        transaction-id of the request, or a fresh server invocation counter."""
        security = self.security
        recipient = self.client_system_title or b""
        _, key = self.key_pair(recipient)
        if security is None or key is None:
            log.info("a response must be signed, but there is no signing key")
            return exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OTHER_REASON).data
        tid = request.transaction_id if request is not None else security.tx.next().to_bytes(8, "big")
        return signing.sign(response, key, security, recipient, tid)


def _refusal(service: A.ServiceError, invocation_counter: int | None = None) -> bytes:
    return exception(A.StateError.SERVICE_NOT_ALLOWED, service, invocation_counter).data
