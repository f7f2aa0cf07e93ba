"""SET service APDUs (Green Book 9.5, Set-Request [193] and Set-Response [197] CHOICEs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.common import (
    AttributeWithSelection,
    CosemAttributeDescriptor,
    SelectiveAccess,
    read_attribute_list,
    read_block_sa,
    read_data,
    read_optional,
    read_result,
    read_seq,
    write_attribute_list,
    write_block_sa,
    write_data,
    write_optional,
    write_result,
    write_seq,
)
from meter.apdu.blocks import BlockNumberApdu, DataBlockApdu
from meter.apdu.registry import Apdu
from meter.codec.axdr import Data
from meter.codec.buffer import Reader, Writer
from meter.errors import DataAccessResult

SET_REQUEST = 0xC1
SET_RESPONSE = 0xC5


def _write_access(w: Writer, access: SelectiveAccess | None) -> None:
    write_optional(w, access, lambda w_, a: a.encode(w_))


@dataclass(frozen=True, slots=True)
class SetRequestNormal(Apdu):
    TAG: ClassVar[int] = SET_REQUEST
    CHOICE: ClassVar[int | None] = 1
    invoke_id_and_priority: int
    attribute: CosemAttributeDescriptor
    access: SelectiveAccess | None
    value: Data

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        self.attribute.encode(w)
        _write_access(w, self.access)
        self.value.encode(w)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetRequestNormal:
        iip = r.u8()
        attribute = CosemAttributeDescriptor.read(r)
        access = read_optional(r, SelectiveAccess.read)
        return cls(iip, attribute, access, read_data(r))


@dataclass(frozen=True, slots=True)
class SetRequestWithFirstDataBlock(Apdu):
    TAG: ClassVar[int] = SET_REQUEST
    CHOICE: ClassVar[int | None] = 2
    invoke_id_and_priority: int
    attribute: CosemAttributeDescriptor
    access: SelectiveAccess | None
    last_block: bool
    block_number: int
    raw_data: bytes

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        self.attribute.encode(w)
        _write_access(w, self.access)
        write_block_sa(w, self.last_block, self.block_number, self.raw_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetRequestWithFirstDataBlock:
        iip = r.u8()
        attribute = CosemAttributeDescriptor.read(r)
        access = read_optional(r, SelectiveAccess.read)
        return cls(iip, attribute, access, *read_block_sa(r))


@dataclass(frozen=True, slots=True)
class SetRequestWithDataBlock(DataBlockApdu):
    TAG: ClassVar[int] = SET_REQUEST
    CHOICE: ClassVar[int | None] = 3


@dataclass(frozen=True, slots=True)
class SetRequestWithList(Apdu):
    TAG: ClassVar[int] = SET_REQUEST
    CHOICE: ClassVar[int | None] = 4
    invoke_id_and_priority: int
    items: tuple[AttributeWithSelection, ...]
    values: tuple[Data, ...]

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_attribute_list(w, self.items)
        write_seq(w, self.values, write_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetRequestWithList:
        return cls(r.u8(), read_attribute_list(r), read_seq(r, read_data))


@dataclass(frozen=True, slots=True)
class SetRequestWithListAndFirstDataBlock(Apdu):
    TAG: ClassVar[int] = SET_REQUEST
    CHOICE: ClassVar[int | None] = 5
    invoke_id_and_priority: int
    items: tuple[AttributeWithSelection, ...]
    last_block: bool
    block_number: int
    raw_data: bytes

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_attribute_list(w, self.items)
        write_block_sa(w, self.last_block, self.block_number, self.raw_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetRequestWithListAndFirstDataBlock:
        return cls(r.u8(), read_attribute_list(r), *read_block_sa(r))


@dataclass(frozen=True, slots=True)
class SetResponseNormal(Apdu):
    TAG: ClassVar[int] = SET_RESPONSE
    CHOICE: ClassVar[int | None] = 1
    invoke_id_and_priority: int
    result: DataAccessResult

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_result(w, self.result)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetResponseNormal:
        return cls(r.u8(), read_result(r))


@dataclass(frozen=True, slots=True)
class SetResponseDataBlock(BlockNumberApdu):
    TAG: ClassVar[int] = SET_RESPONSE
    CHOICE: ClassVar[int | None] = 2


@dataclass(frozen=True, slots=True)
class SetResponseLastDataBlock(Apdu):
    TAG: ClassVar[int] = SET_RESPONSE
    CHOICE: ClassVar[int | None] = 3
    invoke_id_and_priority: int
    result: DataAccessResult
    block_number: int

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_result(w, self.result)
        w.u32(self.block_number)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetResponseLastDataBlock:
        return cls(r.u8(), read_result(r), r.u32())


@dataclass(frozen=True, slots=True)
class SetResponseLastDataBlockWithList(Apdu):
    TAG: ClassVar[int] = SET_RESPONSE
    CHOICE: ClassVar[int | None] = 4
    invoke_id_and_priority: int
    results: tuple[DataAccessResult, ...]
    block_number: int

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_seq(w, self.results, write_result)
        w.u32(self.block_number)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetResponseLastDataBlockWithList:
        return cls(r.u8(), read_seq(r, read_result), r.u32())


@dataclass(frozen=True, slots=True)
class SetResponseWithList(Apdu):
    TAG: ClassVar[int] = SET_RESPONSE
    CHOICE: ClassVar[int | None] = 5
    invoke_id_and_priority: int
    results: tuple[DataAccessResult, ...]

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_seq(w, self.results, write_result)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> SetResponseWithList:
        return cls(r.u8(), read_seq(r, read_result))
