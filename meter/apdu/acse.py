"""ACSE APDUs as DLMS uses them (IEC 62056-5-3 / Green Book 9.3, ISO 8650 BER):
AARQ [APPLICATION 0], AARE [APPLICATION 1], RLRQ [APPLICATION 2], RLRE [APPLICATION 3].

Object identifiers are reduced to their last arc: application-context-name 2.16.756.5.8.1.N and
mechanism-name 2.16.756.5.8.2.N. An OID outside those arcs decodes as :data:`UNKNOWN_OID` so the
server can still answer with a diagnostic instead of dropping the request. Fields we do not model
(invocation identifiers, implementation-information, ...) are skipped on decode, never fatal.
AP titles and AE qualifiers are held as the content of their inner OCTET STRING (system title,
certificate); authentication values as the content of their [0] GraphicString (charstring).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.registry import Apdu
from meter.codec import ber
from meter.codec.buffer import Reader, Writer
from meter.errors import DecodeError, EncodeError

CONTEXT_NAME_ARCS = (2, 16, 756, 5, 8, 1)
MECHANISM_NAME_ARCS = (2, 16, 756, 5, 8, 2)
#: Decoded last arc of an OID that is not under the DLMS UA arcs above.
UNKNOWN_OID = -1

_CHARSTRING = 0x80  # Authentication-value ::= CHOICE { charstring [0] IMPLICIT GraphicString, ...}
_USER_INFO = 0xBE  # [30] EXPLICIT Association-information (an OCTET STRING)


class ApplicationContextName(enum.IntEnum):
    LOGICAL_NAME = 1
    SHORT_NAME = 2
    LOGICAL_NAME_WITH_CIPHERING = 3
    SHORT_NAME_WITH_CIPHERING = 4


class MechanismName(enum.IntEnum):
    NONE = 0
    LOW = 1
    HIGH = 2
    HIGH_MD5 = 3
    HIGH_SHA1 = 4
    HIGH_GMAC = 5
    HIGH_SHA256 = 6
    HIGH_ECDSA = 7


class AssociationResult(enum.IntEnum):
    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class DiagnosticSource(enum.IntEnum):
    ACSE_SERVICE_USER = 1
    ACSE_SERVICE_PROVIDER = 2


class AcseServiceUser(enum.IntEnum):
    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    CALLING_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 4
    CALLING_AE_QUALIFIER_NOT_RECOGNIZED = 5
    CALLING_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 6
    CALLED_AP_TITLE_NOT_RECOGNIZED = 7
    CALLED_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 8
    CALLED_AE_QUALIFIER_NOT_RECOGNIZED = 9
    CALLED_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 10
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class AcseServiceProvider(enum.IntEnum):
    NULL = 0
    NO_REASON_GIVEN = 1
    NO_COMMON_ACSE_VERSION = 2


class ReleaseRequestReason(enum.IntEnum):
    NORMAL = 0
    URGENT = 1
    USER_DEFINED = 30


class ReleaseResponseReason(enum.IntEnum):
    NORMAL = 0
    NOT_FINISHED = 1
    USER_DEFINED = 30


# --- field codecs -------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)  # the few names clients send, decoded once each
def _oid_arc(content: bytes, prefix: tuple[int, ...]) -> int:
    arcs = ber.decode_oid(content)
    if len(arcs) == len(prefix) + 1 and arcs[:-1] == prefix:
        return arcs[-1]
    return UNKNOWN_OID


@functools.lru_cache(maxsize=64)  # a few context and mechanism names, encoded once each
def _oid(prefix: tuple[int, ...], arc: int) -> bytes:
    if arc < 0:
        raise EncodeError("cannot encode an unknown OID")
    return ber.encode_oid((*prefix, arc))


def _context_name(value: bytes) -> int:
    return _oid_arc(ber.expect_single(value, ber.OBJECT_IDENTIFIER, "application-context-name"),
                    CONTEXT_NAME_ARCS)


def _inner(value: bytes, what: str) -> bytes:
    """Content of the single TLV inside an EXPLICIT wrapper, whatever its tag."""
    r = Reader(value)
    _, content = ber.read_tlv(r)
    r.expect_end(what)
    return content


def _user_information(value: bytes) -> bytes:
    return ber.expect_single(value, ber.OCTET_STRING, "user-information")


def _acse_requirements(value: bytes) -> bool:
    bits, _ = ber.decode_bit_string(value)
    return bool(bits) and bool(bits[0] & 0x80)  # bit 0: authentication functional unit


def _integer(value: bytes, what: str) -> int:
    return ber.decode_integer(ber.expect_single(value, ber.INTEGER, what))


# Tag byte helpers: context-specific, primitive (0x80|n) or constructed (0xA0|n).
def _p(n: int) -> int:
    return ber.CLASS_CONTEXT | n


def _c(n: int) -> int:
    return ber.CLASS_CONTEXT | ber.CONSTRUCTED | n


def _octets_in(tag: int, value: bytes | None) -> Iterator[bytes]:
    if value is not None:
        yield ber.tlv(tag, ber.tlv(ber.OCTET_STRING, value))


def _user_info_tlv(value: bytes | None) -> Iterator[bytes]:
    yield from _octets_in(_USER_INFO, value)


def _auth_value_tlv(tag: int, value: bytes | None) -> Iterator[bytes]:
    if value is not None:
        yield ber.tlv(tag, ber.tlv(_CHARSTRING, value))


def _requirements_tlv(tag: int, present: bool) -> Iterator[bytes]:
    if present:
        yield ber.tlv(tag, ber.encode_bit_string(b"\x80", 7))


def _mechanism_tlv(tag: int, mechanism: int | None) -> Iterator[bytes]:
    if mechanism is not None:
        yield ber.tlv(tag, _oid(MECHANISM_NAME_ARCS, mechanism))


@functools.lru_cache(maxsize=16)
def _context_tlv(name: int) -> bytes:
    return ber.tlv(_c(1), ber.tlv(ber.OBJECT_IDENTIFIER, _oid(CONTEXT_NAME_ARCS, name)))


def _fields(r: Reader) -> dict[int, bytes]:
    """The tag -> value map of one constructed ACSE APDU's contents; unknown tags included."""
    return dict(ber.iter_tlv(r.sized()))


