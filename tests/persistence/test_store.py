"""Store: key/value and profile rows, atomicity, reopen."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.faults import DiskFull

from meter.persistence.store import DB_NAME, Store, StoreError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "state")
    yield s  # type: ignore[misc]
    s.close()


def test_key_value(store: Store) -> None:
    assert store.get("a") is None
    store.put("a", b"1")
    store.put("a", b"2")
    store.put_many({"ic/tx": b"x", "ic/rx/01": b"y", "ic/rx/02": b""})
    assert store.get("a") == b"2"
    assert store.get("ic/rx/02") == b""
    assert store.keys("ic/rx/") == ["ic/rx/01", "ic/rx/02"]
    assert store.keys() == ["a", "ic/rx/01", "ic/rx/02", "ic/tx"]
    assert store.keys("%") == []  # prefix is literal, not a LIKE pattern
    store.delete("a")
    store.delete("missing")
    assert store.get("a") is None
    store.put("k", b"v", durable=True)
    assert store.get("k") == b"v"


def test_wal_and_reopen(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        s.put("x", b"\x00\xff")
        s.append_rows("lp1", [(1.0, b"a"), (2.0, b"b")])
    assert (tmp_path / DB_NAME).exists()
    with Store(tmp_path / DB_NAME) as s:
        assert s.get("x") == b"\x00\xff"
        assert s.rows("lp1") == [(1.0, b"a"), (2.0, b"b")]
        mode = sqlite3.connect(tmp_path / DB_NAME).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_put_many_is_atomic(store: Store) -> None:
    class Bad:
        def __bytes__(self) -> bytes:
            raise RuntimeError("boom")

    store.put("a", b"old")
    with pytest.raises(RuntimeError):
        store.put_many({"a": b"new", "b": Bad()})  # type: ignore[dict-item]
    assert store.get("a") == b"old"
    assert store.get("b") is None


def test_profile_rows(store: Store) -> None:
    store.append_rows("lp1", [(float(i), bytes([i])) for i in range(10)])
    store.append_rows("lp2", [(100.0, b"other")])
    store.append_rows("lp1", [(10.0, b"\x0a")])
    assert store.count("lp1") == 11
    assert store.count("nothing") == 0
    assert store.rows("lp1", 2, 4) == [(2.0, b"\x02"), (3.0, b"\x03")]
    assert store.rows("lp1", 9) == [(9.0, b"\x09"), (10.0, b"\x0a")]
    assert store.rows("lp1", 5, 5) == []
    assert store.rows("lp1", 20) == []
    store.trim("lp1", 3)
    assert [ts for ts, _ in store.rows("lp1")] == [8.0, 9.0, 10.0]
    store.trim("lp1", 10)
    assert store.count("lp1") == 3
    store.trim("lp1", 0)
    assert store.count("lp1") == 0
    assert store.rows("lp2") == [(100.0, b"other")]
    store.clear("lp2")
    assert store.count("lp2") == 0
    store.append_rows("lp2", [])
    with pytest.raises(StoreError):
        store.trim("lp2", -1)
    with pytest.raises(StoreError):
        store.rows("lp2", -1)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(st.tuples(st.floats(allow_nan=False), st.binary(max_size=20)), max_size=20),
    start=st.integers(0, 25),
    stop=st.none() | st.integers(0, 25),
)
def test_rows_behave_like_a_slice(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[float, bytes]],
    start: int,
    stop: int | None,
) -> None:
    with Store.open(tmp_path_factory.mktemp("s")) as s:
        s.append_rows("t", rows)
        assert s.rows("t", start, stop) == rows[start:stop]


def test_errors_are_store_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StoreError):
        Store.open(blocker / "sub")
    (tmp_path / "junk").mkdir()
    bad = tmp_path / "junk" / DB_NAME
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        Store(bad)
    s = Store.open(tmp_path / "ok")
    s.close()
    with pytest.raises(StoreError):
        s.get("a")
    with pytest.raises(StoreError):
        s.put("a", b"")
    with pytest.raises(StoreError):
        Store(tmp_path / "x.db", synchronous="OFF")


@settings(max_examples=60, deadline=None)
@given(value=st.binary(min_size=1, max_size=64), data=st.data())
def test_any_changed_byte_is_refused(tmp_path_factory: pytest.TempPathFactory, value: bytes,
                                     data: st.DataObject) -> None:
    """Issue 7 item 15: a record changed behind the store's back (one bit of its bytes or its
    timestamp) is a StoreError on read and at open, never a value returned."""
    state = tmp_path_factory.mktemp("state")
    with Store.open(state) as s:
        s.put("metrology", value)
        s.append_rows("profile/x", [(1.0, value)])
    at = data.draw(st.integers(0, len(value) - 1))
    changed = value[:at] + bytes([value[at] ^ data.draw(st.sampled_from([1, 0x40, 0x80]))]) + value[at + 1:]
    table, column = data.draw(st.sampled_from([("kv", "value"), ("profile_rows", "data")]))
    db = sqlite3.connect(state / DB_NAME)
    with db:
        db.execute(f"UPDATE {table} SET {column} = ?", (changed,))
    db.close()
    with pytest.raises(StoreError, match="checksum"):
        Store.open(state)
    # Read one by one (a damage after open): refused too.
    db = sqlite3.connect(state / DB_NAME)
    with db:
        db.execute(f"UPDATE {table} SET {column} = ?", (value,))
    db.close()
    with Store.open(state) as s:
        db = sqlite3.connect(state / DB_NAME)
        with db:
            db.execute(f"UPDATE {table} SET {column} = ?", (changed,))
        db.close()
        read = (lambda: s.get("metrology")) if table == "kv" else (lambda: s.rows("profile/x"))
        with pytest.raises(StoreError, match="checksum"):
            read()


def test_a_failed_commit_leaves_no_transaction_open(store: Store) -> None:
    """A COMMIT that fails (disk full) is rolled back: the store stays usable, the value unchanged."""
    store.put("k", b"old")
    db = store._db
    store._db = DiskFull(db)  # type: ignore[assignment]
    with pytest.raises(StoreError, match="disk is full"):
        store.put("k", b"new")
    store._db = db
    assert store.get("k") == b"old"
    store.put("k", b"newer")
    assert store.get("k") == b"newer"


_OPS = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from("abc"), st.binary(max_size=4)),
    st.tuples(st.just("delete"), st.sampled_from("abcd"), st.none()),
    st.tuples(st.just("append"), st.sampled_from(["t1", "t2"]), st.integers(0, 3)),
    st.tuples(st.just("trim"), st.sampled_from(["t1", "t2"]), st.integers(0, 3)),
    st.tuples(st.just("clear"), st.sampled_from(["t1", "t2"]), st.none()),
), max_size=12)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS, data=st.data())
def test_any_deleted_record_is_refused(tmp_path_factory: pytest.TempPathFactory,
                                       ops: list[tuple[str, str, object]], data: st.DataObject) -> None:
    """Issue 7 item 1: after any sequence of changes the store reopens; a key or a row then
    deleted behind its back (or its manifest) is a StoreError at open."""
    state = tmp_path_factory.mktemp("state")
    with Store.open(state) as s:
        for op, name, arg in ops:
            if op == "put":
                s.put(name, arg)  # type: ignore[arg-type]
            elif op == "delete":
                s.delete(name)
            elif op == "append":
                s.append_rows(name, [(float(i), b"r") for i in range(arg)])  # type: ignore[call-overload]
            elif op == "trim":
                s.trim(name, arg)  # type: ignore[arg-type]
            else:
                s.clear(name)
    Store.open(state).close()  # nothing deleted: it opens
    db = sqlite3.connect(state / DB_NAME)
    targets = ([("kv", "key", k) for (k,) in db.execute("SELECT key FROM kv")]
               + [("profile_rows", "id", i) for (i,) in db.execute("SELECT id FROM profile_rows")]
               + [("manifest", "id", 0), ("manifests", "ns", "#rows")])
    table, column, value = data.draw(st.sampled_from(targets))
    with db:
        assert db.execute(f"DELETE FROM {table} WHERE {column} = ?", (value,)).rowcount == 1
    db.close()
    with pytest.raises(StoreError, match="missing|manifest lists"):
        Store.open(state)


def test_durable_writes_of_a_batch_are_synced_once_at_its_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """durable_at_end (a fleet meter's first build): durable puts inside commit at once (another
    connection reads them) and owe one fsync of the WAL at the end of the outermost batch; a
    batch without durable writes syncs nothing."""
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    with Store.open(tmp_path) as store:
        view = store.namespace("m1", tmp_path / "m1")
        with view.durable_at_end():
            with view.durable_at_end():
                view.put("a", b"1", durable=True)
                view.put_many({"b": b"2", "c": b"3"}, durable=True)
            assert not synced  # the inner batch's end is not the end
            other = sqlite3.connect(tmp_path / DB_NAME)
            assert other.execute("SELECT COUNT(*) FROM kv WHERE key LIKE '%m1/%'").fetchone()[0] == 3
            other.close()
        assert len(synced) == 1
        with view.durable_at_end():
            view.put("d", b"4")
        assert len(synced) == 1
