"""Fleet identities, shards and the one store with a namespace per meter (meter/device/fleet.py,
meter/persistence/store.py ``namespace``), without sockets."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st
from support.paths import PROFILE

from meter.device.fleet import csv_text, identities, meter_profile, parse_shard, shard_range
from meter.errors import StoreError
from meter.persistence.store import Store
from meter.profile import load as load_profile


@given(st.integers(1, 20_000), st.integers(1, 64))
def test_shards_are_disjoint_and_cover_the_numbering(count: int, shards: int) -> None:
    seen: list[int] = []
    for i in range(shards):
        seen += list(shard_range(count, (i, shards)))
    assert seen == list(range(count))  # each once, in order


@pytest.mark.parametrize("text", ["", "1", "3/3", "-1/2", "a/b", "1/0", "0/-1"])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shard(text)


def test_identities_follow_the_documented_derivation() -> None:
    profile = load_profile(PROFILE)
    ids = identities(profile, 10, "s33d", 20000, 21000, (1, 3))
    assert [m.index for m in ids] == [3, 4, 5]
    third = ids[0]
    assert third.serial == "0000000000004" and third.port == 20003 and third.hdlc_port == 21003
    assert third.system_title == b"ACE" + (4).to_bytes(5, "big")
    for name, key in third.keys.items():  # RFC 5869 HKDF-SHA256, as the module says
        assert key == HKDF(algorithm=hashes.SHA256(), length=len(profile.keys[name]),
                           salt=b"acesm-fleet-v1", info=f"0000000000004/{name}".encode()
                           ).derive(b"s33d")
    again = identities(profile, 10, "s33d", 20000, 21000, (1, 3))
    assert again == ids  # reproducible
    other = identities(profile, 10, "other", 20000, None, (1, 3))[0]
    assert other.keys["encryption"] != third.keys["encryption"] and other.hdlc_port is None
    assert len({m.keys["encryption"] for m in identities(profile, 50, "s33d", 20000)}) == 50


def test_a_meter_profile_and_the_csv() -> None:
    profile = load_profile(PROFILE)
    ids = identities(profile, 3, "s", 30000)
    mine = meter_profile(profile, ids[2])
    assert mine.meter["serial"] == "0000000000003" and mine.system_title == ids[2].system_title
    assert mine.keys["master"] == ids[2].keys["master"] and mine.objects is profile.objects
    lines = csv_text(profile, ids, "meters.example").splitlines()
    assert lines[0].startswith("serial,logical_device_name,system_title,host,wrapper_port")
    assert lines[3].split(",")[:5] == ["0000000000003", "ACE0000000000003",
                                      ids[2].system_title.hex().upper(), "meters.example", "30002"]
    assert lines[3].split(",")[7] == ids[2].keys["encryption"].hex().upper()


def test_too_many_meters_for_the_ports_or_digits_is_refused() -> None:
    profile = load_profile(PROFILE)
    with pytest.raises(Exception, match="ports up to"):
        identities(profile, 100, "s", 65500)
    with pytest.raises(Exception, match="1 to"):
        identities(profile, 0, "s", 4059)


def test_namespaces_keep_apart_and_verify_their_own_records(tmp_path: Path) -> None:
    root = Store.open(tmp_path)
    root.put("fleet/origin", b"1")
    a = root.namespace("A", tmp_path / "a")
    b = root.namespace("B", tmp_path / "b")
    a.put("device/t", b"10")
    b.put("device/t", b"20")
    a.append_rows("profile/x", [(1.0, b"r1"), (2.0, b"r2")])
    assert (a.get("device/t"), b.get("device/t"), root.get("device/t")) == (b"10", b"20", None)
    assert a.keys() == ["device/t"] and root.keys() == ["fleet/origin"]
    assert a.rows("profile/x") == [(1.0, b"r1"), (2.0, b"r2")] and b.count("profile/x") == 0
    a.trim("profile/x", 1)
    assert a.rows("profile/x") == [(2.0, b"r2")]
    a.close()  # a view leaves the database open
    assert b.get("device/t") == b"20"
    root.close()
    # Reopened: the store checks only its own records; each view its own when it is made.
    root = Store.open(tmp_path)
    assert root.namespace("A", tmp_path / "a").rows("profile/x") == [(2.0, b"r2")]
    root._db.execute("DELETE FROM kv WHERE key = '@B/device/t'")  # lost behind its back
    with pytest.raises(StoreError, match="missing"):
        root.namespace("B", tmp_path / "b")
    root._db.execute("UPDATE kv SET value = X'00' WHERE key = '@A/device/t'")
    with pytest.raises(StoreError, match="checksum"):
        root.namespace("A", tmp_path / "a")
    assert root.namespace("C", tmp_path / "c").keys() == []  # a meter never built: empty
    with pytest.raises(StoreError):
        root.namespace("bad/name", tmp_path)
    root.close()
