"""The fleet's meters built on demand (meter/device/fleet.py), in process with a hand-moved
clock: at most --resident stay built, never one with a connection; a meter closed and built again
has lived meanwhile (energy, load profile rows, clock) as one built all along; the fleet's one
deadline is the earliest over its built meters."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.paths import PROFILE
from support.timebase import FakeTimebase

from meter.codec.obis import Obis
from meter.device import fleet as fleet_module
from meter.device.fleet import Fleet, identities
from meter.link.framing import Framing
from meter.persistence.store import Store
from meter.profile import load as load_profile

ENERGY = Obis.parse("1.0.1.8.0.255")
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")


def _fleet(tmp_path: Path, clock: FakeTimebase, resident: int = 2) -> Fleet:
    profile = load_profile(PROFILE)
    return Fleet(profile, Store.open(tmp_path), tmp_path, clock,
                 identities(profile, 5, "seed", 30000), resident=resident)


def _energy(fleet: Fleet, index: int) -> float:
    device = fleet.device(index)
    device.tick(device.t)
    return float(device.directory[ENERGY].value("value").value)  # type: ignore[attr-defined]


def test_at_most_resident_stay_built_never_one_in_use(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=100.0)
    fleet = _fleet(tmp_path, clock)
    stack = fleet.new_stack(0, Framing.WRAPPER, now=clock.now)  # a connection to meter 0
    fleet.device(1)
    fleet.device(2)
    assert fleet.built() == [0, 2]  # 1 went (least recently used), 0 is in use
    fleet.device(3)
    assert fleet.built() == [0, 3]
    stack.connection_lost()
    fleet.device(4)
    assert fleet.built() == [3, 4] and fleet.builds == 5
    fleet.close()


def test_a_closed_meter_lives_on_as_one_built_all_along(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=100.0)
    fleet = _fleet(tmp_path, clock, resident=1)
    kept_start = _energy(fleet, 0)
    fleet.release(0)
    other_start = _energy(fleet, 1)  # meter 1 stays built from here on
    for _ in range(24):  # meter 1 lives through six hours, ticked every quarter of an hour
        clock.t += 900.0
        fleet.device(1).tick(clock.now())
    live = _energy(fleet, 1) - other_start
    back = _energy(fleet, 0) - kept_start  # built again: back-filled the six hours
    assert live > 0 and abs(back - live) <= 1e-6 * live + 1, (back, live)
    rows = len(fleet.device(0).directory[LOAD_PROFILE].buffer)  # type: ignore[attr-defined]
    assert rows >= 24  # a 15-minute capture every quarter of the six hours
    assert abs(fleet.device(0).t - clock.now()) < 1.0
    fleet.close()


def test_the_fleets_deadline_is_its_built_meters_earliest(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=100.0)
    fleet = _fleet(tmp_path, clock, resident=3)
    assert fleet.next_deadline() is None  # nothing built, no push queued
    deadlines = [d for i in (0, 1, 2) if (d := fleet.device(i).next_deadline()) is not None]
    assert deadlines and fleet.next_deadline() == min(deadlines)
    clock.t = min(deadlines) + 1.0
    assert sorted(fleet.due(clock.now()))  # those due are ticked
    assert all((d := fleet.device(i).next_deadline()) is None or d > clock.t for i in (0, 1, 2))
    fleet.close()


AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1FFFFF")


def _wrapped(apdu: bytes) -> bytes:
    """A public client's (16) wrapper PDU to the management logical device (1)."""
    return bytes.fromhex("0001" "0010" "0001") + len(apdu).to_bytes(2, "big") + apdu


def test_a_deadline_moved_by_a_served_meter_is_the_fleets_next(tmp_path: Path) -> None:
    """The fleet keeps its built meters' deadlines in a heap: a meter that served something is
    looked at again, so a deadline that came closer is the fleet's next at once; one moved by
    something that served nothing is caught within a real minute."""
    clock = FakeTimebase(scale=100.0)
    fleet = _fleet(tmp_path, clock, resident=3)
    for i in (0, 1, 2):
        fleet.device(i)
    clock.t += 1.0  # past midnight's boundary: tick it
    while (deadline := fleet.next_deadline()) is not None and deadline <= clock.t:
        list(fleet.due(clock.t))
    before = fleet.next_deadline()
    assert before is not None and before > clock.t + 10.0
    meter = fleet.device(1)
    meter.inject_outage(clock.t, 5.0)  # ends (a deadline) 5 s from now
    stack = fleet.new_stack(1, Framing.WRAPPER, now=clock.now)
    stack.connection_made(clock.t)
    assert stack.receive_data(_wrapped(AARQ), clock.t)[8:9] == b"\x61"  # AARE
    assert fleet.next_deadline() == meter.next_deadline() <= clock.t + 5.0
    stack.connection_lost()
    clock.t += 10.0  # past the outage: tick what is due
    while (deadline := fleet.next_deadline()) is not None and deadline <= clock.t:
        list(fleet.due(clock.t))
    # Moved without a connection: the safety net re-plans every built meter once a real minute.
    other = fleet.device(2)
    other.inject_outage(clock.t, 2.0)
    moved = other.next_deadline()
    assert moved is not None and fleet.next_deadline() > moved
    clock.mono += 61.0
    assert fleet.next_deadline() == moved
    fleet.close()


def test_a_boundary_due_for_many_meters_is_ticked_a_bounded_number_a_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet_module, "TICKS_PER_TURN", 2)
    clock = FakeTimebase(scale=100.0)
    fleet = _fleet(tmp_path, clock, resident=5)
    for i in range(5):
        fleet.device(i)
    clock.t = max(d for i in range(5) if (d := fleet.device(i).next_deadline()) is not None) + 1
    turns = []
    while (deadline := fleet.next_deadline()) is not None and deadline <= clock.t:
        turns.append(sorted(fleet.due(clock.t)))
    assert turns and all(len(t) <= 2 for t in turns)
    assert set().union(*map(set, turns)) == set(range(5))  # each meter ticked in its turn
    fleet.close()


def test_warming_builds_the_resident_meters(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=100.0)
    fleet = _fleet(tmp_path, clock, resident=3)
    assert list(fleet.warming()) == [(1, 3), (2, 3), (3, 3)]
    assert sorted(fleet.built()) == [0, 1, 2]
    fleet.close()


def test_a_meter_built_for_its_caller_is_not_the_one_evicted(tmp_path: Path) -> None:
    """With --resident 1 and meter 0 in use, building meter 1 leaves two built: the bound gives
    way rather than closing the meter its caller is about to use."""
    clock = FakeTimebase(scale=100.0)
    fleet = _fleet(tmp_path, clock, resident=1)
    stack = fleet.new_stack(0, Framing.WRAPPER, now=clock.now)
    fleet.device(1)
    assert sorted(fleet.built()) == [0, 1]
    stack.connection_lost()
    fleet.device(2)  # now meter 0 and 1 may go
    assert fleet.built() == [2]
    fleet.close()
