"""Stored state is checked, never trusted blindly (issue 7, item 15).

Every stored record carries a checksum: a changed byte in the metrology record, an object's state
or a profile row, and a receive-counter file gone missing or cut short, make the real
``acesm-meter serve`` refuse to start with one clear line (exit non-zero, no traceback) instead of
serving wrong energy or resetting replay protection. A state directory of the previous version
(no checksums) still opens, with its registers. A SET the store cannot commit (disk full) is
answered temporary-failure and does not take effect, in memory or after a restart.

A record deleted with sqlite3 is refused the same way (issue 7 item 1 follow-up): a deleted
``ic/tx/*`` reservation would otherwise restart the send counter and reuse GCM IVs under one key,
a deleted ``keys/*`` record would bring back the old key with the new key's (restarted) counter.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from support import SETUP, START, Meter
from support.faults import DiskFull

from meter.codec import axdr
from meter.device.persist import TIME_MARK
from meter.errors import DataAccessResult
from meter.persistence.store import DB_NAME
from meter.security import keywrap

from . import test_crash
from .helpers import BILLING_COUNTER, CLOCK, ENERGY, LOAD_PROFILE, refused_start
from .test_crash import meters  # noqa: F401 (fixture)

DAY = 86400.0
TIME_ZONE = 3  # Clock attribute 3 (long, minutes), written by the management client


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory after a day of history and a clean stop."""
    meter = Meter(tmp_path / "state", history=DAY)
    meter.reader().get(3, ENERGY, 2)
    meter.close()
    return tmp_path / "state"


@pytest.fixture(scope="module")
def every_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state holding every kind of record the meter must not lose, new keys included."""
    state = tmp_path_factory.mktemp("every") / "state"
    meter = Meter(state, history=DAY)
    meter.reader().get(3, ENERGY, 2)
    master = meter.device.security_context(SETUP).master_key
    new_ek = bytes(range(0xA0, 0xB0))
    transfer = axdr.Array((axdr.Structure((axdr.Enum(0), axdr.OctetString(keywrap.wrap(master, new_ek)))),))
    assert meter.management().action_result(SETUP, 2, transfer) == (0, None)
    meter.close()
    return state


def sql(state: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    db = sqlite3.connect(state / DB_NAME)
    try:
        with db:
            return db.execute(query, args).fetchall()
    finally:
        db.close()


def change_value(state: Path, key: str, change: Callable[[bytearray], None]) -> None:
    value = bytearray(sql(state, "SELECT value FROM kv WHERE key = ?", key)[0][0])  # type: ignore[arg-type]
    change(value)
    sql(state, "UPDATE kv SET value = ? WHERE key = ?", bytes(value), key)


def metrology_digit(state: Path) -> None:
    """One digit of the active energy register changed (served silently before)."""
    def change(value: bytearray) -> None:
        at = value.index(b'"reg.1.8.0":') + len(b'"reg.1.8.0":')
        value[at] = ord("9") if value[at] != ord("9") else ord("1")
    change_value(state, "metrology", change)


def metrology_byte(state: Path) -> None:
    """The JSON broken (served energy from zero before, with one ERROR line)."""
    change_value(state, "metrology", lambda value: value.__setitem__(0, ord("[")))


def object_state(state: Path) -> None:
    """An object's stored state: the billing period counter's value, one bit changed."""
    change_value(state, f"obj/{BILLING_COUNTER}", lambda value: value.__setitem__(-1, value[-1] ^ 0x01))


def profile_row_type(state: Path) -> None:
    """The A-XDR type byte of a load-profile row (the whole profile undecodable before)."""
    rid, data = sql(state, "SELECT id, data FROM profile_rows WHERE tbl = ? ORDER BY id LIMIT 1",
                    f"profile/{LOAD_PROFILE}")[0]
    changed = bytes([data[0] ^ 0x40]) + data[1:]  # type: ignore[index]
    sql(state, "UPDATE profile_rows SET data = ? WHERE id = ?", changed, rid)


def file_byte(state: Path) -> None:
    """A byte of the database file itself, as a disk would change it."""
    path = state / DB_NAME
    raw = bytearray(path.read_bytes())
    at = raw.index(b'"reg.1.8.0":') + len(b'"reg.1.8.0":')
    raw[at] = ord("9") if raw[at] != ord("9") else ord("1")
    path.write_bytes(bytes(raw))


def counter_file_deleted(state: Path) -> None:
    """The client's receive counter (reset replay protection before: counter 1 accepted again)."""
    for path in state.glob("*.ctr"):
        path.unlink()


def counter_file_cut(state: Path) -> None:
    for path in state.glob("*.ctr"):
        path.write_bytes(b"")


@pytest.mark.parametrize("damage", [metrology_digit, metrology_byte, object_state, profile_row_type,
                                    file_byte],
                         ids=lambda f: f.__name__)
def test_a_changed_record_refuses_the_start(state: Path, damage: Callable[[Path], None]) -> None:
    damage(state)
    line = refused_start(state, "--tcp", "127.0.0.1:0")
    assert "checksum" in line and "corrupt" in line


@pytest.mark.parametrize("damage", [counter_file_deleted, counter_file_cut], ids=lambda f: f.__name__)
def test_a_lost_receive_counter_refuses_the_start(state: Path, damage: Callable[[Path], None]) -> None:
    damage(state)
    line = refused_start(state, "--tcp", "127.0.0.1:0")
    assert "receive counter file" in line and "replays" in line


