"""Item 2 of issue 4: HLS-MD5 (3) and HLS-SHA1 (4) only for an association whose profile asks for
them (Green Book 9.2.7.4 lists them as deprecated), checked with gurux-dlms as the client:
f(StoC) = H(StoC || secret) from the client, f(CtoS) = H(CtoS || secret) from the meter
(GXSecure.secure for HIGH_MD5 / HIGH_SHA1)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSData
from gurux_dlms.secure import GXDLMSSecureClient
from support import PROFILE, READER, FakeTimebase, Meter, make_aarq

from meter import apdu as A
from meter.codec.obis import Obis
from meter.device.device import Device

MD5_CLIENT, SHA1_CLIENT = 48, 49
SECRET = b"digest-secret"
LAST_FRAUD_EVENT = Obis.parse("0.0.96.11.1.255")

VARIANT = f"""
extends = "{PROFILE}"

[[association]]
name = "reader-md5"
client_sap = {MD5_CLIENT}
obis = "0.0.40.0.6.255"
role = "reader"
mechanism = 3
secret = "{SECRET.decode()}"

[[association]]
name = "reader-sha1"
client_sap = {SHA1_CLIENT}
obis = "0.0.40.0.7.255"
role = "reader"
mechanism = 4
secret = "{SECRET.decode()}"
"""


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    profile = tmp_path / "digest.toml"
    profile.write_text(VARIANT)
    d = Device.open(profile, tmp_path / "state", FakeTimebase())
    yield d
    d.close()


class _Gurux:
    def __init__(self, device: Device, client_sap: int, mechanism: Authentication, secret: bytes) -> None:
        self.device = device
        self.stack = device.new_stack("wrapper", now=lambda: device.t)
        self.client = GXDLMSSecureClient(True, client_sap, 1, mechanism, secret, InterfaceType.WRAPPER)

    def exchange(self, frame: Any) -> GXReplyData:
        reply = GXReplyData()
        out = self.stack.receive_data(bytes(frame), self.device.t)
        assert self.client.getData(GXByteBuffer(out), reply, GXReplyData())
        return reply

    def associate(self) -> None:
        (aarq,) = self.client.aarqRequest()
        self.client.parseAareResponse(self.exchange(aarq).data)
        assert self.client.isAuthenticationRequired
        (pass3,) = self.client.getApplicationAssociationRequest()
        self.client.parseApplicationAssociationResponse(self.exchange(pass3).data)


@pytest.mark.parametrize("client_sap,mechanism", [(MD5_CLIENT, Authentication.HIGH_MD5),
                                                  (SHA1_CLIENT, Authentication.HIGH_SHA1)])
def test_gurux_digest_hls(device: Device, client_sap: int, mechanism: Authentication) -> None:
    g = _Gurux(device, client_sap, mechanism, SECRET)
    g.associate()  # raises unless the meter's f(CtoS) is gurux's own
    (read,) = g.client.read(GXDLMSData("0.0.42.0.0.255"), 2)
    assert bytes(g.exchange(read).value) == b"ACE0000000000001"

    wrong = _Gurux(device, client_sap, mechanism, b"not-the-secret")
    with pytest.raises(Exception, match="parseApplicationAssociationResponse|Server"):
        wrong.associate()
    assert int(device.directory[LAST_FRAUD_EVENT].value("value").value) == 46  # type: ignore[attr-defined]


def test_meter_answer_is_the_digest_of_ctos(device: Device) -> None:
    """The bytes gurux compares, computed here with hashlib alone."""
    g = _Gurux(device, MD5_CLIENT, Authentication.HIGH_MD5, SECRET)
    (aarq,) = g.client.aarqRequest()
    g.client.parseAareResponse(g.exchange(aarq).data)
    ctos = bytes(g.client.settings.ctoSChallenge)
    stoc = bytes(g.client.settings.stoCChallenge)
    (pass3,) = g.client.getApplicationAssociationRequest()
    reply = g.exchange(pass3)
    assert bytes(reply.value) == hashlib.md5(ctos + SECRET).digest()
    assert len(stoc) == 16


def test_default_profile_offers_neither(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state", history=None)
    try:
        for mechanism in (3, 4):
            c = meter.connect(READER)
            aare = c.aarq(make_aarq(sender_acse_requirements=True, mechanism_name=mechanism,
                                    calling_authentication_value=bytes(16)))
            assert isinstance(aare, A.AARE) and aare.result != 0
            assert aare.diagnostic == A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
    finally:
        meter.close()
