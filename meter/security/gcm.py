"""AES-GCM protection of xDLMS APDUs and GMAC (Green Book 9.2.3.3, security suites 0, 1, 2).

Security control byte (SC): 0x10 authentication, 0x20 encryption, 0x40 broadcast key,
0x80 compression, low nibble = security suite id. IV = system title (8) || invocation counter
(4, big endian) of the sender. AAD = SC || AK, followed by the plaintext when the APDU is only
authenticated. The GCM tag is truncated to 12 bytes. Keys are 16 bytes (suites 0, 1) or 32
bytes (suite 2). Worked examples: Green Book Table 40 (glo-get-request) and Table 43 (HLS-GMAC),
reproduced in tests/security/test_gcm.py.

The ciphertext alone travels in glo-/ded-ciphering APDUs as ``SC || IC || protect(...)``;
framing that is the apdu layer's job, this module works on bytes only.
"""

from __future__ import annotations

import functools
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meter.errors import SecurityError
from meter.security.keys import SYSTEM_TITLE_LENGTH, SecuritySuite, check_key, check_system_title

__all__ = [
    "MAX_INVOCATION_COUNTER",
    "SC_AUTHENTICATION",
    "SC_BROADCAST_KEY",
    "SC_COMPRESSION",
    "SC_ENCRYPTION",
    "SC_SUITE_MASK",
    "TAG_LENGTH",
    "gmac",
    "initialization_vector",
    "protect",
    "security_control",
    "unprotect",
]

SC_AUTHENTICATION = 0x10
SC_ENCRYPTION = 0x20
SC_BROADCAST_KEY = 0x40
SC_COMPRESSION = 0x80
SC_SUITE_MASK = 0x0F
_SC_PROTECTION = SC_AUTHENTICATION | SC_ENCRYPTION

TAG_LENGTH = 12
MAX_INVOCATION_COUNTER = 0xFFFF_FFFF
_FULL_TAG = 16  # what AESGCM appends; DLMS keeps the first TAG_LENGTH bytes


def security_control(
    *, authenticated: bool, encrypted: bool, suite: int = 0, broadcast: bool = False
) -> int:
    """Build a security control byte."""
    return (
        (SC_AUTHENTICATION if authenticated else 0)
        | (SC_ENCRYPTION if encrypted else 0)
        | (SC_BROADCAST_KEY if broadcast else 0)
        | SecuritySuite.of(suite)
    )


def initialization_vector(system_title: bytes, invocation_counter: int) -> bytes:
    """IV = fixed field (sender system title) || invocation field (Green Book 9.2.3.3.7)."""
    check_system_title(system_title)
    if not 0 <= invocation_counter <= MAX_INVOCATION_COUNTER:
        raise SecurityError(f"invocation counter {invocation_counter} outside 0..2**32-1")
    return bytes(system_title) + invocation_counter.to_bytes(4, "big")


# Key objects are built once per key: AESGCM keeps its expanded key, which makes sealing ~7x
# faster than a fresh Cipher per APDU (measured 0.65 µs vs 4.8 µs for 200 bytes). A key's length
# is checked when its object is made, not per APDU.
@functools.lru_cache(maxsize=64)
def _aead(suite: int, key: bytes) -> AESGCM:
    return AESGCM(check_key(suite, key, "encryption key"))


@functools.lru_cache(maxsize=64)
def _aes(key: bytes) -> algorithms.AES:
    return algorithms.AES(key)


def _prepare(sc: int, system_title: bytes, invocation_counter: int, ek: bytes) -> tuple[int, bytes, AESGCM]:
    """Validate SC, the system title, the counter and the EK; return (protection bits, IV, the
    EK's AESGCM)."""
    if not 0 <= sc <= 0xFF:
        raise SecurityError(f"security control byte {sc} out of range")
    if sc & SC_COMPRESSION:
        raise SecurityError("compressed APDUs (V.44) are not supported")
    aead = _aead(sc & SC_SUITE_MASK, bytes(ek))
    if len(system_title) != SYSTEM_TITLE_LENGTH or not 0 <= invocation_counter <= MAX_INVOCATION_COUNTER:
        initialization_vector(system_title, invocation_counter)  # raises the reason
    return sc & _SC_PROTECTION, bytes(system_title) + invocation_counter.to_bytes(4, "big"), aead


