"""HLS authentication: challenges and the f(challenge) of mechanisms 2..7 (Green Book 9.2.7.4).

Four-pass HLS: the client sends CtoS in the AARQ, the server StoC in the AARE; each side then
proves itself by returning f(challenge it received). Every function takes the *responder's* view,
for computing and for checking alike: ``challenge`` is the one being answered,
``responder_challenge`` the one the responder itself issued, ``responder_title`` /
``verifier_title`` the system titles. The client answering StoC thus covers
ST-C || ST-S || StoC || CtoS, the server answering CtoS ST-S || ST-C || CtoS || StoC -- the order
of Gurux ``GXDLMSClient.getApplicationAssociationRequest`` / ``parseApplicationAssociationResponse``
for mechanisms 6 and 7.

Mechanism 2 is manufacturer specific; we follow the common (Gurux ``GXSecure.secure``) choice:
AES-128-ECB of the zero-padded challenge under the zero-padded secret. Every comparison is
constant-time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from meter.errors import SecurityError
from meter.security import ecc
from meter.security.gcm import SC_AUTHENTICATION, TAG_LENGTH, gmac

__all__ = [
    "MAX_CHALLENGE",
    "MIN_CHALLENGE",
    "GmacResponse",
    "Mechanism",
    "check_challenge",
    "ecdsa_sign",
    "ecdsa_verify",
    "gmac_response",
    "manufacturer_response",
    "md5_response",
    "new_challenge",
    "sha1_response",
    "sha256_response",
    "verify_gmac_response",
    "verify_response",
]

MIN_CHALLENGE = 8  # Green Book: challenges are 8 to 64 octets
MAX_CHALLENGE = 64

RandomSource = Callable[[int], bytes]


class Mechanism(enum.IntEnum):
    """mechanism_id n of the authentication-mechanism-name OID 2.16.756.5.8.2.n."""

    NONE = 0
    LOW = 1
    HIGH = 2  # manufacturer specific
    HIGH_MD5 = 3
    HIGH_SHA1 = 4
    HIGH_GMAC = 5
    HIGH_SHA256 = 6
    HIGH_ECDSA = 7


def new_challenge(length: int = 16, random: RandomSource = os.urandom) -> bytes:
    """A fresh random challenge of ``length`` (8..64) bytes; ``random`` is injectable for tests."""
    if not MIN_CHALLENGE <= length <= MAX_CHALLENGE:
        raise SecurityError(f"challenge length {length} outside {MIN_CHALLENGE}..{MAX_CHALLENGE}")
    challenge = random(length)
    if len(challenge) != length:
        raise SecurityError("random source returned the wrong number of bytes")
    return challenge


def check_challenge(challenge: bytes) -> bytes:
    """Return a peer's challenge if its length is 8..64 bytes; else raise SecurityError."""
    if not MIN_CHALLENGE <= len(challenge) <= MAX_CHALLENGE:
        raise SecurityError(f"challenge of {len(challenge)} bytes outside 8..64")
    return challenge


def verify_response(expected: bytes, received: bytes) -> bool:
    """Constant-time comparison of a computed f(challenge) with the one received."""
    return hmac.compare_digest(expected, received)


# -- mechanisms 2, 3, 4, 6: secret-based -------------------------------------------------------


