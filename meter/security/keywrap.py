"""AES key wrap (RFC 3394) of keys carried by Security setup key_transfer (Green Book 9.2.3.4).

Suite 0/1 wrap 128-bit keys with a 128-bit KEK, suite 2 256-bit keys with a 256-bit KEK; the
RFC itself allows any KEK size with any multiple-of-8 key, and so does this module.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from meter.errors import SecurityError

__all__ = ["unwrap", "wrap"]

_KEK_LENGTHS = (16, 24, 32)


def _check_kek(kek: bytes) -> bytes:
    if len(kek) not in _KEK_LENGTHS:
        raise SecurityError(f"KEK must be 16, 24 or 32 bytes, got {len(kek)}")
    return bytes(kek)


def wrap(kek: bytes, key: bytes) -> bytes:
    """Wrap ``key`` (16..n bytes, multiple of 8) under ``kek``; 8 bytes longer than ``key``."""
    if len(key) < 16 or len(key) % 8:
        raise SecurityError(f"key to wrap must be a multiple of 8 bytes, >= 16, got {len(key)}")
    return aes_key_wrap(_check_kek(kek), bytes(key))


def unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """Unwrap ``wrapped`` (e.g. from the wire); SecurityError on any integrity failure."""
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise SecurityError(f"wrapped key must be a multiple of 8 bytes, >= 24, got {len(wrapped)}")
    try:
        return aes_key_unwrap(_check_kek(kek), bytes(wrapped))
    except InvalidUnwrap:
        raise SecurityError("key unwrap integrity check failed") from None
