"""The relays made physical and the limiter (issue 11 items 1-3), in process: the meter's own
objects read through its stack with injected time. The wire tests with gurux-dlms are in
test_relays_wire.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import FakeTimebase, Meter
from support.process import profile_with

from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.disconnect_control import ControlState
from meter.errors import AccessError
from meter.profile import ProfileError
from meter.profile import load as load_profile

RELAY = Obis.parse("0.0.96.3.10.255")
HEATER = Obis.parse("0.1.96.3.10.255")
LOG = Obis.parse("0.0.99.98.2.255")
LIMITER = Obis.parse("0.0.17.0.0.255")
POWER = Obis.parse("1.0.1.7.0.255")
ENERGY = Obis.parse("1.0.1.8.0.255")
VOLTAGE = Obis.parse("1.0.32.7.0.255")
CURRENT = Obis.parse("1.0.31.7.0.255")
FREQUENCY = Obis.parse("1.0.14.7.0.255")
DEMAND = Obis.parse("1.0.1.4.0.255")
SAG_COUNT = Obis.parse("1.0.32.32.0.255")
DISCONNECT_SAS = Obis.parse("0.0.15.0.1.255")
OUTPUT_SCRIPT = Obis.parse("0.0.10.0.103.255")
OUTPUT_SAS = Obis.parse("0.0.15.0.3.255")
FULL_W = 3 * 230.0 * 5.0 * 0.95  # profiles/acesm.toml [meter]


def value(meter: Meter, class_id: int, obis: Obis, attribute: int = 2) -> object:
    return meter.reader().get(class_id, obis, attribute).to_python()


def number(meter: Meter, class_id: int, obis: Obis, attribute: int = 2) -> float:
    found = value(meter, class_id, obis, attribute)
    assert isinstance(found, (int, float))
    return float(found)


def power(meter: Meter) -> float:
    return number(meter, 3, POWER)


def energy(meter: Meter) -> float:
    return number(meter, 3, ENERGY)


def log_rows(meter: Meter) -> list[tuple[float, int]]:
    """The disconnector control log as (meter time, event code)."""
    data = meter.reader().get(7, LOG, 2)
    assert isinstance(data, axdr.Array)
    out = []
    for row in data.items:
        assert isinstance(row, axdr.Structure)
        stamp, code = row.items
        assert isinstance(stamp, axdr.OctetString) and isinstance(code, axdr.Unsigned)
        out.append((CosemDateTime.from_bytes(stamp.value).to_datetime().timestamp(), code.value))
    return out


def cosem_time(t: float) -> bytes:
    """UTC seconds as a 12-byte COSEM date-time (the profile's time zone is UTC)."""
    return CosemDateTime.from_datetime(datetime.fromtimestamp(t, UTC)).to_bytes()


def state(meter: Meter, obis: Obis = RELAY) -> int:
    return int(number(meter, 70, obis, 3))


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    m = Meter(tmp_path / "state", timebase=FakeTimebase(scale=3600.0))
    yield m
    m.close()


def test_open_relay_cuts_the_load_not_the_supply(meter: Meter) -> None:
    meter.timebase.t += 60
    assert power(meter) == pytest.approx(FULL_W, abs=2)
    m = meter.management()
    m.action(70, RELAY, 1, axdr.Integer(0))
    assert state(meter) == ControlState.DISCONNECTED and value(meter, 70, RELAY, 2) is False
    meter.timebase.t += 3600
    before = energy(meter)
    meter.timebase.t += 3600
    assert power(meter) == 0 and value(meter, 3, CURRENT) == 0
    assert energy(meter) == before  # energy stops
    assert value(meter, 3, VOLTAGE) == pytest.approx(2300, abs=2)  # 0.1 V: the supply is there
    assert value(meter, 3, FREQUENCY) == pytest.approx(5000, abs=2)
    m = meter.management()
    m.action(70, RELAY, 2, axdr.Integer(0))  # mode 4: remote reconnect is direct (transition a)
    meter.timebase.t += 60
    assert state(meter) == ControlState.CONNECTED and power(meter) == pytest.approx(FULL_W, abs=2)
    assert energy(meter) > before
    assert [code for _, code in log_rows(meter)] == [62, 63]


def test_open_relay_survives_a_restart_and_demand_stops(meter: Meter) -> None:
    meter.management().action(70, RELAY, 1, axdr.Integer(0))
    meter.timebase.t += 1800  # a whole demand period with the relay open
    meter.restart()
    meter.timebase.t += 1800
    assert state(meter) == ControlState.DISCONNECTED and power(meter) == 0
    assert value(meter, 5, DEMAND, 3) == 0  # last average: the period the load was cut


def test_supply_side_pq_events_still_count_while_open(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, "[metrology.scenario]\n"
                           'events = [{ kind = "sag", phases = ["A"], start = 600, duration = 1 }]\n')
    meter = Meter(tmp_path / "state", profile, timebase=FakeTimebase(scale=3600.0))
    meter.management().action(70, RELAY, 1, axdr.Integer(0))
    meter.timebase.t += 1200
    assert power(meter) == 0 and value(meter, 3, SAG_COUNT) == 1
    meter.close()


def test_load_relay_removes_its_share(meter: Meter) -> None:
    m = meter.management()
    m.action(9, OUTPUT_SCRIPT, 1, axdr.LongUnsigned(1))  # heater off by its script
    meter.timebase.t += 60
    assert state(meter, HEATER) == ControlState.DISCONNECTED
    assert power(meter) == pytest.approx(0.7 * FULL_W, abs=2)  # water_heater = 0.3 of the load
    assert state(meter) == ControlState.CONNECTED
    meter.management().action(70, RELAY, 1, axdr.Integer(0))
    meter.timebase.t += 60
    assert power(meter) == 0
    meter.management().action(70, HEATER, 2, axdr.Integer(0))
    meter.management().action(70, RELAY, 2, axdr.Integer(0))
    meter.timebase.t += 60
    assert power(meter) == pytest.approx(FULL_W, abs=2)


@pytest.mark.parametrize("schedule, relay", [(DISCONNECT_SAS, RELAY), (OUTPUT_SAS, HEATER)])
def test_schedule_runs_the_relay_script(meter: Meter, schedule: Obis, relay: Obis) -> None:
    at = meter.timebase.t + 3600  # the meter clock is true time (never set here)
    local = cosem_time(at)
    entry = axdr.Structure((axdr.OctetString(local[5:9]), axdr.OctetString(local[0:5])))
    meter.management().set(22, schedule, 4, axdr.Array((entry,)))
    meter.timebase.t += 3000
    assert state(meter, relay) == ControlState.CONNECTED
    meter.timebase.t += 700
    assert state(meter, relay) == ControlState.DISCONNECTED
    assert log_rows(meter)[-1] == (at, 62)
    assert power(meter) == pytest.approx(0 if relay == RELAY else 0.7 * FULL_W, abs=2)


@pytest.mark.parametrize("mode, refused", [(0, True), (1, False), (4, False)])
def test_control_mode_written_by_the_head_end(meter: Meter, mode: int, refused: bool) -> None:
    m = meter.management()
    m.set(70, RELAY, 4, axdr.Enum(mode))
    assert value(meter, 70, RELAY, 4) == mode
    code, _ = m.action_result(RELAY, 1, axdr.Integer(0), class_id=70)
    assert (code != 0) == refused


def test_button_reconnects_after_a_local_disconnect(meter: Meter) -> None:
    with pytest.raises(AccessError):  # mode 4: no manual disconnection
        meter.device.press_button()
    meter.management().action(9, Obis.parse("0.0.10.0.106.255"), 1, axdr.LongUnsigned(3))
    assert state(meter) == ControlState.READY_FOR_RECONNECTION
    meter.timebase.t += 60
    assert power(meter) == 0
    assert meter.device.press_button() == ControlState.CONNECTED
    meter.timebase.t += 60
    assert power(meter) == pytest.approx(FULL_W, abs=2)
    assert [code for _, code in log_rows(meter)][-3:] == [64, 59, 61]


def _limited(tmp_path: Path, extra: str = "") -> Meter:
    """A meter whose load steps to 20 A a phase (~13.1 kW, over the 10 kW threshold) at 600 s."""
    profile = profile_with(tmp_path, "[metrology.scenario]\n"
                           "steps = [{ at = 600, current = 20.0 }]\n" + extra)
    return Meter(tmp_path / "state", profile, timebase=FakeTimebase(scale=3600.0))


def test_limiter_trips_exactly_min_over_after_the_step(tmp_path: Path) -> None:
    meter = _limited(tmp_path)
    start = meter.timebase.t
    meter.timebase.t += 640
    assert state(meter) == ControlState.CONNECTED and power(meter) > 10000
    meter.timebase.t += 600
    assert state(meter) == ControlState.READY_FOR_RECONNECTION and power(meter) == 0
    rows = log_rows(meter)
    assert rows[:3] == [(start + 601, 65), (start + 660, 64), (start + 660, 59)]
    meter.close()


def test_limiter_emergency_profile_lowers_the_threshold_for_its_duration(tmp_path: Path) -> None:
    meter = _limited(tmp_path, "")
    m = meter.management()
    start = meter.timebase.t
    at = cosem_time(start + 100)
    m.set(71, LIMITER, 4, axdr.DoubleLong(20000))  # the step stays under the normal threshold
    m.set(71, LIMITER, 9, axdr.Array((axdr.LongUnsigned(1),)))
    m.set(71, LIMITER, 8, axdr.Structure((axdr.LongUnsigned(1), axdr.OctetString(at),
                                          axdr.DoubleLongUnsigned(1000))))
    meter.timebase.t += 200
    r = meter.reader()
    assert r.get(71, LIMITER, 10) == axdr.Boolean(True)
    assert r.get(71, LIMITER, 3) == axdr.DoubleLong(2000)
    meter.timebase.t += 1000  # 3.3 kW is over 2000 W from the emergency's start at 100 s
    assert state(meter) == ControlState.READY_FOR_RECONNECTION
    assert log_rows(meter)[1:5] == [(start + 100, 67), (start + 100, 65), (start + 160, 64),
                                    (start + 160, 59)]
    assert meter.device.press_button() == ControlState.CONNECTED
    meter.timebase.t += 600  # the emergency ended at 1100 s: 13 kW is under 20 kW
    r = meter.reader()
    assert r.get(71, LIMITER, 10) == axdr.Boolean(False) and r.get(71, LIMITER, 3) == axdr.DoubleLong(20000)
    assert state(meter) == ControlState.CONNECTED and power(meter) > 10000
    codes = [code for _, code in log_rows(meter)]
    assert codes.count(67) >= 3 and codes.count(64) == 1
    meter.close()


def test_limiter_state_survives_a_restart_mid_duration(tmp_path: Path) -> None:
    meter = _limited(tmp_path, "[[object]]\nobis = \"0.0.17.0.0.255\"\nmin_over = 600\n")
    start = meter.timebase.t
    meter.timebase.t += 900  # over since 600 s
    assert state(meter) == ControlState.CONNECTED
    meter.restart()  # off for a minute
    meter.timebase.t += 400
    assert state(meter) == ControlState.READY_FOR_RECONNECTION
    assert (start + 1200, 64) in log_rows(meter)
    meter.close()


def test_limiter_on_the_demand_register(tmp_path: Path) -> None:
    """Block demand grows through its quarter hour: 3277.5 W * s / 900 s passes 1000 W at
    274.6 s; compared every second, the relay opens 60 s after 275 s."""
    profile = profile_with(tmp_path, "[[object]]\nobis = \"0.0.17.0.0.255\"\n"
                           'monitored = ["1.0.1.4.0.255", 2]\n'
                           "threshold_normal = { double_long = 1000 }\n")
    meter = Meter(tmp_path / "state", profile, timebase=FakeTimebase(scale=3600.0))
    start = meter.timebase.t  # a quarter-hour boundary
    meter.timebase.t += 600
    assert state(meter) == ControlState.READY_FOR_RECONNECTION
    assert [row for row in log_rows(meter) if row[1] in (65, 64)] == [(start + 275, 65),
                                                                      (start + 335, 64)]
    meter.close()


def test_a_load_relay_names_a_load_of_the_scenario(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, '[[object]]\nobis = "0.1.96.3.10.255"\nload = "boiler"\n')
    with pytest.raises(ProfileError, match="'boiler' is not in \\[metrology.scenario\\] loads"):
        load_profile(profile)


def test_button_disconnects_where_the_mode_has_manual_disconnection(meter: Meter) -> None:
    meter.management().set(70, RELAY, 4, axdr.Enum(1))  # mode 1: f and e
    assert meter.device.press_button() == ControlState.READY_FOR_RECONNECTION
    meter.timebase.t += 60
    assert power(meter) == 0
    assert meter.device.press_button() == ControlState.CONNECTED
    assert [code for _, code in log_rows(meter)] == [60, 59, 61]


def test_limiter_on_a_shifted_clock(tmp_path: Path) -> None:
    """The clock 777.3 s ahead of true time (float offsets round): still once, still exact."""
    meter = _limited(tmp_path)
    start = meter.timebase.t
    meter.management().action_result(Obis.parse("0.0.1.0.0.255"), 6, axdr.Long(777), class_id=8)
    meter.device.directory.clock.set_time(meter.device.clock.timestamp() + 0.3, meter.device.context(None))
    meter.timebase.t += 1200
    assert state(meter) == ControlState.READY_FOR_RECONNECTION
    assert [row for row in log_rows(meter) if row[1] == 64] == [(pytest.approx(start + 660 + 777.3), 64)]
    meter.close()
