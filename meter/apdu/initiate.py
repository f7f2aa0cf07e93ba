"""xDLMS InitiateRequest [1] / InitiateResponse [8] (Green Book 9.5), A-XDR encoded and carried in
the user-information of AARQ/AARE, and the Conformance block (Green Book 9.4.6.1).

The conformance block is a BER-style ``[APPLICATION 31] IMPLICIT BIT STRING (SIZE(24))``:
``5F 1F 04 00`` then three octets, bit 0 of the standard = MSB of the first octet. The flag values
below are that 24-bit integer, so ``Conformance(int.from_bytes(wire, "big"))`` just works.
Bit numbering after cosem-reference.md §2.3 (dlms-cosem conformance.py and Gurux agree).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.common import read_bool, read_octets, read_optional, write_octets, write_optional
from meter.apdu.registry import Apdu
from meter.codec.buffer import Reader, Writer
from meter.errors import DecodeError

CONFORMANCE_TAG = b"\x5f\x1f"
#: A-XDR VAA name of a Logical Name association (0xFA00 would be SN); Green Book 9.5.
VAA_NAME_LN = 0x0007


class Conformance(enum.IntFlag):
    RESERVED_ZERO = 1 << 23
    GENERAL_PROTECTION = 1 << 22
    GENERAL_BLOCK_TRANSFER = 1 << 21
    READ = 1 << 20
    WRITE = 1 << 19
    UNCONFIRMED_WRITE = 1 << 18
    DELTA_VALUE_ENCODING = 1 << 17
    RESERVED_SEVEN = 1 << 16
    ATTRIBUTE0_SUPPORTED_WITH_SET = 1 << 15
    PRIORITY_MGMT_SUPPORTED = 1 << 14
    ATTRIBUTE0_SUPPORTED_WITH_GET = 1 << 13
    BLOCK_TRANSFER_WITH_GET_OR_READ = 1 << 12
    BLOCK_TRANSFER_WITH_SET_OR_WRITE = 1 << 11
    BLOCK_TRANSFER_WITH_ACTION = 1 << 10
    MULTIPLE_REFERENCES = 1 << 9
    INFORMATION_REPORT = 1 << 8
    DATA_NOTIFICATION = 1 << 7
    ACCESS = 1 << 6
    PARAMETERIZED_ACCESS = 1 << 5
    GET = 1 << 4
    SET = 1 << 3
    SELECTIVE_ACCESS = 1 << 2
    EVENT_NOTIFICATION = 1 << 1
    ACTION = 1 << 0


def read_conformance(r: Reader) -> Conformance:
    if r.bytes(2) != CONFORMANCE_TAG:
        raise DecodeError("conformance block tag is not 5F 1F")
    if r.u8() != 4:
        raise DecodeError("conformance block is not 4 octets")
    r.u8()  # unused-bits count: always 0 for 24 bits, and meaningless to us if not
    return Conformance(int.from_bytes(r.bytes(3), "big"))


def write_conformance(w: Writer, c: Conformance) -> None:
    w.write(CONFORMANCE_TAG + b"\x04\x00" + int(c).to_bytes(3, "big"))


def _read_i8(r: Reader) -> int:
    b = r.u8()
    return b - 256 if b > 127 else b


def _write_i8(w: Writer, v: int) -> None:
    w.u8(v & 0xFF)


@dataclass(frozen=True, slots=True)
class InitiateRequest(Apdu):
    """dedicated-key OPTIONAL, response-allowed DEFAULT TRUE, proposed-quality-of-service
    [0] IMPLICIT Integer8 OPTIONAL, proposed-dlms-version-number, proposed-conformance,
    client-max-receive-pdu-size Unsigned16 (0 is kept raw: some clients mean "no limit")."""

    TAG: ClassVar[int] = 0x01
    proposed_conformance: Conformance
    client_max_receive_pdu_size: int
    dedicated_key: bytes | None = None
    response_allowed: bool = True
    proposed_quality_of_service: int | None = None
    proposed_dlms_version_number: int = 6

    def encode_body(self, w: Writer) -> None:
        write_optional(w, self.dedicated_key, write_octets)
        # A-XDR DEFAULT: 0x00 means "the default" (TRUE); FALSE must be sent explicitly.
        if self.response_allowed:
            w.u8(0)
        else:
            w.write(b"\x01\x00")
        write_optional(w, self.proposed_quality_of_service, _write_i8)
        w.u8(self.proposed_dlms_version_number)
        write_conformance(w, self.proposed_conformance)
        w.u16(self.client_max_receive_pdu_size)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> InitiateRequest:
        key = read_optional(r, read_octets)
        allowed = read_optional(r, read_bool)
        qos = read_optional(r, _read_i8)
        version = r.u8()
        conformance = read_conformance(r)
        return cls(conformance, r.u16(), key, True if allowed is None else allowed, qos, version)


@dataclass(frozen=True, slots=True)
class InitiateResponse(Apdu):
    """negotiated-quality-of-service [0] IMPLICIT Integer8 OPTIONAL, negotiated-dlms-version-number,
    negotiated-conformance, server-max-receive-pdu-size Unsigned16, vaa-name ObjectName."""

    TAG: ClassVar[int] = 0x08
    negotiated_conformance: Conformance
    server_max_receive_pdu_size: int
    negotiated_quality_of_service: int | None = None
    negotiated_dlms_version_number: int = 6
    vaa_name: int = VAA_NAME_LN

    def encode_body(self, w: Writer) -> None:
        write_optional(w, self.negotiated_quality_of_service, _write_i8)
        w.u8(self.negotiated_dlms_version_number)
        write_conformance(w, self.negotiated_conformance)
        w.u16(self.server_max_receive_pdu_size)
        w.u16(self.vaa_name)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> InitiateResponse:
        qos = read_optional(r, _read_i8)
        version = r.u8()
        conformance = read_conformance(r)
        return cls(conformance, r.u16(), qos, version, r.u16())
