"""The fleet's meters built on demand (meter/device/fleet.py), in process with a hand-moved
clock: at most --resident stay built, never one with a connection; a meter closed and built again
has lived meanwhile (energy, load profile rows, clock) as one built all along; the fleet's one
deadline is the earliest over its built meters."""

from __future__ import annotations

from pathlib import Path

from support.paths import PROFILE
from support.timebase import FakeTimebase

from meter.codec.obis import Obis
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
