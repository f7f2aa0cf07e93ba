"""The fleet's control API in process (meter/control/fleet.py) on a hand-moved clock: a meter the
API uses stays built (an injected outage while it lasts, a load change for good) while the
others come and go; what would move the whole fleet's time is refused under one meter, in a
scenario step too; the connection records of a bounded number of meters are kept; the builds
are counted as they happen."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from support.paths import PROFILE
from support.timebase import FakeTimebase

from meter.control import fleet as fleet_control
from meter.control.fleet import FleetControl
from meter.control.ops import NotFound, Unsupported
from meter.control.timeline import Run, Timeline
from meter.device.fleet import Fleet, identities
from meter.persistence.store import Store
from meter.profile import load as load_profile


def _control(tmp_path: Path, clock: FakeTimebase) -> tuple[Fleet, FleetControl]:
    profile = load_profile(PROFILE)
    fleet = Fleet(profile, Store.open(tmp_path), tmp_path, clock,
                  identities(profile, 6, "seed", 30000), resident=1)
    control = FleetControl(fleet, clock, "acesm")
    service = SimpleNamespace(stack_tap=None, push_tap=None)
    control.attach(service)  # type: ignore[arg-type]
    assert service.stack_tap == control.stack_tap and service.push_tap == control.push_tap
    return fleet, control


def test_an_injected_outage_keeps_its_meter_built_while_it_lasts(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=1.0)
    fleet, control = _control(tmp_path, clock)
    assert control.meter(0).ops.run("outage", {"duration": "10m"}) == {"outage_s": 600.0}
    fleet.device(1)
    fleet.device(2)
    assert 0 in fleet.built() and 1 not in fleet.built()  # resident 1: 0 held, 1 evicted
    clock.t += 601.0 + fleet_control._AFTER_S
    fleet.device(3)
    assert fleet.built() == [3]  # the outage is over: meter 0 goes like any other
    fleet.close()


def test_a_load_change_keeps_its_meter_built_for_good(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=1.0)
    fleet, control = _control(tmp_path, clock)
    control.meter(4).ops.run("load", {"current": 7})
    clock.t += 86400.0
    fleet.device(1)
    fleet.device(2)
    assert 4 in fleet.built()
    assert control.in_use(4) and not control.in_use(1)
    fleet.close()


def test_moving_the_fleets_time_from_one_meter_is_refused(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=1.0)
    fleet, control = _control(tmp_path, clock)
    ops = control.meter(2).ops
    with pytest.raises(Unsupported, match="whole fleet"):
        ops.run("jump", {"by": "1h"})
    with pytest.raises(Unsupported, match="fleet's"):
        ops.run("time_scale", {"scale": 10})
    t = clock.t
    back = ops.run("jump", {"by": "-1h"})  # one meter's clock set back: its own
    assert back["meter_time"] < back["true_time"] and clock.t == t
    # A scenario step goes through the same operations: refused there too.
    timeline = Timeline.parse('[[step]]\nat = 0\ndo = "jump"\nby = "1d"\n', "test")
    run = Run(timeline, clock.now(), ops.run)
    assert run.run_due(clock.now) == 1
    assert run.errors == 1 and "whole fleet" in run.results[0]["error"]
    assert clock.t == t
    fleet.close()


def test_unknown_meters_and_the_tracking_bound(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTimebase(scale=1.0)
    fleet, control = _control(tmp_path, clock)
    with pytest.raises(NotFound):
        control.meter(6)
    monkeypatch.setattr(fleet_control, "TRACKED", 2)
    control.meter(0).ops.run("outage", {"duration": "1h"})  # in use: never forgotten
    for index in (1, 2, 3, 4):
        control.meter(index)
    assert list(control._meters) == [0, 4]
    assert control.meter(0) is control.meter(0)
    fleet.close()


def test_the_metrics_count_builds_and_meters(tmp_path: Path) -> None:
    clock = FakeTimebase(scale=1.0)
    fleet, control = _control(tmp_path, clock)
    for index in (0, 1, 2):
        fleet.device(index)
    text = control._metrics_text()
    assert 'acesm_fleet_builds_total{profile="acesm"} 3' in text
    assert 'acesm_fleet_meters{profile="acesm"} 6' in text
    assert 'acesm_fleet_meters_built{profile="acesm"} 1' in text
    with pytest.raises(Unsupported):
        control.meter(1)._metrics_text()
    fleet.close()
