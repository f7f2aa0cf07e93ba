"""ACSE for the associations of one connection (Green Book 9.3.2-9.3.5, IEC 62056-5-3 / 53):
the association state machine as tables, the state of one association, and AARQ/RLRQ.

Rules (everything that moves an association's state is here):

1. One :class:`Association` per client SAP holds all the state of that association; a client
   without one is ``IDLE`` (non-associated).
2. What the server does with an APDU is ``STEPS[(state, kind)]``: an AARQ replaces whatever the
   client had and an RLRQ releases it, in any state; inside an association the kind of a request
   is read from its decoded APDU, after its envelopes are opened.
3. A step ends in an :class:`Outcome`; ``TRANSITIONS[(state, outcome)]`` is the next state
   (:meth:`Association.move`). A pair missing from the table is a bug, never a wire input.
4. The COSEM association_status of the current association (Blue Book 4.4.3 attribute 8) is
   ``STATUS[state]``, written by :meth:`Association.move` only.
5. Every refusal is the protocol's own answer: an AARE with a diagnostic, a confirmed-service-
   error in its user-information, an exception-response.
"""

from __future__ import annotations

import enum
import functools
import hmac
import logging
from dataclasses import dataclass

from meter import apdu as A
from meter.apdu.acse import ApplicationContextName, MechanismName
from meter.apdu.initiate import Conformance
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN, AssociationStatus
from meter.cosem.events import FraudEvent
from meter.errors import DecodeError, LocalProtocolError, MeterError, SecurityError
from meter.server import hls_checks
from meter.server.channel import SecureChannel, open_initiate, response_overhead, seal_initiate
from meter.server.environment import ClientPolicy, Environment
from meter.server.hls_checks import Challenges
from meter.server.protection import ReplayError
from meter.server.services import Services
from meter.server.signing import signs

log = logging.getLogger(__name__)

DLMS_VERSION = 6
#: The longest APDU any framing carries (the wrapper's 16-bit length; Green Book 7.3.3.2).
MAX_APDU = 0xFFFF
#: What the meter offers; the negotiated block is this AND the client's proposal. General block
#: transfer is deliberately absent: dlms-cosem proposes it but cannot receive it, and the
#: standard lets the server drop any bit it does not support (Green Book 9.4.6.1).
SERVER_CONFORMANCE = (
    Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.SELECTIVE_ACCESS
    | Conformance.MULTIPLE_REFERENCES | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE | Conformance.BLOCK_TRANSFER_WITH_ACTION
    | Conformance.GENERAL_PROTECTION | Conformance.DATA_NOTIFICATION
)


class State(enum.IntEnum):
    IDLE = 0
    PENDING = 1  # HLS: waiting for reply_to_HLS_authentication (pass 3)
    ASSOCIATED = 2


class Kind(enum.IntEnum):
    """What an APDU is to the association state machine."""

    AARQ = 0
    RLRQ = 1
    HLS_REPLY = 2  # ACTION reply_to_HLS_authentication on the current association
    REQUEST = 3  # any other xDLMS request


class Step(enum.IntEnum):
    ASSOCIATE = 0
    RELEASE = 1
    REFUSE_UNASSOCIATED = 2  # no association: exception-response, nothing opened
    REFUSE = 3  # HLS pending: only its pass 3 is served
    AUTHENTICATE = 4  # HLS pass 3 -> 4
    SERVE = 5  # GET/SET/ACTION


class Outcome(enum.IntEnum):
    ACCEPTED = 0  # AARQ accepted
    CHALLENGED = 1  # AARQ accepted, HLS pass 3 due
    AUTHENTICATED = 2  # pass 3 right
    REFUSED = 3  # pass 3 wrong
    RELEASED = 4  # RLRQ, a new AARQ, or the lower layer gone


STEPS: dict[tuple[State, Kind], Step] = {
    **{(s, Kind.AARQ): Step.ASSOCIATE for s in State},
    **{(s, Kind.RLRQ): Step.RELEASE for s in State},
    (State.IDLE, Kind.REQUEST): Step.REFUSE_UNASSOCIATED,
    (State.IDLE, Kind.HLS_REPLY): Step.REFUSE_UNASSOCIATED,
    (State.PENDING, Kind.REQUEST): Step.REFUSE,
    (State.PENDING, Kind.HLS_REPLY): Step.AUTHENTICATE,
    (State.ASSOCIATED, Kind.REQUEST): Step.SERVE,
    (State.ASSOCIATED, Kind.HLS_REPLY): Step.SERVE,  # the method of the object, no exchange due
}

