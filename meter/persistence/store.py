"""Embedded SQLite store for everything that must survive a crash (``kill -9``).

Not a DLMS clause: the Green Book only requires that security material and invocation counters
survive power loss (9.2.3.3.7: an invocation counter value is never reused with a key), and the
Blue Book that profile buffers and registers keep their values. One database file per state
directory, WAL journal so readers never block the writer and a commit is one append to the WAL.

Two shapes of data:
- a key/value map (``str -> bytes``); callers encode values themselves (A-XDR or fixed ints);
- append-only profile rows ``(timestamp, bytes)`` per named table, kept in insertion order.

Every public call is one transaction, so a crash leaves either all or none of it; calls within
``Store.one()`` are one transaction together.

Every record carries a checksum (BLAKE2b-64 over its key or table, timestamp and bytes), checked
on every read and over the whole store at open: a changed byte, or a record moved to another key,
is a StoreError (the meter refuses to start or serve), never a value served. It protects against
damage (disk, editing), not an attacker with write access to the file, who could recompute it.

A record deleted behind the store's back is missed too: the store keeps a manifest (every key,
the row count of every table) checksummed in its own table and rewritten in the same transaction
as any change to that list, and at open the contents must match it exactly (the keys and the row
counts are two records, version 2: an appended row rewrites the short one, not the key list).
Losing a record is as bad as changing it -- a deleted ``ic/tx/*`` reservation would restart the
send counter and reuse GCM IVs under the same key. ``PRAGMA user_version`` says that the store
keeps a manifest, so a deleted manifest is refused as well. A store of a previous version (no
checksums, no manifest; or the manifest in one record) gets them on first open; going back to a
previous version is not supported (what it writes is not in the manifest, so this version
refuses the state afterwards).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
import struct
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from meter.errors import StoreError

__all__ = ["COUNTER_SUFFIX", "DB_NAME", "Store", "StoreError", "fleet_checkpoint_pages"]

log = logging.getLogger(__name__)

DB_NAME = "meter.sqlite3"
COUNTER_SUFFIX = ".ctr"  # counter files beside the database (meter.persistence.counters)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    sum BLOB
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_rows (
    id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    ts REAL NOT NULL,
    data BLOB NOT NULL,
    sum BLOB
);
CREATE INDEX IF NOT EXISTS profile_rows_tbl ON profile_rows (tbl, id);
CREATE TABLE IF NOT EXISTS manifest (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    body BLOB NOT NULL,
    sum BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS manifests (
    ns TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    sum BLOB NOT NULL
) WITHOUT ROWID;
"""
#: A namespace's keys and tables start with this (``@<name>/``); the store's own never do.
NAMESPACE_MARK = "@"
# PRAGMA user_version of a store that keeps a manifest (0: a store of a previous version):
# 1, one record of keys and row counts; 2, the row counts in a record of their own (_ROWS).
_MANIFEST_VERSION = 2
_ONE_RECORD_VERSION = 1
#: The row counts' record in ``manifests``: the store's (or namespace's) prefix and this.
_ROWS = "#rows"
_REFUSAL = "restore it from a backup, or move it away to start afresh"
#: WAL pages that start a checkpoint (PRAGMA wal_autocheckpoint): SQLite's default, and the
#: most a store's owner may ask for (~400 MB of WAL at 4 KiB pages).
DEFAULT_CHECKPOINT_PAGES = 1000
MAX_CHECKPOINT_PAGES = 100_000


def fleet_checkpoint_pages(meters: int) -> int:
    """The checkpoint size of a fleet's store: a page per meter, between SQLite's default and
    10,000 pages (~40 MB of WAL). A 10,000-meter fleet's read then waits on a checkpoint's
    fsyncs every ~1,800 reads rather than every ~180 (its database is ~135 MB; measured on
    a copy of it, 88 µs wall per read's commit rather than 108-123 µs)."""
    return max(DEFAULT_CHECKPOINT_PAGES, min(10_000, meters))


