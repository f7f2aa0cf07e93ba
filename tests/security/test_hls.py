"""HLS mechanisms 2..7: Green Book Table 43, NIST ECDSA example, cross-checks with Gurux."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.errors import SecurityError
from meter.security.hls import (
    GmacResponse,
    Mechanism,
    check_challenge,
    ecdsa_sign,
    ecdsa_verify,
    gmac_response,
    manufacturer_response,
    md5_response,
    new_challenge,
    sha1_response,
    sha256_response,
    verify_gmac_response,
    verify_response,
)

H = bytes.fromhex

# Green Book Table 43 (HLS example using authentication-mechanism 5 with GMAC), as quoted in
# public DLMS test code (unity test "GreenBookHlsMechanism5Vector").
CLIENT_TITLE, SERVER_TITLE = H("4D4D4D0000000001"), H("4D4D4D0000BC614E")
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CTOS, STOC = b"K56iVagY", b"P6wRJ21F"
F_STOC = H("10000000011A52FE7DD3E72748973C1E28")  # client's answer, client IC 1
F_CTOS = H("1001234567FE1466AFB3DBCD4F9389E2B7")  # server's answer, server IC 0x01234567


def test_table_43_client_and_server_answers() -> None:
    assert gmac_response(0, CLIENT_TITLE, 1, EK, AK, STOC) == F_STOC
    assert gmac_response(0, SERVER_TITLE, 0x01234567, EK, AK, CTOS) == F_CTOS
    # The server checks the client's f(StoC), the client the server's f(CtoS).
    assert verify_gmac_response(F_STOC, CLIENT_TITLE, EK, AK, STOC)
    assert verify_gmac_response(F_CTOS, SERVER_TITLE, EK, AK, CTOS)
    assert GmacResponse.from_bytes(F_CTOS).invocation_counter == 0x01234567


def test_gmac_response_rejections() -> None:
    assert not verify_gmac_response(F_STOC, SERVER_TITLE, EK, AK, STOC)  # wrong title
    assert not verify_gmac_response(F_STOC, CLIENT_TITLE, EK, AK, CTOS)  # wrong challenge
    assert not verify_gmac_response(F_STOC, CLIENT_TITLE, EK, AK, STOC, suite=1)  # SC mismatch
    assert not verify_gmac_response(F_STOC[:-1], CLIENT_TITLE, EK, AK, STOC)
    assert not verify_gmac_response(b"", CLIENT_TITLE, EK, AK, STOC)
    for i in range(len(F_STOC)):
        bad = bytearray(F_STOC)
        bad[i] ^= 0x04
        assert not verify_gmac_response(bytes(bad), CLIENT_TITLE, EK, AK, STOC)


@settings(max_examples=100, deadline=None)
@given(response=st.binary(max_size=40), challenge=st.binary(max_size=70))
def test_gmac_verify_never_raises(response: bytes, challenge: bytes) -> None:
    assert verify_gmac_response(response, CLIENT_TITLE, EK, AK, challenge) in (True, False)


@settings(max_examples=100, deadline=None)
@given(
    sc=st.integers(0, 255),
    ic=st.integers(0, 0xFFFF_FFFF),
    tag=st.binary(min_size=12, max_size=12),
)
def test_gmac_response_roundtrip(sc: int, ic: int, tag: bytes) -> None:
    response = GmacResponse(sc, ic, tag)
    assert GmacResponse.from_bytes(response.to_bytes()) == response


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=40))
def test_gmac_response_decode_raises_only_security_error(data: bytes) -> None:
    try:
        GmacResponse.from_bytes(data)
    except SecurityError:
        pass


def test_hash_mechanisms_known_answers() -> None:
    secret = b"12345678"
    assert md5_response(STOC, secret) == hashlib.md5(STOC + secret).digest()
    assert sha1_response(STOC, secret) == hashlib.sha1(STOC + secret).digest()
    # Mechanism 6, client answering StoC: secret || ST-C || ST-S || StoC || CtoS.
    assert sha256_response(secret, CLIENT_TITLE, SERVER_TITLE, STOC, CTOS) == hashlib.sha256(
        secret + CLIENT_TITLE + SERVER_TITLE + STOC + CTOS
    ).digest()


def _gurux(mechanism: Mechanism, data: bytes, secret: bytes, ic: int = 0) -> bytes:
    """f(data) computed by Gurux' GXSecure.secure (an independent implementation, test-only)."""
    secure = pytest.importorskip("gurux_dlms.GXSecure").GXSecure.secure
    cipher = SimpleNamespace(blockCipherKey=EK, authenticationKey=AK, securitySuite=0)
    return bytes(
        secure(SimpleNamespace(authentication=int(mechanism)), cipher, ic, data, secret)
    )