TRANSITIONS: dict[tuple[State, Outcome], State] = {
    (State.IDLE, Outcome.ACCEPTED): State.ASSOCIATED,
    (State.IDLE, Outcome.CHALLENGED): State.PENDING,
    (State.PENDING, Outcome.AUTHENTICATED): State.ASSOCIATED,
    (State.PENDING, Outcome.REFUSED): State.IDLE,
    **{(s, Outcome.RELEASED): State.IDLE for s in State},
}

STATUS = {
    State.IDLE: AssociationStatus.NON_ASSOCIATED,
    State.PENDING: AssociationStatus.ASSOCIATION_PENDING,
    State.ASSOCIATED: AssociationStatus.ASSOCIATED,
}

#: The kind of an APDU by its class; every other one is a REQUEST (or HLS_REPLY: hls_reply).
ACSE_KINDS: dict[type, Kind] = {A.AARQ: Kind.AARQ, A.RLRQ: Kind.RLRQ}
_REPLY_TO_HLS = 1  # Association LN method 1 (Blue Book 4.4.3)


def is_hls_reply(apdu: A.Apdu, current: Obis) -> bool:
    """reply_to_HLS_authentication(f(StoC)) on the current association ``current``."""
    return (isinstance(apdu, A.ActionRequestNormal) and apdu.method.method_id == _REPLY_TO_HLS
            and apdu.method.class_id == AssociationLN.CLASS_ID and apdu.method.instance_id == current
            and isinstance(apdu.parameters, axdr.OctetString))


@dataclass(slots=True, eq=False)
class Association:
    """One client's association: its configuration, state, object, services and channel."""

    policy: ClientPolicy
    cosem: AssociationLN  # this connection's copy of the configured Association LN
    services: Services
    channel: SecureChannel
    challenges: Challenges | None = None  # HLS: passes 1-2, for pass 3
    ciphered_initiate: bool = False  # the AARQ's InitiateRequest came ciphered
    state: State = State.IDLE

    def move(self, outcome: Outcome) -> None:
        """The one place the state (and with it association_status) changes (rule 3)."""
        state = TRANSITIONS.get((self.state, outcome))
        if state is None:
            raise LocalProtocolError(f"{outcome.name} in state {self.state.name}")
        self.state = state
        self.cosem.status = STATUS[state]