def _kv_sum(key: str, value: bytes) -> bytes:
    return hashlib.blake2b(key.encode() + b"\0" + value, digest_size=8, person=b"acesm-kv").digest()


def _manifest_sum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=8, person=b"acesm-manifest").digest()


def _keys_body(keys: frozenset[str]) -> bytes:
    """``{"keys":[sorted keys]}`` in compact JSON, made once per key set (keys change seldom,
    and the meters of a fleet share theirs)."""
    return ('{"keys":' + _keys_json(keys) + "}").encode()


@functools.lru_cache(maxsize=256)
def _keys_json(keys: frozenset[str]) -> str:
    return json.dumps(sorted(keys), separators=(",", ":"))


def _rows_body(rows: Mapping[str, int]) -> bytes:
    """``{"rows":{table: count}}`` in compact JSON, tables sorted (what ``json.dumps`` gives,
    made from each table's name quoted once: a read that logs rewrites it)."""
    return ('{"rows":{' + ",".join(f"{_json_name(t)}:{int(n)}" for t, n in sorted(rows.items()))
            + "}}").encode()


@functools.lru_cache(maxsize=1024)
def _json_name(name: str) -> str:
    return json.dumps(name)


def _upsert_manifest(db: sqlite3.Connection, ns: str, body: bytes) -> None:
    """One manifest record: the store's own keys in ``manifest``, everything else (a
    namespace's keys, the row counts) in ``manifests`` under its prefix."""
    if ns:
        db.execute("INSERT INTO manifests (ns, body, sum) VALUES (?, ?, ?) "
                   "ON CONFLICT (ns) DO UPDATE SET body = excluded.body, sum = excluded.sum",
                   (ns, body, _manifest_sum(body)))
    else:
        db.execute("INSERT INTO manifest (id, body, sum) VALUES (0, ?, ?) "
                   "ON CONFLICT (id) DO UPDATE SET body = excluded.body, sum = excluded.sum",
                   (body, _manifest_sum(body)))


def _row_sum(table: str, ts: float, data: bytes) -> bytes:
    # + 0.0 turns -0.0 into 0.0, which is what SQLite gives back for it.
    return hashlib.blake2b(table.encode() + b"\0" + struct.pack(">d", ts + 0.0) + data, digest_size=8,
                           person=b"acesm-row").digest()


