"""What the meter keeps across a crash: object state, profile buffers, metrology accumulators.

Object state is the A-XDR encoding of ``dump_state()`` under ``obj/<obis>``. A profile buffer
keeps its rows in memory for speed and mirrors them into the store's row table; appends are
batched until the next commit, which happens before any response leaves the meter.
"""

from __future__ import annotations

import json

from meter.codec import axdr
from meter.cosem.base import CosemObject
from meter.cosem.profile_buffer import MemoryProfileBuffer
from meter.errors import DecodeError, StoreError
from meter.persistence.store import Store


def encode_state(state: dict[int, axdr.Data]) -> bytes:
    return axdr.Array(tuple(axdr.Structure((axdr.Unsigned(i), v)) for i, v in sorted(state.items()))).to_bytes()


def decode_state(raw: bytes) -> dict[int, axdr.Data]:
    value = axdr.decode(raw)
    out: dict[int, axdr.Data] = {}
    for item in getattr(value, "items", ()):
        index, v = item.items
        out[int(index.value)] = v
    return out


def object_key(obj: CosemObject) -> str:
    return f"obj/{obj.logical_name}"


def restore_object(store: Store, obj: CosemObject) -> None:
    """Load ``obj``'s stored state; a state that does not load is a refusal, not a default
    (serving the profile's values in place of stored ones would be silent data loss)."""
    raw = store.get(object_key(obj))
    if raw is None:
        return
    try:
        obj.load_state(decode_state(raw))
    except (DecodeError, ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"{store.path}: stored state of {obj.logical_name} unreadable: {exc}") from exc


class StoredProfileBuffer(MemoryProfileBuffer):
    """A profile buffer whose rows also live in the store (table ``table``)."""

    __slots__ = ("_store", "_table", "_pending", "_rewrite")

    def __init__(self, store: Store, table: str, capacity: int = 1) -> None:
        super().__init__(capacity)
        self._store, self._table = store, table
        self._pending: list[tuple[float, bytes]] = []
        self._rewrite = False
        for key, row in store.rows(table):
            super().append(key, row)

    def append(self, key: float, row: bytes) -> None:
        super().append(key, row)
        self._pending.append((key, row))

    def set_capacity(self, capacity: int) -> None:
        before = len(self)
        super().set_capacity(capacity)
        self._rewrite |= len(self) != before

    def insert(self, index: int, key: float, row: bytes) -> None:
        super().insert(index, key, row)
        self._rewrite = True

    def pop(self) -> None:
        super().pop()
        self._rewrite = True

    def clear(self) -> None:
        super().clear()
        self._pending.clear()
        self._rewrite = True

    def flush(self) -> None:
        """Write what changed since the last flush (one transaction per table)."""
        if self._rewrite:
            self._store.clear(self._table)
            self._store.append_rows(self._table, list(zip(self.keys(), self.slice(0, len(self)), strict=True)))
            self._rewrite = False
        elif self._pending:
            self._store.append_rows(self._table, self._pending)
            self._store.trim(self._table, self.capacity)
        self._pending.clear()



def dump_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def load_json(store: Store, key: str) -> object | None:
    raw = store.get(key)
    if raw is None:
        return None
    try:
        loaded: object = json.loads(raw)
        return loaded
    except ValueError as exc:
        raise StoreError(f"{store.path}: stored {key!r} unreadable: {exc}") from exc
