"""Requests built by an independent client stack (Gurux, GPL, test-only, never vendored) decode
with our classes and re-encode to the very same bytes."""

from __future__ import annotations

import datetime

import pytest
from gurux_dlms import GXDLMSClient
from gurux_dlms.enums import Authentication, DataType, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric
from gurux_dlms.secure import GXDLMSSecureClient

from meter.apdu import AARQ, Apdu, decode_apdu

WRAPPER_HEADER = 8


def _apdu(frame: bytes | bytearray) -> tuple[bytes, Apdu]:
    raw = bytes(frame)[WRAPPER_HEADER:]
    return raw, decode_apdu(raw)


@pytest.mark.parametrize(("auth", "security", "context"), [
    (Authentication.NONE, Security.NONE, 1),
    (Authentication.LOW, Security.NONE, 1),
    (Authentication.HIGH_GMAC, Security.AUTHENTICATION_ENCRYPTION, 3),
    (Authentication.HIGH_SHA256, Security.NONE, 1),
])
def test_gurux_aarq(auth: Authentication, security: Security, context: int) -> None:
    client = GXDLMSSecureClient(True, 16, 1, auth, "12345678", InterfaceType.WRAPPER)
    client.ciphering.security = security
    client.ciphering.systemTitle = bytes.fromhex("4D4D4D0000BC614E")
    client.ciphering.blockCipherKey = bytes(range(16))
    client.ciphering.authenticationKey = bytes(range(16, 32))
    raw, aarq = _apdu(client.aarqRequest()[0])
    assert isinstance(aarq, AARQ)
    assert aarq.application_context_name == context
    assert aarq.mechanism_name == (None if auth == Authentication.NONE else int(auth))
    assert aarq.to_bytes() == raw


def test_gurux_xdlms_requests() -> None:
    client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    client.negotiatedConformance = client.proposedConformance
    ldn, clock = GXDLMSData("0.0.42.0.0.255"), GXDLMSClock("0.0.1.0.0.255")
    profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
    ldn.value = 5
    frames = [
        client.read(clock, 2)[0],
        client.readList([(ldn, 2), (clock, 2)])[0][0],
        client.readRowsByEntry(profile, 1, 10)[0],
        client.readRowsByRange(profile, datetime.datetime(2024, 1, 1),
                               datetime.datetime(2024, 1, 2))[0],
        client.write(ldn, 2)[0],
        client.method(clock, 6, 5, DataType.INT16)[0],
    ]
    names = []
    for frame in frames:
        raw, apdu = _apdu(frame)
        assert apdu.to_bytes() == raw
        names.append(type(apdu).__name__)
    assert names == ["GetRequestNormal", "GetRequestWithList", "GetRequestNormal",
                     "GetRequestNormal", "SetRequestNormal", "ActionRequestNormal"]
