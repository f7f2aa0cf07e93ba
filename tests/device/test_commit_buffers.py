"""Persistence.commit writes the profile buffers that changed since the last commit (it is told
of each change, rather than asking every buffer of the meter): a buffer changed once is written
once, a commit the store refuses leaves the change to write again, and a buffer changed before
it was handed to the Persistence is written too."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.faults import DiskFull, Recording

from meter.device.persist import Persistence, StoredProfileBuffer
from meter.errors import StoreError
from meter.persistence.store import Store


def _snapshot() -> dict[str, bytes]:
    return {}


def _inserts(seen: list[str]) -> int:
    return sum(sql.startswith("INSERT INTO profile_rows") for sql in seen)


def test_only_the_changed_buffers_are_written_and_a_refusal_keeps_them_owed(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    early = StoredProfileBuffer(store, "early", capacity=5)
    early.append(0.5, b"before")  # before the Persistence is told of it
    logs = [StoredProfileBuffer(store, f"log{i}", capacity=5) for i in range(3)]
    persistence = Persistence(store, mark_ahead=10.0)
    persistence.add_buffers([early, *logs])
    persistence.commit(1.0, _snapshot)
    assert store.rows("early") == [(0.5, b"before")]

    logs[1].append(2.0, b"one")
    db = store._db
    store._db = DiskFull(db)  # type: ignore[assignment]
    with pytest.raises(StoreError):
        persistence.commit(2.0, _snapshot)
    store._db = db
    assert store.rows("log1") == [] and logs[1].owed

    seen: list[str] = []
    store._db = Recording(db, seen)  # type: ignore[assignment]
    persistence.commit(3.0, _snapshot)  # the refused row, then nothing more
    assert _inserts(seen) == 1
    assert store.rows("log1") == [(2.0, b"one")] and not logs[1].owed
    seen.clear()
    persistence.commit(4.0, _snapshot)
    assert _inserts(seen) == 0
    store._db = db
    assert all(store.rows(f"log{i}") == [] for i in (0, 2))
    store.close()
