"""The two shapes shared by the block-transfer APDUs of GET, SET and ACTION (Green Book 9.5).

``BlockNumberApdu``: invoke-id-and-priority + block-number (GET/ACTION "next", SET/ACTION block
acknowledgements). ``DataBlockApdu``: invoke-id-and-priority + DataBlock-SA (last-block,
block-number, raw-data). Each concrete APDU only names its TAG and CHOICE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from meter.apdu.common import read_block_sa, write_block_sa
from meter.apdu.registry import Apdu
from meter.codec.buffer import Reader, Writer


@dataclass(frozen=True, slots=True)
class BlockNumberApdu(Apdu):
    invoke_id_and_priority: int
    block_number: int

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        w.u32(self.block_number)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> Self:
        return cls(r.u8(), r.u32())


@dataclass(frozen=True, slots=True)
class DataBlockApdu(Apdu):
    invoke_id_and_priority: int
    last_block: bool
    block_number: int
    raw_data: bytes

    def encode_body(self, w: Writer) -> None:
        w.u8(self.invoke_id_and_priority)
        write_block_sa(w, self.last_block, self.block_number, self.raw_data)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> Self:
        return cls(r.u8(), *read_block_sa(r))
