"""The manifest's text is built from a cached key list (meter/persistence/store.py
``_manifest_body``): it must be byte for byte the plain compact JSON of the keys and row counts,
which is what stores written before hold and what ``verify`` reads back."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from meter.persistence.store import Store, _manifest_body

_names = st.text(min_size=1, max_size=20)


@given(st.frozensets(_names, max_size=30), st.dictionaries(_names, st.integers(0, 10**9), max_size=10))
def test_manifest_body_is_the_plain_json(keys: frozenset[str], rows: dict[str, int]) -> None:
    plain = json.dumps({"keys": sorted(keys), "rows": dict(sorted(rows.items()))},
                       separators=(",", ":")).encode()
    assert _manifest_body(keys, rows) == plain
    assert _manifest_body(frozenset(keys), rows) == plain  # an equal set from the cache


def test_rows_and_keys_after_many_writes_reopen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Appends reuse the cached key list, a new key makes a new one: the store still opens."""
    store = Store.open(tmp_path)
    for i in range(5):
        store.put("a", b"1")
        store.append_rows("t", [(float(i), b"x")])
        store.put(f"k{i}", b"2")
    store.close()
    again = Store.open(tmp_path)
    assert again.count("t") == 5 and again.keys("k") == [f"k{i}" for i in range(5)]
    again.close()