# --- APDUs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AARQ(Apdu):
    TAG: ClassVar[int] = 0x60
    application_context_name: int
    calling_ap_title: bytes | None = None
    calling_ae_qualifier: bytes | None = None
    sender_acse_requirements: bool = False
    mechanism_name: int | None = None
    calling_authentication_value: bytes | None = None
    user_information: bytes | None = None
    protocol_version: bytes | None = None  # BIT STRING contents, e.g. 07 80 = version1
    called_ap_title: bytes | None = None
    called_ae_qualifier: bytes | None = None

    def encode_body(self, w: Writer) -> None:
        parts: list[bytes] = []
        if self.protocol_version is not None:
            parts.append(ber.tlv(_p(0), self.protocol_version))
        parts.append(_context_tlv(self.application_context_name))
        parts += _octets_in(_c(2), self.called_ap_title)
        parts += _octets_in(_c(3), self.called_ae_qualifier)
        parts += _octets_in(_c(6), self.calling_ap_title)
        parts += _octets_in(_c(7), self.calling_ae_qualifier)
        parts += _requirements_tlv(_p(10), self.sender_acse_requirements)
        parts += _mechanism_tlv(_p(11), self.mechanism_name)
        parts += _auth_value_tlv(_c(12), self.calling_authentication_value)
        parts += _user_info_tlv(self.user_information)
        w.sized(b"".join(parts))

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> AARQ:
        contents = r.sized()
        if len(contents) > _MEMO_AARQ_MAX:
            return _aarq(contents)
        return _memo_aarq(contents)


#: AARQ contents up to this many octets are decoded once each (see _memo_aarq); longer ones
#: (certificates, long user-information) every time, so the memo holds at most a few KiB.
_MEMO_AARQ_MAX = 256


def _aarq(contents: bytes) -> AARQ:
    f = dict(ber.iter_tlv(contents))
    if _c(1) not in f:
        raise DecodeError("AARQ without application-context-name")
    return AARQ(
        application_context_name=_context_name(f[_c(1)]),
        calling_ap_title=_opt(f, _c(6), _inner, "calling-AP-title"),
        calling_ae_qualifier=_opt(f, _c(7), _inner, "calling-AE-qualifier"),
        sender_acse_requirements=_p(10) in f and _acse_requirements(f[_p(10)]),
        mechanism_name=_opt_mechanism(f, _p(11)),
        calling_authentication_value=_opt(f, _c(12), _inner, "authentication-value"),
        user_information=_opt(f, _USER_INFO, lambda v, _: _user_information(v), ""),
        protocol_version=f.get(_p(0)),
        called_ap_title=_opt(f, _c(2), _inner, "called-AP-title"),
        called_ae_qualifier=_opt(f, _c(3), _inner, "called-AE-qualifier"),
    )


#: A head end sends every meter of a fleet the same AARQ (a public or LLS client's carries no
#: challenge): an AARQ is immutable and made from its contents alone, so the last few are kept
#: and each is decoded once (a per-read cost of a HES sweep). An HLS client's fresh challenge
#: makes every AARQ new: it only replaces the least recently used. A bad one raises and is
#: not kept.
_memo_aarq = functools.lru_cache(maxsize=32)(_aarq)


