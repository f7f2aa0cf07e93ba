"""kill -9 of a time-scaled meter process at random moments while the calendar switches rates
(issue 9): after every restart the rate registers still add up to the total, no rate register
reads less than it did before the kill (no energy taken back) and none jumped by more than the
energy of the time that passed (none counted twice)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from device.helpers import POWER_W
from device.test_crash import Meter, meters  # noqa: F401 (fixture)
from support import READER, SocketClient
from support.meter import LLS_SECRET

from meter.codec import axdr
from meter.codec.obis import Obis

from .test_rates import utc

KILLS = 6
TOTAL = Obis.parse("1.0.1.8.0.255")
RATES = [Obis.parse(f"1.0.1.8.{r}.255") for r in (1, 2, 3)]


def read(port: int) -> tuple[int, list[int], int]:
    """(total, rates, total again), read by the reader over the wrapper."""
    client = SocketClient("127.0.0.1", port, client_sap=READER, timeout=5.0)
    try:
        client.associate(mechanism=1, secret=LLS_SECRET)
        values = [client.get(3, obis, 2) for obis in (TOTAL, *RATES, TOTAL)]
    finally:
        client.close()
    assert all(isinstance(v, axdr.DoubleLongUnsigned) for v in values)
    first, *rates, last = (v.value for v in values)  # type: ignore[attr-defined]
    return first, rates, last


def test_rates_add_up_across_kill_9(tmp_path: Path, meters: list[Meter]) -> None:  # noqa: F811
    rng = random.Random(13)
    start = utc(2026, 1, 14, 6, 55)  # switches at 07:00 and 11:00, 60 simulated s per real s
    seen: list[int] | None = None
    for run in range(KILLS):
        meter = Meter(tmp_path / "state", start, tmp_path / "meter.log")
        meters.append(meter)
        before, rates, after = read(meter.port)
        assert before - 3 <= sum(rates) <= after, f"restart {run}: {rates} vs total {before}..{after}"
        if seen is not None:
            assert all(now >= was for now, was in zip(rates, seen, strict=True)), f"restart {run}"
        until = time.monotonic() + rng.uniform(0.5, 2.0)
        while time.monotonic() < until:
            before, rates, after = read(meter.port)
            assert before - 3 <= sum(rates) <= after
        seen = rates
        meter.kill()  # SIGKILL: nothing runs on the way down
    assert seen is not None and min(seen[0], seen[2]) > 0 and sum(seen) < 2 * 3600 * POWER_W
