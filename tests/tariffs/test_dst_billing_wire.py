"""DST-day and month-end billing over the wire (issue 9 items 4 and 5), gurux-dlms as shipped
against a time-scaled meter process: a head end puts the clock on CET/CEST with gurux's
GXDLMSClock, the meter lives through the spring-forward Sunday to the local end of March; the
daily profile 1.0.99.2.0.255 has a row at each local midnight (the DST day 23 hours of energy),
the month-end billing row is taken at local midnight of 1 April (22:00 UTC) with the same rate
values as that midnight's daily row; an on-demand reset (execute script 1) bills again, resets
the maxima and adds them to the cumulative maxima."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from device.helpers import POWER_W
from interop.clients import SUCCESS, WRAPPER, Arg, Endpoint, Ref, parse_datetime
from interop.test_schedules_wire import CLOCK, WireMeter, management, reader
from support.process import meter_process

pytestmark = pytest.mark.interop

UTC = timezone.utc
DAILY = "1.0.99.2.0.255"
BILLING = "0.0.98.1.0.255"
BILLING_COUNTER = Ref(1, "1.0.0.1.0.255", 2)
END_OF_BILLING = Ref(9, "0.0.10.0.1.255", 1)
CUMULATIVE = [Ref(3, f"1.0.1.2.{e}.255", 2) for e in (0, 1, 2, 3)]
#: Three simulated hours per real second: Saturday 20:00 to Wednesday 00:30 local in ~25 s.
SCALE = "10800"
START = "2026-03-28T20:00:00Z"
WAIT_S = 90.0
TAG_LONG_UNSIGNED = 18


def entries(r: Any, obis: str) -> list[list[Any]]:
    in_use = int(r.get(Ref(7, obis, 7)).value)
    return r.read_profile_entries(obis, 1, in_use) if in_use else []


def wait_until(r: Any, moment: datetime) -> None:
    deadline = time.monotonic() + WAIT_S
    while parse_datetime(r.get(CLOCK).value) < moment:
        assert time.monotonic() < deadline, f"the meter never reached {moment}"
        time.sleep(0.05)


def test_dst_day_and_month_end_billing_in_local_time(tmp_path: Path) -> None:
    from gurux_dlms.objects import GXDLMSClock

    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--time-scale", SCALE,
                       start=START) as process:
        meter = WireMeter(Endpoint(WRAPPER, *process.address("tcp")))
        m = management(meter)
        clock = GXDLMSClock("0.0.1.0.0.255")
        clock.timeZone = -60  # gurux and Blue Book sign: UTC - local, CET
        clock.enabled = True  # daylight saving with the meter's EU rules
        assert m.write_object(clock, 3) == SUCCESS
        assert m.write_object(clock, 8) == SUCCESS
        assert int(m.get(BILLING_COUNTER).value) == 0
        m.release()

        r = reader(meter)
        assert parse_datetime(r.get(CLOCK).value) < datetime(2026, 3, 28, 23, tzinfo=UTC), "too slow"
        wait_until(r, datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 00:30 CEST, 1 April
        daily = entries(r, DAILY)
        billing = entries(r, BILLING)
        r.release()

        m = management(meter)
        cumulative = [int(m.get(ref).value) for ref in CUMULATIVE]  # the month end's maxima
        assert m.action(END_OF_BILLING, Arg(TAG_LONG_UNSIGNED, 1)).ok  # an on-demand reset
        assert int(m.get(BILLING_COUNTER).value) == 2
        billed = entries(m, BILLING)
        assert len(billed) == 2
        # The meter runs on (a demand period is 0.08 s here): the maxima are seen reset in
        # what the reset added, the maxima of the on-demand row, to the cumulative maxima.
        on_demand = [int(v) for v in billed[1][19::2]]
        assert [int(m.get(ref).value) for ref in CUMULATIVE] == [
            a + b for a, b in zip(cumulative, on_demand, strict=True)]
        m.release()

    # Local midnights: 29 March 00:00 CET, then 30 March, 31 March and 1 April 00:00 CEST.
    assert [parse_datetime(row[0]) for row in daily] == [
        datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC),
        datetime(2026, 3, 30, 22, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC)]
    totals = [int(row[1]) for row in daily]
    grown = [b - a for a, b in zip(totals, totals[1:], strict=False)]
    assert grown == pytest.approx([23 * POWER_W, 24 * POWER_W, 24 * POWER_W], abs=3)
    # The month-end billing row: local midnight of 1 April, the daily row's rate values.
    assert len(billing) == 1 and parse_datetime(billing[0][0]) == datetime(2026, 3, 31, 22, tzinfo=UTC)
    billed_rates = [int(v) for v in billing[0][7:19]]  # +A/-A/+R/-R of rates 1..3
    assert billed_rates == [int(v) for v in daily[-1][5:17]]
    assert int(billing[0][1]) == totals[-1]
    # Its maxima (value, capture time pairs) are what the reset added to the cumulative maxima.
    assert [int(v) for v in billing[0][19::2]] == cumulative
