"""The xDLMS application server of one connection: every APDU of every client SAP it carries,
through ACSE (:mod:`meter.server.acse`), the secure channel (:mod:`meter.server.channel`) and
the services (:mod:`meter.server.services`) (Green Book 9.3, IEC 62056-5-3 / 53).

Sans-IO: ``handle(client_sap, apdu, now)`` returns the response APDU. A request the server
cannot take gets the protocol's answer (exception-response, AARE diagnostic), never silence; a
bug while serving one is logged and answered other-reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from meter import apdu as A
from meter.apdu.describe import describe
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.names import CURRENT_ASSOCIATION
from meter.errors import ActionResult, DecodeError, MeterError
from meter.server import acse, hls_checks
from meter.server.acse import MAX_APDU, Association, Kind, Outcome, State, Step
from meter.server.channel import Opened, response_overhead
from meter.server.environment import ClientPolicy, Environment
from meter.server.reply import Reply, exception

__all__ = ["ApplicationServer", "ClientPolicy", "Environment", "response_overhead"]

log = logging.getLogger(__name__)

#: AARQ and RLRQ come before (or end) the negotiation of the PDU size.
_ACSE_TAGS = frozenset((A.AARQ.TAG, A.RLRQ.TAG))


def _refusal(service: A.ServiceError) -> bytes:
    return exception(A.StateError.SERVICE_NOT_ALLOWED, service).data


class ApplicationServer:
    """All associations carried by one connection, keyed by client SAP."""

    def __init__(self, env: Environment, port: Obis | None = None) -> None:
        self._env = env
        self._acse = acse.Acse(env, port)
        self._by_client: dict[int, Association] = {}

    def release_all(self) -> None:
        """The lower layer went away: every association of this connection ends."""
        for assoc in self._by_client.values():
            assoc.move(Outcome.RELEASED)
        self._by_client.clear()

    def get_block_sent(self) -> int | None:
        """The block a GET with blocks of one of these associations sent last, while more are
        to come (Services.get_block_sent); None when none is under way."""
        for assoc in self._by_client.values():
            if (sent := assoc.services.get_block_sent) is not None:
                return sent
        return None

    def is_associated(self, client_sap: int) -> bool:
        assoc = self._by_client.get(client_sap)
        return assoc is not None and assoc.state is State.ASSOCIATED

    def handle(self, client_sap: int, data: bytes, now: float) -> bytes | None:
        """One APDU from ``client_sap`` at ``now`` (wire time); returns the response APDU (or
        None: nothing to send)."""
        if len(data) > self._env.max_receive_pdu and data[0] not in _ACSE_TAGS:
            # The meter announced its max-receive-PDU-size in the InitiateResponse; a longer
            # xDLMS APDU (ciphering included) is refused before it is decoded.
            log.info("client %d: APDU of %d bytes over the negotiated %d", client_sap, len(data),
                     self._env.max_receive_pdu)
            return _refusal(A.ServiceError.PDU_TOO_LONG)
        try:
            apdu = A.decode_apdu(data)
        except DecodeError as exc:
            log.info("client %d: undecodable APDU (%s): %s", client_sap, exc, data[:64].hex())
            if isinstance(exc, A.UnknownApdu):
                return exception(A.StateError.SERVICE_UNKNOWN, A.ServiceError.SERVICE_NOT_SUPPORTED).data
            return _refusal(A.ServiceError.OTHER_REASON)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("client %d ->\n%s", client_sap, describe(apdu))
        kind = acse.ACSE_KINDS.get(type(apdu), Kind.REQUEST)
        assoc = self._by_client.get(client_sap)
        try:
            if kind is Kind.REQUEST and assoc is not None:
                response: bytes | None = self._request(assoc, apdu)
            else:
                response = self._acse_step(client_sap, assoc, kind, apdu)
        except Exception:  # a bug must not leave the client without an answer
            log.exception("client %d: %s failed", client_sap, type(apdu).__name__)
            response = _refusal(A.ServiceError.OTHER_REASON)
        # The client's max-receive-PDU-size bounds xDLMS APDUs, not the AARE/RLRE.
        assoc = self._by_client.get(client_sap) if kind is Kind.REQUEST else None
        limit = assoc.services.max_send if assoc is not None else MAX_APDU
        if response is not None and len(response) > limit:
            # Nothing should get here (blocks leave room for every envelope); if it does, the
            # client still gets an answer it can read, never a closed connection.
            log.error("client %d: response of %d bytes over the client's %d", client_sap,
                      len(response), limit)
            response = _refusal(A.ServiceError.OTHER_REASON)
        if response is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("client %d <- %s", client_sap, response.hex())
        return response

    def _request(self, assoc: Association, apdu: A.Apdu) -> bytes:
        """An xDLMS request inside an association: opened by its channel, then the step of its
        state and kind (acse.STEPS), and its reply sealed as the request came."""
        opened = assoc.channel.open(apdu)
        if isinstance(opened, bytes):
            return opened  # the channel's refusal
        state = assoc.state
        kind = Kind.HLS_REPLY if state is State.PENDING and acse.is_hls_reply(
            opened.apdu, CURRENT_ASSOCIATION) else Kind.REQUEST
        reply = self._STEPS[acse.STEPS[(state, kind)]](self, assoc, opened)
        return assoc.channel.seal(reply, opened)

    def _acse_step(self, client_sap: int, assoc: Association | None, kind: Kind,
                   apdu: A.Apdu) -> bytes:
        """AARQ and RLRQ in any state, and any request without an association (acse.STEPS)."""
        step = acse.STEPS[(assoc.state if assoc is not None else State.IDLE, kind)]
        if step is Step.ASSOCIATE:
            assert isinstance(apdu, A.AARQ)
            if assoc is not None:  # a new AARQ replaces whatever this client had
                del self._by_client[client_sap]
                assoc.move(Outcome.RELEASED)
            response, new = self._acse.associate(client_sap, apdu)
            if new is not None:
                self._by_client[client_sap] = new
            return response
        if step is Step.RELEASE:
            assert isinstance(apdu, A.RLRQ)
            self._by_client.pop(client_sap, None)
            return self._acse.release(client_sap, assoc, apdu)
        log.info("client %d: %s outside an association", client_sap, type(apdu).__name__)
        return _refusal(A.ServiceError.OPERATION_NOT_POSSIBLE)

    # --- steps of a request inside an association (acse.STEPS) -----------------------------

    def _serve(self, assoc: Association, opened: Opened) -> Reply:
        if opened.underprotected:
            return self._refuse(assoc, opened)
        return assoc.services.handle(opened.apdu, opened.security)

    def _refuse(self, assoc: Association, opened: Opened) -> Reply:
        log.info("client %d: %s refused (state %s, protection 0x%02X, policy 0x%02X)",
                 assoc.policy.client_sap, type(opened.apdu).__name__, assoc.state.name,
                 opened.security.bits, opened.policy)
        return exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.OPERATION_NOT_POSSIBLE)

    def _authenticate(self, assoc: Association, opened: Opened) -> Reply:
        """HLS pass 3 -> 4 (Green Book 9.2.7.4): the client's f(StoC) in
        reply_to_HLS_authentication; accepted, the answer is f(CtoS) and the association is
        established; refused, it ends."""
        if opened.underprotected:
            return self._refuse(assoc, opened)
        request = opened.apdu
        assert isinstance(request, A.ActionRequestNormal) and isinstance(request.parameters, axdr.OctetString)
        iip = request.invoke_id_and_priority
        result, protection = assoc.services.may_invoke(request.method, opened.security)
        if result is not ActionResult.SUCCESS:
            return Reply(A.ActionResponseNormal.TAG, A.ActionResponseNormal(iip, result).to_bytes(),
                         protection)
        answer = None
        if assoc.challenges is not None:
            try:
                answer = hls_checks.f_ctos(assoc.challenges, request.parameters.value,
                                           assoc.cosem.secret, assoc.channel)
            except (MeterError, ValueError) as exc:  # a malformed proof is a wrong one
                log.info("client %d: HLS pass 3 unusable: %s", assoc.policy.client_sap, exc)
        if answer is None:
            self._acse.authentication_failed(
                f"HLS mechanism {assoc.policy.mechanism}, client {assoc.policy.client_sap}")
            self._env.session_event(False, f"client {assoc.policy.client_sap}: HLS proof refused")
            del self._by_client[assoc.policy.client_sap]
            assoc.move(Outcome.REFUSED)
            response = A.ActionResponseNormal(iip, ActionResult.OTHER_REASON)
        else:
            self._acse.authentication_succeeded()
            assoc.move(Outcome.AUTHENTICATED)
            response = A.ActionResponseNormal(iip, ActionResult.SUCCESS, axdr.OctetString(answer))
        return Reply(A.ActionResponseNormal.TAG, response.to_bytes(), protection)

    _STEPS: ClassVar[dict[Step, Callable[[ApplicationServer, Association, Opened], Reply]]] = {
        Step.SERVE: _serve, Step.REFUSE: _refuse, Step.AUTHENTICATE: _authenticate}
