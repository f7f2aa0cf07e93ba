"""Disconnect control and limiter over the wire (issue 11 items 1 and 3): gurux-dlms as shipped
is the head end (its GXDLMSDisconnectControl.remoteDisconnect/remoteReconnect, its
GXDLMSLimiter for the limiter's attributes) against a time-scaled meter process over the TCP
wrapper. Every control_mode's allowed and refused remote transitions; the load-side power reads
0 while the relay is open and returns after reconnection; the disconnector control log holds
each move; a load step over the limiter's threshold trips the relay min_over_threshold_duration
after it; an emergency profile lowers the threshold only for its duration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from interop.clients import (
    MANAGEMENT,
    PUBLIC,
    SUCCESS,
    WRAPPER,
    Arg,
    Endpoint,
    GuruxDriver,
    Ref,
    parse_datetime,
)
from interop.conftest import INVOCATION_COUNTER
from support.process import MeterProcess, meter_process, profile_with

pytestmark = pytest.mark.interop

RELAY = "0.0.96.3.10.255"
CONTROL_STATE = Ref(70, RELAY, 3)
OUTPUT_STATE = Ref(70, RELAY, 2)
CONTROL_MODE = Ref(70, RELAY, 4)
LOG = Ref(7, "0.0.99.98.2.255", 2)
POWER = Ref(3, "1.0.1.7.0.255", 2)
CLOCK = Ref(8, "0.0.1.0.0.255", 2)
DISCONNECTOR_SCRIPT = Ref(9, "0.0.10.0.106.255", 1)
LIMITER = "0.0.17.0.0.255"
THRESHOLD_ACTIVE = Ref(71, LIMITER, 3)
EMERGENCY_ACTIVE = Ref(71, LIMITER, 10)
ENUM, LONG_UNSIGNED = 22, 18
DISCONNECTED, CONNECTED, READY = 0, 1, 2
#: Blue Book: remote_reconnect closes at once in modes 2, 4 (and 7); else it only makes ready.
DIRECT = {2, 4, 7}
WAIT_S = 20.0




def _next_invocation_counter(tcp: Endpoint) -> int:
    """Above the management invocation counter the public client reads (as interop/conftest.py)."""
    public = GuruxDriver(tcp, PUBLIC)
    public.associate()
    try:
        return int(read(public, INVOCATION_COUNTER)) + 1
    finally:
        public.release()


@contextmanager
def head_end(process: MeterProcess) -> Iterator[GuruxDriver]:
    """A gurux management association to a serving meter process (TCP wrapper)."""
    tcp = Endpoint(WRAPPER, *process.address("tcp"))
    driver = GuruxDriver(tcp, MANAGEMENT, _next_invocation_counter(tcp))
    driver.associate()
    try:
        yield driver
    finally:
        driver.release()


@contextmanager
def serve(state: Path, *args: str) -> Iterator[GuruxDriver]:
    """A time-scaled meter and a gurux management association to it."""
    with meter_process(state, "--tcp", "127.0.0.1:0", *args) as process, head_end(process) as m:
        yield m


def read(m: GuruxDriver, ref: Ref) -> Any:
    outcome = m.get(ref)
    assert outcome.ok, f"GET {ref} failed: {outcome.result}"
    return outcome.value


def wait_for(m: GuruxDriver, ref: Ref, wanted: Any, wait_s: float = WAIT_S) -> None:
    """Poll until ``ref`` reads as ``wanted`` (a predicate or a value)."""
    check = wanted if callable(wanted) else (lambda v: v == wanted)
    deadline = time.monotonic() + wait_s
    while not check(read(m, ref)):
        assert time.monotonic() < deadline, f"{ref} never became {wanted}: {read(m, ref)}"
        time.sleep(0.05)


def codes(m: GuruxDriver) -> list[int]:
    return [int(row[1]) for row in read(m, LOG) or []]


def stamps(m: GuruxDriver) -> list[tuple[datetime, int]]:
    return [(parse_datetime(bytes(row[0])), int(row[1])) for row in read(m, LOG) or []]


def remote(m: GuruxDriver, method: str) -> int:
    """gurux's own GXDLMSDisconnectControl.remoteDisconnect/remoteReconnect: the action-result."""
    from gurux_dlms.objects import GXDLMSDisconnectControl

    relay = GXDLMSDisconnectControl(RELAY)
    return int(m._exchange(getattr(relay, method)(m.client)).error)


class Head:
    """The head end's moves, with the log codes and relay state the Blue Book expects of each."""

    def __init__(self, m: GuruxDriver) -> None:
        self.m = m
        self.expected_log = codes(m)

    def move(self, method: str, allowed: bool, state: int, logged: tuple[int, ...]) -> None:
        result = remote(self.m, method)
        assert (result == SUCCESS) == allowed, f"{method}: action-result {result}"
        assert read(self.m, CONTROL_STATE) == state
        self.expected_log += logged
        # The load side: no power while the relay is open, the load's power once it is closed.
        assert read(self.m, OUTPUT_STATE) is (state == CONNECTED)
        wait_for(self.m, POWER, (lambda w: w > 3000) if state == CONNECTED else 0)

    def local_disconnect(self) -> None:
        assert self.m.action(DISCONNECTOR_SCRIPT, Arg(LONG_UNSIGNED, 3)).ok
        assert read(self.m, CONTROL_STATE) == READY
        self.expected_log += (64, 59)

    def reset(self) -> None:
        """Back to connected through mode 4 (b or c, then a)."""
        assert self.m.set(CONTROL_MODE, Arg(ENUM, 4)) == SUCCESS
        if read(self.m, CONTROL_STATE) != DISCONNECTED:
            self.move("remoteDisconnect", True, DISCONNECTED, (62,))
        self.move("remoteReconnect", True, CONNECTED, (63,))


