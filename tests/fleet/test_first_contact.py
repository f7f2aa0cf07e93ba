"""A head end's first read of a fleet meter (connect, AARQ, one GET, close: what
tools/bench-fleet times) costs what every later read costs: one store transaction for the
session's commit, no new record (the key list is not rewritten), no metrology snapshot on the
way (the ticks take it), no re-planning of the scheduler; and it answers and logs as before.
What such a read showed survives a kill -9 without that snapshot: the time mark bounds it and
the energy is measured again up to there."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import START, FakeTimebase, public, reader
from support.faults import Recording
from support.paths import PROFILE

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.names import COMMUNICATION_LOG, last_event_code
from meter.device import Device
from meter.device.fleet import Fleet, identities
from meter.device.persist import CLOCK_MARK_AHEAD_S, SNAPSHOT_EVERY, TIME_MARK
from meter.device.scheduler import Scheduler
from meter.link.framing import Framing
from meter.link.wrapper import WrapperPdu
from meter.metrology.engine import Engine
from meter.persistence.store import Store
from meter.profile import load as load_profile

AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1FFFFF")
GET_SERIAL = bytes.fromhex("C001C1" "0001" "0000600100FF" "02" "00")
COUNTER = Obis.parse("0.0.96.15.5.255")  # communication events (profiles/acesm.toml)
ENERGY = Obis.parse("1.0.1.8.0.255")
DEVICE_ID = Obis.parse("0.0.96.1.0.255")
POWER_FAILURES = Obis.parse("0.0.96.7.21.255")  # in any phase (tests/alarms)
POWER_W = 3 * 230.0 * 5.0 * 0.95  # the profile's load (tests/device/helpers.py)


def _idle(fleet: Fleet, clock: FakeTimebase) -> None:
    """The fleet's timer turns at ``clock``'s now: every deadline come is served."""
    while (due := fleet.next_deadline()) is not None and due <= clock.t:
        for _ in fleet.due(clock.t):
            pass


def _first_read(fleet: Fleet, index: int, now: float) -> bytes:
    """A head end's read over a new connection, through the fleet's counted stack."""
    stack = fleet.new_stack(index, Framing.WRAPPER, now=lambda: now)
    stack.connection_made(now)
    aare = stack.receive_data(WrapperPdu(16, 1, AARQ).to_bytes(), now)
    reply = stack.receive_data(WrapperPdu(16, 1, GET_SERIAL).to_bytes(), now)
    stack.connection_lost()
    answer = A.decode_apdu(aare[8:])
    assert isinstance(answer, A.AARE) and answer.result == A.AssociationResult.ACCEPTED
    return reply[8:]


def _value(device: Device, obis: Obis) -> int:
    obj = device.directory.get(obis)
    assert obj is not None
    return obj.int_value("value")


def test_a_first_read_costs_what_every_read_costs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTimebase(scale=1.0)
    profile = load_profile(PROFILE)
    fleet = Fleet(profile, Store.open(tmp_path), tmp_path, clock,
                  identities(profile, 3, "seed", 30000), resident=3)
    for _ in fleet.warming():
        clock.t += 0.5  # the later meters back-fill from the fleet's origin (and plan then)
        clock.mono += 0.5
        _idle(fleet, clock)
    for _ in range(int(2 * SNAPSHOT_EVERY)):  # the fleet idles: past a snapshot's period and
        clock.t += 1.0                        # the time mark, before the next quarter hour
        clock.mono += 1.0
        _idle(fleet, clock)
    for index in (0, 2):
        device = fleet.device(index)
        store = device.store
        keys, snapshot = set(store.keys()), store.get("metrology")
        rows, count = len(device.directory[COMMUNICATION_LOG].buffer), _value(device, COUNTER)  # type: ignore[attr-defined]
        seen: list[str] = []
        store._db = Recording(store._db, seen)  # type: ignore[assignment]
        plans: list[float] = []
        real = Scheduler._run_until
        monkeypatch.setattr(Scheduler, "_run_until", lambda self, t, plans=plans, real=real: (plans.append(t), real(self, t)))

        reply = _first_read(fleet, index, clock.t)

        serial = fleet.members[index].ident.serial
        assert reply == bytes.fromhex("C401C100") + axdr.OctetString(
            device.directory[Obis.parse("0.0.96.1.0.255")].value("value").value).to_bytes()  # type: ignore[attr-defined]
        assert serial.encode() in reply
        assert [s for s in seen if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]
        assert set(store.keys()) == keys  # the records it wrote were all there: no key list
        assert store.get("metrology") == snapshot  # no snapshot on a read's way
        assert plans == []  # planned when built and ticked, not at the first request
        # What it did: the session logged and counted, its code shown, the time reserved.
        assert len(device.directory[COMMUNICATION_LOG].buffer) == rows + 1  # type: ignore[attr-defined]
        assert _value(device, COUNTER) == count + 1
        assert _value(device, last_event_code(COMMUNICATION_LOG)) == 231
        assert float(store.get(TIME_MARK) or 0) == clock.t + CLOCK_MARK_AHEAD_S
        store._db = store._db._db  # type: ignore[attr-defined]
        monkeypatch.undo()
        device.tick(clock.t)  # the fleet's next turn on the meter takes the snapshot
        assert store.get("metrology") != snapshot
    fleet.close()


def test_what_a_read_showed_survives_kill_9_without_a_snapshot(tmp_path: Path) -> None:
    tb = FakeTimebase(START, scale=3600.0)  # fast metrology, as a fleet's
    device = Device.open("acesm", tmp_path / "state", tb)
    snapshot = device.store.get("metrology")
    tb.t += 10 * SNAPSHOT_EVERY
    shown = reader(device, tb).get(3, ENERGY, 2)
    assert isinstance(shown, axdr.DoubleLongUnsigned) and shown.value > 0
    assert device.store.get("metrology") == snapshot  # the read took none
    device.store.close()  # kill -9: nothing more committed

    again = Device.open("acesm", tmp_path / "state", tb)  # the same instant
    value = reader(again, tb).get(3, ENERGY, 2)
    assert isinstance(value, axdr.DoubleLongUnsigned)
    # Measured again up to the time mark: never below what was shown, the mark's seconds more.
    assert value.value >= shown.value
    assert value.value == pytest.approx(shown.value + POWER_W * CLOCK_MARK_AHEAD_S / 3600.0, abs=1.5)
    again.close()


def _engine(start: float) -> Engine:
    return Engine({"wiring": "3P4W", "f": 50.0, "voltage": 230.0, "current": 5.0, "pf": 0.95}, {},
                  start_time=start, mode="fast")


def test_catch_ups_in_steps_measure_what_one_catch_up_does() -> None:
    """The engine keeps its steady stretch's rates between catch-ups (a fleet's meter before
    each request): many small ones, across a load change and a restore, give one big one's
    registers, and the new load's rates are used after the change."""
    steps, whole = _engine(START), _engine(START)
    for k in range(1, 301):
        steps.advance_to(START + k * 0.5)
    whole.advance_to(START + 150.0)
    assert steps.registers == pytest.approx(whole.registers, rel=1e-9)
    before = whole.registers
    for engine in (steps, whole):
        engine.scale_load(0.5)
    for k in range(1, 301):
        steps.advance_to(START + 150.0 + k * 0.5)
    whole.advance_to(START + 300.0)
    assert steps.registers == pytest.approx(whole.registers, rel=1e-9)
    key = next(k for k, v in before.items() if v > 0)
    first_half, second_half = before[key], whole.registers[key] - before[key]
    assert second_half == pytest.approx(first_half / 2, rel=1e-6)
    snap = steps.snapshot()
    restored = _engine(START)
    restored.restore(snap)
    restored.scale_load(0.5)  # the load is the relays' to set again (not in the snapshot)
    for engine in (steps, restored):
        for k in range(1, 11):
            engine.advance_to(START + 300.0 + k)
    assert restored.registers == pytest.approx(steps.registers, rel=1e-9)


def test_a_request_moves_the_engine_only_across_an_edge(tmp_path: Path) -> None:
    """Before a request a steady engine is left where it is (its values are measured when
    read); one with an interruption on the way is moved across it, which surfaces it."""
    tb = FakeTimebase(START, scale=3600.0)
    device = Device.open("acesm", tmp_path / "state", tb)
    engine = device.metrology.engine
    tb.t += 1.0
    device.tick(tb.t)  # the limiters' first comparison (a second after the start) measures
    measured = engine.now
    tb.t += 2 * SNAPSHOT_EVERY
    assert public(device, tb).get(1, DEVICE_ID, 2) is not None
    assert engine.now == measured  # nothing to surface: nothing measured on the way
    assert reader(device, tb).get(3, ENERGY, 2) is not None
    assert engine.now == pytest.approx(tb.t)  # a value is measured up to its reader's time
    failures = _value(device, POWER_FAILURES)
    device.inject_outage(tb.t, 5.0)
    tb.t += SNAPSHOT_EVERY
    assert public(device, tb).get(1, DEVICE_ID, 2) is not None
    assert engine.now == pytest.approx(tb.t)  # moved across the outage's edges
    assert _value(device, POWER_FAILURES) == failures + 1
    device.close()