class Acse:
    """AARQ -> AARE and RLRQ -> RLRE for the associations of one connection."""

    def __init__(self, env: Environment, port: Obis | None) -> None:
        self._env = env
        self._port = port

    def associate(self, client_sap: int, aarq: A.AARQ) -> tuple[bytes, Association | None]:
        """The AARE, and the new association if the AARQ is accepted (pending or associated);
        either way a session event for the communication log."""
        aare, assoc = self._associate(client_sap, aarq)
        self._env.session_event(assoc is not None, f"client {client_sap}")
        return aare, assoc

    def _associate(self, client_sap: int, aarq: A.AARQ) -> tuple[bytes, Association | None]:
        env = self._env
        policy = env.policy(client_sap)
        if policy is None:
            context = aarq.application_context_name if aarq.application_context_name > 0 \
                else ApplicationContextName.LOGICAL_NAME
            return _reject(context, A.AcseServiceUser.NO_REASON_GIVEN), None
        if aarq.application_context_name != policy.context:
            return _reject(policy.context, A.AcseServiceUser.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED), None
        if policy.mechanism != MechanismName.NONE:
            if aarq.mechanism_name is None:
                return _reject(policy.context, A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_REQUIRED), None
            if aarq.mechanism_name != policy.mechanism:
                return _reject(policy.context,
                               A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED), None
        elif aarq.mechanism_name not in (None, MechanismName.NONE):
            return _reject(policy.context, A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED), None

        security = env.security_context(policy.security_setup) if policy.security_setup else None
        ciphered = policy.context == ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING
        title = aarq.calling_ap_title
        if ciphered and (title is None or len(title) != 8):
            return _reject(policy.context, A.AcseServiceUser.CALLING_AP_TITLE_NOT_RECOGNIZED), None

        # Authentication. A locked port still does the work of checking the credentials (the
        # ciphered InitiateRequest, the LLS password), then refuses every attempt with the
        # answer of a wrong password and counts it as a failed one: neither the bytes nor the
        # time of the answer tell a guesser whether the credentials were right.
        locked = policy.mechanism != MechanismName.NONE and env.port_locked(self._port)
        # Any other refusal of a locked port is the same answer too.
        other = A.AcseServiceUser.AUTHENTICATION_FAILURE if locked else A.AcseServiceUser.NO_REASON_GIVEN

        # The xDLMS InitiateRequest, ciphered in a ciphered context.
        if aarq.user_information is None:
            return _reject(policy.context, other), None
        try:
            initiate, envelope = open_initiate(aarq.user_information, security, title, ciphered)
        except ReplayError as exc:
            env.security_event(FraudEvent.REPLAY, str(exc))
            return _reject(policy.context, other), None
        except SecurityError as exc:
            # An InitiateRequest that does not decipher under the association's keys is a
            # failed authentication too (a guessed key), whatever the mechanism.
            if security is not None:
                security.failures += 1
            env.security_event(FraudEvent.DECRYPTION_FAILED, f"AARQ: {exc}")
            env.authentication_failed(self._port)
            return _reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE), None
        except DecodeError as exc:
            log.info("client %d: bad InitiateRequest: %s", client_sap, exc)
            return _reject(policy.context, other), None

        cosem = env.association_for(policy)
        # The LLS secret is the association's attribute 7, which a management client may
        # write (Blue Book 4.4.3 secret); an empty one would let anyone in.
        lls_right = policy.mechanism == MechanismName.LOW and bool(cosem.secret) and hmac.compare_digest(
            aarq.calling_authentication_value or b"", cosem.secret)
        if locked:
            self.authentication_failed(f"mechanism {policy.mechanism}, client {client_sap}, port locked")
            return _reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE), None

        error = _initiate_error(initiate)
        if error is not None:
            cse = A.ConfirmedServiceError(A.ConfirmedServiceKind.INITIATE_ERROR,
                                          A.ServiceErrorKind.INITIATE, error).to_bytes()
            return _reject(policy.context, A.AcseServiceUser.NO_REASON_GIVEN, user_information=cse), None

        stoc: bytes | None = None
        if policy.mechanism == MechanismName.LOW:
            if not lls_right:
                self.authentication_failed(f"LLS, client {client_sap}")
                return _reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE), None
            env.authentication_succeeded(self._port)
        elif policy.mechanism >= MechanismName.HIGH:
            ctos = aarq.calling_authentication_value or b""
            # Green Book: the challenge is 8 to 64 octets (dlms-cosem sends 32).
            if not 8 <= len(ctos) <= 64:
                self.authentication_failed(f"bad CtoS length {len(ctos)}")
                return _reject(policy.context, A.AcseServiceUser.AUTHENTICATION_FAILURE), None
            if policy.mechanism in hls_checks.DIGESTS:
                stoc = env.random_bytes(16)
            else:
                if policy.mechanism not in hls_checks.SIGNED_MECHANISMS or security is None or (
                        policy.mechanism == MechanismName.HIGH_ECDSA and not signs(security.suite)):
                    return _reject(policy.context,
                                   A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED), None
                # f() of mechanisms 5-7 depends on the client's system title (Green Book 9.2.7.4).
                if title is None or len(title) != 8:
                    return _reject(policy.context, A.AcseServiceUser.CALLING_AP_TITLE_NOT_RECOGNIZED), None
                stoc = env.random_bytes(16 if policy.mechanism == MechanismName.HIGH_GMAC else 32)

        conformance = _negotiated_block(initiate.proposed_conformance)
        client_max = initiate.client_max_receive_pdu_size or MAX_APDU  # 0: no limit
        max_send = min(client_max, MAX_APDU)
        overhead = response_overhead(security.suite) if security is not None else 0
        assoc = Association(
            policy=policy,
            cosem=cosem,
            services=Services(env.directory, cosem, conformance, max_send,
                              lambda: env.make_context(cosem), overhead, env.service_limits),
            channel=SecureChannel(env, security, policy.security_setup, policy.required_protection,
                                  title, initiate.dedicated_key if envelope is not None else None),
            challenges=(Challenges(policy.mechanism, stoc, aarq.calling_authentication_value or b"")
                        if stoc is not None else None),
            ciphered_initiate=envelope is not None,
        )
        cosem.client_sap, cosem.server_sap = client_sap, env.server_sap
        assoc.move(Outcome.CHALLENGED if stoc is not None else Outcome.ACCEPTED)

        if stoc is None and security is None:
            log.info("client %d: association %s established", client_sap, policy.name)
            return _accepted_plain(policy.context, conformance, env.max_receive_pdu), assoc
        response = seal_initiate(A.InitiateResponse(
            negotiated_conformance=conformance,
            server_max_receive_pdu_size=env.max_receive_pdu,
            negotiated_dlms_version_number=DLMS_VERSION,
        ), envelope, security)
        aare = A.AARE(
            application_context_name=policy.context,
            result=A.AssociationResult.ACCEPTED,
            diagnostic_source=A.DiagnosticSource.ACSE_SERVICE_USER,
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
        return _encoded(aare), assoc

    def release(self, client_sap: int, assoc: Association | None, rlrq: A.RLRQ) -> bytes:
        """The RLRE; ``assoc`` (the client's, if any) is released."""
        if assoc is None:
            return A.RLRE(reason=0, user_information=None).to_bytes()
        assoc.move(Outcome.RELEASED)
        channel = assoc.channel
        user_information = None
        if rlrq.user_information and assoc.ciphered_initiate and channel.security is not None:
            # A ciphered context answers the RLRQ's InitiateRequest with a ciphered InitiateResponse.
            try:
                _, envelope = open_initiate(rlrq.user_information, channel.security,
                                            channel.client_system_title, True)
                if envelope is not None:
                    user_information = seal_initiate(A.InitiateResponse(
                        negotiated_conformance=assoc.services.conformance,
                        server_max_receive_pdu_size=self._env.max_receive_pdu,
                        negotiated_dlms_version_number=DLMS_VERSION), envelope, channel.security)
            except MeterError as exc:
                log.info("client %d: RLRQ user-information ignored: %s", client_sap, exc)
        return A.RLRE(reason=0, user_information=user_information).to_bytes()

    def authentication_failed(self, detail: str) -> None:
        """A failed authentication: a fraud event, and one more against the port's guard."""
        self._env.security_event(FraudEvent.FAILED_AUTHENTICATION, detail)
        self._env.authentication_failed(self._port)

    def authentication_succeeded(self) -> None:
        self._env.authentication_succeeded(self._port)


@functools.lru_cache(maxsize=32)
def _encoded(aare: A.AARE) -> bytes:
    """An AARE's bytes. Most associations get one of a few answers (a client without HLS the
    same every time): each is encoded once; an HLS challenge makes a new one."""
    return aare.to_bytes()


@functools.lru_cache(maxsize=32)
def _accepted_plain(context: int, conformance: Conformance, max_receive_pdu: int) -> bytes:
    """The AARE accepting an association without HLS or security: the same few bytes for every
    public or LLS session of a head end (one per context, negotiated block and PDU size), so
    neither it nor its InitiateResponse is built again for each (a HES sweep's per-read cost)."""
    return A.AARE(
        application_context_name=context,
        result=A.AssociationResult.ACCEPTED,
        diagnostic_source=A.DiagnosticSource.ACSE_SERVICE_USER,
        diagnostic=A.AcseServiceUser.NULL,
        user_information=A.InitiateResponse(
            negotiated_conformance=conformance,
            server_max_receive_pdu_size=max_receive_pdu,
            negotiated_dlms_version_number=DLMS_VERSION,
        ).to_bytes(),
    ).to_bytes()


def _reject(context: int, diagnostic: int, user_information: bytes | None = None) -> bytes:
    log.info("AARQ rejected: diagnostic %s", diagnostic)
    return _encoded(A.AARE(
        application_context_name=context,
        result=A.AssociationResult.REJECTED_PERMANENT,
        diagnostic_source=A.DiagnosticSource.ACSE_SERVICE_USER,
        diagnostic=diagnostic,
        responding_ap_title=None,
        responder_acse_requirements=False,
        mechanism_name=None,
        responding_authentication_value=None,
        user_information=user_information,
    ))


#: The services one of which a client must propose (a constant: flag arithmetic is slow).
_SERVICES = int((Conformance.GET | Conformance.SET | Conformance.ACTION) & SERVER_CONFORMANCE)


@functools.lru_cache(maxsize=64)
def _negotiated_block(proposed: int) -> Conformance:
    """The conformance block an association gets for a client's proposal (a head end proposes
    the same every time: the flag arithmetic is done once)."""
    return Conformance(proposed) & SERVER_CONFORMANCE


def _initiate_error(req: A.InitiateRequest) -> int | None:
    """The InitiateError of a request we cannot serve (Green Book 9.4.2), or None."""
    if req.proposed_dlms_version_number < DLMS_VERSION:
        return A.InitiateError.DLMS_VERSION_TOO_LOW
    if not int(req.proposed_conformance) & _SERVICES:
        return A.InitiateError.INCOMPATIBLE_CONFORMANCE
    if 0 < req.client_max_receive_pdu_size < 12:
        return A.InitiateError.PDU_SIZE_TOO_SHORT
    return None
