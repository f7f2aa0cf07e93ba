"""Protected APDU envelopes (Green Book 9.2.7 / 9.5): service-specific glo-/ded- ciphering,
general-glo-/general-ded-ciphering, general-ciphering, general-signing and general-block-transfer.

Envelopes only: the payload stays opaque bytes (ciphertext || tag); :mod:`meter.security` does the
cryptography. Ciphered content is always security-control (1) || invocation-counter (4) || payload.
Tag numbers follow the Green Book xDLMS-APDU CHOICE as Gurux (Command enum) encodes it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.common import read_octets, read_optional, write_octets, write_optional
from meter.apdu.registry import Apdu
from meter.codec.buffer import Reader, Writer, encode_length
from meter.errors import DecodeError, EncodeError

#: plain tag -> (glo tag, ded tag)
_CIPHERED_TAGS: dict[int, tuple[int, int]] = {
    0x01: (0x21, 0x41),  # initiate-request
    0x08: (0x28, 0x48),  # initiate-response
    0x0E: (0x2E, 0x4E),  # confirmed-service-error
    0xC0: (0xC8, 0xD0),  # get-request
    0xC1: (0xC9, 0xD1),  # set-request
    0xC2: (0xCA, 0xD2),  # event-notification-request
    0xC3: (0xCB, 0xD3),  # action-request
    0xC4: (0xCC, 0xD4),  # get-response
    0xC5: (0xCD, 0xD5),  # set-response
    0xC7: (0xCF, 0xD7),  # action-response
}
_GLO = {glo: plain for plain, (glo, _) in _CIPHERED_TAGS.items()}
_DED = {ded: plain for plain, (_, ded) in _CIPHERED_TAGS.items()}


def is_global(tag: int) -> bool:
    """True for a glo- tag, False for a ded- tag; DecodeError for anything else."""
    if tag in _GLO:
        return True
    if tag in _DED:
        return False
    raise DecodeError(f"0x{tag:02X} is not a service-specific ciphered tag")


def plain_tag_for(tag: int) -> int:
    """The unprotected APDU tag a glo-/ded- tag carries."""
    plain = _GLO.get(tag, _DED.get(tag))
    if plain is None:
        raise DecodeError(f"0x{tag:02X} is not a service-specific ciphered tag")
    return plain


def ciphered_tag_for(plain_tag: int, dedicated: bool) -> int:
    pair = _CIPHERED_TAGS.get(plain_tag)
    if pair is None:
        raise EncodeError(f"APDU 0x{plain_tag:02X} has no ciphered form")
    return pair[1] if dedicated else pair[0]


def _read_secured(r: Reader) -> tuple[int, int, bytes]:
    """(security control, invocation counter, payload) of one ciphered-content OCTET STRING."""
    inner = Reader(r.sized())
    return inner.u8(), inner.u32(), inner.rest()


_SC_IC = struct.Struct(">BI")
_SHORT_HEAD = struct.Struct(">BBBI")  # tag, length < 0x80, SC, IC


def _secured(security_control: int, invocation_counter: int, payload: bytes) -> bytes:
    try:
        return _SC_IC.pack(security_control, invocation_counter) + payload
    except struct.error as exc:
        raise EncodeError(f"security control or invocation counter out of range: {exc}") from None


def ciphered_bytes(tag: int, security_control: int, invocation_counter: int, payload: bytes) -> bytes:
    """The wire bytes of a glo-/ded- ciphered APDU (``tag`` one of them): its header in one
    pack when the content is short (every ciphered response of a small GET)."""
    n = 5 + len(payload)
    if n < 0x80:
        try:
            return _SHORT_HEAD.pack(tag, n, security_control, invocation_counter) + payload
        except struct.error:
            pass  # out of range: _secured raises the reason
    return bytes((tag,)) + encode_length(n) + _secured(security_control, invocation_counter, payload)


@dataclass(frozen=True, slots=True)
class CipheredApdu(Apdu):
    """Service-specific glo-/ded- ciphered APDU; ``tag`` tells which service and key."""

    TAG: ClassVar[int] = 0xC8
    TAGS: ClassVar[tuple[int, ...]] = (*_GLO, *_DED)
    tag: int
    security_control: int
    invocation_counter: int
    payload: bytes

    def __post_init__(self) -> None:
        if self.tag not in self.TAGS:
            raise EncodeError(f"0x{self.tag:02X} is not a service-specific ciphered tag")

    @property
    def is_global(self) -> bool:
        return self.tag in _GLO

    @property
    def plain_tag(self) -> int:
        return plain_tag_for(self.tag)

    def wire_tag(self) -> int:
        return self.tag

    def encode_body(self, w: Writer) -> None:
        w.sized(_secured(self.security_control, self.invocation_counter, self.payload))

    def to_bytes(self) -> bytes:
        return ciphered_bytes(self.tag, self.security_control, self.invocation_counter, self.payload)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> CipheredApdu:
        return cls(tag, *_read_secured(r))


class _GeneralDedOrGlo(Apdu):
    __slots__ = ()
    system_title: bytes
    security_control: int
    invocation_counter: int
    payload: bytes

    def encode_body(self, w: Writer) -> None:
        w.sized(self.system_title)
        w.sized(_secured(self.security_control, self.invocation_counter, self.payload))

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> _GeneralDedOrGlo:
        title = r.sized()
        return cls(title, *_read_secured(r))  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class GeneralGloCiphering(_GeneralDedOrGlo):
    TAG: ClassVar[int] = 0xDB
    system_title: bytes
    security_control: int
    invocation_counter: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class GeneralDedCiphering(_GeneralDedOrGlo):
    TAG: ClassVar[int] = 0xDC
    system_title: bytes
    security_control: int
    invocation_counter: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class GeneralBlockTransfer(Apdu):
    """block-control (bit 7 last-block, bit 6 streaming, bits 0-5 window), block-number,
    block-number-ack (Unsigned16 each), block-data OCTET STRING."""

    TAG: ClassVar[int] = 0xE0
    last_block: bool
    streaming: bool
    window: int
    block_number: int
    block_number_ack: int
    block_data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.window <= 0x3F:
            raise EncodeError(f"GBT window {self.window} out of range")

    def encode_body(self, w: Writer) -> None:
        w.u8((0x80 if self.last_block else 0) | (0x40 if self.streaming else 0) | self.window)
        w.u16(self.block_number)
        w.u16(self.block_number_ack)
        w.sized(self.block_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GeneralBlockTransfer:
        control = r.u8()
        return cls(bool(control & 0x80), bool(control & 0x40), control & 0x3F,
                   r.u16(), r.u16(), r.sized())


# --- general-ciphering key-info (Green Book 9.5: Key-Info CHOICE) -------------------------


@dataclass(frozen=True, slots=True)
class IdentifiedKey:
    CHOICE: ClassVar[int] = 0
    key_id: int  # 0 global unicast encryption key, 1 global broadcast encryption key


@dataclass(frozen=True, slots=True)
class WrappedKey:
    CHOICE: ClassVar[int] = 1
    kek_id: int  # 0 master key (KEK)
    key_ciphered_data: bytes


@dataclass(frozen=True, slots=True)
class AgreedKey:
    CHOICE: ClassVar[int] = 2
    key_parameters: bytes
    key_ciphered_data: bytes


KeyInfo = IdentifiedKey | WrappedKey | AgreedKey


def _read_key_info(r: Reader) -> KeyInfo:
    choice = r.u8()
    if choice == IdentifiedKey.CHOICE:
        return IdentifiedKey(r.u8())
    if choice == WrappedKey.CHOICE:
        return WrappedKey(r.u8(), r.sized())
    if choice == AgreedKey.CHOICE:
        return AgreedKey(r.sized(), r.sized())
    raise DecodeError(f"bad key-info choice {choice}")


def _write_key_info(w: Writer, k: KeyInfo) -> None:
    w.u8(k.CHOICE)
    if isinstance(k, IdentifiedKey):
        w.u8(k.key_id)
    elif isinstance(k, WrappedKey):
        w.u8(k.kek_id)
        w.sized(k.key_ciphered_data)
    else:
        w.sized(k.key_parameters)
        w.sized(k.key_ciphered_data)


@dataclass(frozen=True, slots=True)
class GeneralCiphering(Apdu):
    TAG: ClassVar[int] = 0xDD
    transaction_id: bytes
    originator_system_title: bytes
    recipient_system_title: bytes
    date_time: bytes
    other_information: bytes
    key_info: KeyInfo | None
    security_control: int
    invocation_counter: int
    payload: bytes

    def encode_body(self, w: Writer) -> None:
        for field in (self.transaction_id, self.originator_system_title,
                      self.recipient_system_title, self.date_time, self.other_information):
            w.sized(field)
        write_optional(w, self.key_info, _write_key_info)
        w.sized(_secured(self.security_control, self.invocation_counter, self.payload))

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GeneralCiphering:
        transaction_id, originator, recipient, date_time, other = (r.sized() for _ in range(5))
        key_info = read_optional(r, _read_key_info)
        return cls(transaction_id, originator, recipient, date_time, other, key_info,
                   *_read_secured(r))


@dataclass(frozen=True, slots=True)
class GeneralSigning(Apdu):
    TAG: ClassVar[int] = 0xDF
    transaction_id: bytes
    originator_system_title: bytes
    recipient_system_title: bytes
    date_time: bytes
    other_information: bytes
    content: bytes
    signature: bytes

    def encode_body(self, w: Writer) -> None:
        for field in (self.transaction_id, self.originator_system_title,
                      self.recipient_system_title, self.date_time, self.other_information,
                      self.content, self.signature):
            write_octets(w, field)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GeneralSigning:
        return cls(*(read_octets(r) for _ in range(7)))