class Store:
    """A key/value map and profile tables in one SQLite file, each call atomic.

    ``synchronous``: ``"NORMAL"`` (default) survives any process crash -- a committed WAL frame
    is in the OS page cache the moment COMMIT returns -- but the last commits may be lost on a
    power cut. Writers that must survive power loss as well pass ``durable=True`` to
    :meth:`put` / :meth:`put_many`, which forces an fsync of the WAL for that commit (FULL).
    Measured on ext4 on a virtio disk (tests/persistence/bench_commit.py): NORMAL ~16 µs per
    one-key commit, FULL ~210 µs -- so FULL only where it is rare (counter reservations).

    ``checkpoint_pages``: the WAL is copied into the database (a checkpoint: two fsyncs, ~3 ms
    each on that disk, during which the owner's thread waits) once it holds this many pages
    (4 KiB each), so the WAL file stays at about that size. SQLite's default of 1,000 suits one
    meter; a fleet, whose every read commits, passes more (fleet_checkpoint_pages): fewer
    checkpoints for a bigger WAL on disk and more of it to read at an open after a crash.
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL",
                 checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise StoreError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        if not 1 <= checkpoint_pages <= MAX_CHECKPOINT_PAGES:
            raise StoreError(f"checkpoint_pages must be 1 to {MAX_CHECKPOINT_PAGES}, "
                             f"not {checkpoint_pages}")
        self.path = Path(path)
        self._synchronous = synchronous
        self._ns = ""  # the key/table prefix of a namespace view (namespace())
        # A view's values as its verify() read them, kept up to date by its writes (the only
        # writer of its namespace): a fleet meter built again reads its ~130 records from here.
        self._values: dict[str, bytes] | None = None
        self._shared = False  # a view: the database is its owner's to close
        self._wal = Path(f"{self.path}-wal")  # the database's (a view's path names its directory)
        self._batched = False  # inside durable_at_end(): durable commits owe one sync at its end
        self._sync_owed = False
        self._joined: dict[str, bytes | None] | None = None  # inside one(): values before it
        self._manifest_owed = False  # inside one(): a list changed (written at its end)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so nothing is left open.
            self._db = sqlite3.connect(self.path, isolation_level=None)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{self.path}: WAL journal not available (got {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
            self._db.executescript(_SCHEMA)
            damage = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        if damage != "ok":
            raise StoreError(f"{self.path}: the database is damaged ({damage})")
        self._keys: frozenset[str] = frozenset()  # the manifest: keys, rows per table
        self._rows: dict[str, int] = {}
        self._listed = False  # the manifest's records exist (else the first write makes both)
        self._listing = False  # the open transaction writes them
        self._upgrade()
        self.verify()
        log.debug("opened store %s (synchronous=%s)", self.path, synchronous)

    @classmethod
    def open(cls, state_dir: str | os.PathLike[str], *, synchronous: str = "NORMAL",
             checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES) -> Store:
        """Open (creating if needed) the store of a state directory."""
        directory = Path(state_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / DB_NAME
            # A deleted database would be an empty new one -- send counters restarted under the
            # same key -- unless what the meter left beside it says the state was used.
            left = [] if path.exists() else sorted(
                p.name for p in directory.iterdir()
                if p.suffix == COUNTER_SUFFIX or p.name.startswith(DB_NAME))
        except OSError as exc:
            raise StoreError(f"cannot create state directory {directory}: {exc}") from exc
        if left:
            raise StoreError(f"{path} is missing although the state directory holds {left[0]}: the "
                             f"state is incomplete ({_REFUSAL})")
        return cls(path, synchronous=synchronous, checkpoint_pages=checkpoint_pages)

    def namespace(self, name: str, directory: str | os.PathLike[str]) -> Store:
        """A view of this store as a store of its own (one meter of a fleet, meter/device/fleet.py):
        its keys and profile tables live in this database under ``@name/``, with their own
        checksummed manifest (the ``manifests`` table), checked now, when the view is made, so
        a fleet verifies each meter's records when it first builds it. ``directory`` is where
        its receive-counter files go (``path.parent``). Closing the view leaves the database
        open; views are used on the owner's thread only."""
        if not name or "/" in name or name.startswith(NAMESPACE_MARK):
            raise StoreError(f"bad store namespace {name!r}")
        view = object.__new__(Store)
        view.path = Path(directory) / DB_NAME
        view._synchronous, view._db, view._wal = self._synchronous, self._db, self._wal
        view._batched = view._sync_owed = False
        view._joined = None
        view._manifest_owed = False
        view._ns, view._shared = f"{NAMESPACE_MARK}{name}/", True
        view._keys, view._rows = frozenset(), {}
        view._listed = view._listing = False
        view._values = {}
        view.verify()
        return view

    def _range(self, column: str) -> tuple[str, tuple[str, ...]]:
        """The SQL condition (and its parameters) that picks this store's records by ``column``:
        a namespace's prefix range, or, for the store itself, everything outside namespaces."""
        if self._ns:
            return f"({column} >= ? AND {column} < ?)", (self._ns, self._ns[:-1] + "0")
        after = chr(ord(NAMESPACE_MARK) + 1)
        return f"({column} < ? OR {column} >= ?)", (NAMESPACE_MARK, after)

    def _upgrade(self) -> None:
        """Bring a store of a previous version up to this one: checksums, then the manifest."""
        version = int(self._query("PRAGMA user_version", ())[0][0])
        if version >= _MANIFEST_VERSION:
            return
        if version == _ONE_RECORD_VERSION:
            self._split_manifests()
            return
        columns = {str(r[1]) for r in self._query("PRAGMA table_info(kv)", ())}
        with self._transaction(durable=True) as db:
            if "sum" not in columns:
                db.execute("ALTER TABLE kv ADD COLUMN sum BLOB")
                db.execute("ALTER TABLE profile_rows ADD COLUMN sum BLOB")
                db.executemany("UPDATE kv SET sum = ? WHERE key = ?", [
                    (_kv_sum(k, bytes(v)), k) for k, v in db.execute("SELECT key, value FROM kv")])
                db.executemany("UPDATE profile_rows SET sum = ? WHERE id = ?", [
                    (_row_sum(t, float(ts), bytes(d)), i)
                    for i, t, ts, d in db.execute("SELECT id, tbl, ts, data FROM profile_rows")])
                log.info("%s: checksums added to the stored records (first open by this version)",
                         self.path)
            keys, rows = self._contents()
            self._write_manifest(db, keys, rows)
            db.execute(f"PRAGMA user_version = {_MANIFEST_VERSION}")
        if keys or rows:
            log.info("%s: manifest of the %d stored records added (first open by this version)",
                     self.path, len(keys) + sum(rows.values()))

    def _contents(self) -> tuple[frozenset[str], dict[str, int]]:
        """What the database holds: its keys and the row count of each table."""
        cut = len(self._ns)
        where, args = self._range("key")
        keys = frozenset(str(r[0])[cut:] for r in self._query(f"SELECT key FROM kv WHERE {where}", args))
        where, args = self._range("tbl")
        rows = {str(t)[cut:]: int(n) for t, n in self._query(
            f"SELECT tbl, COUNT(*) FROM profile_rows WHERE {where} GROUP BY tbl", args)}
        return keys, rows

    def _split_manifests(self) -> None:
        """A store of version 1 (keys and row counts in one record per store and namespace):
        each record, checked, becomes the two of this version, in one transaction."""
        with self._transaction(durable=True) as db:
            old = [("", *r) for r in db.execute("SELECT body, sum FROM manifest WHERE id = 0")]
            old += list(db.execute("SELECT ns, body, sum FROM manifests"))
            for ns, body, total in old:
                self._check(total, _manifest_sum(bytes(body)), "manifest")
                listed = json.loads(bytes(body))
                _upsert_manifest(db, ns, _keys_body(frozenset(listed["keys"])))
                _upsert_manifest(db, ns + _ROWS, _rows_body(listed["rows"]))
            db.execute(f"PRAGMA user_version = {_MANIFEST_VERSION}")

    def _write_manifest(self, db: sqlite3.Connection, keys: frozenset[str] | None = None,
                        rows: Mapping[str, int] | None = None) -> None:
        """Inside the transaction that changes a list: both commit, or neither. The keys and
        the row counts are records of their own (an appended row rewrites the short one, not
        the key list); a store not listed yet gets both. Within one(), at its end, once, and
        only what differs from its start (a full log's row appended and its oldest trimmed
        leave the counts as they were)."""
        if self._joined is not None:
            self._manifest_owed = True
            return
        if not self._listed:
            keys = self._keys if keys is None else keys
            rows = self._rows if rows is None else rows
            self._listing = True
        if keys is not None:
            _upsert_manifest(db, self._ns, _keys_body(keys))
        if rows is not None:
            _upsert_manifest(db, self._ns + _ROWS, _rows_body(rows))

    def verify(self) -> None:
        """Check every record's checksum, and the records against the manifest (none missing,
        none unlisted); raises StoreError naming the first bad one."""
        where, args = self._range("key")
        for key, value, total in self._query(f"SELECT key, value, sum FROM kv WHERE {where}", args):
            self._check(total, _kv_sum(key, bytes(value)), f"record {key!r}")
            if self._values is not None:
                self._values[key[len(self._ns):]] = bytes(value)
        where, args = self._range("tbl")
        for i, table, ts, data, total in self._query(
                f"SELECT id, tbl, ts, data, sum FROM profile_rows WHERE {where}", args):
            self._check(total, _row_sum(table, float(ts), bytes(data)), f"{table} row {i}")
        if self._ns:
            manifest = self._query("SELECT body, sum FROM manifests WHERE ns = ?", (self._ns,))
            if not manifest and self._contents() == (frozenset(), {}):
                self._listed = False
                return  # a namespace never written to: nothing to list yet
        else:
            manifest = self._query("SELECT body, sum FROM manifest WHERE id = 0", ())
        counts = self._query("SELECT body, sum FROM manifests WHERE ns = ?", (self._ns + _ROWS,))
        if not manifest or not counts:
            raise StoreError(f"{self.path}: the manifest of the stored records is missing: the state "
                             f"is incomplete ({_REFUSAL})")
        body, rows_body = bytes(manifest[0][0]), bytes(counts[0][0])
        self._check(manifest[0][1], _manifest_sum(body), "manifest")
        self._check(counts[0][1], _manifest_sum(rows_body), "manifest")
        self._keys, self._rows = frozenset(json.loads(body)["keys"]), dict(json.loads(rows_body)["rows"])
        self._listed = True
        keys, rows = self._contents()
        if missing := sorted(self._keys - keys):
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise StoreError(f"{self.path}: stored record {missing[0]!r} is missing{more}: the state "
                             f"is incomplete ({_REFUSAL})")
        if unlisted := sorted(keys - self._keys):
            raise StoreError(f"{self.path}: stored record {unlisted[0]!r} is not in the manifest: "
                             f"the state was changed behind the meter's back ({_REFUSAL})")
        for table in sorted(self._rows.keys() | rows.keys()):
            have, listed_rows = rows.get(table, 0), self._rows.get(table, 0)
            if have != listed_rows:
                raise StoreError(f"{self.path}: {table} holds {have} rows, the manifest lists "
                                 f"{listed_rows}: the state is incomplete ({_REFUSAL})")

    def _check(self, stored: bytes | None, computed: bytes, what: str) -> None:
        if stored is None or bytes(stored) != computed:
            raise StoreError(f"{self.path}: stored {what} fails its checksum: the state is corrupt "
                             f"({_REFUSAL})")

    def close(self) -> None:
        """Close the database; later calls raise StoreError. A namespace view leaves it open."""
        if not self._shared:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def durable_at_end(self) -> Iterator[None]:
        """Within it, durable writes commit as any other and one fsync of the WAL at its end
        makes them durable together: for work that lets nothing out before it ends. A fleet
        meter's first build writes key pairs, certificates and receive-counter records durably
        (~7 fsyncs of ~3 ms each on this machine's disk; one instead)."""
        outer, self._batched = self._batched, True
        try:
            yield
        finally:
            self._batched = outer
            if not outer and self._sync_owed:
                self._sync_owed = False
                self._sync_wal()

    def _sync_wal(self) -> None:
        try:
            fd = os.open(self._wal, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"{self._wal}: cannot sync: {exc}") from exc

    def one(self) -> _One:
        """Every call within it joins one transaction, committed at its end: all or none of
        them after a crash, and one commit instead of one each (a meter's commit of a request:
        object states, the time mark, its log rows and their trim, meter/device/persist.py).
        If anything within it fails, or the commit, none of it is stored (nor kept in this
        object's view of the manifest and values) and StoreError is raised. A durable write
        within it makes the commit durable (the WAL synced after it). Not re-entrant."""
        return _One(self)

    def _transaction(self, durable: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        """A call's transaction: within one(), its transaction (a plain object: every call of
        a commit passes here), else one of the call's own."""
        if self._joined is not None:  # within one(): its transaction, its commit
            self._sync_owed |= durable
            return _Joined(self)
        return self._own_transaction(durable)

    @contextmanager
    def _own_transaction(self, durable: bool) -> Iterator[sqlite3.Connection]:
        if durable and self._batched:
            durable, self._sync_owed = False, True
        try:
            if durable and self._synchronous != "FULL":
                # The pragma cannot change inside a transaction; set it around this one.
                self._db.execute("PRAGMA synchronous=FULL")
            self._begin()
            try:
                yield self._db
                self._commit()
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        finally:
            if durable and self._synchronous != "FULL":
                self._restore_synchronous()

    def _begin(self) -> None:
        # IMMEDIATE takes the write lock now, so a second writer fails here, not mid-way.
        self._db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self._db.execute("COMMIT")
        if self._listing:  # the manifest's records exist from now on
            self._listed, self._listing = True, False

    def _rollback(self) -> None:
        # Also when COMMIT itself fails (disk full): never leave the transaction open.
        self._listing = False
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

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
        if self._values is not None:
            return self._values.get(key)
        key = self._ns + key
        rows = self._query("SELECT value, sum FROM kv WHERE key = ?", (key,))
        if not rows:
            return None
        value = bytes(rows[0][0])
        self._check(rows[0][1], _kv_sum(key, value), f"record {key!r}")
        return value

    def put(self, key: str, value: bytes, *, durable: bool = False) -> None:
        """Store one value (one transaction)."""
        self.put_many({key: value}, durable=durable)

    def put_many(self, items: Mapping[str, bytes], *, durable: bool = False) -> None:
        """Store several values in one transaction: after a crash all or none are there."""
        new = items.keys() - self._keys
        keys = self._keys.union(new) if new else self._keys
        values = {k: bytes(v) for k, v in items.items()}
        ns = self._ns
        with self._transaction(durable) as db:
            db.executemany(
                "INSERT INTO kv (key, value, sum) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, sum = excluded.sum",
                [(key := ns + k, v, _kv_sum(key, v)) for k, v in values.items()],
            )
            if new:  # a new key: the common update of a known one costs nothing
                self._write_manifest(db, keys=keys)
        self._keys = keys
        if self._values is not None:
            if self._joined is not None:
                for k in values:
                    self._joined.setdefault(k, self._values.get(k))
            self._values.update(values)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        keys = self._keys - {key}
        with self._transaction() as db:
            db.execute("DELETE FROM kv WHERE key = ?", (self._ns + key,))
            if keys != self._keys:
                self._write_manifest(db, keys=keys)
        self._keys = keys
        if self._values is not None:
            if self._joined is not None:
                self._joined.setdefault(key, self._values.get(key))
            self._values.pop(key, None)

    def keys(self, prefix: str = "") -> list[str]:
        """All keys starting with ``prefix``, sorted."""
        prefix = self._ns + prefix
        where, args = self._range("key")
        rows = self._query(
            f"SELECT key FROM kv WHERE substr(key, 1, ?) = ? AND {where} ORDER BY key",
            (len(prefix), prefix, *args)
        )
        return [str(r[0])[len(self._ns):] for r in rows]

    # -- profile rows ------------------------------------------------------------------------

    def append_rows(self, table: str, rows: list[tuple[float, bytes]]) -> None:
        """Append rows to ``table`` in one transaction, after all rows already there."""
        counts = self._counted(table, len(rows))
        table = self._ns + table
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO profile_rows (tbl, ts, data, sum) VALUES (?, ?, ?, ?)",
                [(table, float(ts), bytes(data), _row_sum(table, float(ts), bytes(data)))
                 for ts, data in rows],
            )
            if rows:
                self._write_manifest(db, rows=counts)
        self._rows = counts

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
        table = self._ns + table
        result = self._query(
            "SELECT id, ts, data, sum FROM profile_rows WHERE tbl = ? ORDER BY id LIMIT ? OFFSET ?",
            (table, limit, start),
        )
        out = []
        for i, ts, data, total in result:
            row = (float(ts), bytes(data))
            self._check(total, _row_sum(table, *row), f"{table} row {i}")
            out.append(row)
        return out

    def count(self, table: str) -> int:
        """Number of rows in ``table``."""
        return int(self._query("SELECT COUNT(*) FROM profile_rows WHERE tbl = ?",
                               (self._ns + table,))[0][0])

    def clear(self, table: str) -> None:
        """Remove every row of ``table``."""
        with self._transaction() as db:
            gone = db.execute("DELETE FROM profile_rows WHERE tbl = ?", (self._ns + table,)).rowcount
            counts = self._counted(table, -gone)
            if gone:
                self._write_manifest(db, rows=counts)
        self._rows = counts

    def trim(self, table: str, keep_last: int) -> None:
        """Drop the oldest rows of ``table`` so that at most ``keep_last`` remain."""
        if keep_last < 0:
            raise StoreError("keep_last must be >= 0")
        over = self._rows.get(table, 0) - keep_last
        if over <= 0:
            return  # the manifest's count says nothing is over (a DELETE would scan the table)
        with self._transaction() as db:
            # The oldest ``over`` rows by the (tbl, id) index: a full log that gains one row
            # loses one, without the table's other rows being read.
            gone = db.execute(
                "DELETE FROM profile_rows WHERE id IN "
                "(SELECT id FROM profile_rows WHERE tbl = ? ORDER BY id LIMIT ?)",
                (self._ns + table, over),
            ).rowcount
            counts = self._counted(table, -gone)
            if gone:
                self._write_manifest(db, rows=counts)
        self._rows = counts

    def _counted(self, table: str, change: int) -> dict[str, int]:
        """The manifest's row counts after ``change`` rows more (or fewer) in ``table``."""
        counts = {**self._rows, table: self._rows.get(table, 0) + change}
        return {t: n for t, n in counts.items() if n}


