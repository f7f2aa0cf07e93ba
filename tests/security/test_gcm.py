"""AES-GCM protection: Green Book worked examples, GCM spec vectors, round trips, tampering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.errors import SecurityError
from meter.security.gcm import (
    TAG_LENGTH,
    gmac,
    initialization_vector,
    protect,
    security_control,
    unprotect,
)

H = bytes.fromhex

# Green Book example keys (used by Table 40 and Table 43; quoted by dlms-cosem
# tests/test_security.py and by jDLMS' CoderXDlmsApdu tests "GB ed.7 p.285").
SERVER_TITLE = H("4D4D4D0000BC614E")
CLIENT_TITLE = H("4D4D4D0000000001")
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
IC = 0x01234567

# Green Book Table 40 - glo-get-request: get-request-normal for Clock 0.0.1.0.0.255 attribute 2.
GET_REQUEST = H("C0010000080000010000FF0200")
TABLE_40 = [
    (0x10, GET_REQUEST + H("06725D910F9221D263877516")),
    (0x20, H("411312FF935A47566827C467BC")),
    (0x30, H("411312FF935A47566827C467BC" "7D825C3BE4A77C3FCC056B6B")),
]

# Green Book AARQ example (xDLMS InitiateRequest, SC 0x30, same keys and IC), as quoted by
# dlms-cosem tests (GlobalCipherInitiateRequest) and Gurux' Go port (TestCipherData).
INITIATE_REQUEST = H("01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0")
INITIATE_PROTECTED = H(
    "801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855"
)


@pytest.mark.parametrize(("sc", "protected"), TABLE_40)
def test_green_book_table_40(sc: int, protected: bytes) -> None:
    assert protect(sc, SERVER_TITLE, IC, EK, AK, GET_REQUEST) == protected
    assert unprotect(sc, SERVER_TITLE, IC, EK, AK, protected) == GET_REQUEST


def test_green_book_initiate_request() -> None:
    assert protect(0x30, SERVER_TITLE, IC, EK, AK, INITIATE_REQUEST) == INITIATE_PROTECTED
    assert unprotect(0x30, SERVER_TITLE, IC, EK, AK, INITIATE_PROTECTED) == INITIATE_REQUEST


def test_green_book_table_43_gmac() -> None:
    # Green Book Table 43 (HLS-GMAC): T = GMAC(SC || AK || StoC) with the client's IV, and
    # GMAC(SC || AK || CtoS) with the server's IV.
    assert gmac(0x10, CLIENT_TITLE, 1, EK, AK, b"P6wRJ21F") == H("1A52FE7DD3E72748973C1E28")
    assert gmac(0x10, SERVER_TITLE, IC, EK, AK, b"K56iVagY") == H("FE1466AFB3DBCD4F9389E2B7")


# The GCM specification (McGrew & Viega, "The Galois/Counter Mode of Operation", the vectors
# NIST CAVP reuses), test cases 3 (AES-128) and 15 (AES-256): no AAD, 96-bit IV
# cafebabefacedbaddecaf888 -- which splits as system title cafebabefacedbad, IC 0xdecaf888.
# With no AAD they exercise our IV build and the encryption-only path (ciphertext, no tag).
GCM_IV_TITLE, GCM_IV_COUNTER = H("cafebabefacedbad"), 0xDECAF888
GCM_P = H(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_VECTORS = [
    (
        0x20,
        H("feffe9928665731c6d6a8f9467308308"),
        H(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
        ),
    ),
    (
        0x22,
        H("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
        H(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
        ),
    ),
]


@pytest.mark.parametrize(("sc", "key", "ciphertext"), GCM_VECTORS)
def test_gcm_spec_vectors(sc: int, key: bytes, ciphertext: bytes) -> None:
    assert protect(sc, GCM_IV_TITLE, GCM_IV_COUNTER, key, b"", GCM_P) == ciphertext
    assert unprotect(sc, GCM_IV_TITLE, GCM_IV_COUNTER, key, b"", ciphertext) == GCM_P


def test_iv_is_title_and_counter() -> None:
    assert initialization_vector(SERVER_TITLE, IC) == H("4D4D4D0000BC614E01234567")


@pytest.mark.parametrize(("sc", "protected"), [(0x10, TABLE_40[0][1]), (0x30, TABLE_40[2][1])])
def test_any_tampered_byte_is_rejected(sc: int, protected: bytes) -> None:
    for i in range(len(protected)):
        for flip in (0x01, 0x80):
            bad = bytearray(protected)
            bad[i] ^= flip
            with pytest.raises(SecurityError):
                unprotect(sc, SERVER_TITLE, IC, EK, AK, bytes(bad))


@pytest.mark.parametrize("sc", [0x10, 0x30])
def test_wrong_context_is_rejected(sc: int) -> None:
    protected = protect(sc, SERVER_TITLE, IC, EK, AK, GET_REQUEST)
    for args in [
        (sc, SERVER_TITLE, IC + 1, EK, AK),
        (sc, CLIENT_TITLE, IC, EK, AK),
        (sc, SERVER_TITLE, IC, AK, AK),
        (sc, SERVER_TITLE, IC, EK, EK),
        (sc ^ 0x40, SERVER_TITLE, IC, EK, AK),  # SC is authenticated too
    ]:
        with pytest.raises(SecurityError):
            unprotect(*args, protected)


def test_truncated_and_empty_payloads() -> None:
    for sc in (0x10, 0x30):
        for n in range(TAG_LENGTH):
            with pytest.raises(SecurityError):
                unprotect(sc, SERVER_TITLE, IC, EK, AK, bytes(n))
    tag_only = protect(0x30, SERVER_TITLE, IC, EK, AK, b"")
    assert len(tag_only) == TAG_LENGTH
    assert unprotect(0x30, SERVER_TITLE, IC, EK, AK, tag_only) == b""


@pytest.mark.parametrize(
    ("sc", "title", "ic", "ek", "ak"),
    [
        (0x00, SERVER_TITLE, IC, EK, AK),  # no protection asked for
        (0xB0, SERVER_TITLE, IC, EK, AK),  # compression
        (0x33, SERVER_TITLE, IC, EK, AK),  # unknown suite
        (0x32, SERVER_TITLE, IC, EK, AK),  # suite 2 needs 32-byte keys
        (0x30, SERVER_TITLE[:7], IC, EK, AK),
        (0x30, SERVER_TITLE, -1, EK, AK),
        (0x30, SERVER_TITLE, 1 << 32, EK, AK),
        (0x30, SERVER_TITLE, IC, EK, AK[:15]),
        (0x130, SERVER_TITLE, IC, EK, AK),
    ],
)
def test_bad_parameters(sc: int, title: bytes, ic: int, ek: bytes, ak: bytes) -> None:
    with pytest.raises(SecurityError):
        protect(sc, title, ic, ek, ak, GET_REQUEST)
    with pytest.raises(SecurityError):
        unprotect(sc, title, ic, ek, ak, TABLE_40[2][1])


def test_gmac_needs_authentication_only() -> None:
    with pytest.raises(SecurityError):
        gmac(0x30, SERVER_TITLE, IC, EK, AK, b"K56iVagY")


def test_security_control_builder() -> None:
    assert security_control(authenticated=True, encrypted=True) == 0x30
    assert security_control(authenticated=True, encrypted=False, suite=2, broadcast=True) == 0x52


keys = st.sampled_from([(0, 16), (1, 16), (2, 32)]).flatmap(
    lambda s: st.tuples(
        st.just(s[0]),
        st.binary(min_size=s[1], max_size=s[1]),
        st.binary(min_size=s[1], max_size=s[1]),
    )
)


@settings(max_examples=60, deadline=None)
@given(
    keys=keys,
    mode=st.sampled_from([0x10, 0x20, 0x30]),
    broadcast=st.booleans(),
    title=st.binary(min_size=8, max_size=8),
    ic=st.integers(0, 0xFFFF_FFFF),
    plaintext=st.binary(max_size=300),
)
def test_roundtrip(
    keys: tuple[int, bytes, bytes],
    mode: int,
    broadcast: bool,
    title: bytes,
    ic: int,
    plaintext: bytes,
) -> None:
    suite, ek, ak = keys
    sc = mode | suite | (0x40 if broadcast else 0)
    protected = protect(sc, title, ic, ek, ak, plaintext)
    assert len(protected) == len(plaintext) + (TAG_LENGTH if mode & 0x10 else 0)
    assert unprotect(sc, title, ic, ek, ak, protected) == plaintext


@settings(max_examples=200, deadline=None)
@given(sc=st.integers(0, 255), ic=st.integers(0, 0xFFFF_FFFF), payload=st.binary(max_size=64))
def test_random_input_raises_only_security_error(sc: int, ic: int, payload: bytes) -> None:
    try:
        unprotect(sc, SERVER_TITLE, ic, EK, AK, payload)
    except SecurityError:
        pass
