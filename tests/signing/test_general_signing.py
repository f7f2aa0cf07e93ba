"""Item 3 of issue 4: general-signing (Green Book 9.2.7.2.4) on client 3's association (HLS-ECDSA,
suite 1 and the suite-2 variant): signed requests verified with the imported client signing
certificate, signed responses, the signed-request/-response bits of the security policy."""

from __future__ import annotations

import pytest

from meter import apdu as A
from meter.codec import axdr
from tests.hls.helpers import (
    ECDSA_CLIENT,
    LDN,
    SETUP3,
    Ecdsa,
    HlsMeter,
    import_client_certificate,
    server_public_key,
)

from .client import SigningClient, signed_apdu

CLIENT3_TITLE = bytes.fromhex("4D4D4D0000000003")
GET_LDN = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(1, LDN, 2), None)
SIGNED_REQUEST, SIGNED_RESPONSE = 0x10, 0x80


def _signer(meter: HlsMeter, suite: int) -> SigningClient:
    key = Ecdsa(suite)
    key.server_public = server_public_key(
        import_client_certificate(meter, SETUP3, key.certificate(CLIENT3_TITLE)))
    c = meter.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE)
    c.associate(7, ecdsa=key)
    return SigningClient(c, key)


def _ldn(reply: A.Apdu) -> bytes:
    assert isinstance(reply, A.GetResponseNormal), reply
    assert isinstance(reply.result, axdr.OctetString), reply
    return reply.result.value


@pytest.mark.parametrize("suite", [1, 2])
def test_signed_ciphered_request_gets_a_signed_response(tmp_path, suite: int) -> None:
    meter = HlsMeter(tmp_path / "s", "acesm" if suite == 1 else "acesm-suite2")
    try:
        s = _signer(meter, suite)
        assert _ldn(s.open(s.send(GET_LDN))) == b"ACE0000000000001"
    finally:
        meter.device.close()


def test_bad_or_unknown_signature_is_refused_and_counted(meter: HlsMeter) -> None:
    s = _signer(meter, 1)
    ctx = meter.device.security_context(SETUP3)
    before = ctx.failures
    for kwargs in ({"tamper": True}, {"originator": bytes.fromhex("4D4D4D00000000FF")}):
        reply = A.decode_apdu(s.send(GET_LDN, **kwargs))
        assert isinstance(reply, A.ExceptionResponse), reply
        assert reply.service_error == A.ServiceError.DECIPHERING_ERROR
    assert ctx.failures == before + 2
    assert meter.fraud_codes()[-1] == 49  # the second folded into it (device/event_throttle.py)
    assert _ldn(s.open(s.send(GET_LDN))) == b"ACE0000000000001"  # still serving


def test_signed_request_policy(meter: HlsMeter) -> None:
    s = _signer(meter, 1)
    setup = meter.device.directory[SETUP3]
    setup.store("security_policy", axdr.Enum(setup.policy | SIGNED_REQUEST))
    refused = s.client.exchange(GET_LDN)  # ciphered, not signed
    assert isinstance(refused, A.ExceptionResponse), refused
    assert _ldn(s.open(s.send(GET_LDN))) == b"ACE0000000000001"


def test_signed_response_policy_signs_an_unsigned_request(meter: HlsMeter) -> None:
    s = _signer(meter, 1)
    setup = meter.device.directory[SETUP3]
    setup.store("security_policy", axdr.Enum(setup.policy | SIGNED_RESPONSE))
    raw = s.client.exchange_raw(s.client.cipher(GET_LDN.to_bytes()))
    assert _ldn(s.open(raw)) == b"ACE0000000000001"


def test_replayed_signed_request_is_refused(meter: HlsMeter) -> None:
    s = _signer(meter, 1)
    c = s.client
    content = c.cipher(GET_LDN.to_bytes())
    wire = signed_apdu(s.key, (c.keys.invocation_counter - 1).to_bytes(8, "big"), CLIENT3_TITLE,
                       c.server_title or b"", content)
    assert _ldn(s.open(c.exchange_raw(wire))) == b"ACE0000000000001"
    replay = A.decode_apdu(c.exchange_raw(wire))
    assert isinstance(replay, A.ExceptionResponse)
    assert replay.service_error == A.ServiceError.INVOCATION_COUNTER_ERROR


def test_suite_0_has_no_general_signing(meter: HlsMeter) -> None:
    key = Ecdsa(1)
    c = meter.hls_management()
    s = SigningClient(c, key)
    reply = A.decode_apdu(s.send(GET_LDN))
    assert isinstance(reply, A.ExceptionResponse)