class _Joined:
    """A call's part of the transaction of ``Store.one()``: its SQLite errors are StoreErrors."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        return self._store._db

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"{self._store.path}: {exc}") from exc


class _One:
    """``Store.one()``: a class rather than a generator, as it is on the path of every commit
    that writes (a generator context manager costs several times its enter and exit)."""

    __slots__ = ("_joined", "_keys", "_listed", "_owed", "_rows", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> None:
        store = self._store
        if store._joined is not None:
            raise StoreError(f"{store.path}: one() within one()")
        self._keys, self._rows, self._listed = store._keys, store._rows, store._listed
        store._manifest_owed = False
        self._owed, store._sync_owed = store._sync_owed, False
        try:
            store._begin()
        except sqlite3.Error as exc:
            store._sync_owed = self._owed
            raise StoreError(f"{store.path}: {exc}") from exc
        self._joined: dict[str, bytes | None] = {}
        store._joined = self._joined  # from here on the calls join this transaction

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        store = self._store
        durable, store._sync_owed = store._sync_owed, self._owed
        store._joined = None
        stored = False
        try:
            if kind is None:
                try:
                    if store._manifest_owed:
                        store._write_manifest(store._db,
                                              None if store._keys == self._keys else store._keys,
                                              None if store._rows == self._rows else store._rows)
                    store._commit()
                    stored = True
                finally:
                    if not stored:
                        store._rollback()
            else:  # the body failed: none of it stored, and its exception goes on
                store._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{store.path}: {exc}") from exc
        except sqlite3.Error as error:
            raise StoreError(f"{store.path}: {error}") from error
        finally:
            if not stored:
                self._undo()
        if durable:
            if store._batched:
                store._sync_owed = True
            else:
                store._sync_wal()

    def _undo(self) -> None:
        """The store's view of its manifest and values as they were before it."""
        store = self._store
        store._keys, store._rows, store._listed = self._keys, self._rows, self._listed
        if store._values is not None:
            for key, value in self._joined.items():
                if value is None:
                    store._values.pop(key, None)
                else:
                    store._values[key] = value