# What each kind of record the meter must not lose did when deleted, before the manifest.
KV_RECORDS = {
    "ic/tx/%": "server invocation counter reservation: send counter restarted, GCM IVs reused",
    "keys/%": "keys set by key_transfer: the old key back, with the new key's counter",
    "metrology": "metrology snapshot: energy served from zero",
    TIME_MARK: "time mark: the clock could go back",
    "obj/%": "an object's state: the profile's default served",
    "ic/rx/%/file": "counter-file registration: a deleted .ctr file then reset replay protection",
    "keypair/%": "key pair: a new one made, certificates no longer matching",
    "certs/%": "certificates: forgotten",
}


def delete(state: Path, query: str, *args: object) -> int:
    db = sqlite3.connect(state / DB_NAME)
    try:
        with db:
            return db.execute(query, args).rowcount
    finally:
        db.close()


@pytest.mark.parametrize("pattern", KV_RECORDS)
def test_a_deleted_record_refuses_the_start(every_record: Path, tmp_path: Path, pattern: str) -> None:
    state = shutil.copytree(every_record, tmp_path / "state")
    (key,) = sql(state, "SELECT key FROM kv WHERE key LIKE ? ORDER BY key LIMIT 1", pattern)[0]
    assert delete(state, "DELETE FROM kv WHERE key = ?", key) == 1
    line = refused_start(state, "--tcp", "127.0.0.1:0")
    assert f"stored record {key!r} is missing" in line and "incomplete" in line


@pytest.mark.parametrize("table", [f"profile/{LOAD_PROFILE}", "manifest"])
def test_a_deleted_row_or_manifest_refuses_the_start(every_record: Path, tmp_path: Path, table: str) -> None:
    state = shutil.copytree(every_record, tmp_path / "state")
    if table == "manifest":
        assert delete(state, "DELETE FROM manifest") == 1
    else:
        assert delete(state, "DELETE FROM profile_rows WHERE id = "
                      "(SELECT MAX(id) FROM profile_rows WHERE tbl = ?)", table) == 1
    line = refused_start(state, "--tcp", "127.0.0.1:0")
    assert ("manifest" in line if table == "manifest" else f"{table} holds") and "incomplete" in line


def test_a_deleted_database_refuses_the_start(every_record: Path, tmp_path: Path) -> None:
    """Not a fresh meter with the send counter back at 1: the counter files say it was used."""
    state = shutil.copytree(every_record, tmp_path / "state")
    for path in state.glob(f"{DB_NAME}*"):
        path.unlink()
    line = refused_start(state, "--tcp", "127.0.0.1:0")
    assert f"{DB_NAME} is missing" in line and "incomplete" in line


def test_a_normal_restart_and_a_crash_restart_start(tmp_path: Path, meters: list[test_crash.Meter]) -> None:  # noqa: F811
    """The manifest never refuses what the meter itself wrote, after a clean stop or a kill -9."""
    state = tmp_path / "state"
    for stop in (signal.SIGTERM, signal.SIGKILL, signal.SIGTERM):
        meter = test_crash.Meter(state, START, tmp_path / "meter.log")
        meters.append(meter)
        os.kill(meter.proc.pid, stop)
        assert meter.proc.wait(10) == (0 if stop == signal.SIGTERM else -signal.SIGKILL)


def without_checksums(state: Path) -> None:
    """The version before checksums: no sum columns, no manifest."""
    sql(state, "ALTER TABLE kv DROP COLUMN sum")
    sql(state, "ALTER TABLE profile_rows DROP COLUMN sum")
    without_manifest(state)


def without_manifest(state: Path) -> None:
    """The version with checksums and no manifest."""
    sql(state, "DROP TABLE manifest")
    sql(state, "PRAGMA user_version = 0")


@pytest.mark.parametrize("previous", [without_checksums, without_manifest], ids=lambda f: f.__name__)
def test_a_state_of_a_previous_version_opens_with_its_registers(
        state: Path, previous: Callable[[Path], None]) -> None:
    meter = Meter(state)
    energy = meter.reader().get(3, ENERGY, 2)
    rows = meter.reader().get(7, LOAD_PROFILE, 2)
    meter.close()
    previous(state)

    meter = Meter(state)  # migrated: checksums and manifest added
    assert meter.reader().get(3, ENERGY, 2) == energy
    assert meter.reader().get(7, LOAD_PROFILE, 2) == rows
    meter.close()
    assert sql(state, "PRAGMA user_version") == [(2,)]
    copy = shutil.copytree(state, state.parent / "copy")
    metrology_digit(state)  # and from now on checked: changes
    assert "checksum" in refused_start(state, "--tcp", "127.0.0.1:0")
    assert delete(copy, "DELETE FROM kv WHERE key = 'metrology'") == 1  # and deletions
    assert "is missing" in refused_start(copy, "--tcp", "127.0.0.1:0")


def test_a_set_the_store_cannot_commit_does_not_take_effect(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state")
    m = meter.management()
    assert m.get(8, CLOCK, TIME_ZONE) == axdr.Long(0)
    store = meter.device.store
    db = store._db
    store._db = DiskFull(db)  # type: ignore[assignment]
    meter.timebase.t += 60  # the clock's mark is due too: the commit after the answer fails as well
    try:
        assert m.set(8, CLOCK, TIME_ZONE, axdr.Long(-60)) == DataAccessResult.TEMPORARY_FAILURE
    finally:
        store._db = db
    assert m.get(8, CLOCK, TIME_ZONE) == axdr.Long(0)
    meter.restart()
    assert meter.management().get(8, CLOCK, TIME_ZONE) == axdr.Long(0)
