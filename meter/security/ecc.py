"""Elliptic-curve primitives of security suites 1 and 2 (Green Book DLMS UA 1000-2 9.2.3.4):
ECDSA signatures as DLMS carries them, public keys as raw points, ECDH and the key derivation
function of key agreement.

* Suite 1 = NIST P-256 with SHA-256, suite 2 = P-384 with SHA-384; the key's curve picks the
  hash. A signature travels as raw r || s, each the curve's byte size (Gurux ``GXEcdsa.sign``).
* A public key travels as the raw point x || y without the 0x04 prefix (64 or 96 bytes), as in
  key_agreement's key_ciphered_data (Gurux ``GXPublicKey.rawValue`` minus its first byte).
* Key derivation: the NIST SP 800-56A rev.2 5.8.1 concatenation KDF with the suite's hash,
  one counter block: H(00000001 || Z || OtherInfo), OtherInfo = AlgorithmID || PartyUInfo ||
  PartyVInfo (Green Book 9.2.3.4.6.5; Gurux ``GXSecure.generateKDF``), truncated to the key size.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from meter.errors import SecurityError

__all__ = ["derive_key", "ecdh", "point_bytes", "point_key", "sign", "verify"]

_HASH: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
}
#: The curve of each ECC security suite (Green Book 9.2.3.1: suite 1 P-256, suite 2 P-384).
CURVES: dict[int, type[ec.EllipticCurve]] = {1: ec.SECP256R1, 2: ec.SECP384R1}


def _hash_for(curve: ec.EllipticCurve) -> tuple[hashes.HashAlgorithm, int]:
    try:
        return _HASH[curve.name](), (curve.key_size + 7) // 8
    except KeyError:
        raise SecurityError(f"curve {curve.name} is not used by DLMS suites 1 or 2") from None


def sign(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """Raw r || s ECDSA signature of ``message`` with the curve's hash."""
    algorithm, size = _hash_for(private_key.curve)
    r, s = decode_dss_signature(private_key.sign(bytes(message), ec.ECDSA(algorithm)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify(public_key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` (raw r || s) is ``public_key``'s signature of ``message``."""
    algorithm, size = _hash_for(public_key.curve)
    if len(signature) != 2 * size:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                               int.from_bytes(signature[size:], "big"))
    try:
        public_key.verify(der, bytes(message), ec.ECDSA(algorithm))
    except InvalidSignature:
        return False
    return True


def point_bytes(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """x || y of a public key (the uncompressed point without its 0x04 prefix)."""
    numbers = public_key.public_numbers()
    size = (public_key.curve.key_size + 7) // 8
    return numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")


def point_key(suite: int, raw: bytes) -> ec.EllipticCurvePublicKey:
    """The public key x || y on the curve of ``suite``; SecurityError if it is no point of it."""
    curve_type = CURVES.get(suite)
    if curve_type is None:
        raise SecurityError(f"security suite {suite} has no curve")
    curve = curve_type()  # key_size is an instance property of EllipticCurve
    size = (curve.key_size + 7) // 8
    if len(raw) != 2 * size:
        raise SecurityError(f"a suite {suite} public key is {2 * size} bytes, not {len(raw)}")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + bytes(raw))
    except ValueError:
        raise SecurityError("public key is not a point of the curve") from None


def ecdh(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    """The shared secret Z (x coordinate of the product point)."""
    if peer.curve.name != private_key.curve.name:
        raise SecurityError("ECDH keys on different curves")
    return private_key.exchange(ec.ECDH(), peer)


def derive_key(z: bytes, algorithm_id: bytes, party_u: bytes, party_v: bytes, length: int,
               curve: ec.EllipticCurve) -> bytes:
    """``length`` bytes of key from the shared secret ``z`` (one block: 32 or 48 bytes)."""
    algorithm, _ = _hash_for(curve)
    if length > algorithm.digest_size:
        raise SecurityError(f"a {length}-byte key needs more than one KDF block")
    h = hashes.Hash(algorithm)
    h.update((1).to_bytes(4, "big") + bytes(z) + bytes(algorithm_id) + bytes(party_u) + bytes(party_v))
    return h.finalize()[:length]
