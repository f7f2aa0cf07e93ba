"""Signed test images: the bundled profile's manufacturer key (simulation only) and another."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from meter.security.firmware_image import make_image

#: The private half of profiles/acesm.toml's manufacturer_key.
KEY_PEM = Path(__file__).with_name("manufacturer-test-key.pem")


@cache
def manufacturer_key() -> ec.EllipticCurvePrivateKey:
    key = load_pem_private_key(KEY_PEM.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def image(version: str = "ACESM-0.2.0", size: int = 2000,
          key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """A signed image of ``size`` payload bytes (by the manufacturer key unless ``key``)."""
    return make_image(version, bytes(i * 7 & 0xFF for i in range(size)), key or manufacturer_key())


def forged(version: str = "ACESM-6.6.6", size: int = 2000) -> bytes:
    """An image signed by a key that is not the manufacturer's."""
    return image(version, size, ec.generate_private_key(ec.SECP256R1()))


def blocks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]
