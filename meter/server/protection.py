"""Ciphered xDLMS APDUs: unwrap requests and wrap responses (Green Book 9.2.7.2, 9.3.12-9.3.13).

A request arrives service-specific glo-/ded-ciphered or general-glo-/general-ded-ciphered. It is
checked (security control, authentication tag, invocation counter strictly above the last one
accepted from that peer) and the response goes back in the same kind of envelope under the
server's own system title and a never-reused invocation counter, strengthened to what the
security policy (Security setup v1 attribute 2) and the access rights (access_mode v3) ask for
the response (:func:`response_envelope`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Protocol

from meter import apdu as A
from meter.cosem.base import AccessMode
from meter.errors import DecodeError, SecurityError
from meter.security import gcm

log = logging.getLogger(__name__)

SC_AUTHENTICATION = 0x10
SC_ENCRYPTION = 0x20
SC_SUITE_MASK = 0x0F
#: Security control bit 6 "key set": 0 unicast, 1 broadcast key; bit 7 compression
#: (Green Book 9.2.7.2.4, security header). The meter compresses nothing.
SC_BROADCAST_KEY = 0x40
SC_COMPRESSION = 0x80
#: Security setup v1 security_policy bits are the access_mode v3 protection bits (Blue Book
#: 4.4.7 security_policy v1 and 4.4.3 access_mode v3 use the same positions 2-7).
REQUEST_PROTECTION = int(AccessMode.AUTHENTICATED_REQUEST | AccessMode.ENCRYPTED_REQUEST
                         | AccessMode.DIGITALLY_SIGNED_REQUEST)
AUTHENTICATED_RESPONSE = int(AccessMode.AUTHENTICATED_RESPONSE)
ENCRYPTED_RESPONSE = int(AccessMode.ENCRYPTED_RESPONSE)

#: Bytes a service-specific envelope adds: tag, length (<= 3), SC, IC (4) and the GCM tag (12).
GLO_OVERHEAD = 1 + 3 + 1 + 4 + 12
#: general-glo- and general-ded-ciphering add the system title (1 + 8) on top of that; suite 2
#: has the same header and a 12-byte tag too, so this is the most any envelope adds.
GENERAL_OVERHEAD = GLO_OVERHEAD + 9


class CounterAllocator(Protocol):
    """Hands out the server's invocation counter; never the same value twice (persisted)."""

    def next(self) -> int: ...


class ReceivedCounter(Protocol):
    """The last invocation counter accepted from a peer (persisted)."""

    @property
    def last(self) -> int: ...

    def accept(self, value: int) -> bool: ...


class ReplayError(SecurityError):
    """The invocation counter was not above the last one accepted (Green Book: rejected)."""

    def __init__(self, received: int, expected: int) -> None:
        super().__init__(f"invocation counter {received} replayed, expected > {expected - 1}")
        self.expected = expected


@dataclass(slots=True)
class SecurityContext:
    """Keys and counters of one Security setup object (mutable: key transfer replaces keys)."""

    suite: int
    server_system_title: bytes
    encryption_key: bytes
    authentication_key: bytes
    master_key: bytes
    tx: CounterAllocator
    rx: ReceivedCounter
    broadcast_key: bytes | None = None
    failures: int = 0
    replays: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def gmac(self, security_control: int, system_title: bytes, invocation_counter: int,
             challenge: bytes) -> bytes:
        return gcm.gmac(security_control, system_title, invocation_counter,
                        self.encryption_key, self.authentication_key, challenge)


@dataclass(frozen=True, slots=True)
class Envelope:
    """How a request was protected, so the response is protected the same way."""

    kind: str  # "glo", "ded", "general-glo", "general-ded"
    security_control: int
    plain_tag: int


