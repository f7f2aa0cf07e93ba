"""Security policy enforcement in memory (Blue Book 4.4.7 Security setup v1 security_policy,
4.4.3 access_mode v3; Green Book 9.2.7.2 security control): requests lacking what the policy asks
are refused, responses carry at least what the policy and the attribute's response bits ask,
security_activate only strengthens and counts from the next request; dedicated ciphering keeps
the invocation counter check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import PROFILE, FakeTimebase, Keys, MemoryClient

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.device.device import Device
from meter.security import gcm

from ..server.harness import HISTORY

SETUP = Obis.parse("0.0.43.0.0.255")
ENERGY = Obis.parse("1.0.1.8.0.255")
FAILURES = Obis.parse("0.0.96.128.49.255")
REPLAYS = Obis.parse("0.0.96.128.50.255")
GET_ENERGY = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(3, ENERGY, 2))
AUTH_REQ, ENC_REQ, AUTH_RESP, ENC_RESP = 0x04, 0x08, 0x20, 0x40
ALL_PROTECTION = '["authenticated_request", "encrypted_request", "authenticated_response", "encrypted_response"]'


class ScClient(MemoryClient):
    """Ciphers its requests with security control ``sc`` (refclient always uses 0x30)."""

    sc = 0x30

    def _cipher(self, plain: bytes) -> bytes:
        k = self.keys
        assert k is not None
        ic = k.invocation_counter
        k.invocation_counter += 1
        payload = gcm.protect(self.sc, k.system_title, ic, k.ek, k.ak, plain)
        return A.CipheredApdu(A.ciphered_tag_for(plain[0], False), self.sc, ic, payload).to_bytes()

    def reply_sc(self) -> int | None:
        reply = A.decode_apdu(self.last_raw)
        return reply.security_control if isinstance(reply, A.CipheredApdu) else None


def open_meter(tmp_path: Path, policy: int, protection: str = "[]") -> tuple[Device, FakeTimebase]:
    """The default profile with the management Security setup's policy and the associations'
    protection (access_mode v3 bits of every attribute) replaced."""
    text = PROFILE.read_text()
    lines = []
    replaced = False
    for line in text.splitlines():
        if line.startswith("security_policy = ") and not replaced:  # the first: 0.0.43.0.0.255
            line, replaced = f"security_policy = 0x{policy:02X}", True
        elif line.startswith("protection = ["):
            line = f"protection = {protection}"
        lines.append(line)
    profile = tmp_path / "policy.toml"
    profile.write_text("\n".join(lines) + "\n")
    timebase = FakeTimebase()
    return Device.open(profile, tmp_path / "state", timebase, history=HISTORY / 3), timebase


def management(device: Device, timebase: FakeTimebase, sc: int = 0x30) -> ScClient:
    c = ScClient(device.new_stack("wrapper", now=timebase.now), timebase, 1)
    c.associate(mechanism=5, keys=Keys(invocation_counter=device.security_context(SETUP).rx.last + 1))
    c.sc = sc
    return c


def counters(device: Device) -> tuple[int, int]:
    ctx = device.security_context(SETUP)
    return ctx.failures, ctx.replays


def test_default_policy_refuses_authenticated_only_requests(tmp_path: Path) -> None:
    device, timebase = open_meter(tmp_path, AUTH_REQ | ENC_REQ | AUTH_RESP | ENC_RESP, ALL_PROTECTION)
    c = management(device, timebase, sc=0x10)
    last = device.security_context(SETUP).rx.last
    reply = c.exchange(GET_ENERGY)
    assert reply == A.ExceptionResponse(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.DECIPHERING_ERROR)
    assert counters(device) == (1, 0)
    # Refused before deciphering: the counter did not move.
    assert device.security_context(SETUP).rx.last == last
    c.sc = 0x30
    assert isinstance(c.get(3, ENERGY, 2), axdr.DoubleLongUnsigned)
    assert c.reply_sc() == 0x30


def test_encryption_only_cannot_burn_the_counter(tmp_path: Path) -> None:
    """Without authentication anyone can make an APDU: even where the policy lets one in, it
    never moves the counter (a forged 0xFFFFFF00 would lock the client out)."""
    device, timebase = open_meter(tmp_path, 0)
    c = management(device, timebase, sc=0x20)
    last = device.security_context(SETUP).rx.last
    c.keys.invocation_counter = 0xFFFFFF00  # type: ignore[union-attr]
    c.get(3, ENERGY, 2)
    assert device.security_context(SETUP).rx.last == last


def test_policy_encrypted_response_strengthens_an_authenticated_request(tmp_path: Path) -> None:
    device, timebase = open_meter(tmp_path, AUTH_REQ | ENC_RESP)
    c = management(device, timebase, sc=0x10)
    assert isinstance(c.get(3, ENERGY, 2), axdr.DoubleLongUnsigned)
    assert c.reply_sc() == 0x30  # authenticated as asked, encrypted as the policy says


def test_attribute_response_bits_count_too(tmp_path: Path) -> None:
    """Policy: authenticated requests only; access rights: encrypted responses."""
    device, timebase = open_meter(tmp_path, AUTH_REQ, '["authenticated_request", "encrypted_response"]')
    c = management(device, timebase, sc=0x10)
    assert isinstance(c.get(3, ENERGY, 2), axdr.DoubleLongUnsigned)
    assert c.reply_sc() == 0x30


def test_response_mirrors_the_request_without_response_bits(tmp_path: Path) -> None:
    device, timebase = open_meter(tmp_path, AUTH_REQ)
    c = management(device, timebase, sc=0x10)
    assert isinstance(c.get(3, ENERGY, 2), axdr.DoubleLongUnsigned)
    assert c.reply_sc() == 0x10


def test_plain_request_gets_a_ciphered_response_when_the_policy_asks(tmp_path: Path) -> None:
    device, timebase = open_meter(tmp_path, ENC_RESP)
    c = management(device, timebase)
    keys = c.keys
    reply = A.decode_apdu(c.exchange_raw(GET_ENERGY.to_bytes()))
    assert isinstance(reply, A.CipheredApdu) and reply.security_control == 0x20
    plain = gcm.unprotect(0x20, c.server_title or b"", reply.invocation_counter, keys.ek, keys.ak,  # type: ignore[union-attr]
                          reply.payload)
    assert isinstance(A.decode_apdu(plain), A.GetResponseNormal)


def test_security_activate_strengthens_from_the_next_request(tmp_path: Path) -> None:
    device, timebase = open_meter(tmp_path, AUTH_REQ)
    c = management(device, timebase, sc=0x10)
    with pytest.raises(Exception, match="ACTION failed"):  # weakening refused
        c.action(64, SETUP, 1, axdr.Enum(0))
    assert c.action(64, SETUP, 1, axdr.Enum(AUTH_REQ | ENC_REQ | ENC_RESP)) is None
    assert c.reply_sc() == 0x10  # the activate's own response: still the old policy
    reply = c.exchange(GET_ENERGY)
    assert isinstance(reply, A.ExceptionResponse)  # authenticated only: no longer enough
    c.sc = 0x30
    assert isinstance(c.get(3, ENERGY, 2), axdr.DoubleLongUnsigned)
    assert c.reply_sc() == 0x30
    # The policy is an object attribute: it survives a restart.
    device.close()
    device = Device.open(tmp_path / "policy.toml", tmp_path / "state", timebase)
    assert device.directory[SETUP].policy == AUTH_REQ | ENC_REQ | ENC_RESP  # type: ignore[attr-defined]


def test_failure_counters_are_readable(tmp_path: Path) -> None:
    device, timebase = open_meter(tmp_path, AUTH_REQ | ENC_REQ | AUTH_RESP | ENC_RESP, ALL_PROTECTION)
    c = management(device, timebase)
    c.exchange_raw(c._cipher(GET_ENERGY.to_bytes())[:-1] + b"\x00")  # bad tag
    c.keys.invocation_counter -= 2  # type: ignore[union-attr]  # the HLS reply's, accepted
    reply = c.exchange(GET_ENERGY)  # replay
    assert isinstance(reply, A.ExceptionResponse)
    assert reply.service_error == A.ServiceError.INVOCATION_COUNTER_ERROR
    c.keys.invocation_counter += 10  # type: ignore[union-attr]
    assert c.get(1, FAILURES, 2) == axdr.DoubleLongUnsigned(1)
    assert c.get(1, REPLAYS, 2) == axdr.DoubleLongUnsigned(1)


def test_dedicated_key_requests_are_counter_checked(tmp_path: Path) -> None:
    """A dedicated key from the AARQ (Green Book 9.2.3.3.5): ded-ciphered requests need an
    invocation counter above the last accepted one like glo ones."""
    device, timebase = open_meter(tmp_path, AUTH_REQ | ENC_REQ)
    c = ScClient(device.new_stack("wrapper", now=timebase.now), timebase, 1)
    keys = Keys(invocation_counter=1)
    dedicated = os.urandom(16)
    init = A.InitiateRequest(proposed_conformance=A.Conformance(0x00501F), client_max_receive_pdu_size=0xFFFF,
                             dedicated_key=dedicated).to_bytes()
    ic = keys.invocation_counter
    keys.invocation_counter += 1
    user_info = A.CipheredApdu(0x21, 0x30, ic, gcm.protect(0x30, keys.system_title, ic, keys.ek, keys.ak,
                                                           init)).to_bytes()
    aare = c.aarq(A.AARQ(application_context_name=3, calling_ap_title=keys.system_title,
                         user_information=user_info, sender_acse_requirements=True, mechanism_name=5,
                         calling_authentication_value=bytes(16)))
    assert isinstance(aare, A.AARE) and aare.result == 0
    c.keys, c.server_title = keys, aare.responding_ap_title

    def ded(plain: bytes, ic: int) -> bytes:
        payload = gcm.protect(0x30, keys.system_title, ic, dedicated, keys.ak, plain)
        return A.CipheredApdu(A.ciphered_tag_for(plain[0], True), 0x30, ic, payload).to_bytes()

    f_stoc_ic = 2
    stoc = aare.responding_authentication_value or b""
    tag = gcm.gmac(0x10, keys.system_title, f_stoc_ic, keys.ek, keys.ak, stoc)
    hls = A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(15, Obis(0, 0, 40, 0, 0, 255), 1),
                                axdr.OctetString(bytes((0x10,)) + f_stoc_ic.to_bytes(4, "big") + tag))
    reply = A.decode_apdu(c.exchange_raw(ded(hls.to_bytes(), 3)))
    assert isinstance(reply, A.CipheredApdu) and not A.is_global(reply.tag)
    get = GET_ENERGY.to_bytes()
    ok = A.decode_apdu(c.exchange_raw(ded(get, 4)))
    assert isinstance(ok, A.CipheredApdu)
    plain = gcm.unprotect(ok.security_control, c.server_title or b"", ok.invocation_counter, dedicated,
                          keys.ak, ok.payload)
    assert isinstance(A.decode_apdu(plain), A.GetResponseNormal)
    again = A.decode_apdu(c.exchange_raw(ded(get, 4)))  # replayed under the dedicated key
    assert isinstance(again, A.ExceptionResponse)
    assert again.service_error == A.ServiceError.INVOCATION_COUNTER_ERROR
    assert counters(device)[1] == 1
