"""Storage of a Profile generic buffer (Blue Book §4.3.6, attribute 2) as pre-encoded rows.

A row is the A-XDR encoding of one buffer entry (a structure), kept as bytes with a float key (the
meter's UTC time of capture), so that a year of 15-minute entries (35,040 rows) goes to the wire
by joining bytes, with nothing decoded or re-encoded. :class:`ProfileBuffer` is what
:class:`~meter.cosem.profile_generic.ProfileGeneric` needs; :class:`MemoryProfileBuffer` keeps
rows in memory and the device may supply a persistent implementation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol


class ProfileBuffer(Protocol):
    """Ordered rows (first = entry 1). ``capacity`` bounds ``append``."""

    @property
    def capacity(self) -> int: ...

    def set_capacity(self, capacity: int) -> None:
        """Change the capacity, dropping the first rows if there are more."""

    def append(self, key: float, row: bytes) -> None:
        """Add a last row; when full, the first row is dropped (fifo)."""

    def insert(self, index: int, key: float, row: bytes) -> None:
        """Put a row at ``index`` without dropping any (the caller trims with ``pop``)."""

    def pop(self) -> None:
        """Drop the last row."""

    def keys(self) -> Sequence[float]:
        """The capture keys, in row order."""

    def slice(self, start: int, stop: int) -> Sequence[bytes]:
        """Rows ``start`` to ``stop`` - 1 (0-based, like a list slice)."""

    def clear(self) -> None: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[float, bytes]]: ...


class MemoryProfileBuffer:
    """A :class:`ProfileBuffer` in two parallel lists."""

    __slots__ = ("_capacity", "_keys", "_rows")

    def __init__(self, capacity: int = 1) -> None:
        self._capacity = capacity
        self._keys: list[float] = []
        self._rows: list[bytes] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    def set_capacity(self, capacity: int) -> None:
        self._capacity = capacity
        excess = len(self._rows) - capacity
        if excess > 0:
            del self._keys[:excess], self._rows[:excess]

    def append(self, key: float, row: bytes) -> None:
        if len(self._rows) >= self._capacity:
            del self._keys[0], self._rows[0]
        self._keys.append(key)
        self._rows.append(row)

    def insert(self, index: int, key: float, row: bytes) -> None:
        self._keys.insert(index, key)
        self._rows.insert(index, row)

    def pop(self) -> None:
        self._keys.pop()
        self._rows.pop()

    def keys(self) -> Sequence[float]:
        return self._keys

    def slice(self, start: int, stop: int) -> Sequence[bytes]:
        return self._rows[start:stop]

    def clear(self) -> None:
        self._keys.clear()
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        return zip(self._keys, self._rows, strict=True)