def manufacturer_response(challenge: bytes, secret: bytes) -> bytes:
    """Mechanism 2 (Gurux convention): AES-128-ECB(secret padded to 16, challenge padded to 16n)."""
    if len(secret) > 16:
        raise SecurityError("mechanism 2 secret must be at most 16 bytes")
    key = bytes(secret).ljust(16, b"\0")
    data = bytes(challenge).ljust(-(-len(challenge) // 16) * 16, b"\0")
    # ECB is the mechanism's definition here, each 16-byte block enciphered on its own.
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def md5_response(challenge: bytes, secret: bytes) -> bytes:
    """Mechanism 3: MD5(challenge || secret). Deprecated by the Green Book; kept for old clients."""
    return hashlib.md5(bytes(challenge) + secret, usedforsecurity=False).digest()


def sha1_response(challenge: bytes, secret: bytes) -> bytes:
    """Mechanism 4: SHA-1(challenge || secret)."""
    return hashlib.sha1(bytes(challenge) + secret, usedforsecurity=False).digest()


def sha256_response(
    secret: bytes,
    responder_title: bytes,
    verifier_title: bytes,
    challenge: bytes,
    responder_challenge: bytes,
) -> bytes:
    """Mechanism 6: SHA-256(secret || responder title || verifier title || challenge ||
    responder challenge)."""
    return hashlib.sha256(
        bytes(secret) + responder_title + verifier_title + challenge + responder_challenge
    ).digest()


# -- mechanism 5: GMAC ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GmacResponse:
    """f(challenge) of mechanism 5: SC (1) || IC (4) || GMAC tag (12)."""

    security_control: int
    invocation_counter: int
    tag: bytes

    LENGTH: ClassVar[int] = 1 + 4 + TAG_LENGTH

    @classmethod
    def from_bytes(cls, data: bytes) -> GmacResponse:
        if len(data) != cls.LENGTH:
            raise SecurityError(f"HLS-GMAC response must be {cls.LENGTH} bytes, got {len(data)}")
        return cls(data[0], int.from_bytes(data[1:5], "big"), bytes(data[5:]))

    def to_bytes(self) -> bytes:
        header = bytes((self.security_control,)) + self.invocation_counter.to_bytes(4, "big")
        return header + self.tag


def gmac_response(
    suite: int,
    responder_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    challenge: bytes,
) -> bytes:
    """Mechanism 5: SC || IC || GMAC(SC || AK || challenge), IV from the responder's title and IC.

    ``invocation_counter`` must come from the responder's transmit counter (it uses the IV).
    """
    sc = SC_AUTHENTICATION | suite
    tag = gmac(sc, responder_title, invocation_counter, ek, ak, challenge)
    return GmacResponse(sc, invocation_counter, tag).to_bytes()


def verify_gmac_response(
    response: bytes, responder_title: bytes, ek: bytes, ak: bytes, challenge: bytes, suite: int = 0
) -> bool:
    """Check the peer's f(challenge); SC, IC and tag come from ``response`` itself.

    A malformed response or one with an unexpected SC is False, not an exception, so the
    association layer has a single failure path. The caller may additionally check the IC
    (``GmacResponse.from_bytes(response).invocation_counter``) against replay.
    """
    try:
        parsed = GmacResponse.from_bytes(response)
        if parsed.security_control != SC_AUTHENTICATION | suite:
            return False
        expected = gmac(
            parsed.security_control, responder_title, parsed.invocation_counter, ek, ak, challenge
        )
    except SecurityError:
        return False
    return hmac.compare_digest(expected, parsed.tag)


# -- mechanism 7: ECDSA ------------------------------------------------------------------------

# Suite 1 signs with P-256/SHA-256, suite 2 with P-384/SHA-384 (Green Book 9.2.3.4), raw r || s
# (meter.security.ecc).


def _ecdsa_message(
    responder_title: bytes, verifier_title: bytes, challenge: bytes, responder_challenge: bytes
) -> bytes:
    return bytes(responder_title) + verifier_title + challenge + responder_challenge


def ecdsa_sign(
    private_key: ec.EllipticCurvePrivateKey,
    responder_title: bytes,
    verifier_title: bytes,
    challenge: bytes,
    responder_challenge: bytes,
) -> bytes:
    """Mechanism 7: raw r||s signature over responder title || verifier title || challenge ||
    responder challenge."""
    return ecc.sign(private_key, _ecdsa_message(responder_title, verifier_title, challenge,
                                                responder_challenge))


def ecdsa_verify(
    public_key: ec.EllipticCurvePublicKey,
    signature: bytes,
    responder_title: bytes,
    verifier_title: bytes,
    challenge: bytes,
    responder_challenge: bytes,
) -> bool:
    """Check a mechanism-7 answer made with :func:`ecdsa_sign` by the holder of ``public_key``."""
    return ecc.verify(public_key, signature, _ecdsa_message(responder_title, verifier_title,
                                                            challenge, responder_challenge))
