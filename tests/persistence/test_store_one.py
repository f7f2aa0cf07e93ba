"""Store.one(): the calls within it are one transaction (a meter's commit of a request,
meter/device/persist.py): one BEGIN and one COMMIT, all or none stored, the manifest written
once at its end and only when a list changed; a refused commit leaves the store (and its own
view of keys, values and row counts) as before, and the state opens again (every record
listed, none missing)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.faults import DiskFull, Recording

from meter.persistence.store import Store, StoreError


def _statements(store: Store) -> list[str]:
    """Every SQL statement the store runs from now on."""
    seen: list[str] = []
    store._db = Recording(store._db, seen)  # type: ignore[assignment]
    return seen


@pytest.fixture
def view(tmp_path: Path) -> Iterator[Store]:
    """A fleet meter's namespace (values cached, as the fleet's meters have them)."""
    root = Store.open(tmp_path / "state")
    yield root.namespace("0001", tmp_path / "state" / "meters" / "0001")
    root.close()


def _reopened(tmp_path: Path) -> Store:
    root = Store.open(tmp_path / "state")  # verify(): checksums and the manifest
    return root.namespace("0001", tmp_path / "state" / "meters" / "0001")


def test_puts_rows_and_trim_are_one_transaction(view: Store, tmp_path: Path) -> None:
    view.put_many({"obj/a": b"1", "obj/b": b"2"})
    view.append_rows("log", [(1.0, b"r1"), (2.0, b"r2")])
    seen = _statements(view)
    with view.one():
        view.put_many({"obj/a": b"3", "device/t_mark": b"9"})
        view.append_rows("log", [(3.0, b"r3")])
        view.trim("log", 2)
    assert [s for s in seen if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert view.get("obj/a") == b"3" and view.get("device/t_mark") == b"9"
    assert view.rows("log") == [(2.0, b"r2"), (3.0, b"r3")]
    again = _reopened(tmp_path)
    assert again.get("device/t_mark") == b"9" and again.rows("log") == [(2.0, b"r2"), (3.0, b"r3")]


def test_a_full_log_gaining_a_row_leaves_the_manifest(view: Store, tmp_path: Path) -> None:
    view.put("obj/a", b"1")
    view.append_rows("log", [(1.0, b"r1"), (2.0, b"r2")])
    seen = _statements(view)
    with view.one():  # a session: its counter, its log row, the oldest row out
        view.put("obj/a", b"2")
        view.append_rows("log", [(3.0, b"r3")])
        view.trim("log", 2)
    assert not [s for s in seen if "manifest" in s]  # same keys, same row counts
    with view.one():  # a new key: the key list once, at the end
        view.put("obj/new", b"x")
        view.put("obj/other", b"y")
    assert len([s for s in seen if "manifest" in s]) == 1
    assert _reopened(tmp_path).keys() == ["obj/a", "obj/new", "obj/other"]


def test_a_refused_commit_stores_nothing_and_forgets_it(view: Store, tmp_path: Path) -> None:
    view.put("obj/a", b"1")
    view.append_rows("log", [(1.0, b"r1")])
    db = view._db
    view._db = DiskFull(db)  # type: ignore[assignment]
    with pytest.raises(StoreError), view.one():
        view.put_many({"obj/a": b"2", "obj/new": b"n"})
        view.append_rows("log", [(2.0, b"r2")])
    view._db = db
    # Its view is the store's again: a later write lists the right keys and counts.
    assert view.get("obj/a") == b"1" and view.get("obj/new") is None
    assert view.count("log") == 1 and view.keys() == ["obj/a"]
    view.append_rows("log", [(3.0, b"r3")])
    again = _reopened(tmp_path)  # the manifest matches what is stored
    assert again.keys() == ["obj/a"] and again.rows("log") == [(1.0, b"r1"), (3.0, b"r3")]


def test_an_error_within_rolls_back_and_one_is_not_nested(view: Store) -> None:
    view.put("obj/a", b"1")
    with pytest.raises(RuntimeError), view.one():
        view.put("obj/a", b"2")
        view.append_rows("log", [(1.0, b"r1")])
        raise RuntimeError("a part failed")
    assert view.get("obj/a") == b"1" and view.count("log") == 0
    with pytest.raises(StoreError), view.one(), view.one():
        pass
    view.put("obj/b", b"2")  # the store goes on
    assert view.keys() == ["obj/a", "obj/b"]


def test_a_durable_write_within_makes_the_commit_durable(view: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(Store, "_sync_wal", lambda self: synced.append(1))
    with view.one():
        view.put("obj/a", b"1")
    assert synced == []
    with view.one():
        view.put("ic/tx", b"1", durable=True)
        view.put("obj/a", b"2")
    assert synced == [1]


_OPS = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from(["k1", "k2", "k3"]), st.binary(max_size=4)),
    st.tuples(st.just("delete"), st.sampled_from(["k1", "k2", "k3"]), st.just(b"")),
    st.tuples(st.just("append"), st.sampled_from(["t1", "t2"]), st.binary(max_size=4)),
    st.tuples(st.just("trim"), st.sampled_from(["t1", "t2"]), st.just(b"")),
), max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_OPS, st.booleans()), max_size=5))
def test_any_batches_committed_or_refused_reopen_as_the_model(
        tmp_path_factory: pytest.TempPathFactory, batches: list[tuple[list[tuple[str, str, bytes]], bool]]) -> None:
    tmp = tmp_path_factory.mktemp("one")
    root = Store.open(tmp / "state")
    view = root.namespace("0001", tmp / "state" / "m")
    kv: dict[str, bytes] = {}
    rows: dict[str, list[bytes]] = {}
    db = view._db
    for ops, refused in batches:
        new_kv, new_rows = dict(kv), {t: list(r) for t, r in rows.items()}
        if refused:
            view._db = DiskFull(db)  # type: ignore[assignment]
        try:
            with view.one():
                for op, name, data in ops:
                    if op == "put":
                        view.put(name, data)
                        new_kv[name] = data
                    elif op == "delete":
                        view.delete(name)
                        new_kv.pop(name, None)
                    elif op == "append":
                        view.append_rows(name, [(1.0, data)])
                        new_rows.setdefault(name, []).append(data)
                    else:
                        view.trim(name, 1)
                        new_rows[name] = new_rows.get(name, [])[-1:]
        except StoreError:
            assert refused
        else:
            kv, rows = new_kv, new_rows
        view._db = db
        assert {k: view.get(k) for k in kv} == kv and sorted(view.keys()) == sorted(kv)
    root.close()
    again = Store.open(tmp / "state").namespace("0001", tmp / "state" / "m")  # verifies
    assert {k: again.get(k) for k in again.keys()} == kv
    assert {t: [d for _, d in again.rows(t)] for t in ("t1", "t2") if again.count(t)} == \
        {t: r for t, r in rows.items() if r}


def test_sqlite_errors_within_are_store_errors(view: Store) -> None:
    class Broken:
        def __init__(self, db: sqlite3.Connection) -> None:
            self._db = db

        def executemany(self, *args: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        def __getattr__(self, name: str) -> object:
            return getattr(self._db, name)

    db = view._db
    view._db = Broken(db)  # type: ignore[assignment]
    with pytest.raises(StoreError), view.one():
        view.put("obj/a", b"1")
    view._db = db
    assert view.get("obj/a") is None
    view.put("obj/a", b"2")
    assert view.get("obj/a") == b"2"
