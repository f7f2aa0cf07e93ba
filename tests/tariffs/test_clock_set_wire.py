"""A clock set forward and back over the wire (issue 9 item 5), gurux-dlms as shipped against a
time-scaled meter process: set forward over the 07:00 peak switch the rate is peak at once, set
back before it off-peak again, and the switch runs again when the clock reaches 07:00 a second
time; through it all the rates add up to the total (no energy counted twice or lost in a rate)
and the total grows only with the true time the meter ran, not with the clock's jumps."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from device.helpers import POWER_W
from interop.clients import SUCCESS, WRAPPER, Endpoint, parse_datetime
from interop.test_schedules_wire import CLOCK, WireMeter, management, reader
from support.process import meter_process

from .test_tou_wire import RATES, TARIFF, TOTAL

pytestmark = pytest.mark.interop

UTC = timezone.utc
SCALE = 300.0  # five simulated minutes per real second
WAIT_S = 60.0


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 1, 14, hour, minute, tzinfo=UTC)  # Wednesday, local time = UTC


def wait_until(r: Any, moment: datetime) -> datetime:
    deadline = time.monotonic() + WAIT_S
    while (now := parse_datetime(r.get(CLOCK).value)) < moment:
        assert time.monotonic() < deadline, f"the meter never reached {moment}"
        time.sleep(0.02)
    return now


def snapshot(r: Any) -> tuple[int, list[int], int, float]:
    """(total, rates, total again, real time): the rates read between two readings of the total."""
    before = int(r.get(TOTAL).value)
    rates = [int(r.get(ref).value) for ref in RATES]
    return before, rates, int(r.get(TOTAL).value), time.monotonic()


def test_a_clock_set_moves_the_rate_and_its_switches_not_the_energy(tmp_path: Path) -> None:
    from gurux_dlms import GXDateTime
    from gurux_dlms.objects import GXDLMSClock

    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--time-scale", str(SCALE),
                       start="2026-01-14T06:30:00Z") as process:
        meter = WireMeter(Endpoint(WRAPPER, *process.address("tcp")))
        m, r = management(meter), reader(meter)
        clock = GXDLMSClock(CLOCK.obis)

        def set_clock(shift: timedelta) -> None:
            clock.time = GXDateTime(parse_datetime(m.get(CLOCK).value) + shift)
            assert m.write_object(clock, 2) == SUCCESS

        wait_until(r, at(6, 35))
        assert int(r.get(TARIFF).value) == 3  # off-peak
        start = snapshot(r)
        set_clock(timedelta(minutes=60))  # ~07:35: over the 07:00 switch
        assert int(r.get(TARIFF).value) == 1  # peak at once
        wait_until(r, at(7, 45))
        set_clock(timedelta(minutes=-100))  # ~06:05: before the switch again
        assert int(r.get(TARIFF).value) == 3
        wait_until(r, at(6, 50))
        assert int(r.get(TARIFF).value) == 3
        wait_until(r, at(7, 5))  # the 07:00 switch runs on the clock's new course
        assert int(r.get(TARIFF).value) == 1
        end = snapshot(r)
        r.release()
        m.release()

    grown = [b - a for a, b in zip(start[1], end[1], strict=True)]
    assert grown[1] == 0  # no shoulder hour on this course
    assert grown[0] > 0 and grown[2] > 0
    # The rates add up to the total, read between two readings of it (whole Wh each).
    assert end[0] - start[2] - 3 <= sum(grown) <= end[2] - start[0] + 3
    # The total grew by the energy of the true time that passed (a jump adds or removes none):
    # 35 simulated minutes of clock time, +60 and -100 minutes of jumps: ~75 true minutes.
    true_hours = (end[3] - start[3]) * SCALE / 3600
    assert end[0] - start[2] == pytest.approx(true_hours * POWER_W, rel=0.1)
