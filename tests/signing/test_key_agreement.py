"""Item 4 of issue 4: Security setup method 3 key_agreement (suites 1 and 2) with an independent
client written from the Green Book (9.2.3.4.6.5): the client signs its ephemeral key, the meter
answers its own signed ephemeral key, both derive the key with the SP 800-56A concatenation KDF
(H(00000001 || Z || AlgorithmID || ST-C || ST-S), computed here with hashlib); the agreed key
replaces the global unicast key after the response and the next association runs on it.

gurux-dlms 1.0.x (Python) cannot run key_agreement: GXDLMSSecuritySetup.getEphemeralPublicKeyData
returns None and the signature lines of keyAgreement are commented out."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from meter.codec import axdr
from meter.codec.obis import Obis
from tests.hls.helpers import (
    ECDSA_CLIENT,
    LDN,
    SETUP3,
    ClientError,
    Ecdsa,
    HlsMeter,
    import_client_certificate,
    server_public_key,
)

CLIENT3_TITLE = bytes.fromhex("4D4D4D0000000003")
SERVER_TITLE = bytes.fromhex("4143450000000001")
_CURVE = {1: ec.SECP256R1, 2: ec.SECP384R1}
_HASH = {1: hashlib.sha256, 2: hashlib.sha384}
_OID = {1: "60857405080300", 2: "60857405080301"}  # AES-GCM-128 / -256: 2.16.756.5.8.3.0 / .1
_KEY = {1: 16, 2: 32}
LAST_STANDARD_EVENT = Obis.parse("0.0.96.11.0.255")


def _xy(key: ec.EllipticCurvePublicKey, n: int) -> bytes:
    nums = key.public_numbers()
    return nums.x.to_bytes(n, "big") + nums.y.to_bytes(n, "big")


def _agree(meter: HlsMeter, suite: int, *, tamper: bool = False) -> tuple[Ecdsa, bytes]:
    """key_agreement of the global unicast key (key_id 0) on client 3; returns the signing key
    and the key the client derived (ClientError when the meter refuses)."""
    key = Ecdsa(suite)
    key.server_public = server_public_key(import_client_certificate(meter, SETUP3, key.certificate(CLIENT3_TITLE)))
    c = meter.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE)
    c.associate(7, ecdsa=key)
    n = 32 if suite == 1 else 48
    ephemeral = ec.generate_private_key(_CURVE[suite]())
    point = _xy(ephemeral.public_key(), n)
    signature = key.sign(b"\x00" + point)
    if tamper:
        signature = bytes((signature[0] ^ 1,)) + signature[1:]
    reply = c.action(64, SETUP3, 3, axdr.Array((axdr.Structure((axdr.Enum(0), axdr.OctetString(point + signature))),)))
    assert isinstance(reply, axdr.Array) and len(reply.items) == 1
    kid, data = reply.items[0].items
    assert kid.value == 0
    theirs, their_sig = data.value[:2 * n], data.value[2 * n:]
    assert key.verify(their_sig, b"\x00" + theirs), "the meter's ephemeral key is not signed by it"
    peer = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE[suite](), b"\x04" + theirs)
    z = ephemeral.exchange(ec.ECDH(), peer)
    agreed = _HASH[suite](b"\x00\x00\x00\x01" + z + bytes.fromhex(_OID[suite]) + CLIENT3_TITLE
                          + SERVER_TITLE).digest()[:_KEY[suite]]
    c.release()
    return key, agreed


@pytest.mark.parametrize("suite", [1, 2])
def test_both_sides_derive_the_same_key_and_the_next_association_uses_it(tmp_path, suite: int) -> None:
    meter = HlsMeter(tmp_path / "s", "acesm" if suite == 1 else "acesm-suite2")
    try:
        key, agreed = _agree(meter, suite)
        assert meter.device.security_context(SETUP3).encryption_key == agreed
        assert meter.device.directory[LAST_STANDARD_EVENT].value("value").value == 48  # keys changed
        meter.restart()
        c = meter.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE)
        c.keys.ek = agreed
        c.associate(7, ecdsa=key)
        assert c.get(1, LDN, 2).to_python() == b"ACE0000000000001"
    finally:
        meter.device.close()


def test_bad_signature_changes_nothing(meter: HlsMeter) -> None:
    before = meter.device.security_context(SETUP3).encryption_key
    with pytest.raises(ClientError):
        _agree(meter, 1, tamper=True)
    assert meter.device.security_context(SETUP3).encryption_key == before
    meter.restart()
    assert meter.device.security_context(SETUP3).encryption_key == before

