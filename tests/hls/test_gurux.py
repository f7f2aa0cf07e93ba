"""gurux-dlms as a real client (wrapper frames straight into a MeterStack, as tests/keys does):
HLS-SHA256 with client 2, and HLS-ECDSA with client 3 after the head-end steps done by gurux
itself over the management association -- GXDLMSSecuritySetup.importCertificate of the client's
signing certificate and exportCertificateByEntity of the meter's, whose key gurux then uses to
verify the meter's f(CtoS) (GXDLMSClient.parseApplicationAssociationResponse).

Gap: gurux's GXx509Certificate cannot parse a KeyUsage extension marked critical (it indexes
the extension as [oid, value]), so the client certificate gurux imports has a non-critical
KeyUsage; tests/hls/test_in_process.py imports critical ones with the independent client."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from gurux_dlms.asn import GXx509Certificate
from gurux_dlms.ecdsa import GXEcdsa, GXPrivateKey, GXPublicKey
from gurux_dlms.enums import Authentication
from gurux_dlms.objects import GXDLMSData, GXDLMSSecuritySetup

from support.gurux_memory import GuruxMemoryClient

from meter.codec.obis import Obis

from .helpers import AK, EK, LDN, SERVER_TITLE, SETUP0, SETUP3, Ecdsa, HlsMeter, server_public_key

CLIENT3_TITLE = bytes.fromhex("4D4D4D0000000003")


class Gurux(GuruxMemoryClient):
    """One gurux client on one in-memory connection, its counter where the meter expects it."""

    def __init__(self, meter: HlsMeter, client_sap: int, authentication: Authentication,
                 password: bytes | None, title: str, ek: bytes = EK, ak: bytes = AK,
                 suite: int = 0, setup: Obis = SETUP0) -> None:
        ctx = meter.device.security_context(setup)
        super().__init__(meter, client_sap, authentication, password, title=title, ek=ek, ak=ak,
                         invocation_counter=max(ctx.rx.last, 0) + 1, suite=suite)

    def associate(self) -> None:
        super().associate()
        assert self.client.isAuthenticationRequired

    def read(self, obis: str) -> Any:
        reply = self.exchange(self.client.read(GXDLMSData(obis), 2))
        assert not reply.error
        return reply.value


def test_gurux_hls_sha256_client_2(meter: HlsMeter) -> None:
    g = Gurux(meter, 2, Authentication.HIGH_SHA256, b"12345678", "4D4D4D0000000002")
    g.associate()  # raises unless the meter's f(CtoS) equals gurux's own computation
    assert bytes(g.read("0.0.42.0.0.255")) == b"ACE0000000000001"
    g.exchange(g.client.releaseRequest())

    wrong = Gurux(meter, 2, Authentication.HIGH_SHA256, b"wrong!!!", "4D4D4D0000000002")
    with pytest.raises(Exception):
        wrong.associate()
    assert meter.fraud_codes().count(46) == 1


def _gurux_keys(key: Ecdsa, server_der: bytes) -> tuple[GXPublicKey, GXPrivateKey]:
    size = 32 if key.suite == 1 else 48
    private = GXPrivateKey.fromRawBytes(key.private.private_numbers().private_value.to_bytes(size, "big"))
    point = server_public_key(server_der).public_bytes(serialization.Encoding.X962,
                                                       serialization.PublicFormat.UncompressedPoint)
    return GXPublicKey.fromRawBytes(point), private


def _head_end_certificates(m: HlsMeter, key: Ecdsa) -> bytes:
    """gurux over the management association: import the client's signing certificate into
    0.0.43.0.3.255, export the meter's (entity server, digital signature); returns its DER."""
    mgmt = Gurux(m, 1, Authentication.HIGH_GMAC, None, "4D4D4D0000000001")
    mgmt.associate()
    setup = GXDLMSSecuritySetup(str(SETUP3))
    cert = GXx509Certificate.fromDer(base64.b64encode(key.certificate(CLIENT3_TITLE, critical=False)).decode())
    assert mgmt.exchange(setup.importCertificate(mgmt.client, cert)).error == 0
    reply = mgmt.exchange(setup.exportCertificateByEntity(mgmt.client, 0, 0, bytearray(SERVER_TITLE)))
    assert reply.error == 0
    mgmt.exchange(mgmt.client.releaseRequest())
    return bytes(reply.value)


def test_gurux_hls_ecdsa_client_3_suite_1(meter: HlsMeter) -> None:
    key = Ecdsa(1)
    server_der = _head_end_certificates(meter, key)
    g = Gurux(meter, 3, Authentication.HIGH_ECDSA, None, CLIENT3_TITLE.hex(), EK, AK, 1, SETUP3)
    g.client.ciphering.signingKeyPair = _gurux_keys(key, server_der)
    g.associate()  # gurux verifies the meter's signature with the exported certificate's key
    assert bytes(g.read("0.0.42.0.0.255")) == b"ACE0000000000001"
    assert int(g.read("0.0.43.1.3.255")) >= 1
    g.exchange(g.client.releaseRequest())


def test_suite_2_certificates_by_gurux_association_by_own_client(meter2: HlsMeter) -> None:
    """Gap: gurux-dlms (1.0.x, GXEcdsa.sign/verify) tests ``scheme == Ecc.P256`` twice, so it
    cannot sign or verify on P-384 and HLS-ECDSA over suite 2 is impossible for it. gurux does
    the certificate steps; the independent client of helpers.py runs the association (AES-GCM-256,
    P-384/SHA-384) with the certificate gurux exported."""
    key = Ecdsa(2)
    server_der = _head_end_certificates(meter2, key)
    public, private = _gurux_keys(key, server_der)
    assert public.scheme.name == "P384"
    with pytest.raises(ValueError, match="scheme"):
        GXEcdsa(private).sign(b"gurux cannot sign on P-384")
    key.server_public = server_public_key(server_der)
    c = meter2.client(3, SETUP3, system_title=CLIENT3_TITLE)
    c.associate(7, ecdsa=key)
    assert c.get(1, LDN, 2).to_python() == b"ACE0000000000001"