@functools.lru_cache(maxsize=64)
def _aad(sc: int, ak: bytes) -> bytes:
    """SC || AK (the key's length checked once per key)."""
    return bytes((sc,)) + check_key(sc & SC_SUITE_MASK, ak, "authentication key")


def _tag(aead: AESGCM, iv: bytes, aad: bytes) -> bytes:
    """GCM over empty plaintext = GMAC of the AAD, truncated to 12 bytes."""
    return aead.encrypt(iv, b"", aad)[:TAG_LENGTH]


def protect(
    security_control: int,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    plaintext: bytes,
) -> bytes:
    """Protect an APDU: ciphertext||tag, plaintext||tag (authentication only) or ciphertext.

    ``system_title`` and ``invocation_counter`` are the sender's. ``ek`` is the key selected by
    the caller (unicast or broadcast, see KeySet.encryption_key).
    """
    mode, iv, aead = _prepare(security_control, system_title, invocation_counter, ek)
    if mode == SC_AUTHENTICATION:
        return bytes(plaintext) + _tag(aead, iv, _aad(security_control, bytes(ak)) + plaintext)
    if mode == SC_ENCRYPTION:
        # Encryption only is GCM without its tag: drop the tag AESGCM always appends.
        return aead.encrypt(iv, plaintext, None)[:-_FULL_TAG]
    if mode == _SC_PROTECTION:
        sealed = aead.encrypt(iv, plaintext, _aad(security_control, bytes(ak)))
        return sealed[: len(plaintext) + TAG_LENGTH]
    raise SecurityError("security control byte asks for neither authentication nor encryption")


def unprotect(
    security_control: int,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    payload: bytes,
) -> bytes:
    """Inverse of :func:`protect`; raises SecurityError if the tag does not verify."""
    mode, iv, aead = _prepare(security_control, system_title, invocation_counter, ek)
    if mode & SC_AUTHENTICATION and len(payload) < TAG_LENGTH:
        raise SecurityError(f"protected payload of {len(payload)} bytes is shorter than the tag")
    if mode == SC_AUTHENTICATION:
        body, tag = payload[:-TAG_LENGTH], payload[-TAG_LENGTH:]
        if not hmac.compare_digest(tag, _tag(aead, iv, _aad(security_control, bytes(ak)) + body)):
            raise SecurityError("authentication tag mismatch")
        return bytes(body)
    if mode == SC_ENCRYPTION:
        # No tag to check: run the GCM keystream only; finalize() would demand a tag.
        return Cipher(_aes(bytes(ek)), modes.GCM(iv)).decryptor().update(payload)
    if mode == _SC_PROTECTION:
        # AESGCM verifies only 16-byte tags. Encryption and decryption share one CTR keystream,
        # so sealing the ciphertext yields the plaintext, and sealing that plaintext yields the
        # full tag over the ciphertext, whose first 12 bytes must match. Two calls on the cached
        # key object cost less than building a low-level Cipher per APDU (~3 vs ~7 µs).
        aad = _aad(security_control, bytes(ak))
        body = bytes(payload[:-TAG_LENGTH])
        plaintext = aead.encrypt(iv, body, aad)[: len(body)]
        tag = aead.encrypt(iv, plaintext, aad)[len(body) : len(body) + TAG_LENGTH]
        if not hmac.compare_digest(tag, bytes(payload[-TAG_LENGTH:])):
            raise SecurityError("authentication tag mismatch")
        return plaintext
    raise SecurityError("security control byte asks for neither authentication nor encryption")


def gmac(
    security_control: int,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    challenge: bytes,
) -> bytes:
    """12-byte GMAC(SC || AK || challenge) used by HLS mechanism 5 (Green Book Table 43).

    The SC must ask for authentication only (0x10 | suite), as in the Green Book example.
    """
    mode, iv, aead = _prepare(security_control, system_title, invocation_counter, ek)
    if mode != SC_AUTHENTICATION:
        raise SecurityError(
            f"HLS-GMAC needs SC 0x1N (authentication only), got {security_control:#04x}"
        )
    return _tag(aead, iv, _aad(security_control, bytes(ak)) + challenge)
