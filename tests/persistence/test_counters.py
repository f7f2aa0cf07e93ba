"""Invocation counters: reservation ahead, reopen, exhaustion, replay refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meter.errors import SecurityError
from meter.persistence.counters import MAX_COUNTER, InvocationCounter, ReceivedCounter
from meter.persistence.store import Store, StoreError


def test_next_reserves_before_use(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        ic = InvocationCounter(store, "ic/tx", block=10)
        assert ic.current == 0
        assert store.get("ic/tx") is None  # nothing reserved before the first use
        assert [ic.next() for _ in range(3)] == [0, 1, 2]
        assert int.from_bytes(store.get("ic/tx") or b"", "big") == 10
        assert ic.current == 3
        for _ in range(8):
            ic.next()
        assert ic.current == 11
        assert int.from_bytes(store.get("ic/tx") or b"", "big") == 20


def test_reopen_continues_above_everything_used(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        ic = InvocationCounter(store, "ic/tx", block=100, start=5)
        used = [ic.next() for _ in range(42)]
    with Store.open(tmp_path) as store:
        ic = InvocationCounter(store, "ic/tx", block=100, start=5)
        assert ic.next() > max(used)
        assert ic.current == 106


def test_exhaustion_and_reset(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        ic = InvocationCounter(store, "ic", block=1000, start=MAX_COUNTER - 1)
        assert ic.next() == MAX_COUNTER - 1
        assert ic.next() == MAX_COUNTER
        with pytest.raises(SecurityError):
            ic.next()
        ic.reset()
        assert ic.next() == 0
    with Store.open(tmp_path) as store:
        assert InvocationCounter(store, "ic").next() == 1000


def test_bad_stored_value(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.put("ic", b"\x01")
        with pytest.raises(StoreError):
            InvocationCounter(store, "ic")
        with pytest.raises(ValueError):
            InvocationCounter(store, "other", block=0)


def test_received_counter(tmp_path: Path) -> None:
    key = "ic/rx/4d4d4d0000000001/0"
    with Store.open(tmp_path) as store:
        rx = ReceivedCounter(store, key)
        assert rx.last == -1
        assert rx.accept(0)
        assert not rx.accept(0)  # replay
        assert rx.accept(7)
        assert not rx.accept(5)  # older
        assert not rx.accept(MAX_COUNTER + 1)
        assert not rx.accept(-1)
        assert rx.last == 7
    with Store.open(tmp_path) as store:
        rx = ReceivedCounter(store, key)
        assert rx.last == 7
        assert not rx.accept(7)
        assert rx.accept(MAX_COUNTER)
        rx.reset()
        assert rx.last == -1
        assert rx.accept(1)
        assert ReceivedCounter(store, "ic/rx/other/0").accept(0)


def test_received_counter_carries_a_stored_value_over_once(tmp_path: Path) -> None:
    """State directories written before counters moved to mapped files keep their replay guard,
    and a reset after a key change is not undone by the old stored value."""
    from meter.persistence.counters import _encode

    store = Store.open(tmp_path)
    store.put("ic/rx/old", _encode(41))
    rx = ReceivedCounter(store, "ic/rx/old")
    assert rx.last == 41 and not rx.accept(41) and rx.accept(42)
    rx.reset()
    assert ReceivedCounter(store, "ic/rx/old").last == -1
    store.close()


def test_received_counters_hold_no_file_descriptor(tmp_path: Path) -> None:
    """A fleet keeps thousands of meters built with two receive counters each: a counter's
    mapped file must not keep a descriptor open (ulimit -n would end the fleet), and what it
    accepted is in the file at once."""
    with Store.open(tmp_path) as store:
        ReceivedCounter(store, "ic/rx/first")  # the store's own files are open from here
        fds = len(os.listdir("/proc/self/fd"))
        counters = [ReceivedCounter(store, f"ic/rx/{i}") for i in range(64)]
        assert len(os.listdir("/proc/self/fd")) == fds
        assert all(c.accept(i + 1) for i, c in enumerate(counters))
        raw = (tmp_path / "ic_rx_63.ctr").read_bytes()  # read beside the mapping, no flush
        assert int.from_bytes(raw, "big") == 64 + 1  # the cell holds last + 1
        del counters
    with Store.open(tmp_path) as store:
        assert ReceivedCounter(store, "ic/rx/63").last == 64
