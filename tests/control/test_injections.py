"""The device's injections (meter/device/injections.py) in process, on a fake clock: what each
does to the registers a head end reads, that a relay's switching survives a load change, and
that parameters out of range are refused without touching the timeline; any parameters to any
control operation get a clear refusal (never another exception) and the meter goes on."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.meter import Meter

from meter.codec.obis import Obis
from meter.control.ops import ACTIONS, BadRequest, NotFound, Operations
from meter.errors import AccessError
from meter.device.injections import InjectionError

V1, V2 = Obis.parse("1.0.32.7.0.255"), Obis.parse("1.0.52.7.0.255")
I1 = Obis.parse("1.0.31.7.0.255")
POWER = Obis.parse("1.0.1.7.0.255")


def value(meter: Meter, obis: Obis) -> float:
    device = meter.device
    device.at(meter.timebase.t)
    raw = device.directory[obis].get(2, device.context(None)).to_python()
    assert isinstance(raw, (int, float))
    return float(raw)


def later(meter: Meter, seconds: float) -> None:
    meter.timebase.t += seconds
    meter.device.tick(meter.timebase.t)


def test_an_outage_of_one_phase(meter: Meter) -> None:
    meter.device.inject_outage(meter.timebase.t, 60, (1,))  # L2
    later(meter, 30)
    assert value(meter, V2) == 0
    assert value(meter, V1) == pytest.approx(2300, abs=5)
    later(meter, 60)
    assert value(meter, V2) == pytest.approx(2300, abs=5)


def test_a_swell_scales_the_voltage(meter: Meter) -> None:
    meter.device.inject_voltage(meter.timebase.t, "swell", 1.2, 60, (0,))  # L1
    later(meter, 30)
    assert value(meter, V1) == pytest.approx(2760, abs=5)
    assert value(meter, V2) == pytest.approx(2300, abs=5)


def test_a_load_change_keeps_an_open_relay_open(meter: Meter) -> None:
    device = meter.device
    relay = device.directory[Obis.parse("0.0.96.3.10.255")]
    relay.store("control_mode", type(relay.value("control_mode"))(1))
    device.press_button()  # open (mode 1: manual disconnection)
    later(meter, 10)
    device.set_load(meter.timebase.t, current=20, pf=1.0)
    later(meter, 10)
    assert value(meter, POWER) == 0
    device.press_button()  # closed again: the new load
    later(meter, 10)
    assert value(meter, POWER) == pytest.approx(3 * 230 * 20, rel=0.01)
    assert value(meter, I1) == pytest.approx(20_000, rel=0.01)


def test_a_load_change_keeps_what_it_does_not_name(meter: Meter) -> None:
    meter.device.set_load(meter.timebase.t, pf=0.5)
    later(meter, 10)
    assert value(meter, I1) == pytest.approx(5_000, rel=0.01)  # the profile's 5 A
    assert value(meter, POWER) == pytest.approx(3 * 230 * 5 * 0.5, rel=0.01)


@pytest.mark.parametrize(("call", "says"), [
    (lambda d, t: d.inject_outage(t, 0), "duration"),
    (lambda d, t: d.inject_outage(t, 10, (3,)), "phases"),
    (lambda d, t: d.inject_outage(t, 10, ()), "phases"),
    (lambda d, t: d.inject_voltage(t, "sag", 1.2, 10), "scale"),
    (lambda d, t: d.inject_voltage(t, "swell", 0.8, 10), "scale"),
    (lambda d, t: d.inject_voltage(t, "flicker", None, 10), "sag, swell"),
    (lambda d, t: d.inject_voltage(t, "sag", None, 10, (0,)), None),
    (lambda d, t: d.set_load(t, current=-1), "current"),
    (lambda d, t: d.set_load(t, current=[1, 2]), "current"),
    (lambda d, t: d.set_load(t, pf=1.5), "power factor"),
    (lambda d, t: d.set_load(t, harmonics={"i": [[1, 0.5]]}), "order"),
    (lambda d, t: d.set_load(t, harmonics={"x": []}), "'v' and 'i'"),
])
def test_out_of_range_is_refused_and_changes_nothing(meter: Meter, call: object,
                                                      says: str | None) -> None:
    before = meter.device.metrology.engine.scenario
    if says is None:  # a sag without a scale takes the default: it is no refusal
        call(meter.device, meter.timebase.t)  # type: ignore[operator]
        assert meter.device.metrology.engine.scenario is not before
        return
    with pytest.raises(InjectionError, match=says):
        call(meter.device, meter.timebase.t)  # type: ignore[operator]
    assert meter.device.metrology.engine.scenario is before


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
    | st.text(max_size=12) | st.sampled_from(["A", "B", "sag", "1h", "-2m", "0.0.96.3.10.255",
                                             "1.0.32.7.0.255", "2026-01-01T00:00:00Z"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=8)
_KEYS = st.sampled_from(["duration", "duration_s", "phases", "scale", "kind", "current", "pf",
                         "harmonics", "i", "v", "relay", "time", "obis", "attribute", "op",
                         "value", "tolerance", "scaled", "active", "ppm"])
#: Every operation but those that move time a long way (a year's jump takes seconds; the wire
#: tests cover their refusals) or need a real timebase (the scale).
_FUZZED = sorted(set(ACTIONS) - {"jump", "time_scale"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_FUZZED), st.dictionaries(_KEYS, _JSON, max_size=5))
def test_any_parameters_get_a_clear_refusal_or_work(meter: Meter, action: str,
                                                    params: dict[str, object]) -> None:
    ops = Operations(lambda: meter.device, meter.timebase)  # type: ignore[arg-type]
    try:
        ops.run(action, params)
    except (BadRequest, NotFound, AccessError):
        pass
    meter.timebase.t += 1
    meter.device.tick(meter.timebase.t)  # and the meter goes on


@pytest.mark.parametrize("harmonics", [{"i": [{"0": None}]}, {"i": [["x", 0.1]]}, {"i": 3},
                                       {"v": [[3, None]]}])
def test_a_malformed_harmonic_is_an_injection_error(meter: Meter, harmonics: object) -> None:
    # (hypothesis found a dict as a row escaping as KeyError)
    with pytest.raises(InjectionError, match="harmonic"):
        meter.device.set_load(meter.timebase.t, harmonics=harmonics)  # type: ignore[arg-type]


def test_a_current_that_is_no_number_is_an_injection_error(meter: Meter) -> None:
    with pytest.raises(InjectionError, match="current"):
        meter.device.set_load(meter.timebase.t, current=["a", "b", "c"])  # type: ignore[list-item]
