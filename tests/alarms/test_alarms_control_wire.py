"""An alarm push within a simulated second of a cover opened through the control API (issue 10
"How it is shown"; issue 12 item 1): a real meter process in real time (scale 1), the terminal
cover opened by `POST /inject/tamper` while it runs, the alarm push taken apart by the test's
own listener and by gurux-dlms's DataNotification parsing, its alarm register carrying the fraud
bit (13 in profiles/acesm.toml's map); closing the cover raises no second push (the bit is
already set until a head end clears it)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest
from push.test_push_wire import Listener, gurux_parse
from alarms.test_alarms_wire import ALARM, alarm_push_profile
from support.process import meter_process

from meter.control import Client

pytestmark = pytest.mark.interop

FRAUD_BIT = 1 << 13
#: Real seconds a loaded machine may take between the control request and the push leaving
#: (at scale 1 also simulated seconds); the bound checked is on the meter's own stamps.
LATENCY_S = 1.0


def meter_time(client: Client) -> float:
    return datetime.fromisoformat(client.time()["meter_time"]).timestamp()


def test_a_cover_opened_through_the_control_api_is_pushed_within_a_second(tmp_path: Path) -> None:
    listener = Listener()
    profile = alarm_push_profile(tmp_path, listener)
    try:
        with meter_process(tmp_path / "state", "--profile", str(profile), "--tcp", "127.0.0.1:0",
                           "--control", "127.0.0.1:0", "--time-scale", "1") as process:
            host, port = process.address("control")
            client = Client(f"http://{host}:{port}")
            opened = meter_time(client)
            client.tamper("terminal_cover", True)

            def fraud(push: object) -> bool:
                return bool(int(gurux_parse(push.wire).value[2]) & FRAUD_BIT)  # type: ignore[attr-defined]

            # (A fresh meter may push its power-up alarm first: the fraud one is looked for.)
            [push] = [p for p in listener.wait_until(lambda got: any(map(fraud, got)), 30)
                      if fraud(p)]
            assert push.name == ALARM
            # The notification's date-time has whole seconds: within the second of the
            # injection, or the next one.
            assert math.floor(opened) <= push.time <= opened + 1.0 + LATENCY_S
            count = len(listener.received)
            client.tamper("terminal_cover", False)
            # The bit stays set until a head end clears it: closing pushes nothing more.
            assert len(listener.wait_until(lambda got: len(got) > count, timeout=2.0)) == count
            assert "Traceback" not in process.log_text()
    finally:
        listener.close()
