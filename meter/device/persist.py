"""What the meter keeps across a crash: object state, profile buffers, metrology accumulators.

Object state is the A-XDR encoding of ``dump_state()`` under ``obj/<obis>``. A profile buffer
keeps its rows in memory for speed and mirrors them into the store's row table; appends are
batched until the next commit, which happens before any response leaves the meter. A commit
writes what changed since the last one and nothing else: a request that changed nothing (a
GET of a register or of the clock) runs no SQLite transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable

from meter.codec import axdr
from meter.codec.buffer import Writer
from meter.cosem.base import CosemObject
from meter.cosem.profile_buffer import MemoryProfileBuffer
from meter.errors import DecodeError, StoreError
from meter.persistence.store import Store


def encode_state(state: dict[int, axdr.Data]) -> bytes:
    """``array of structure {unsigned index, value}`` sorted by index: the bytes of
    ``Array(Structure(Unsigned(i), v), ...)``, written without building those objects (a
    commit encodes each changed object's state; building them took most of it)."""
    w = Writer()
    w.buf.append(axdr.Array.TAG)
    w.length(len(state))
    for i, v in sorted(state.items()):
        w.write(_ATTRIBUTE_HEAD)
        w.u8(i)  # an Unsigned: an index past 255 is an EncodeError, as Unsigned(i) makes it
        v.encode(w)
    return w.getvalue()


#: An attribute's structure of two and the tag of its Unsigned index, before the index.
_ATTRIBUTE_HEAD = bytes((axdr.Structure.TAG, 2, axdr.Unsigned.TAG))


#: Encoded states by the identities of their values: a fleet's meters hold the same (shared)
#: value objects in most attributes (cosem/base.py), so most baselines are encoded once per
#: process, and equal ones share one bytes object. An entry keeps its values alive, so an
#: identity in its key is not reused while it lasts. Bounded: when full it starts again.
_BASELINES: dict[tuple[tuple[int, int], ...], tuple[tuple[axdr.Data, ...], bytes]] = {}
_BASELINES_MAX = 1 << 16


def _baseline(state: dict[int, axdr.Data]) -> bytes:
    key = tuple((i, id(v)) for i, v in state.items())
    hit = _BASELINES.get(key)
    if hit is None:
        if len(_BASELINES) >= _BASELINES_MAX:
            _BASELINES.clear()
        hit = _BASELINES[key] = (tuple(state.values()), encode_state(state))
    return hit[1]


def decode_state(raw: bytes) -> dict[int, axdr.Data]:
    value = axdr.decode(raw)
    out: dict[int, axdr.Data] = {}
    for item in getattr(value, "items", ()):
        index, v = item.items
        out[int(index.value)] = v
    return out


_KEYS: dict[object, str] = {}
_KEYS_MAX = 4096  # codes named by the profiles in use; past it keys are made each time


def object_key(obj: CosemObject) -> str:
    """``obj/<obis>``: one string per code, whatever the number of meters in the process."""
    key = _KEYS.get(obj.logical_name)
    if key is None:
        key = f"obj/{obj.logical_name}"
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[obj.logical_name] = key
    return key


def restore_object(store: Store, obj: CosemObject) -> None:
    """Load ``obj``'s stored state; a state that does not load is a refusal, not a default
    (serving the profile's values in place of stored ones would be silent data loss)."""
    raw = store.get(object_key(obj))
    if raw is None:
        return
    try:
        obj.load_state(decode_state(raw))
    except (DecodeError, ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"{store.path}: stored state of {obj.logical_name} unreadable: {exc}") from exc


class StoredProfileBuffer(MemoryProfileBuffer):
    """A profile buffer whose rows also live in the store (table ``table``)."""

    __slots__ = ("_pending", "_rewrite", "_store", "_table", "on_change")

    def __init__(self, store: Store, table: str, capacity: int = 1) -> None:
        super().__init__(capacity)
        self._store, self._table = store, table
        self._pending: list[tuple[float, bytes]] = []
        self._rewrite = False
        for key, row in store.rows(table):
            super().append(key, row)
        #: Told of every change, so the next commit flushes (Persistence.add_buffers).
        self.on_change: Callable[[StoredProfileBuffer], None] = _nothing

    def append(self, key: float, row: bytes) -> None:
        super().append(key, row)
        self._pending.append((key, row))
        self.on_change(self)

    def set_capacity(self, capacity: int) -> None:
        before = len(self)
        super().set_capacity(capacity)
        self._rewrite |= len(self) != before
        self.on_change(self)

    def insert(self, index: int, key: float, row: bytes) -> None:
        super().insert(index, key, row)
        self._rewrite = True
        self.on_change(self)

    def pop(self) -> None:
        super().pop()
        self._rewrite = True
        self.on_change(self)

    def clear(self) -> None:
        super().clear()
        self._pending.clear()
        self._rewrite = True
        self.on_change(self)

    @property
    def owed(self) -> bool:
        """Something to write (rows appended, or the table to rewrite)."""
        return self._rewrite or bool(self._pending)

    def write(self) -> None:
        """Write what changed since the last commit, which is owed until :meth:`written` (a
        caller's transaction that fails leaves it to write again)."""
        if self._rewrite:
            self._store.clear(self._table)
            self._store.append_rows(self._table, list(zip(self.keys(), self.slice(0, len(self)), strict=True)))
        elif self._pending:
            self._store.append_rows(self._table, self._pending)
            self._store.trim(self._table, self.capacity)

    def written(self) -> None:
        """What :meth:`write` wrote is stored."""
        self._rewrite = False
        self._pending.clear()


def _nothing(buffer: StoredProfileBuffer) -> None:
    pass


def dump_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def load_json(store: Store, key: str) -> object | None:
    raw = store.get(key)
    if raw is None:
        return None
    try:
        loaded: object = json.loads(raw)
        return loaded
    except ValueError as exc:
        raise StoreError(f"{store.path}: stored {key!r} unreadable: {exc}") from exc


#: The clock's high-water mark: a time the meter has not answered past yet. It is reserved
#: ahead the way the invocation counters are (meter/persistence/counters.py): committed before
#: any response showing a later time leaves, ``clock_mark_ahead_s`` ahead ([limits]), so a
#: crash never sets the clock back and costs one small write per that much simulated time.
TIME_MARK = "device/t_mark"
CLOCK_MARK_AHEAD_S = 10.0
#: The metrology snapshot is written at least this often (simulated seconds) while running.
SNAPSHOT_EVERY = 60.0


class Persistence:
    """The objects a request changed, written once at its end with what else changed."""

    def __init__(self, store: Store, mark_ahead: float) -> None:
        self.store = store
        self._mark_ahead = mark_ahead
        self._dirty: set[CosemObject] = set()
        # Object states as last written: an object marked changed whose state is the same
        # (a successful login resetting a zero failure count) costs no SQLite transaction.
        self._saved: dict[str, bytes] = {}
        # The buffers changed since the last commit, in the order they changed (a read's
        # commit looks at its one changed log, not at every buffer of the meter).
        self._changed_buffers: dict[StoredProfileBuffer, None] = {}
        # Something to write since the last commit (an object changed, even if persisted since
        # by its request; a buffer changed): most requests are reads, whose commit then costs
        # two compares (pending()).
        self._touched = True
        # The metrology snapshot changed in a way a restart must see; the first commit (the
        # meter's open) takes one, later ones once a tick finds SNAPSHOT_EVERY passed.
        self.snapshot_due = True
        self._last_snapshot = -math.inf
        self.time_mark = -math.inf  # as persisted under TIME_MARK
        #: Told which objects each persist wrote or undid (the scheduler re-plans on them).
        self.on_persist: Callable[[set[CosemObject]], None] = lambda objects: None

    def changed(self, obj: CosemObject) -> None:
        self._dirty.add(obj)
        self._touched = True

    def add_buffers(self, buffers: Iterable[StoredProfileBuffer]) -> None:
        """Profile buffers flushed by each commit."""
        told = self._buffer_changed  # one bound method for all of them
        for buf in buffers:
            buf.on_change = told
            if buf.owed:  # changed before it was added
                told(buf)

    def _buffer_changed(self, buf: StoredProfileBuffer) -> None:
        self._touched = True
        self._changed_buffers[buf] = None

    def pending(self, t: float) -> bool:
        """Whether a commit at true time ``t`` has anything to write (objects or buffers
        changed, a snapshot due, the clock mark to move on)."""
        return self._touched or self.snapshot_due or t > self.time_mark

    def mark_snapshot_due(self) -> None:
        self.snapshot_due = True

    def saved_now(self, objects: Iterable[CosemObject]) -> None:
        """What the store holds (or the profile's values, for objects it has none of yet): a
        change the store refuses is undone to this (persist)."""
        self._saved = {object_key(o): _baseline(o.dump_state()) for o in objects}

    def list_records(self, objects: Iterable[CosemObject]) -> None:
        """Store the records of ``objects`` the store does not hold yet, at the states it would
        restore them to (their profile values), in one transaction: a later first change of
        one rewrites its record, not the store's list of keys (meter/persistence/store.py)."""
        missing = {key: self._saved[key] for o in objects
                   if (key := object_key(o)) in self._saved and self.store.get(key) is None}
        if missing:
            self.store.put_many(missing)

    def time_passed(self, t: float) -> None:
        """The meter reached true time ``t``: a snapshot is due every SNAPSHOT_EVERY."""
        if t - self._last_snapshot >= SNAPSHOT_EVERY:
            self.snapshot_due = True

    def commit(self, t: float, snapshot: Callable[[], dict[str, bytes]]) -> None:
        """Persist whatever changed at true time ``t``; ``snapshot()`` gives the metrology
        items when a snapshot is due. Called before every response and after every tick."""
        taken = self.snapshot_due
        items = snapshot() if taken else {}
        mark = t + self._mark_ahead if t > self.time_mark else None
        if mark is not None:
            items[TIME_MARK] = repr(mark).encode()
        # One transaction for all of it (a read's: the session's counter and log row, the
        # time mark; a full log's trim): the objects, the items and the buffers' rows are
        # stored together or not at all.
        written = [buf for buf in self._changed_buffers if buf.owed]
        dirty = self._taken()
        try:
            states = self._states(dirty)
            if states or items or written:
                with self.store.one():
                    if states or items:
                        self.store.put_many({**states, **items})
                    for buf in written:
                        buf.write()
        except StoreError:
            self._undo(dirty)
            raise
        self._saved.update(states)
        for buf in written:
            buf.written()
        self._changed_buffers.clear()  # (a refused commit leaves them, owed, to write again)
        if taken:
            self.snapshot_due = False
            self._last_snapshot = t
        if mark is not None:
            self.time_mark = mark
        self._touched = False

    def persist(self, items: dict[str, bytes] | None = None) -> None:
        """Write the changed objects' states (and ``items``) in one transaction. If the store
        refuses (disk full), the objects go back to their stored states and StoreError is
        raised: a change the store does not hold must not take effect, now or after a restart."""
        dirty = self._taken()
        try:
            states = self._states(dirty)
            if states or items:
                self.store.put_many({**states, **(items or {})})
        except StoreError:
            self._undo(dirty)
            raise
        self._saved.update(states)

    # A try/except in each writer rather than a context manager: commit() runs on every
    # request that changed something, and a generator context manager costs a few µs.
    def _taken(self) -> set[CosemObject]:
        """The objects changed since the last write, taken to write (undone if refused)."""
        dirty, self._dirty = self._dirty, set()
        self.on_persist(dirty)  # before a refusal restores them: changed either way
        return dirty

    def _undo(self, dirty: set[CosemObject]) -> None:
        """The store refused: ``dirty`` go back to their stored states."""
        for obj in dirty:
            saved = self._saved.get(object_key(obj))
            if saved is not None:
                obj.load_state(decode_state(saved))

    def _states(self, dirty: set[CosemObject]) -> dict[str, bytes]:
        """The states of ``dirty`` that differ from the stored ones (recorded in ``_saved``
        once the store holds them)."""
        states = {}
        for obj in dirty:
            key, state = object_key(obj), encode_state(obj.dump_state())
            if self._saved.get(key) != state:
                states[key] = state
        return states
