"""Embedded SQLite store for everything that must survive a crash (``kill -9``).

Not a DLMS clause: the Green Book only requires that security material and invocation counters
survive power loss (9.2.3.3.7: an invocation counter value is never reused with a key), and the
Blue Book that profile buffers and registers keep their values. One database file per state
directory, WAL journal so readers never block the writer and a commit is one append to the WAL.

Two shapes of data:
- a key/value map (``str -> bytes``); callers encode values themselves (A-XDR or fixed ints);
- append-only profile rows ``(timestamp, bytes)`` per named table, kept in insertion order.

Every public call is one transaction, so a crash leaves either all or none of it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from meter.errors import MeterError

__all__ = ["DB_NAME", "Store", "StoreError"]

log = logging.getLogger(__name__)

DB_NAME = "meter.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_rows (
    id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    ts REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_rows_tbl ON profile_rows (tbl, id);
"""


class StoreError(MeterError):
    """The state database cannot be opened, read or written."""


class Store:
    """A key/value map and profile tables in one SQLite file, each call atomic.

    ``synchronous``: ``"NORMAL"`` (default) survives any process crash -- a committed WAL frame
    is in the OS page cache the moment COMMIT returns -- but the last commits may be lost on a
    power cut. Writers that must survive power loss as well pass ``durable=True`` to
    :meth:`put` / :meth:`put_many`, which forces an fsync of the WAL for that commit (FULL).
    Measured on ext4 on a virtio disk (tests/persistence/bench_commit.py): NORMAL ~16 µs per
    one-key commit, FULL ~210 µs -- so FULL only where it is rare (counter reservations).
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise StoreError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so nothing is left open.
            self._db = sqlite3.connect(self.path, isolation_level=None)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{self.path}: WAL journal not available (got {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        log.debug("opened store %s (synchronous=%s)", self.path, synchronous)

    @classmethod
    def open(cls, state_dir: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> Store:
        """Open (creating if needed) the store of a state directory."""
        directory = Path(state_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create state directory {directory}: {exc}") from exc
        return cls(directory / DB_NAME, synchronous=synchronous)

    def close(self) -> None:
        """Close the database; later calls raise StoreError."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            if durable and self._synchronous != "FULL":
                # The pragma cannot change inside a transaction; set it around this one.
                self._db.execute("PRAGMA synchronous=FULL")
            # IMMEDIATE takes the write lock now, so a second writer fails here, not mid-way.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        finally:
            if durable and self._synchronous != "FULL":
                self._restore_synchronous()

    def _restore_synchronous(self) -> None:
        try:
            self._db.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error:
            log.debug("could not restore synchronous on %s", self.path)

    def _query(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    # -- key/value ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""
        rows = self._query("SELECT value FROM kv WHERE key = ?", (key,))
        return bytes(rows[0][0]) if rows else None

    def put(self, key: str, value: bytes, *, durable: bool = False) -> None:
        """Store one value (one transaction)."""
        self.put_many({key: value}, durable=durable)

    def put_many(self, items: Mapping[str, bytes], *, durable: bool = False) -> None:
        """Store several values in one transaction: after a crash all or none are there."""
        with self._transaction(durable) as db:
            db.executemany(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(k, bytes(v)) for k, v in items.items()],
            )

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with self._transaction() as db:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def keys(self, prefix: str = "") -> list[str]:
        """All keys starting with ``prefix``, sorted."""
        rows = self._query(
            "SELECT key FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
        )
        return [str(r[0]) for r in rows]

    # -- profile rows ------------------------------------------------------------------------

    def append_rows(self, table: str, rows: list[tuple[float, bytes]]) -> None:
        """Append rows to ``table`` in one transaction, after all rows already there."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO profile_rows (tbl, ts, data) VALUES (?, ?, ?)",
                [(table, float(ts), bytes(data)) for ts, data in rows],
            )

    def rows(
        self, table: str, start: int = 0, stop: int | None = None
    ) -> list[tuple[float, bytes]]:
        """Rows ``start`` (inclusive) to ``stop`` (exclusive), oldest first, like a slice.

        Negative indices are not supported: entry numbers in profile selective access are
        positive; use :meth:`count` to address from the end.
        """
        if start < 0 or (stop is not None and stop < 0):
            raise StoreError("row indices must be >= 0")
        limit = -1 if stop is None else max(stop - start, 0)
        result = self._query(
            "SELECT ts, data FROM profile_rows WHERE tbl = ? ORDER BY id LIMIT ? OFFSET ?",
            (table, limit, start),
        )
        return [(float(ts), bytes(data)) for ts, data in result]

    def count(self, table: str) -> int:
        """Number of rows in ``table``."""
        return int(self._query("SELECT COUNT(*) FROM profile_rows WHERE tbl = ?", (table,))[0][0])

    def clear(self, table: str) -> None:
        """Remove every row of ``table``."""
        with self._transaction() as db:
            db.execute("DELETE FROM profile_rows WHERE tbl = ?", (table,))

    def trim(self, table: str, keep_last: int) -> None:
        """Drop the oldest rows of ``table`` so that at most ``keep_last`` remain."""
        if keep_last < 0:
            raise StoreError("keep_last must be >= 0")
        with self._transaction() as db:
            db.execute(
                "DELETE FROM profile_rows WHERE tbl = ? AND id NOT IN "
                "(SELECT id FROM profile_rows WHERE tbl = ? ORDER BY id DESC LIMIT ?)",
                (table, table, keep_last),
            )
