"""ACTION service APDUs (Green Book 9.5, Action-Request [195] and Action-Response [199] CHOICEs).

Action-Response-With-Optional-Data ::= SEQUENCE { result Action-Result,
return-parameters Get-Data-Result OPTIONAL }; method-invocation-parameters is Data OPTIONAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.common import (
    CosemMethodDescriptor,
    GetDataResult,
    read_block_sa,
    read_data,
    read_enum,
    read_get_data_result,
    read_optional,
    read_seq,
    write_block_sa,
    write_data,
    write_get_data_result,
    write_optional,
    write_seq,
)
from meter.apdu.blocks import BlockNumberApdu, DataBlockApdu
from meter.apdu.registry import Apdu
from meter.codec.axdr import Data
from meter.codec.buffer import Reader, Writer
from meter.errors import ActionResult

ACTION_REQUEST = 0xC3
ACTION_RESPONSE = 0xC7

#: One entry of an action response: result and optional return parameters.
ActionOutcome = tuple[ActionResult, GetDataResult | None]


def _write_method(w: Writer, m: CosemMethodDescriptor) -> None:
    m.encode(w)


def _read_methods(r: Reader) -> tuple[CosemMethodDescriptor, ...]:
    return read_seq(r, CosemMethodDescriptor.read, min_size=9)


def _read_outcome(r: Reader) -> ActionOutcome:
    return read_enum(r, ActionResult), read_optional(r, read_get_data_result)


def _write_outcome(w: Writer, outcome: ActionOutcome) -> None:
    result, data = outcome
    w.u8(result)
    write_optional(w, data, write_get_data_result)


@dataclass(frozen=True, slots=True)
class ActionRequestNormal(Apdu):
    TAG: ClassVar[int] = ACTION_REQUEST
    CHOICE: ClassVar[int | None] = 1
    invoke_id_and_priority: int
    method: CosemMethodDescriptor
    parameters: Data | None = None

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        self.method.encode(w)
        write_optional(w, self.parameters, write_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ActionRequestNormal:
        iip = r.u8()
        method = CosemMethodDescriptor.read(r)
        return cls(iip, method, read_optional(r, read_data))


@dataclass(frozen=True, slots=True)
class ActionRequestNextPBlock(BlockNumberApdu):
    TAG: ClassVar[int] = ACTION_REQUEST
    CHOICE: ClassVar[int | None] = 2


@dataclass(frozen=True, slots=True)
class ActionRequestWithList(Apdu):
    TAG: ClassVar[int] = ACTION_REQUEST
    CHOICE: ClassVar[int | None] = 3
    invoke_id_and_priority: int
    methods: tuple[CosemMethodDescriptor, ...]
    parameters: tuple[Data, ...]

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_seq(w, self.methods, _write_method)
        write_seq(w, self.parameters, write_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ActionRequestWithList:
        return cls(r.u8(), _read_methods(r), read_seq(r, read_data))


@dataclass(frozen=True, slots=True)
class ActionRequestWithFirstPBlock(Apdu):
    TAG: ClassVar[int] = ACTION_REQUEST
    CHOICE: ClassVar[int | None] = 4
    invoke_id_and_priority: int
    method: CosemMethodDescriptor
    last_block: bool
    block_number: int
    raw_data: bytes

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        self.method.encode(w)
        write_block_sa(w, self.last_block, self.block_number, self.raw_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ActionRequestWithFirstPBlock:
        iip = r.u8()
        method = CosemMethodDescriptor.read(r)
        return cls(iip, method, *read_block_sa(r))


@dataclass(frozen=True, slots=True)
class ActionRequestWithListAndFirstPBlock(Apdu):
    TAG: ClassVar[int] = ACTION_REQUEST
    CHOICE: ClassVar[int | None] = 5
    invoke_id_and_priority: int
    methods: tuple[CosemMethodDescriptor, ...]
    last_block: bool
    block_number: int
    raw_data: bytes

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_seq(w, self.methods, _write_method)
        write_block_sa(w, self.last_block, self.block_number, self.raw_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ActionRequestWithListAndFirstPBlock:
        return cls(r.u8(), _read_methods(r), *read_block_sa(r))


@dataclass(frozen=True, slots=True)
class ActionRequestWithPBlock(DataBlockApdu):
    TAG: ClassVar[int] = ACTION_REQUEST
    CHOICE: ClassVar[int | None] = 6


@dataclass(frozen=True, slots=True)
class ActionResponseNormal(Apdu):
    TAG: ClassVar[int] = ACTION_RESPONSE
    CHOICE: ClassVar[int | None] = 1
    invoke_id_and_priority: int
    result: ActionResult
    return_data: GetDataResult | None = None

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        _write_outcome(w, (self.result, self.return_data))

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ActionResponseNormal:
        return cls(r.u8(), *_read_outcome(r))


@dataclass(frozen=True, slots=True)
class ActionResponseWithPBlock(DataBlockApdu):
    TAG: ClassVar[int] = ACTION_RESPONSE
    CHOICE: ClassVar[int | None] = 2


@dataclass(frozen=True, slots=True)
class ActionResponseWithList(Apdu):
    TAG: ClassVar[int] = ACTION_RESPONSE
    CHOICE: ClassVar[int | None] = 3
    invoke_id_and_priority: int
    results: tuple[ActionOutcome, ...]

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_seq(w, self.results, _write_outcome)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ActionResponseWithList:
        return cls(r.u8(), read_seq(r, _read_outcome, min_size=2))


@dataclass(frozen=True, slots=True)
class ActionResponseNextPBlock(BlockNumberApdu):
    TAG: ClassVar[int] = ACTION_RESPONSE
    CHOICE: ClassVar[int | None] = 4