@pytest.mark.parametrize("challenge", [STOC, bytes(range(20)), bytes(range(64))])
def test_cross_check_with_gurux(challenge: bytes) -> None:
    secret = b"Gurux-secret"
    assert manufacturer_response(challenge, secret) == _gurux(Mechanism.HIGH, challenge, secret)
    assert md5_response(challenge, secret) == _gurux(Mechanism.HIGH_MD5, challenge, secret)
    assert sha1_response(challenge, secret) == _gurux(Mechanism.HIGH_SHA1, challenge, secret)
    # Gurux' client passes secret || ST-C || ST-S || StoC || CtoS as the "secret" for mechanism 6.
    assert sha256_response(secret, CLIENT_TITLE, SERVER_TITLE, challenge, CTOS) == _gurux(
        Mechanism.HIGH_SHA256, challenge, secret + CLIENT_TITLE + SERVER_TITLE + challenge + CTOS
    )
    assert gmac_response(0, CLIENT_TITLE, 7, EK, AK, challenge) == _gurux(
        Mechanism.HIGH_GMAC, challenge, CLIENT_TITLE, ic=7
    )


def test_manufacturer_secret_too_long() -> None:
    with pytest.raises(SecurityError):
        manufacturer_response(STOC, bytes(17))


# NIST CSRC example "ECDSA with P-256" (message "Example of ECDSA with P-256"), as quoted in
# otsmr/websocket src/tls13/ecdsa-p256.md: public key Q and signature (R, S).
NIST_Q = ec.EllipticCurvePublicNumbers(
    int("B7E08AFDFE94BAD3F1DC8C734798BA1C62B3A0AD1E9EA2A38201CD0889BC7A19", 16),
    int("3603F747959DBF7A4BB226E41928729063ADC7AE43529E61B563BBC606CC5E09", 16),
    ec.SECP256R1(),
).public_key()
NIST_SIG = H(
    "2B42F576D07F4165FF65D1F3B1500F81E44C316F1F0B3EF57325B69ACA46104F"
    "DC42C2122D6392CD3E3A993A89502A8198C1886FE69D262C4B329BDB6B63FAF1"
)


def test_ecdsa_raw_signature_against_nist_example() -> None:
    # Split the NIST message into the four fields mechanism 7 concatenates.
    parts = (b"Example ", b"of ECDSA", b" with P", b"-256")
    assert ecdsa_verify(NIST_Q, NIST_SIG, *parts)
    assert not ecdsa_verify(NIST_Q, NIST_SIG, b"Example ", b"of ECDSA", b" with P", b"-257")
    assert not ecdsa_verify(NIST_Q, NIST_SIG[:-1], *parts)


@pytest.mark.parametrize(("curve", "size"), [(ec.SECP256R1(), 64), (ec.SECP384R1(), 96)])
def test_ecdsa_four_pass(curve: ec.EllipticCurve, size: int) -> None:
    client_key = ec.generate_private_key(curve)
    server_key = ec.generate_private_key(curve)
    # Client answers StoC; the server verifies with the client's public key.
    f_stoc = ecdsa_sign(client_key, CLIENT_TITLE, SERVER_TITLE, STOC, CTOS)
    assert len(f_stoc) == size
    assert ecdsa_verify(client_key.public_key(), f_stoc, CLIENT_TITLE, SERVER_TITLE, STOC, CTOS)
    # Server answers CtoS; the client verifies.
    f_ctos = ecdsa_sign(server_key, SERVER_TITLE, CLIENT_TITLE, CTOS, STOC)
    assert ecdsa_verify(server_key.public_key(), f_ctos, SERVER_TITLE, CLIENT_TITLE, CTOS, STOC)
    # Swapped roles, wrong key, tampering: all refused.
    assert not ecdsa_verify(client_key.public_key(), f_stoc, SERVER_TITLE, CLIENT_TITLE, STOC, CTOS)
    assert not ecdsa_verify(server_key.public_key(), f_stoc, CLIENT_TITLE, SERVER_TITLE, STOC, CTOS)
    bad = bytearray(f_stoc)
    bad[5] ^= 1
    assert not ecdsa_verify(
        client_key.public_key(), bytes(bad), CLIENT_TITLE, SERVER_TITLE, STOC, CTOS
    )


def test_ecdsa_rejects_other_curves() -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(SecurityError):
        ecdsa_sign(key, CLIENT_TITLE, SERVER_TITLE, STOC, CTOS)


def test_challenges() -> None:
    assert new_challenge(8, random=lambda n: b"\x01" * n) == b"\x01" * 8
    assert len(new_challenge()) == 16
    for bad in (7, 65):
        with pytest.raises(SecurityError):
            new_challenge(bad)
    with pytest.raises(SecurityError):
        new_challenge(8, random=lambda n: b"")
    assert check_challenge(bytes(64)) == bytes(64)
    for bad_len in (0, 7, 65):
        with pytest.raises(SecurityError):
            check_challenge(bytes(bad_len))


def test_verify_response_is_exact() -> None:
    assert verify_response(b"abc", b"abc")
    assert not verify_response(b"abc", b"abd")
    assert not verify_response(b"abc", b"ab")
