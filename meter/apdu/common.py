"""Building blocks shared by the xDLMS services (Green Book 9.5, IEC 62056-5-3 8.x ASN.1):
Cosem-Attribute-Descriptor, Cosem-Method-Descriptor, Selective-Access-Descriptor, Get-Data-Result,
DataBlock-SA, and the A-XDR forms of OPTIONAL, SEQUENCE OF and ENUMERATED fields.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast, overload

from meter.codec import axdr
from meter.codec.axdr import Data
from meter.codec.buffer import Reader, Writer
from meter.codec.obis import Obis
from meter.errors import DataAccessResult, DecodeError, EncodeError

E = TypeVar("E", bound=enum.IntEnum)
T = TypeVar("T")

#: A GET result: the value on success, the failure code otherwise.
GetDataResult = Data | DataAccessResult


def read_enum(r: Reader, cls: type[E]) -> E:
    v = r.u8()
    try:
        return cls(v)
    except ValueError:
        raise DecodeError(f"{v} is not a {cls.__name__}") from None


def read_bool(r: Reader) -> bool:
    return r.u8() != 0  # A-XDR BOOLEAN: any non-zero octet is TRUE


def write_bool(w: Writer, v: bool) -> None:
    w.u8(0xFF if v else 0x00)


def read_seq(r: Reader, item: Callable[[Reader], T], min_size: int = 1) -> tuple[T, ...]:
    """A-XDR SEQUENCE OF: a length then the items. ``min_size`` bounds the count by what is left."""
    n = r.length()
    if n * min_size > r.remaining():
        raise DecodeError(f"list of {n} cannot fit in {r.remaining()} bytes")
    return tuple(item(r) for _ in range(n))


def write_seq(w: Writer, items: Sequence[T], item: Callable[[Writer, T], None]) -> None:
    w.length(len(items))
    for x in items:
        item(w, x)


def read_optional(r: Reader, item: Callable[[Reader], T]) -> T | None:
    """A-XDR OPTIONAL: 0x00 absent, 0x01 then the value."""
    flag = r.u8()
    if flag == 0:
        return None
    if flag != 1:
        raise DecodeError(f"bad OPTIONAL flag 0x{flag:02X}")
    return item(r)


# The overloads only help mypy: matching ``T | None`` against a union argument (``Data |
# DataAccessResult | None``) joins its members to ``object``; ``value: T`` keeps the union whole.
@overload
def write_optional(w: Writer, value: None, item: Callable[[Writer, T], None]) -> None: ...
@overload
def write_optional(w: Writer, value: T, item: Callable[[Writer, T], None]) -> None: ...
def write_optional(w: Writer, value: T | None, item: Callable[[Writer, T], None]) -> None:
    if value is None:
        w.u8(0)
    else:
        w.u8(1)
        item(w, value)


def read_data(r: Reader) -> Data:
    return axdr.read(r)


def write_data(w: Writer, value: Data) -> None:
    value.encode(w)


def read_octets(r: Reader) -> bytes:
    return r.sized()


def write_octets(w: Writer, value: bytes) -> None:
    w.sized(value)


# --- descriptors --------------------------------------------------------------------------

# class-id, instance-id, attribute/method-id in one unpack: every request starts with one.
_DESCRIPTOR = struct.Struct(">H6sb")


@dataclass(frozen=True, slots=True)
class CosemAttributeDescriptor:
    """class-id Unsigned16, instance-id OCTET STRING(6), attribute-id Integer8."""

    class_id: int
    instance_id: Obis
    attribute_id: int

    def __post_init__(self) -> None:
        _check_descriptor(self.class_id, self.attribute_id)

    def encode(self, w: Writer) -> None:
        w.write(_DESCRIPTOR.pack(self.class_id, self.instance_id.to_bytes(), self.attribute_id))

    @classmethod
    def read(cls, r: Reader) -> CosemAttributeDescriptor:
        return cls(*_read_descriptor(r))


@dataclass(frozen=True, slots=True)
class CosemMethodDescriptor:
    """class-id Unsigned16, instance-id OCTET STRING(6), method-id Integer8."""

    class_id: int
    instance_id: Obis
    method_id: int

    def __post_init__(self) -> None:
        _check_descriptor(self.class_id, self.method_id)

    def encode(self, w: Writer) -> None:
        w.write(_DESCRIPTOR.pack(self.class_id, self.instance_id.to_bytes(), self.method_id))

    @classmethod
    def read(cls, r: Reader) -> CosemMethodDescriptor:
        return cls(*_read_descriptor(r))


def _check_descriptor(class_id: int, index: int) -> None:
    if not 0 <= class_id <= 0xFFFF:
        raise EncodeError(f"class_id {class_id} out of range")
    # Integer8 on the wire; negative ids address manufacturer-specific elements.
    if not -128 <= index <= 127:
        raise EncodeError(f"attribute/method id {index} out of range")


def _read_descriptor(r: Reader) -> tuple[int, Obis, int]:
    # The id is an Integer8 ("b"): negative ids address manufacturer-specific elements.
    class_id, instance, index = cast(tuple[int, bytes, int], r.unpack(_DESCRIPTOR))
    return class_id, Obis.from_bytes(instance), index


@dataclass(frozen=True, slots=True)
class SelectiveAccess:
    """Selective-Access-Descriptor: access-selector Unsigned8, access-parameters Data."""

    selector: int
    parameters: Data

    def encode(self, w: Writer) -> None:
        w.u8(self.selector)
        self.parameters.encode(w)

    @classmethod
    def read(cls, r: Reader) -> SelectiveAccess:
        return cls(r.u8(), axdr.read(r))


#: Cosem-Attribute-Descriptor-With-Selection (GET/SET with-list items).
AttributeWithSelection = tuple[CosemAttributeDescriptor, SelectiveAccess | None]


def read_attribute_with_selection(r: Reader) -> AttributeWithSelection:
    return CosemAttributeDescriptor.read(r), read_optional(r, SelectiveAccess.read)


def write_attribute_with_selection(w: Writer, item: AttributeWithSelection) -> None:
    attribute, access = item
    attribute.encode(w)
    write_optional(w, access, lambda w_, a: a.encode(w_))


def read_attribute_list(r: Reader) -> tuple[AttributeWithSelection, ...]:
    return read_seq(r, read_attribute_with_selection, min_size=10)


def write_attribute_list(w: Writer, items: Sequence[AttributeWithSelection]) -> None:
    write_seq(w, items, write_attribute_with_selection)


# --- results ------------------------------------------------------------------------------


def read_get_data_result(r: Reader) -> GetDataResult:
    """Get-Data-Result ::= CHOICE { data [0] Data, data-access-result [1] Data-Access-Result }."""
    choice = r.u8()
    if choice == 0:
        return axdr.read(r)
    if choice == 1:
        return read_enum(r, DataAccessResult)
    raise DecodeError(f"bad Get-Data-Result choice {choice}")


def write_get_data_result(w: Writer, result: GetDataResult) -> None:
    if isinstance(result, DataAccessResult):
        w.u8(1)
        w.u8(result)
    else:
        w.u8(0)
        result.encode(w)


def read_result(r: Reader) -> DataAccessResult:
    return read_enum(r, DataAccessResult)


def write_result(w: Writer, result: DataAccessResult) -> None:
    w.u8(result)


# --- DataBlock-SA (SET and ACTION blocks) -------------------------------------------------


def read_block_sa(r: Reader) -> tuple[bool, int, bytes]:
    """DataBlock-SA ::= SEQUENCE { last-block BOOLEAN, block-number Unsigned32,
    raw-data OCTET STRING }."""
    return read_bool(r), r.u32(), r.sized()


def write_block_sa(w: Writer, last_block: bool, block_number: int, raw_data: bytes) -> None:
    write_bool(w, last_block)
    w.u32(block_number)
    w.sized(raw_data)
