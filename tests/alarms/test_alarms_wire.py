"""Alarms on the wire (issue 10 items 2 and 3): a real meter process, in real time (scale 1),
whose profile scenario cuts the supply at 00:00:04 for 3 s and sags it to 85 % twice. A listener
of the test's own receives the alarm push (taken apart here and by gurux-dlms's own
DataNotification parsing) within a simulated second of the interruption; gurux-dlms over TCP
then reads the power failure counter, writes the sag threshold down to 180 V, and the next
85 % sag (195.5 V) is no sag any more."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from interop.clients import MANAGEMENT, WRAPPER, Arg, Endpoint, GuruxDriver, Ref
from interop.conftest import next_invocation_counter
from push.test_push_wire import T0, Listener, gurux_parse
from support.process import MeterProcess, profile_with

from meter.cosem.names import PUSH_ON_ALARM

pytestmark = pytest.mark.interop

ALARM = str(PUSH_ON_ALARM)
DOUBLE_LONG_UNSIGNED = 6
OUTAGE_AT, FIRST_SAG_AT, SECOND_SAG_AT = 4.0, 8.0, 16.0
#: Real seconds the loop may take on a loaded machine to hand the push out once the tick after
#: the edge saw it (the meter asks for that tick 0.1 s after the edge).
LATENCY_S = 1.0


class _Wire:
    def __init__(self, tcp: Endpoint) -> None:
        self.tcp = tcp

    def endpoint(self, framing: str) -> Endpoint:
        return self.tcp


def alarm_push_profile(tmp_path: Path, listener: Listener, more: str = "") -> Path:
    """The default profile with the alarm push going to ``listener`` (and ``more`` TOML)."""
    return profile_with(tmp_path, f'''
[[object]]
obis = "{ALARM}"
class = "push_setup"
destination = "127.0.0.1:{listener.port}"
{more}''')


def test_alarm_push_on_a_power_failure_and_a_sag_threshold_written_by_gurux(tmp_path: Path) -> None:
    listener = Listener()
    profile = alarm_push_profile(tmp_path, listener, f'''
[metrology.scenario]
events = [{{ kind = "outage", start = {OUTAGE_AT}, duration = 3.0 }},
          {{ kind = "sag", start = {FIRST_SAG_AT}, duration = 1.0, v_scale = 0.85 }},
          {{ kind = "sag", start = {SECOND_SAG_AT}, duration = 1.0, v_scale = 0.85 }}]
''')
    state = tmp_path / "state"
    state.mkdir()
    meter = MeterProcess(state, "--start", "2026-01-01T00:14:00Z", "--profile", str(profile),
                         "--tcp", "127.0.0.1:0", "--time-scale", "1")
    try:
        meter.wait_ready()
        [push] = listener.wait(1, timeout=30)[:1]
        assert push.name == ALARM
        assert T0 + OUTAGE_AT <= push.time <= T0 + OUTAGE_AT + 1.0 + LATENCY_S
        notify = gurux_parse(push.wire)
        assert int(notify.value[2]) == 0x7 << 28  # phase outage L1-L3
        wire = _Wire(Endpoint(WRAPPER, *meter.address("tcp")))
        driver = GuruxDriver(wire.tcp, MANAGEMENT, next_invocation_counter(wire, WRAPPER))  # type: ignore[arg-type]
        driver.associate()
        try:
            # Wait past the first sag (00:00:09): counted at the profile's 207 V.
            time.sleep(max(0.0, T0 + FIRST_SAG_AT + 2.0 - push.time))
            assert driver.get(Ref(1, "0.0.96.7.21.255", 2)).value == 1
            assert driver.get(Ref(3, "1.0.32.32.0.255", 2)).value == 1
            assert driver.set(Ref(3, "1.0.12.31.0.255", 2), Arg(DOUBLE_LONG_UNSIGNED, 1800)) == 0
            assert driver.get(Ref(3, "1.0.12.31.0.255", 2)).value == 1800
            time.sleep(max(0.0, T0 + SECOND_SAG_AT + 2.0 - time_now(driver)))
            assert time_now(driver) >= T0 + SECOND_SAG_AT + 1.0  # the second sag is over
            assert driver.get(Ref(3, "1.0.32.32.0.255", 2)).value == 1  # 195.5 V > 180 V
        finally:
            driver.release()
    finally:
        meter.close()
        listener.close()
    assert "Traceback" not in meter.log_text()


def time_now(driver: GuruxDriver) -> float:
    """The meter's clock (UTC here), read over the wire."""
    from interop.clients import parse_datetime

    return parse_datetime(bytes(driver.get(Ref(8, "0.0.1.0.0.255", 2)).value)).timestamp()
