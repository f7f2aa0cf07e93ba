"""Ciphered xDLMS APDUs: unwrap requests and wrap responses (Green Book 9.2.7.2, 9.3.12-9.3.13).

A request arrives service-specific glo-/ded-ciphered or general-glo-/general-ded-ciphered. It is
checked (security control, authentication tag, invocation counter strictly above the last one
accepted from that peer) and the response goes back in the same kind of envelope under the
server's own system title and a never-reused invocation counter, strengthened to what the
security policy (Security setup v1 attribute 2) and the access rights (access_mode v3) ask for
the response (:func:`response_envelope`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Protocol

from meter import apdu as A
from meter.errors import EncodeError, SecurityError
from meter.security import gcm
from meter.security.gcm import (
    SC_AUTHENTICATION,
    SC_BROADCAST_KEY,
    SC_COMPRESSION,
    SC_ENCRYPTION,
    SC_SUITE_MASK,
)
from meter.server.access_bits import AUTHENTICATED_RESPONSE, ENCRYPTED_RESPONSE

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


class EnvelopeKind(enum.Enum):
    """The ciphering APDUs a request may come in (Green Book 9.5); its response goes back in
    the same kind."""

    GLO = "glo"
    DED = "ded"
    GENERAL_GLO = "general-glo"
    GENERAL_DED = "general-ded"


#: Under the association's dedicated key (from the AARQ's InitiateRequest). Tuples: ``in``
#: compares members by identity, with no enum hashing on the per-request path.
DEDICATED_KINDS = (EnvelopeKind.DED, EnvelopeKind.GENERAL_DED)
#: general-glo/ded-ciphering: carries the system title and any APDU.
GENERAL_KINDS = (EnvelopeKind.GENERAL_GLO, EnvelopeKind.GENERAL_DED)


@dataclass(frozen=True, slots=True)
class Envelope:
    """How a request was protected, so the response is protected the same way."""

    kind: EnvelopeKind
    security_control: int


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
        kind = EnvelopeKind.DED if dedicated else EnvelopeKind.GLO
        system_title = client_system_title
    else:
        dedicated = isinstance(apdu, A.GeneralDedCiphering)
        kind = EnvelopeKind.GENERAL_DED if dedicated else EnvelopeKind.GENERAL_GLO
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
    return plain, Envelope(kind, sc & ~SC_BROADCAST_KEY)


def response_envelope(envelope: Envelope | None, response_bits: int, suite: int) -> Envelope | None:
    """How a response goes out: as its request came (``envelope``; None: plain), with at least
    the protection that ``response_bits`` (access_mode v3 / security policy v1 bits) ask for.

    A plain request whose response must be protected gets a glo-ciphered response.
    """
    extra = (SC_AUTHENTICATION if response_bits & AUTHENTICATED_RESPONSE else 0) | (
        SC_ENCRYPTION if response_bits & ENCRYPTED_RESPONSE else 0)
    if envelope is None:
        return Envelope(EnvelopeKind.GLO, suite | extra) if extra else None
    if not extra & ~envelope.security_control:
        return envelope
    return replace(envelope, security_control=envelope.security_control | extra)


def wrap(tag: int, plain: bytes, envelope: Envelope, ctx: SecurityContext,
         dedicated_key: bytes | None) -> bytes:
    """Protect a response (APDU ``tag``, encoded ``plain``) the way its request was protected."""
    sc = envelope.security_control
    kind = envelope.kind
    if kind not in GENERAL_KINDS:
        try:
            tag = A.ciphered_tag_for(tag, kind is EnvelopeKind.DED)
        except EncodeError as exc:
            raise SecurityError(f"no ciphered form for APDU tag 0x{tag:02X}") from exc
    key = dedicated_key if kind in DEDICATED_KINDS else ctx.encryption_key
    if key is None:
        raise SecurityError("dedicated ciphering without a dedicated key")
    ic = ctx.tx.next()
    payload = gcm.protect(sc, ctx.server_system_title, ic, key, ctx.authentication_key, plain)
    if kind is EnvelopeKind.GENERAL_GLO:
        return A.GeneralGloCiphering(ctx.server_system_title, sc, ic, payload).to_bytes()
    if kind is EnvelopeKind.GENERAL_DED:
        return A.GeneralDedCiphering(ctx.server_system_title, sc, ic, payload).to_bytes()
    return A.ciphered_bytes(tag, sc, ic, payload)
