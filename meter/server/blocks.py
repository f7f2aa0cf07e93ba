"""Block transfer bookkeeping of the xDLMS services (Green Book 9.3.6-9.3.8): a long response
sent in blocks (GET with-datablock, ACTION with-pblock) and a long request received in blocks
(SET with-datablock, ACTION with-pblock)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from meter import apdu as A
from meter.codec import axdr
from meter.codec.buffer import Reader
from meter.errors import DecodeError

# Bytes around the raw data of a block response: tag, choice, invoke-id, last-block, block number
# (4), raw-data choice and its length (up to 3) -- 12 at most.
BLOCK_HEADER = 12


def block_size(max_send_pdu: int, envelope_overhead: int) -> int:
    """Raw data per block of a long response: what ciphering and signing add around a response
    (``envelope_overhead``) comes off too, so the protected block still fits the client's
    max-receive-PDU-size. Never below 16: a client that small gets an exception-response."""
    return max(16, max_send_pdu - BLOCK_HEADER - envelope_overhead)


@dataclass(slots=True)
class Outgoing:
    """A response being sent in blocks, front to back: its raw data as pieces (a profile
    buffer's stored rows, never joined whole), where the next block starts, and the last block
    number sent."""

    pieces: Sequence[bytes]
    block_size: int
    sent: int = 0
    response_protection: int = 0  # what the attributes asked for: every block gets it
    _index: int = 0  # the piece the next block starts in
    _offset: int = 0  # and where in it

    def next_block(self) -> tuple[bool, bytes]:
        """(last, data) of the block after the ones already taken."""
        parts, need = [], self.block_size
        while need and self._index < len(self.pieces):
            piece = self.pieces[self._index]
            part = piece[self._offset : self._offset + need]
            parts.append(part)
            need -= len(part)
            self._offset += len(part)
            if self._offset == len(piece):
                self._index, self._offset = self._index + 1, 0
        return self._index >= len(self.pieces), b"".join(parts)


def pieces_of(value: axdr.Data) -> list[bytes]:
    """The encoding of ``value`` in pieces, without joining a RawArray (a profile buffer)."""
    return value.pieces() if isinstance(value, axdr.RawArray) else [value.to_bytes()]


First = TypeVar("First", bound=A.Apdu)


@dataclass(slots=True)
class Incoming(Generic[First]):
    """A request arriving in blocks: its first block (what it targets) and the data so far."""

    first: First
    block_number: int
    data: bytearray = field(default_factory=bytearray)


def decode_data_sequence(data: bytes) -> tuple[axdr.Data, ...]:
    """A-XDR SEQUENCE OF Data: a count, then the values (the raw data of with-list blocks)."""
    r = Reader(data)
    n = r.length()
    if n > r.remaining():
        raise DecodeError("sequence longer than its data")
    values = tuple(axdr.read(r) for _ in range(n))
    r.expect_end("sequence of Data")
    return values
