"""The WAL's checkpoint size is the store's owner's choice (Store(checkpoint_pages=...)): a
fleet checkpoints less often than one meter (fleet_checkpoint_pages), and the WAL file stays
bounded at about that many pages either way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meter.persistence.store import (
    DEFAULT_CHECKPOINT_PAGES,
    MAX_CHECKPOINT_PAGES,
    Store,
    StoreError,
    fleet_checkpoint_pages,
)

PAGE = 4096 + 24  # a WAL frame: a page and its header


def _wal_peak(tmp_path: Path, pages: int) -> int:
    """The largest the WAL file gets over 600 one-row commits of ~1 KB each."""
    peak = 0
    with Store.open(tmp_path / f"s{pages}", checkpoint_pages=pages) as store:
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == pages
        for i in range(600):
            store.append_rows("t", [(float(i), bytes([i % 256]) * 1000)])
            peak = max(peak, os.path.getsize(store._wal))
    return peak


def test_the_wal_is_bounded_by_the_owners_checkpoint_size(tmp_path: Path) -> None:
    small, large = _wal_peak(tmp_path, 20), _wal_peak(tmp_path, 2000)
    # A commit appends a few pages (the row's, the index's, the row counts'): the WAL passes
    # the size by at most one commit's pages before the checkpoint that follows that commit.
    assert small <= (20 + 8) * PAGE
    assert large > 100 * PAGE  # not checkpointed at 20 pages: the owner's size took effect
    assert large <= (2000 + 8) * PAGE


def test_the_default_is_sqlites(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == DEFAULT_CHECKPOINT_PAGES


@pytest.mark.parametrize("pages", [0, -1, MAX_CHECKPOINT_PAGES + 1])
def test_an_unbounded_checkpoint_size_is_refused(tmp_path: Path, pages: int) -> None:
    with pytest.raises(StoreError, match="checkpoint_pages"):
        Store.open(tmp_path / "s", checkpoint_pages=pages)


def test_a_fleets_checkpoint_size_scales_with_its_meters() -> None:
    assert fleet_checkpoint_pages(1) == DEFAULT_CHECKPOINT_PAGES
    assert fleet_checkpoint_pages(1000) == 1000
    assert fleet_checkpoint_pages(4000) == 4000
    assert fleet_checkpoint_pages(10_000) == 10_000
    assert fleet_checkpoint_pages(100_000) == 10_000  # ~40 MB of WAL at most
