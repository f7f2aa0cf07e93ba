"""The ACESM firmware image: what Image transfer (class 18) receives, verifies and activates.

The Blue Book leaves the image's content to the manufacturer (image_verify checks it "as the
manufacturer specifies"). Ours is a signed container; integers are big-endian::

    offset      size  field
    0           8     magic "ACESMFW1"
    8           1     n, the length of the version (1..64)
    9           n     version: the active firmware identifier (1.0.0.2.0.255) once activated
    9+n         4     p, the length of the payload
    13+n        p     payload: the (simulated) firmware, opaque to the meter
    13+n+p      64    signature: ECDSA P-256 with SHA-256 over bytes 0 .. 13+n+p-1, raw r || s

The signing key is the manufacturer's; the meter holds its public key (the raw point x || y of
meter/security/ecc.py, named by the Image transfer object's ``manufacturer_key`` in the
profile). Nothing may follow the signature. ``acesm-meter firmware make`` builds one.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from meter.errors import SecurityError
from meter.security import ecc

__all__ = ["MAGIC", "FirmwareImage", "ImageError", "make_image", "open_image"]

MAGIC = b"ACESMFW1"
#: The manufacturer key's security suite (Green Book 9.2.3.1: suite 1 = P-256, SHA-256).
SUITE = 1
SIGNATURE_BYTES = 64
MAX_VERSION_BYTES = 64
_HEAD = len(MAGIC) + 1


class ImageError(SecurityError):
    """An image that is not ours, is cut short, or is not signed by the manufacturer key."""


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    version: bytes
    payload: bytes
    signature: bytes


def make_image(version: str, payload: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """The signed image of ``payload`` as firmware ``version`` (ASCII, 1..64 characters)."""
    raw = version.encode("ascii")
    if not 1 <= len(raw) <= MAX_VERSION_BYTES:
        raise ImageError(f"a version is 1..{MAX_VERSION_BYTES} characters")
    if key.curve.name != ec.SECP256R1.name:
        raise ImageError("the manufacturer key is a P-256 key")
    body = MAGIC + bytes([len(raw)]) + raw + len(payload).to_bytes(4, "big") + payload
    return body + ecc.sign(key, body)


def open_image(image: bytes, manufacturer_key: bytes) -> FirmwareImage:
    """The parts of ``image`` if it is well formed and signed under ``manufacturer_key`` (x || y),
    else ImageError saying what is wrong."""
    public = ecc.point_key(SUITE, manufacturer_key)
    if len(image) < _HEAD or image[:len(MAGIC)] != MAGIC:
        raise ImageError("not an ACESM firmware image (magic)")
    n = image[len(MAGIC)]
    payload_at = _HEAD + n + 4
    if not 1 <= n <= MAX_VERSION_BYTES or len(image) < payload_at:
        raise ImageError("version field out of range or cut short")
    p = int.from_bytes(image[_HEAD + n:payload_at], "big")
    end = payload_at + p
    if len(image) != end + SIGNATURE_BYTES:
        raise ImageError(f"size {len(image)} does not match its fields ({end + SIGNATURE_BYTES})")
    signature = image[end:]
    if not ecc.verify(public, signature, image[:end]):
        raise ImageError("signature does not verify under the manufacturer key")
    return FirmwareImage(image[_HEAD:_HEAD + n], image[payload_at:end], signature)
