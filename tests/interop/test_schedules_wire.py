"""The end-of-billing schedule and script over the wire (issue 8 item 4), gurux-dlms as shipped
against a time-scaled meter process: a Single action schedule 0.0.15.0.0.255 reprogrammed with
gurux's own GXDLMSActionSchedule fires at its new time; execute on script table 0.0.10.0.1.255
captures the billing profile and increments the billing period counter; both survive a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support.process import meter_process

from .clients import MANAGEMENT, READER, SUCCESS, WRAPPER, Arg, Endpoint, GuruxDriver, Ref, parse_datetime
from .conftest import next_invocation_counter

pytestmark = pytest.mark.interop

CLOCK = Ref(8, "0.0.1.0.0.255", 2)
COUNTER = Ref(1, "1.0.0.1.0.255", 2)
LAST_BILLING = Ref(1, "1.0.0.1.2.255", 2)
BILLING = Ref(7, "0.0.98.1.0.255", 2)
SCHEDULE_TIMES = Ref(22, "0.0.15.0.0.255", 4)
EXECUTE = Ref(9, "0.0.10.0.1.255", 1)
LONG_UNSIGNED = 18
#: 10 simulated minutes per real second: the schedule's new time comes ~3 s after the SET.
SCALE = "600"
WAIT_S = 60.0


def billing(driver: GuruxDriver) -> tuple[int, list[datetime], datetime]:
    """(counter, billing profile capture times, last billing stamp), read by the reader."""
    rows = driver.get(BILLING).value
    return (int(driver.get(COUNTER).value), [parse_datetime(bytes(r[0])) for r in rows],
            parse_datetime(driver.get(LAST_BILLING).value))


@dataclass(frozen=True, slots=True)
class WireMeter:
    """A meter process reached over the wrapper (what next_invocation_counter asks of a meter)."""

    tcp: Endpoint

    def endpoint(self, framing: str) -> Endpoint:
        return self.tcp


@contextmanager
def serve(state: Path, *args: str) -> Iterator[WireMeter]:
    with meter_process(state, "--tcp", "127.0.0.1:0", "--history", "1h", *args) as process:
        yield WireMeter(Endpoint(WRAPPER, *process.address("tcp")))


def reader(meter: WireMeter) -> GuruxDriver:
    driver = GuruxDriver(meter.tcp, READER)
    driver.associate()
    return driver


def management(meter: WireMeter) -> GuruxDriver:
    driver = GuruxDriver(meter.tcp, MANAGEMENT, next_invocation_counter(meter, WRAPPER))  # type: ignore[arg-type]
    driver.associate()
    return driver


def test_schedule_reprogrammed_by_gurux_fires_and_execute_bills_both_kept(tmp_path: Path) -> None:
    from gurux_dlms import GXDateTime
    from gurux_dlms.objects import GXDLMSActionSchedule

    state = tmp_path / "state"
    with serve(state, "--time-scale", SCALE) as meter:
        m = management(meter)
        now = parse_datetime(m.get(CLOCK).value)
        target = (now + timedelta(minutes=31)).replace(second=0, microsecond=0)
        schedule = GXDLMSActionSchedule("0.0.15.0.0.255")
        # Local time (the profile's time zone is 0): gurux writes the fields as given.
        schedule.executionTime = [GXDateTime(target.replace(tzinfo=None))]
        assert m.write_object(schedule, 4) == SUCCESS
        m.release()
        r = reader(meter)
        counter, times, _ = billing(r)
        deadline = time.monotonic() + WAIT_S
        while billing(r)[0] == counter:
            assert time.monotonic() < deadline, "the reprogrammed schedule never fired"
            time.sleep(0.2)
        fired = billing(r)
        assert fired == (counter + 1, [*times, target], target)

        m = management(meter)
        assert m.action(EXECUTE, Arg(LONG_UNSIGNED, 1)).result == SUCCESS
        m.release()
        after = billing(r)
        assert after[0] == counter + 2 and after[1][:-1] == fired[1] and after[1][-1] > target
        programmed = r.get(SCHEDULE_TIMES).value
        r.release()

    with serve(state) as meter:
        r = reader(meter)
        assert billing(r) == after
        assert r.get(SCHEDULE_TIMES).value == programmed
        r.release()
