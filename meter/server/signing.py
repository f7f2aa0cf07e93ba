"""general-signing (tag 0xDF) of security suites 1 and 2 (Green Book DLMS UA 1000-2 9.2.7.2.4
"general-signing" APDU; 9.2.3.4 ECDSA).

The APDU carries transaction-id, originator-system-title, recipient-system-title, date-time,
other-information, content and a signature. The signature is the originator's ECDSA signature
(P-256/SHA-256 for suite 1, P-384/SHA-384 for suite 2, raw r || s) over every octet before the
signature field: the tag, then each field with its A-XDR length (as Gurux builds it in
``GXDLMS.getLnPdu`` for ``Signing.GENERAL_SIGNING``).

Order with ciphering: cipher then sign (Green Book 9.2.7.2.4, and Gurux applies the signature
last), so the content is either a plain xDLMS APDU or a ciphered one; the signature is
checked first, deciphering follows in the server. Freshness: a ciphered content carries its own
invocation counter; a plain one has only the transaction-id, which is then checked as the
client's invocation counter (Gurux puts the invocation counter there) -- strictly above the last
one accepted under that Security setup, so a recorded signed request cannot be replayed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from meter import apdu as A
from meter.codec.obis import Obis
from meter.errors import SecurityError
from meter.security import ecc
from meter.server.protection import ReplayError, SecurityContext

__all__ = ["MAX_TRANSACTION_ID", "SignedRequest", "SigningKeys", "check_transaction", "key_pair",
           "open_signed", "overhead", "sign", "signed_octets", "signs"]

log = logging.getLogger(__name__)

#: transaction-id of a plain signed request: a 32-bit invocation counter in at most 8 octets.
MAX_TRANSACTION_ID = 8


def signs(suite: int) -> bool:
    """Whether a security context of ``suite`` signs (suites 1 and 2, ECDSA)."""
    return suite in ecc.CURVES


def overhead(suite: int) -> int:
    """What general-signing adds around a response of up to 64 kB (0 for a suite that does not
    sign): tag, transaction-id (length + at most 8), two system titles (1 + 8 each), empty
    date-time and other-information (1 each), the content's length (up to 3), the signature
    (raw r || s, each of the curve's size)."""
    if not signs(suite):
        return 0
    signature = 2 * ((ecc.CURVES[suite]().key_size + 7) // 8)
    return 1 + (1 + MAX_TRANSACTION_ID) + 2 * (1 + 8) + 1 + 1 + 3 + 1 + signature


class SigningKeys(Protocol):
    """Where the signing keys of a Security setup are (the device's key store)."""

    def signing_key(self, setup: Obis) -> ec.EllipticCurvePrivateKey | None: ...
    def client_signing_key(self, setup: Obis, system_title: bytes) -> ec.EllipticCurvePublicKey | None: ...


def key_pair(keys: SigningKeys, setup: Obis | None, security: SecurityContext | None,
             originator: bytes) -> tuple[ec.EllipticCurvePublicKey | None, ec.EllipticCurvePrivateKey | None]:
    """The client's (by system title ``originator``) and the server's signing keys of the
    Security setup ``setup``; None for one that is missing or not on the suite's curve."""
    if setup is None or security is None or not signs(security.suite):
        return None, None
    curve = ecc.CURVES[security.suite]
    public = keys.client_signing_key(setup, originator)
    private = keys.signing_key(setup)
    if public is None or private is None:
        log.info("no signing key pair for client %s (suite %d)", originator.hex(), security.suite)
    return (public if public is not None and isinstance(public.curve, curve) else None,
            private if private is not None and isinstance(private.curve, curve) else None)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the response to a signed request needs from it."""

    transaction_id: bytes
    originator: bytes


def signed_octets(apdu: A.GeneralSigning) -> bytes:
    """The octets the signature covers: the APDU up to and including the content field."""
    # With an empty signature the encoding ends in its length octet 0x00: drop it.
    return A.GeneralSigning(apdu.transaction_id, apdu.originator_system_title,
                            apdu.recipient_system_title, apdu.date_time, apdu.other_information,
                            apdu.content, b"").to_bytes()[:-1]


def open_signed(apdu: A.GeneralSigning, ctx: SecurityContext, client_key: ec.EllipticCurvePublicKey | None,
                client_system_title: bytes | None) -> tuple[bytes, SignedRequest]:
    """Check a signed request; returns its content (an APDU, maybe ciphered) and what the
    response needs. Raises SecurityError (unknown originator, bad signature, wrong recipient).
    A plain content must then pass :func:`check_transaction`."""
    originator = apdu.originator_system_title
    if client_system_title is not None and originator != client_system_title:
        raise SecurityError("originator system title differs from the AARQ's")
    if apdu.recipient_system_title != ctx.server_system_title:
        raise SecurityError("general-signing addressed to another system title")
    if client_key is None:
        raise SecurityError(f"no signing certificate for originator {originator.hex()}")
    if not ecc.verify(client_key, apdu.signature, signed_octets(apdu)):
        raise SecurityError("general-signing signature does not verify")
    if not apdu.content:
        raise SecurityError("general-signing without content")
    return apdu.content, SignedRequest(apdu.transaction_id, originator)


def check_transaction(signed: SignedRequest, ctx: SecurityContext) -> None:
    """Freshness of a signed plain content: its transaction-id, as the client's invocation
    counter, above every one accepted (ReplayError otherwise; SecurityError if malformed)."""
    tid = signed.transaction_id
    if not 1 <= len(tid) <= MAX_TRANSACTION_ID:
        raise SecurityError(f"transaction-id of {len(tid)} octets")
    value = int.from_bytes(tid, "big")
    if not ctx.rx.accept(value):
        ctx.replays += 1
        raise ReplayError(value, ctx.rx.last + 1)


def sign(content: bytes, key: ec.EllipticCurvePrivateKey, ctx: SecurityContext,
         recipient: bytes, transaction_id: bytes) -> bytes:
    """A general-signing APDU from the server carrying ``content`` (already ciphered, if so)."""
    unsigned = A.GeneralSigning(transaction_id, ctx.server_system_title, recipient, b"", b"",
                                content, b"")
    return A.GeneralSigning(transaction_id, ctx.server_system_title, recipient, b"", b"", content,
                            ecc.sign(key, signed_octets(unsigned))).to_bytes()
