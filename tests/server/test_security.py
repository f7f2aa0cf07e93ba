"""HLS-GMAC (Green Book 9.2.7.4, passes 3-4) and ciphered APDUs (9.2.7.2, 9.3.12-9.3.13) on the
wire: refusals, tampering, replay, response counters, glo- and general-glo-ciphering."""

from __future__ import annotations

import pytest
from support import Meter

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import ActionResult
from meter.security import gcm

from .harness import CLOCK, CURRENT, FRAUD_LOG, IC_OBJECT, LDN, pending_hls

GET_CLOCK = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(8, CLOCK, 2))


def f_stoc(c: object, stoc: bytes, *, wrong: bool = False) -> bytes:
    keys = c.keys  # type: ignore[attr-defined]
    ic = keys.invocation_counter
    keys.invocation_counter += 1
    tag = gcm.gmac(0x10, keys.system_title, ic, keys.ek, keys.ak, stoc)
    if wrong:
        tag = bytes([tag[0] ^ 1]) + tag[1:]
    return bytes((0x10,)) + ic.to_bytes(4, "big") + tag


def reply_to_hls(value: bytes) -> A.ActionRequestNormal:
    return A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(15, CURRENT, 1), axdr.OctetString(value))


def fraud_codes(meter: Meter) -> list[int]:
    buffer = meter.reader().get(7, FRAUD_LOG, 2)
    assert isinstance(buffer, axdr.Array)
    return [int(row.items[1].to_python()) for row in buffer.items]  # type: ignore[attr-defined]


def test_wrong_f_stoc_refused_and_association_gone(meter: Meter) -> None:
    c, aare, _ = pending_hls(meter)
    assert aare.responding_authentication_value is not None
    reply = c.exchange(reply_to_hls(f_stoc(c, aare.responding_authentication_value, wrong=True)))
    assert isinstance(reply, A.ActionResponseNormal)
    assert reply.result != ActionResult.SUCCESS and reply.return_data is None
    after = c.exchange(GET_CLOCK)
    assert isinstance(after, A.ExceptionResponse)
    assert after.state_error == A.StateError.SERVICE_NOT_ALLOWED


def test_right_f_stoc_then_service(meter: Meter) -> None:
    c, aare, ctos = pending_hls(meter)
    assert aare.responding_authentication_value is not None
    reply = c.exchange(reply_to_hls(f_stoc(c, aare.responding_authentication_value)))
    assert isinstance(reply, A.ActionResponseNormal) and reply.result == 0
    assert isinstance(reply.return_data, axdr.OctetString)
    f_ctos = reply.return_data.value
    keys = c.keys
    assert keys is not None
    assert f_ctos[5:] == gcm.gmac(f_ctos[0], aare.responding_ap_title or b"",
                                   int.from_bytes(f_ctos[1:5], "big"), keys.ek, keys.ak, ctos)
    assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)


def test_other_requests_while_pending(meter: Meter) -> None:
    c, aare, _ = pending_hls(meter)
    for request in (GET_CLOCK, A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(8, CLOCK, 1),
                                                     axdr.Integer(0))):
        reply = c.exchange(request)
        assert isinstance(reply, A.ExceptionResponse)
    # Still pending: the right answer completes it.
    assert aare.responding_authentication_value is not None
    reply = c.exchange(reply_to_hls(f_stoc(c, aare.responding_authentication_value)))
    assert isinstance(reply, A.ActionResponseNormal) and reply.result == 0


def test_plain_get_refused_in_management(meter: Meter) -> None:
    c = meter.management()
    reply = c.send_apdu(GET_CLOCK.to_bytes())
    assert isinstance(reply, A.ExceptionResponse)
    assert reply.state_error == A.StateError.SERVICE_NOT_ALLOWED


def ciphered_get(c: object, *, ic: int | None = None, tamper: bool = False) -> bytes:
    keys = c.keys  # type: ignore[attr-defined]
    if ic is None:
        ic = keys.invocation_counter
        keys.invocation_counter += 1
    payload = gcm.protect(0x30, keys.system_title, ic, keys.ek, keys.ak, GET_CLOCK.to_bytes())
    if tamper:
        payload = payload[:-1] + bytes([payload[-1] ^ 0x55])
    return A.CipheredApdu(0xC8, 0x30, ic, payload).to_bytes()


def test_tampered_tag_deciphering_error(meter: Meter) -> None:
    c = meter.management()
    reply = c.send_apdu(ciphered_get(c, tamper=True))
    assert reply == A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.DECIPHERING_ERROR)
    assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)  # the association survives


def test_replayed_invocation_counter(meter: Meter) -> None:
    c = meter.management()
    before = fraud_codes(meter).count(50)
    assert c.keys is not None
    used = c.keys.invocation_counter - 1
    reply = c.send_apdu(ciphered_get(c, ic=used))
    assert isinstance(reply, A.ExceptionResponse)
    assert reply.service_error == A.ServiceError.INVOCATION_COUNTER_ERROR
    assert reply.invocation_counter == used + 1
    assert fraud_codes(meter).count(50) == before + 1
    assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)


def test_server_counters_strictly_increase(meter: Meter) -> None:
    c = meter.management()
    for _ in range(5):
        c.get(8, CLOCK, 2)
        c.get(1, IC_OBJECT, 2)
    assert len(c.server_ics) >= 10
    assert all(a < b for a, b in zip(c.server_ics, c.server_ics[1:]))


def test_invocation_counter_object_tracks_client(meter: Meter) -> None:
    c = meter.management()
    assert c.keys is not None
    value = meter.public().get(1, IC_OBJECT, 2)
    assert value == axdr.DoubleLongUnsigned(c.keys.invocation_counter - 1)


def test_general_glo_ciphering(meter: Meter) -> None:
    c = meter.management(general=True)
    assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)
    assert A.decode_apdu(c.last_raw).__class__ is A.GeneralGloCiphering
    assert isinstance(c.get(1, LDN, 2), axdr.OctetString)


def test_glo_ciphering(meter: Meter) -> None:
    c = meter.management()
    assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)
    assert c.last_raw[0] == 0xCC  # glo-get-response


TCP_GUARD = Obis.parse("0.0.44.2.0.255")


@pytest.mark.parametrize("sc", [0x30, 0x90, 0x93, 0x11, 0x00])
def test_pass_3_with_another_security_control_is_a_counted_failure(meter: Meter, sc: int) -> None:
    """Issue 7 item 14: an f(StoC) whose SC is not 0x10 | suite (encryption, compression, another
    suite) is a wrong proof: refused, counted by port protection, and the association is gone."""
    c, aare, _ = pending_hls(meter)
    stoc = aare.responding_authentication_value
    assert stoc is not None
    right = f_stoc(c, stoc)
    reply = c.exchange(reply_to_hls(bytes((sc,)) + right[1:]))
    assert isinstance(reply, A.ActionResponseNormal)
    assert reply.result == ActionResult.OTHER_REASON and reply.return_data is None  # as a wrong tag
    guard = meter.device.directory[TCP_GUARD]
    assert guard.value("failed_attempts") == axdr.DoubleLongUnsigned(1)
    # Not left pending: even the right proof now finds no association.
    after = c.exchange(reply_to_hls(f_stoc(c, stoc)))
    assert after == A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED,
                                        A.ServiceError.OPERATION_NOT_POSSIBLE)
