"""Pass 3 -> 4 of HLS authentication, per mechanism (Green Book DLMS UA 1000-2 9.2.7.4): check
the client's f(StoC), return the server's f(CtoS), or None when the check fails. Functions of
the challenges, titles and keys; the association decides what follows a failure.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from meter.apdu.acse import MechanismName
from meter.security import hls
from meter.security.gcm import SC_AUTHENTICATION
from meter.server.channel import SecureChannel
from meter.server.protection import SecurityContext

__all__ = ["DIGESTS", "SIGNED_MECHANISMS", "Challenges", "digest_reply", "ecdsa_reply", "f_ctos",
           "gmac_reply", "sha256_reply"]

#: MD5 and SHA-1 (deprecated by the Green Book) run only for an association whose profile names
#: them: f() covers neither system title, so they need no ciphered context.
DIGESTS: dict[int, Callable[[bytes, bytes], bytes]] = {MechanismName.HIGH_MD5: hls.md5_response, MechanismName.HIGH_SHA1: hls.sha1_response}
#: The mechanisms whose f() covers both system titles, so they need a security context.
SIGNED_MECHANISMS = (MechanismName.HIGH_GMAC, MechanismName.HIGH_SHA256, MechanismName.HIGH_ECDSA)


@dataclass(frozen=True, slots=True)
class Challenges:
    """The challenges of one HLS association (passes 1 and 2) and its mechanism."""

    mechanism: int
    stoc: bytes
    ctos: bytes


def f_ctos(challenges: Challenges, f_stoc: bytes, secret: bytes, channel: SecureChannel) -> bytes | None:
    """Pass 3: f(CtoS) if the client's ``f_stoc`` is right for the association's mechanism
    (its HLS ``secret``, its channel's keys and titles), else None."""
    security, title = channel.security, channel.client_system_title
    mechanism, stoc, ctos = challenges.mechanism, challenges.stoc, challenges.ctos
    digest = DIGESTS.get(mechanism)
    if digest is not None:
        return digest_reply(digest, secret, stoc, ctos, f_stoc)
    if security is None or title is None:
        return None
    server = security.server_system_title
    if mechanism == MechanismName.HIGH_GMAC:
        return gmac_reply(security, title, stoc, ctos, f_stoc)
    if mechanism == MechanismName.HIGH_SHA256:
        return sha256_reply(secret, title, server, stoc, ctos, f_stoc)
    public, private = channel.key_pair(title)
    if public is None or private is None:
        return None
    return ecdsa_reply(public, private, title, server, stoc, ctos, f_stoc)


def digest_reply(f: Callable[[bytes, bytes], bytes], secret: bytes, stoc: bytes, ctos: bytes,
                 f_stoc: bytes) -> bytes | None:
    """Mechanisms 3/4: the client proves f(StoC || secret), the server answers f(CtoS || secret)
    (the order of Gurux GXSecure.secure for HIGH_MD5 / HIGH_SHA1)."""
    if not secret or not hls.verify_response(f(stoc, secret), f_stoc):
        return None  # an unset secret would make f() computable by anyone
    return f(ctos, secret)


def gmac_reply(security: SecurityContext, title: bytes, stoc: bytes, ctos: bytes,
               f_stoc: bytes) -> bytes | None:
    """Mechanism 5: SC || IC || GMAC(SC || AK || challenge) under the sender's title and IC.

    The SC is authentication-only of the context's suite (Green Book 9.2.7.4: 0x10 | suite);
    anything else (0x30, a compression bit, another suite) is a wrong f(StoC), not an error."""
    if len(f_stoc) != 17 or f_stoc[0] != SC_AUTHENTICATION | security.suite:
        return None
    sc = f_stoc[0]
    expected = security.gmac(sc, title, int.from_bytes(f_stoc[1:5], "big"), stoc)
    if not hmac.compare_digest(expected, f_stoc[5:]):
        return None
    ic_s = security.tx.next()
    tag = security.gmac(sc, security.server_system_title, ic_s, ctos)
    return bytes((sc,)) + ic_s.to_bytes(4, "big") + tag


def sha256_reply(secret: bytes, title: bytes, server: bytes, stoc: bytes, ctos: bytes,
                 f_stoc: bytes) -> bytes | None:
    """Mechanism 6 with the association's HLS secret (attribute 7, change_HLS_secret)."""
    if not secret:
        return None
    if not hls.verify_response(hls.sha256_response(secret, title, server, stoc, ctos), f_stoc):
        return None
    return hls.sha256_response(secret, server, title, ctos, stoc)


def ecdsa_reply(public: ec.EllipticCurvePublicKey, private: ec.EllipticCurvePrivateKey, title: bytes,
                server: bytes, stoc: bytes, ctos: bytes, f_stoc: bytes) -> bytes | None:
    """Mechanism 7: the client's signature verified with the public key of its imported signing
    certificate; the answer signed with the server's own signing key."""
    if not hls.ecdsa_verify(public, f_stoc, title, server, stoc, ctos):
        return None
    return hls.ecdsa_sign(private, server, title, ctos, stoc)
