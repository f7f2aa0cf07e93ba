"""AES key wrap: RFC 3394 section 4 vectors, round trips, integrity failures."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.errors import SecurityError
from meter.security.keywrap import unwrap, wrap

H = bytes.fromhex
KEY_128 = H("00112233445566778899AABBCCDDEEFF")
KEY_256 = H("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")

# RFC 3394 section 4.1, 4.2, 4.3 and 4.6 (KEK = 000102...).
RFC_3394 = [
    (bytes(range(16)), KEY_128, H("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")),
    (bytes(range(24)), KEY_128, H("96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D")),
    (bytes(range(32)), KEY_128, H("64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7")),
    (
        bytes(range(32)),
        KEY_256,
        H("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"),
    ),
]


@pytest.mark.parametrize(("kek", "key", "wrapped"), RFC_3394)
def test_rfc_3394(kek: bytes, key: bytes, wrapped: bytes) -> None:
    assert wrap(kek, key) == wrapped
    assert unwrap(kek, wrapped) == key


def test_tampered_or_wrong_kek() -> None:
    kek, key, wrapped = RFC_3394[0]
    for i in range(len(wrapped)):
        bad = bytearray(wrapped)
        bad[i] ^= 1
        with pytest.raises(SecurityError):
            unwrap(kek, bytes(bad))
    with pytest.raises(SecurityError):
        unwrap(bytes(16), wrapped)


@pytest.mark.parametrize(
    ("kek", "data"), [(bytes(15), bytes(24)), (bytes(16), bytes(23)), (bytes(16), bytes(16))]
)
def test_bad_lengths(kek: bytes, data: bytes) -> None:
    with pytest.raises(SecurityError):
        unwrap(kek, data)
    with pytest.raises(SecurityError):
        wrap(kek, data[:-1])


@settings(max_examples=50, deadline=None)
@given(kek=st.sampled_from([16, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       key=st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_roundtrip(kek: bytes, key: bytes) -> None:
    assert unwrap(kek, wrap(kek, key)) == key


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=48))
def test_random_input_raises_only_security_error(data: bytes) -> None:
    try:
        unwrap(bytes(16), data)
    except SecurityError:
        pass
