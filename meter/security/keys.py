"""Key material of one security context (Green Book 9.2.3, Blue Book Security setup IC 64).

Security suites (Security setup attribute 3): 0 = AES-GCM-128 + AES-128 key wrap; 1 = ECDH-ECDSA
P-256 + AES-GCM-128 + SHA-256; 2 = ECDH-ECDSA P-384 + AES-GCM-256 + SHA-384 (+ AES-256 wrap).
Key ids of key_transfer / key_agreement: 0 global unicast EK, 1 broadcast EK, 2 AK, 3 master key
(KEK) -- as encoded by Gurux ``GlobalKeyType``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from meter.errors import SecurityError

__all__ = [
    "SYSTEM_TITLE_LENGTH",
    "KeyId",
    "KeySet",
    "SecuritySuite",
    "check_key",
    "check_system_title",
]

SYSTEM_TITLE_LENGTH = 8


class SecuritySuite(enum.IntEnum):
    """Security setup attribute 3 and the low nibble of the security control byte."""

    AES_GCM_128 = 0
    ECDH_ECDSA_P256 = 1
    ECDH_ECDSA_P384 = 2

    @property
    def key_length(self) -> int:
        """Length in bytes of every symmetric key (EK, broadcast key, AK, KEK) of the suite."""
        return _KEY_LENGTH[self]

    @classmethod
    def of(cls, suite: int) -> SecuritySuite:
        """The suite for a wire value; unknown suites are a SecurityError, not a ValueError."""
        try:
            return cls(suite)
        except ValueError:
            raise SecurityError(f"unsupported security suite {suite}") from None


# Plain dict so check_key, on the per-APDU path, costs a lookup rather than an enum construction.
_KEY_LENGTH: dict[int, int] = {
    SecuritySuite.AES_GCM_128: 16,
    SecuritySuite.ECDH_ECDSA_P256: 16,
    SecuritySuite.ECDH_ECDSA_P384: 32,
}


class KeyId(enum.IntEnum):
    """key_id of Security setup key_transfer (method 2) and key_agreement (method 3)."""

    GLOBAL_UNICAST = 0
    GLOBAL_BROADCAST = 1
    AUTHENTICATION = 2
    MASTER = 3


def check_key(suite: int, key: bytes, name: str = "key") -> bytes:
    """Return ``key`` if its length fits ``suite``; else raise SecurityError."""
    want = _KEY_LENGTH.get(suite)
    if want is None:
        raise SecurityError(f"unsupported security suite {suite}")
    if len(key) != want:
        raise SecurityError(f"{name} must be {want} bytes for suite {suite}, got {len(key)}")
    return key


def check_system_title(title: bytes, name: str = "system title") -> bytes:
    """Return ``title`` if it is 8 bytes (Green Book 4.3.4); else raise SecurityError."""
    if len(title) != SYSTEM_TITLE_LENGTH:
        raise SecurityError(f"{name} must be {SYSTEM_TITLE_LENGTH} bytes, got {len(title)}")
    return title


_KEY_FIELDS = {
    KeyId.GLOBAL_UNICAST: "ek",
    KeyId.GLOBAL_BROADCAST: "broadcast_key",
    KeyId.AUTHENTICATION: "ak",
    KeyId.MASTER: "kek",
}


@dataclass(frozen=True, slots=True)
class KeySet:
    """The symmetric keys and system titles one association (or Security setup) works with.

    ``client_system_title`` is None until the client has sent it in the AARQ. The broadcast key
    and the KEK are optional: a meter may run without broadcast or without key transfer.
    """

    suite: SecuritySuite
    server_system_title: bytes
    ek: bytes  # global unicast encryption key
    ak: bytes
    kek: bytes | None = None  # master key, wraps the others in key_transfer
    broadcast_key: bytes | None = None
    client_system_title: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "suite", SecuritySuite.of(self.suite))
        check_system_title(self.server_system_title, "server system title")
        if self.client_system_title is not None:
            check_system_title(self.client_system_title, "client system title")
        check_key(self.suite, self.ek, "EK")
        check_key(self.suite, self.ak, "AK")
        if self.kek is not None:
            check_key(self.suite, self.kek, "KEK")
        if self.broadcast_key is not None:
            check_key(self.suite, self.broadcast_key, "broadcast key")

    def key(self, key_id: KeyId) -> bytes | None:
        """The key stored under a key_transfer key id."""
        value: bytes | None = getattr(self, _KEY_FIELDS[KeyId(key_id)])
        return value

    def with_key(self, key_id: KeyId, key: bytes) -> KeySet:
        """A copy with one key replaced (key_transfer); the length is checked for the suite."""
        # The field name is chosen at run time; mypy's replace() check would match the bytes value
        # against every field (suite included), so the mapping is typed loosely.
        change: dict[str, Any] = {_KEY_FIELDS[KeyId(key_id)]: key}
        return dataclasses.replace(self, **change)

    def with_client_system_title(self, title: bytes) -> KeySet:
        """A copy bound to the client's system title (learned from the AARQ)."""
        return dataclasses.replace(self, client_system_title=title)

    def encryption_key(self, security_control: int) -> bytes:
        """EK or the broadcast key, as selected by bit 0x40 of the security control byte."""
        if security_control & 0x40:
            if self.broadcast_key is None:
                raise SecurityError("broadcast key requested but none is set")
            return self.broadcast_key
        return self.ek