@dataclass(frozen=True, slots=True)
class AARE(Apdu):
    TAG: ClassVar[int] = 0x61
    application_context_name: int
    result: int
    diagnostic_source: int
    diagnostic: int
    responding_ap_title: bytes | None = None
    responder_acse_requirements: bool = False
    mechanism_name: int | None = None
    responding_authentication_value: bytes | None = None
    user_information: bytes | None = None
    responding_ae_qualifier: bytes | None = None
    protocol_version: bytes | None = None

    def __post_init__(self) -> None:
        if self.diagnostic_source not in (1, 2):
            raise EncodeError("diagnostic_source is 1 (acse-service-user) or 2 (provider)")

    def encode_body(self, w: Writer) -> None:
        parts: list[bytes] = []
        if self.protocol_version is not None:
            parts.append(ber.tlv(_p(0), self.protocol_version))
        parts.append(_context_tlv(self.application_context_name))
        parts.append(ber.tlv(_c(2), ber.tlv(ber.INTEGER, ber.encode_integer(self.result))))
        diagnostic = ber.tlv(ber.INTEGER, ber.encode_integer(self.diagnostic))
        parts.append(ber.tlv(_c(3), ber.tlv(_c(self.diagnostic_source), diagnostic)))
        parts += _octets_in(_c(4), self.responding_ap_title)
        parts += _octets_in(_c(5), self.responding_ae_qualifier)
        parts += _requirements_tlv(_p(8), self.responder_acse_requirements)
        parts += _mechanism_tlv(_p(9), self.mechanism_name)
        parts += _auth_value_tlv(_c(10), self.responding_authentication_value)
        parts += _user_info_tlv(self.user_information)
        w.sized(b"".join(parts))

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> AARE:
        f = _fields(r)
        for required, name in ((_c(1), "application-context-name"), (_c(2), "result"),
                               (_c(3), "result-source-diagnostic")):
            if required not in f:
                raise DecodeError(f"AARE without {name}")
        source_r = Reader(f[_c(3)])
        source_tag, source_value = ber.read_tlv(source_r)
        source_r.expect_end("result-source-diagnostic")
        if source_tag not in (_c(1), _c(2)):
            raise DecodeError(f"bad result-source-diagnostic choice 0x{source_tag:02X}")
        return cls(
            application_context_name=_context_name(f[_c(1)]),
            result=_integer(f[_c(2)], "result"),
            diagnostic_source=source_tag & 0x1F,
            diagnostic=_integer(source_value, "diagnostic"),
            responding_ap_title=_opt(f, _c(4), _inner, "responding-AP-title"),
            responder_acse_requirements=_p(8) in f and _acse_requirements(f[_p(8)]),
            mechanism_name=_opt_mechanism(f, _p(9)),
            responding_authentication_value=_opt(f, _c(10), _inner, "authentication-value"),
            user_information=_opt(f, _USER_INFO, lambda v, _: _user_information(v), ""),
            responding_ae_qualifier=_opt(f, _c(5), _inner, "responding-AE-qualifier"),
            protocol_version=f.get(_p(0)),
        )


class _Release(Apdu):
    """RLRQ / RLRE: reason [0] IMPLICIT INTEGER OPTIONAL, user-information [30] OPTIONAL."""

    __slots__ = ()
    reason: int | None
    user_information: bytes | None

    def encode_body(self, w: Writer) -> None:
        parts: list[bytes] = []
        if self.reason is not None:
            parts.append(ber.tlv(_p(0), ber.encode_integer(self.reason)))
        parts += _user_info_tlv(self.user_information)
        w.sized(b"".join(parts))

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> _Release:
        f = _fields(r)
        reason = ber.decode_integer(f[_p(0)]) if _p(0) in f else None
        user = _opt(f, _USER_INFO, lambda v, _: _user_information(v), "")
        return cls(reason, user)  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class RLRQ(_Release):
    TAG: ClassVar[int] = 0x62
    reason: int | None = ReleaseRequestReason.NORMAL
    user_information: bytes | None = None


@dataclass(frozen=True, slots=True)
class RLRE(_Release):
    TAG: ClassVar[int] = 0x63
    reason: int | None = ReleaseResponseReason.NORMAL
    user_information: bytes | None = None


def _opt(f: dict[int, bytes], tag: int, parse: Callable[[bytes, str], bytes],
         what: str) -> bytes | None:
    value = f.get(tag)
    return None if value is None else parse(value, what)


def _opt_mechanism(f: dict[int, bytes], tag: int) -> int | None:
    value = f.get(tag)
    return None if value is None else _oid_arc(value, MECHANISM_NAME_ARCS)
