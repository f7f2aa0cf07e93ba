"""The clock never reads earlier than a time it has answered, across kill -9 (issue 7, item 10),
over a real ``acesm-meter serve --time-scale`` process.

Each restart is given the same ``--start``, as a user re-running one command would: the state
decides where the clock resumes. Before the fix it resumed at the last metrology snapshot (saved
every 60 simulated seconds), up to a minute behind what the public client had just read.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from support import START, SocketClient

from .helpers import CLOCK, timestamp
from .test_crash import Meter, meters  # noqa: F401 (fixture)

KILLS = 6


def read_clock(port: int) -> float:
    client = SocketClient("127.0.0.1", port, client_sap=16, timeout=5.0)
    try:
        client.associate()
        return timestamp(client.get(8, CLOCK, 2))
    finally:
        client.close()


def test_clock_never_goes_back_after_kill_9(tmp_path: Path, meters: list[Meter]) -> None:  # noqa: F811
    rng = random.Random(7)
    highest = -1.0
    for run in range(KILLS):
        meter = Meter(tmp_path / "state", START, tmp_path / "meter.log")
        meters.append(meter)
        first = read_clock(meter.port)
        assert first >= highest, f"restart {run}: clock {highest - first:.2f} s behind"
        until = time.monotonic() + rng.uniform(0.3, 1.5)
        while time.monotonic() < until:
            highest = max(highest, read_clock(meter.port))
        meter.kill()  # SIGKILL: nothing runs on the way down
