"""Firmware update: each Image transfer object given its store, its limit and its verifier.

Blocks live in the store's row table ``image/<obis>``, one row per block (key = block number),
written as each block arrives, so a transfer resumes after a restart (cosem/image_transfer.py
rule 1). The table holds at most one row per block of an image of at most [limits]
max_image_bytes: a block sent again with the same bytes writes nothing, with other bytes the
table is rewritten. Verification opens the image with the manufacturer key the profile names
(meter/security/firmware_image.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from meter.cosem.image_transfer import (
    MAX_IMAGE_BYTES, ImageTransfer, MemoryImageBlocks, VerifiedImage)
from meter.cosem.registry import ObjectDirectory
from meter.errors import SecurityError
from meter.persistence.store import Store
from meter.profile import ProfileError
from meter.security import ecc
from meter.security.firmware_image import SUITE, open_image

__all__ = ["StoredImageBlocks", "attach"]


class StoredImageBlocks(MemoryImageBlocks):
    """Image blocks in memory, mirrored into the store's row table ``table``."""

    def __init__(self, store: Store, table: str) -> None:
        super().__init__()
        self._store, self._table = store, table
        self._blocks = {int(n): block for n, block in store.rows(table)}

    def put(self, number: int, block: bytes) -> None:
        before = self._blocks.get(number)
        if before == block:
            return
        if before is None:
            self._store.append_rows(self._table, [(float(number), block)])
        else:  # a block replaced: rewrite, so the table never holds two rows for one block
            # (a crash in between loses blocks, which the head end sees as gaps and re-sends)
            rows = [(float(n), block if n == number else b) for n, b in sorted(self._blocks.items())]
            self._store.clear(self._table)
            self._store.append_rows(self._table, rows)
        self._blocks[number] = block  # after the store took it (StoreError: nothing changed)

    def clear(self) -> None:
        self._store.clear(self._table)
        self._blocks.clear()


def _open(key: bytes, image: bytes) -> VerifiedImage:
    found = open_image(image, key)
    return VerifiedImage(found.version, found.signature)


def attach(directory: ObjectDirectory, store: Store, limits: Mapping[str, Any]) -> None:
    """Give every Image transfer object its stored blocks, size limit and verifier."""
    for obj in directory:
        if not isinstance(obj, ImageTransfer):
            continue
        obj.blocks = StoredImageBlocks(store, f"image/{obj.logical_name}")
        obj.max_image_size = int(limits.get("max_image_bytes", MAX_IMAGE_BYTES))
        if obj.manufacturer_key is not None:
            try:
                ecc.point_key(SUITE, obj.manufacturer_key)
            except SecurityError as exc:
                raise ProfileError(f"object {obj.logical_name}: manufacturer_key: {exc}") from None
            obj.verifier = partial(_open, obj.manufacturer_key)
