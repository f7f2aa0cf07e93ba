"""KeySet validation and key selection."""

from __future__ import annotations

import pytest

from meter.errors import SecurityError
from meter.security.keys import KeyId, KeySet, SecuritySuite, check_key, check_system_title

TITLE = bytes.fromhex("4D4D4D0000BC614E")


def test_suite_key_lengths() -> None:
    assert [SecuritySuite(s).key_length for s in (0, 1, 2)] == [16, 16, 32]
    assert check_key(2, bytes(32)) == bytes(32)
    with pytest.raises(SecurityError):
        check_key(2, bytes(16))
    with pytest.raises(SecurityError):
        check_key(5, bytes(16))
    with pytest.raises(SecurityError):
        check_system_title(bytes(7))


def test_keyset() -> None:
    ks = KeySet(
        suite=SecuritySuite.AES_GCM_128, server_system_title=TITLE, ek=bytes(16), ak=b"A" * 16
    )
    assert ks.key(KeyId.AUTHENTICATION) == b"A" * 16
    assert ks.key(KeyId.MASTER) is None
    ks2 = ks.with_key(KeyId.GLOBAL_BROADCAST, b"B" * 16).with_client_system_title(bytes(8))
    assert ks2.encryption_key(0x70) == b"B" * 16
    assert ks2.encryption_key(0x30) == bytes(16)
    assert ks2.client_system_title == bytes(8)
    with pytest.raises(SecurityError):
        ks.encryption_key(0x70)  # no broadcast key
    with pytest.raises(SecurityError):
        ks.with_key(KeyId.MASTER, bytes(32))
    with pytest.raises(SecurityError):
        KeySet(suite=SecuritySuite(2), server_system_title=TITLE, ek=bytes(16), ak=bytes(16))
    # A plain int suite (as read from a Security setup attribute) is normalised to the enum.
    plain = KeySet(suite=1, server_system_title=TITLE, ek=bytes(16), ak=bytes(16))
    assert plain.suite is SecuritySuite.ECDH_ECDSA_P256
