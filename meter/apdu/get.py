"""GET service APDUs (Green Book 9.5, Get-Request [192] and Get-Response [196] CHOICEs).

``invoke_id_and_priority`` is kept as the raw Unsigned8 (bits 0-3 invoke id, bit 6 service class,
bit 7 priority) so a response can echo it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.blocks import BlockNumberApdu
from meter.apdu.common import (
    AttributeWithSelection,
    CosemAttributeDescriptor,
    GetDataResult,
    SelectiveAccess,
    read_attribute_list,
    read_bool,
    read_enum,
    read_get_data_result,
    read_optional,
    read_seq,
    write_attribute_list,
    write_bool,
    write_get_data_result,
    write_optional,
)
from meter.apdu.registry import Apdu
from meter.codec.buffer import Reader, Writer
from meter.errors import DataAccessResult, DecodeError, EncodeError

GET_REQUEST = 0xC0
GET_RESPONSE = 0xC4


@dataclass(frozen=True, slots=True)
class GetRequestNormal(Apdu):
    TAG: ClassVar[int] = GET_REQUEST
    CHOICE: ClassVar[int | None] = 1
    invoke_id_and_priority: int
    attribute: CosemAttributeDescriptor
    access: SelectiveAccess | None = None

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        self.attribute.encode(w)
        write_optional(w, self.access, lambda w_, a: a.encode(w_))

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GetRequestNormal:
        iip = r.u8()
        attribute = CosemAttributeDescriptor.read(r)
        if r.peek_u8() == 0:  # no selective access: most requests, so without the OPTIONAL helper
            r.pos += 1
            return cls(iip, attribute)
        return cls(iip, attribute, read_optional(r, SelectiveAccess.read))


@dataclass(frozen=True, slots=True)
class GetRequestNext(BlockNumberApdu):
    TAG: ClassVar[int] = GET_REQUEST
    CHOICE: ClassVar[int | None] = 2


@dataclass(frozen=True, slots=True)
class GetRequestWithList(Apdu):
    TAG: ClassVar[int] = GET_REQUEST
    CHOICE: ClassVar[int | None] = 3
    invoke_id_and_priority: int
    items: tuple[AttributeWithSelection, ...]

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_attribute_list(w, self.items)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GetRequestWithList:
        return cls(r.u8(), read_attribute_list(r))


@dataclass(frozen=True, slots=True)
class GetResponseNormal(Apdu):
    TAG: ClassVar[int] = GET_RESPONSE
    CHOICE: ClassVar[int | None] = 1
    invoke_id_and_priority: int
    result: GetDataResult

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_get_data_result(w, self.result)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GetResponseNormal:
        return cls(r.u8(), read_get_data_result(r))

    @staticmethod
    def encode_raw(invoke_id_and_priority: int, data_bytes: bytes) -> bytes:
        """A successful response around an already A-XDR-encoded Data value (not re-parsed)."""
        # Get-Data-Result 0: data. bytes() refuses an invoke-id-and-priority above one octet.
        try:
            return bytes((GET_RESPONSE, 1, invoke_id_and_priority, 0)) + data_bytes
        except ValueError:
            raise EncodeError(f"{invoke_id_and_priority} does not fit in one byte") from None


@dataclass(frozen=True, slots=True)
class GetResponseWithDataBlock(Apdu):
    """DataBlock-G: ``result`` is raw-data [0] (bytes) or data-access-result [1]."""

    TAG: ClassVar[int] = GET_RESPONSE
    CHOICE: ClassVar[int | None] = 2
    invoke_id_and_priority: int
    last_block: bool
    block_number: int
    result: bytes | DataAccessResult

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_bool(w, self.last_block)
        w.u32(self.block_number)
        if isinstance(self.result, DataAccessResult):
            w.u8(1)
            w.u8(self.result)
        else:
            w.u8(0)
            w.sized(self.result)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GetResponseWithDataBlock:
        iip = r.u8()
        last = read_bool(r)
        number = r.u32()
        choice = r.u8()
        result: bytes | DataAccessResult
        if choice == 0:
            result = r.sized()
        elif choice == 1:
            result = read_enum(r, DataAccessResult)
        else:
            raise DecodeError(f"bad DataBlock-G result choice {choice}")
        return cls(iip, last, number, result)


@dataclass(frozen=True, slots=True)
class GetResponseWithList(Apdu):
    TAG: ClassVar[int] = GET_RESPONSE
    CHOICE: ClassVar[int | None] = 3
    invoke_id_and_priority: int
    results: tuple[GetDataResult, ...]

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        w.length(len(self.results))
        for result in self.results:
            write_get_data_result(w, result)

    @staticmethod
    def encode_raw(invoke_id_and_priority: int, results_bytes: bytes) -> bytes:
        """The response around an already encoded SEQUENCE OF Get-Data-Result (not re-parsed)."""
        return bytes((GET_RESPONSE, 3, invoke_id_and_priority)) + results_bytes

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> GetResponseWithList:
        return cls(r.u8(), read_seq(r, read_get_data_result, min_size=2))
