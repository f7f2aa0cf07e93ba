"""The face's answers without a browser: the LCD from whichever display hook the device has,
the waveform cycle's length and bounds, the alarm bit names (cosem-reference.md §4.3)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter.control import face
from meter.cosem.names import ALARM_REGISTERS
from meter.metrology.scenario import Scenario


def _device(f: float = 50.0, fs: float = 8000.0, t: float = 1000.0, events: bool = False) -> Any:
    description: dict[str, Any] = {"wiring": "3P4W", "f": f, "f_nominal": 50.0, "voltage": 230.0,
                                   "current": [5.0, 5.0, 5.0], "angle_deg": 0.0}
    scenario = Scenario.from_dict(description)
    engine = SimpleNamespace(scenario=scenario, fs=fs, origin=0.0)
    return SimpleNamespace(metrology=SimpleNamespace(engine=engine), t=t)


def test_one_cycle_per_phase() -> None:
    cycle = face.last_cycle(_device())
    assert [p["name"] for p in cycle["phases"]] == ["A", "B", "C"]
    a = cycle["phases"][0]
    assert len(a["v"]) == len(a["i"]) == 160  # 8 kHz / 50 Hz
    assert max(map(abs, a["v"])) == pytest.approx(230 * math.sqrt(2), rel=1e-3)
    assert max(map(abs, a["i"])) == pytest.approx(5 * math.sqrt(2), rel=1e-2)


@given(f=st.floats(0.01, 1000.0), fs=st.floats(100.0, 64000.0), t=st.floats(0.0, 1e9))
def test_the_cycle_is_bounded(f: float, fs: float, t: float) -> None:
    cycle = face.last_cycle(_device(f, fs, t))
    for p in cycle["phases"]:
        assert 8 <= len(p["v"]) == len(p["i"]) <= face.MAX_SAMPLES
        assert all(math.isfinite(x) for x in p["v"] + p["i"])


def test_alarm_bits_name_the_three_registers() -> None:
    assert len(ALARM_REGISTERS) == len(face.ALARM_BITS) == 3
    assert face.ALARM_BITS[0][13] == "fraud attempt"
    assert face.ALARM_BITS[1][3] == "voltage swell L1"


def test_every_event_of_a_log_is_named_whichever_enum_holds_it() -> None:
    names = face._event_names()
    # The standard log holds StandardEvent and PrepaymentEvent codes.
    assert names["standard"][1] == "power down" and names["standard"][240] == "low credit"
    assert names["power_quality"][85] == "voltage normal l1"
