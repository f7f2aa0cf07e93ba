"""AARQ/AARE and RLRQ/RLRE on the wire (Green Book 9.3.2-9.3.4): each default association, every
refusal's acse-service-user diagnostic, InitiateError in a ConfirmedServiceError (9.4.2)."""

from __future__ import annotations

import os

import pytest
from support import (
    LLS_SECRET,
    MANAGEMENT,
    PUBLIC,
    READER,
    WANTED,
    Keys,
    Meter,
    hls_aarq,
    initiate,
    make_aarq,
)

from meter import apdu as A
from meter.apdu.initiate import Conformance
from meter.codec import axdr

from .harness import CLOCK, FRAUD_LOG, LDN


def rejected(reply: A.Apdu, diagnostic: int) -> A.AARE:
    assert isinstance(reply, A.AARE)
    assert reply.result == 1 and reply.diagnostic_source == 1
    assert reply.diagnostic == diagnostic
    return reply


def initiate_error(reply: A.Apdu, error: int) -> None:
    aare = rejected(reply, A.AcseServiceUser.NO_REASON_GIVEN)
    assert aare.user_information is not None
    cse = A.decode_apdu(aare.user_information)
    assert cse == A.ConfirmedServiceError(A.ConfirmedServiceKind.INITIATE_ERROR,
                                          A.ServiceErrorKind.INITIATE, error)


def test_public_association_accepted(meter: Meter) -> None:
    c = meter.connect(PUBLIC)
    aare = c.associate()
    assert aare.result == 0 and aare.application_context_name == 1
    assert aare.user_information is not None
    resp = A.decode_apdu(aare.user_information)
    assert isinstance(resp, A.InitiateResponse)
    assert resp.negotiated_dlms_version_number == 6
    assert resp.server_max_receive_pdu_size == 1024
    assert resp.negotiated_conformance & Conformance.GET
    assert isinstance(c.get(1, LDN, 2), axdr.OctetString)


def test_reader_association_accepted(meter: Meter) -> None:
    aare = meter.connect(READER).associate(mechanism=1, secret=LLS_SECRET)
    assert aare.result == 0


def test_management_association_accepted_hls_gmac(meter: Meter) -> None:
    c = meter.connect(MANAGEMENT)
    aare = c.associate(mechanism=5, keys=Keys())
    assert aare.result == 0 and aare.application_context_name == 3
    assert aare.mechanism_name == 5 and aare.responder_acse_requirements
    assert aare.responding_ap_title == bytes.fromhex("4143450000000001")
    assert aare.user_information is not None and aare.user_information[0] == 0x28  # glo-initiateResponse
    assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)


def test_wrong_context_name(meter: Meter) -> None:
    rejected(meter.connect(PUBLIC).aarq(make_aarq(application_context_name=3)),
             A.AcseServiceUser.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)


def test_missing_mechanism(meter: Meter) -> None:
    reply = meter.connect(READER).aarq(make_aarq(calling_authentication_value=LLS_SECRET,
                                                 sender_acse_requirements=True))
    rejected(reply, A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_REQUIRED)


def test_wrong_mechanism(meter: Meter) -> None:
    reply = meter.connect(READER).aarq(make_aarq(mechanism_name=2, sender_acse_requirements=True,
                                                 calling_authentication_value=os.urandom(16)))
    rejected(reply, A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)


def fraud_codes(meter: Meter) -> list[int]:
    buffer = meter.reader().get(7, FRAUD_LOG, 2)
    assert isinstance(buffer, axdr.Array)
    return [int(row.items[1].to_python()) for row in buffer.items]  # type: ignore[attr-defined]


def test_bad_lls_password_and_fraud_event(meter: Meter) -> None:
    before = fraud_codes(meter).count(46)
    reply = meter.connect(READER).aarq(make_aarq(mechanism_name=1, sender_acse_requirements=True,
                                                 calling_authentication_value=b"wrong!!!"))
    rejected(reply, A.AcseServiceUser.AUTHENTICATION_FAILURE)
    assert fraud_codes(meter).count(46) == before + 1


def test_unknown_client_sap(meter: Meter) -> None:
    reply = meter.connect(0x66).aarq(make_aarq())
    assert isinstance(reply, A.AARE) and reply.result != 0


def test_dlms_version_5(meter: Meter) -> None:
    initiate_error(meter.connect(PUBLIC).aarq(make_aarq(user_information=initiate(version=5))),
                   A.InitiateError.DLMS_VERSION_TOO_LOW)


def test_no_get_set_action_conformance(meter: Meter) -> None:
    only = Conformance.SELECTIVE_ACCESS | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    initiate_error(meter.connect(PUBLIC).aarq(make_aarq(user_information=initiate(only))),
                   A.InitiateError.INCOMPATIBLE_CONFORMANCE)


def test_pdu_size_too_short(meter: Meter) -> None:
    initiate_error(meter.connect(PUBLIC).aarq(make_aarq(user_information=initiate(max_pdu=11))),
                   A.InitiateError.PDU_SIZE_TOO_SHORT)


@pytest.mark.parametrize("length,ok", [(7, False), (8, True), (64, True), (65, False)])
def test_hls_ctos_length(meter: Meter, length: int, ok: bool) -> None:
    reply = meter.connect(MANAGEMENT).aarq(hls_aarq(os.urandom(length), Keys(invocation_counter=meter.next_ic())))
    assert isinstance(reply, A.AARE)
    if ok:
        assert reply.result == 0 and reply.responding_authentication_value is not None
    else:
        rejected(reply, A.AcseServiceUser.AUTHENTICATION_FAILURE)


def test_general_block_transfer_not_granted(meter: Meter) -> None:
    c = meter.connect(PUBLIC)
    aare = c.associate(conformance=WANTED | Conformance.GENERAL_BLOCK_TRANSFER)
    assert aare.user_information is not None
    resp = A.decode_apdu(aare.user_information)
    assert isinstance(resp, A.InitiateResponse)
    assert not resp.negotiated_conformance & Conformance.GENERAL_BLOCK_TRANSFER
    assert resp.negotiated_conformance & Conformance.GET


def test_release_then_requests_refused(meter: Meter) -> None:
    c = meter.public()
    rlre = c.release()
    assert isinstance(rlre, A.RLRE) and rlre.reason == 0
    reply = c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(1, LDN, 2)))
    assert isinstance(reply, A.ExceptionResponse)
    assert reply.state_error == A.StateError.SERVICE_NOT_ALLOWED


def test_management_release_then_request_refused(meter: Meter) -> None:
    c = meter.management()
    keys = c.keys
    assert isinstance(c.release(), A.RLRE)
    c.keys = keys  # keep ciphering: the meter must still refuse
    reply = c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(8, CLOCK, 2)))
    assert isinstance(reply, A.ExceptionResponse)


def test_new_aarq_replaces_association(meter: Meter) -> None:
    c = meter.public()
    c.associate()
    assert isinstance(c.get(1, LDN, 2), axdr.OctetString)
