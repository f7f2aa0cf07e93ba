"""The shipped drifting-month scenario (tools/scenarios/drifting-month.toml) on a device in
process, its fake clock taken to each due time: the ``drift`` step sets the crystal 200 ppm fast,
a month later the clock is ~518 s ahead and, no head end having set it, the expectation that one
did fails (counted, not fatal); a head end's shift_time then makes it hold. The ``drift``
operation refuses what is no rate."""

from __future__ import annotations

import pytest
from support.meter import Meter

from meter.codec import axdr
from meter.control.ops import BadRequest, Operations
from meter.cosem.names import CLOCK

from .test_scenarios import SCENARIOS, run_through

DRIFTING = SCENARIOS / "drifting-month.toml"


def test_the_drifting_month_drifts_and_expects_a_head_end_to_set_the_clock(meter: Meter) -> None:
    run = run_through(meter, DRIFTING.read_text())
    status = run.status()
    assert status["done"] and status["errors"] == 0
    assert status["expectations"] == {"passed": 0, "failed": 1}  # nobody set the clock
    ops = Operations(lambda: meter.device, meter.timebase)  # type: ignore[arg-type]
    now = ops.run("time", {})
    assert now["drift_ppm"] == 200.0
    assert now["deviation_s"] == 518.0  # 200e-6 * 30 d = 518.4 s, in whole steps
    # The head end's correction (UC 6): shift_time by up to 900 s (Blue Book limit).
    meter.management().action(8, CLOCK, 6, axdr.Long(-518))
    assert ops.run("time", {})["deviation_s"] == 0.0
    assert ops.run("expect", {"obis": "0.0.96.2.12.255", "op": "!=",
                              "value": "ffffffffffffffffff800000"})["ok"]


@pytest.mark.parametrize("params", [{}, {"ppm": "50"}, {"ppm": True}, {"ppm": 10_001},
                                    {"ppm": -1e9}, {"ppm": float("nan")}])
def test_drift_refuses_what_is_no_rate(meter: Meter, params: dict[str, object]) -> None:
    ops = Operations(lambda: meter.device, meter.timebase)  # type: ignore[arg-type]
    with pytest.raises(BadRequest, match="ppm"):
        ops.run("drift", params)
    assert meter.device.clock.drift_ppm == 0.0
