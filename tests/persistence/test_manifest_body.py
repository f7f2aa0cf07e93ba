"""The manifest in two records (meter/persistence/store.py, version 2): the key list, built from
a cached text, and the row counts, rewritten alone when rows come or go. Both bodies are plain
compact JSON; a store of version 1 (one record of both) is split at its first open, after its
record passed its checksum; either record deleted is refused like any missing record."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter.persistence.store import (DB_NAME, Store, StoreError, _keys_body, _manifest_sum,
                                     _rows_body)

_names = st.text(min_size=1, max_size=20)


def _plain(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@given(st.frozensets(_names, max_size=30), st.dictionaries(_names, st.integers(0, 10**9), max_size=10))
def test_the_bodies_are_the_plain_json(keys: frozenset[str], rows: dict[str, int]) -> None:
    assert _keys_body(keys) == _plain({"keys": sorted(keys)})
    assert _keys_body(frozenset(keys)) == _plain({"keys": sorted(keys)})  # an equal set: cached
    assert _rows_body(rows) == _plain({"rows": dict(sorted(rows.items()))})


def _fill(store: Store) -> None:
    for i in range(5):
        store.put("a", b"1")
        store.append_rows("t", [(float(i), b"x")])
        store.put(f"k{i}", b"2")
    store.trim("t", 3)


def _sql(state: Path, statement: str, *args: object) -> list[tuple[object, ...]]:
    db = sqlite3.connect(state / DB_NAME)
    with db:
        rows = list(db.execute(statement, args))
    db.close()
    return rows


def test_appends_and_new_keys_reopen(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        _fill(store)
        view = store.namespace("m1", tmp_path / "m1")
        view.append_rows("t", [(1.0, b"y")])  # a namespace's first write is a row
        view.put("v", b"3")
    with Store.open(tmp_path) as again:
        assert again.count("t") == 3 and again.keys("k") == [f"k{i}" for i in range(5)]
        view = again.namespace("m1", tmp_path / "m1")
        assert view.count("t") == 1 and view.get("v") == b"3"


@pytest.mark.parametrize("ns", ["#rows", "@m1/#rows", "@m1/"])
def test_a_deleted_manifest_record_is_refused(tmp_path: Path, ns: str) -> None:
    with Store.open(tmp_path) as store:
        _fill(store)
        store.namespace("m1", tmp_path / "m1").put("v", b"3")
    _sql(tmp_path, "DELETE FROM manifests WHERE ns = ?", ns)
    with pytest.raises(StoreError, match="manifest of the stored records is missing"):
        with Store.open(tmp_path) as store:
            store.namespace("m1", tmp_path / "m1")


def _as_version_1(state: Path) -> None:
    """The store's manifests as version 1 wrote them: one record of keys and rows each."""
    for ns, table, where in [("", "manifest", "id = 0"), ("@m1/", "manifests", "ns = '@m1/'")]:
        keys = json.loads(_sql(state, f"SELECT body FROM {table} WHERE {where}")[0][0])["keys"]
        rows = json.loads(_sql(state, "SELECT body FROM manifests WHERE ns = ?", ns + "#rows")[0][0])["rows"]
        body = _plain({"keys": keys, "rows": rows})
        _sql(state, f"UPDATE {table} SET body = ?, sum = ? WHERE {where}", body, _manifest_sum(body))
    _sql(state, "DELETE FROM manifests WHERE ns LIKE '%#rows'")
    _sql(state, "PRAGMA user_version = 1")


def test_a_store_of_version_1_is_split_at_open(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        _fill(store)
        store.namespace("m1", tmp_path / "m1").append_rows("t", [(1.0, b"y"), (2.0, b"z")])
    _as_version_1(tmp_path)
    with Store.open(tmp_path) as store:
        assert store.count("t") == 3 and store.namespace("m1", tmp_path / "m1").count("t") == 2
    assert _sql(tmp_path, "PRAGMA user_version") == [(2,)]
    _sql(tmp_path, "DELETE FROM profile_rows WHERE tbl = '@m1/t'")  # and checked from now on
    with pytest.raises(StoreError, match="holds 0 rows"):
        with Store.open(tmp_path) as store:
            store.namespace("m1", tmp_path / "m1")


def test_a_damaged_manifest_of_version_1_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        _fill(store)
        store.namespace("m1", tmp_path / "m1").put("v", b"3")
    _as_version_1(tmp_path)
    _sql(tmp_path, "UPDATE manifests SET body = CAST('{\"keys\":[],\"rows\":{}}' AS BLOB) WHERE ns = '@m1/'")
    with pytest.raises(StoreError, match="checksum"):
        Store.open(tmp_path)
    assert _sql(tmp_path, "PRAGMA user_version") == [(1,)]  # nothing converted