def unwrap(
    apdu: A.CipheredApdu | A.GeneralGloCiphering | A.GeneralDedCiphering,
    ctx: SecurityContext,
    client_system_title: bytes | None,
    dedicated_key: bytes | None,
) -> tuple[bytes, Envelope]:
    """Check and decipher a request; returns the plain APDU and its envelope.

    Raises SecurityError (bad tag, wrong key, missing system title) or ReplayError.
    """
    if isinstance(apdu, A.CipheredApdu):
        dedicated = not A.is_global(apdu.tag)
        kind = "ded" if dedicated else "glo"
        system_title = client_system_title
    else:
        dedicated = isinstance(apdu, A.GeneralDedCiphering)
        kind = "general-ded" if dedicated else "general-glo"
        system_title = apdu.system_title
        if client_system_title is not None and system_title != client_system_title:
            raise SecurityError("system title differs from the one given in the AARQ")
    if system_title is None or len(system_title) != 8:
        raise SecurityError("no client system title for this association")
    sc = apdu.security_control
    if not sc & (SC_AUTHENTICATION | SC_ENCRYPTION):
        raise SecurityError("security control asks for no protection")
    if (sc & SC_SUITE_MASK) != ctx.suite:
        raise SecurityError(f"security suite {sc & SC_SUITE_MASK} is not this context's")
    if sc & SC_COMPRESSION:
        raise SecurityError("compressed APDUs are not supported")
    if sc & SC_BROADCAST_KEY:
        if dedicated:
            raise SecurityError("broadcast key set on a dedicated-ciphered APDU")
        key = ctx.broadcast_key
    else:
        key = dedicated_key if dedicated else ctx.encryption_key
    if key is None:
        raise SecurityError("no key for this security control")
    ic = apdu.invocation_counter
    plain = gcm.unprotect(sc, system_title, ic, key, ctx.authentication_key, apdu.payload)
    if not plain:
        raise SecurityError("empty ciphered APDU")
    if isinstance(apdu, A.CipheredApdu) and plain[0] != A.plain_tag_for(apdu.tag):
        # The AAD does not cover the APDU tag: a glo-get turned into a glo-set must not pass.
        raise SecurityError(f"0x{apdu.tag:02X} does not carry APDU 0x{plain[0]:02X}")
    # Only an authentic APDU may move the counter, or a forger could burn counter values
    # (an encryption-only APDU is not authentic: anyone can make one); every one is checked.
    if ic <= ctx.rx.last or (sc & SC_AUTHENTICATION and not ctx.rx.accept(ic)):
        ctx.replays += 1
        raise ReplayError(ic, ctx.rx.last + 1)
    # The response goes under the unicast key whatever key set the request used.
    return plain, Envelope(kind, sc & ~SC_BROADCAST_KEY, plain[0])


def response_envelope(envelope: Envelope | None, response_bits: int, suite: int,
                      request_tag: int) -> Envelope | None:
    """How a response goes out: as its request came (``envelope``; None: plain), with at least
    the protection that ``response_bits`` (access_mode v3 / security policy v1 bits) ask for.

    A plain request (tag ``request_tag``) whose response must be protected gets a glo-ciphered
    response.
    """
    extra = (SC_AUTHENTICATION if response_bits & AUTHENTICATED_RESPONSE else 0) | (
        SC_ENCRYPTION if response_bits & ENCRYPTED_RESPONSE else 0)
    if envelope is None:
        return Envelope("glo", suite | extra, request_tag) if extra else None
    if not extra & ~envelope.security_control:
        return envelope
    return replace(envelope, security_control=envelope.security_control | extra)


def wrap(plain: bytes, envelope: Envelope, ctx: SecurityContext, dedicated_key: bytes | None) -> bytes:
    """Protect a response the way its request was protected."""
    sc = envelope.security_control
    ic = ctx.tx.next()
    dedicated = envelope.kind in ("ded", "general-ded")
    key = dedicated_key if dedicated else ctx.encryption_key
    if key is None:
        raise SecurityError("dedicated ciphering without a dedicated key")
    payload = gcm.protect(sc, ctx.server_system_title, ic, key, ctx.authentication_key, plain)
    if envelope.kind == "general-glo":
        return A.GeneralGloCiphering(ctx.server_system_title, sc, ic, payload).to_bytes()
    if envelope.kind == "general-ded":
        return A.GeneralDedCiphering(ctx.server_system_title, sc, ic, payload).to_bytes()
    try:
        tag = A.ciphered_tag_for(plain[0], dedicated)
    except (KeyError, ValueError, DecodeError) as exc:
        raise SecurityError(f"no ciphered form for APDU tag 0x{plain[0]:02X}") from exc
    return A.CipheredApdu(tag, sc, ic, payload).to_bytes()