def test_every_mode_remote_transitions_power_and_log_over_gurux(tmp_path: Path) -> None:
    with serve(tmp_path / "state", "--time-scale", "60") as m:
        head = Head(m)
        assert read(m, CONTROL_MODE) == 4 and read(m, CONTROL_STATE) == CONNECTED
        for mode in range(8):
            head.reset()
            assert m.set(CONTROL_MODE, Arg(ENUM, mode)) == SUCCESS
            assert read(m, CONTROL_MODE) == mode
            if mode == 0:  # no disconnection at all: every remote trigger refused
                head.move("remoteDisconnect", False, CONNECTED, ())
                head.move("remoteReconnect", False, CONNECTED, ())
                continue
            head.move("remoteDisconnect", True, DISCONNECTED, (62,))  # b
            head.move("remoteDisconnect", True, DISCONNECTED, ())  # already there: no move
            if mode in DIRECT:
                head.move("remoteReconnect", True, CONNECTED, (63,))  # a
            else:
                head.move("remoteReconnect", True, READY, (63, 59))  # d
                head.move("remoteDisconnect", True, DISCONNECTED, (62,))  # c
                head.move("remoteReconnect", True, READY, (63, 59))
                continue
            # From ready_for_reconnection (a local disconnect, g): only mode 7 reconnects remotely.
            head.local_disconnect()
            if mode == 7:
                head.move("remoteReconnect", True, CONNECTED, (63,))  # i
            else:
                head.move("remoteReconnect", False, READY, ())
        assert m.set(CONTROL_MODE, Arg(ENUM, 8)) != SUCCESS
        assert codes(m) == head.expected_log


def test_load_step_trips_the_limiter_after_min_over_over_gurux(tmp_path: Path) -> None:
    """A step to 20 A a phase (13.1 kW, over the 10 kW threshold) 600 s after the start; the
    limiter (min_over 60 s, written by gurux) opens the relay 60 s after the step."""
    from gurux_dlms.objects import GXDLMSLimiter

    profile = profile_with(tmp_path, "[metrology.scenario]\nsteps = [{ at = 600, current = 20.0 }]\n")
    with serve(tmp_path / "state", "--profile", str(profile), "--time-scale", "300") as m:
        limiter = GXDLMSLimiter(LIMITER)
        limiter.minOverThresholdDuration = 120
        assert m.write_object(limiter, 6) == SUCCESS
        assert read(m, Ref(71, LIMITER, 6)) == 120
        wait_for(m, CONTROL_STATE, READY)
        assert read(m, POWER) == 0
        rows = stamps(m)
        exceeded = next(t for t, code in rows if code == 65)
        opened = next(t for t, code in rows if code == 64)
        # 65 is logged when the step is measured, one settling second after it (meter/device/relays.py).
        assert opened - exceeded == timedelta(seconds=120 - 1)
        assert [code for _, code in rows if code in (64, 59, 65)] == [65, 64, 59]


def test_emergency_profile_lowers_the_threshold_for_its_duration_over_gurux(tmp_path: Path) -> None:
    from gurux_dlms import GXDateTime
    from gurux_dlms.objects import GXDLMSLimiter

    with serve(tmp_path / "state", "--time-scale", "60") as m:
        assert read(m, THRESHOLD_ACTIVE) == 10000 and read(m, EMERGENCY_ACTIVE) is False
        now = parse_datetime(read(m, CLOCK))
        start = (now + timedelta(seconds=120)).replace(microsecond=0)
        limiter = GXDLMSLimiter(LIMITER)
        limiter.emergencyProfile.id = 7
        limiter.emergencyProfile.activationTime = GXDateTime(start.replace(tzinfo=None))
        limiter.emergencyProfile.duration = 600
        limiter.emergencyProfileGroupIDs = [7]
        assert m.write_object(limiter, 8) == SUCCESS
        assert m.write_object(limiter, 9) == SUCCESS
        wait_for(m, EMERGENCY_ACTIVE, True)
        assert read(m, THRESHOLD_ACTIVE) == 2000
        wait_for(m, CONTROL_STATE, READY)  # 3.3 kW over 2 kW for min_over (60 s)
        opened = next(t for t, code in stamps(m) if code == 64)
        assert opened == start + timedelta(seconds=60)
        wait_for(m, EMERGENCY_ACTIVE, False)
        assert read(m, THRESHOLD_ACTIVE) == 10000


def test_load_relay_removes_its_share_over_gurux(tmp_path: Path) -> None:
    from gurux_dlms.objects import GXDLMSDisconnectControl

    heater = GXDLMSDisconnectControl("0.1.96.3.10.255")
    with serve(tmp_path / "state", "--time-scale", "60") as m:
        wait_for(m, POWER, lambda w: w > 3000)
        full = read(m, POWER)
        assert int(m._exchange(heater.remoteDisconnect(m.client)).error) == SUCCESS
        wait_for(m, POWER, lambda w: abs(w - 0.7 * full) <= 2)  # water_heater = 0.3 of the load
        assert read(m, CONTROL_STATE) == CONNECTED and read(m, Ref(70, heater.logicalName, 3)) == 0
        assert int(m._exchange(heater.remoteReconnect(m.client)).error) == SUCCESS
        wait_for(m, POWER, full)
        assert codes(m) == [62, 63]
