"""A history back-fill with the tariff objects (issue 8 start-up defect): the schedules' next
times are planned again only for the schedule that ran or was changed, so the 15-minute push
scheduler no longer has every other schedule re-planned 96 times a day; the registers come out
as before the change (main's figures, taken at 468d774 on the same 30 days)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from device.helpers import BILLING, LOAD_PROFILE, fast_timebase, open_device

from meter.codec import axdr
from meter.codec.axdr import RawArray
from meter.codec.obis import Obis
from meter.cosem.single_action_schedule import SingleActionSchedule
from meter.device import Device

DAY = 86400.0
END_OF_BILLING = Obis.parse("0.0.15.0.0.255")
#: What main computed for a 30-day back-fill up to 2026-01-01 00:00 UTC (tests/support START).
MAIN_30D = {
    "1.0.1.8.0.255": 2359799, "1.0.1.8.1.255": 524399, "1.0.1.8.2.255": 983249,
    "1.0.1.8.3.255": 852150, "1.0.3.8.0.255": 775628, "1.0.3.8.1.255": 172361,
    "1.0.3.8.2.255": 323178, "1.0.3.8.3.255": 280088, "1.0.0.1.0.255": 1,
    "0.0.96.14.0.255": 3,
}


def read(device: Device, obis: str, index: int = 2) -> axdr.Data:
    return device.directory[Obis.parse(obis)].get(index, device.context(None))


@pytest.fixture
def hang_cap() -> Iterator[None]:
    """A cap against a hang (the reverted plan cache ran one schedule forever), not a speed
    target: the back-fill takes about a second."""
    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError("the back-fill did not finish")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_a_30_day_backfill_finishes_with_mains_registers(tmp_path: Path, hang_cap: None) -> None:
    device = open_device(tmp_path / "state", fast_timebase(), history=30 * DAY)
    try:
        for obis, expected in MAIN_30D.items():
            value = read(device, obis)
            assert value.to_python() == expected, obis
        for obis, count in ((LOAD_PROFILE, 2880), (BILLING, 1)):  # main's row counts
            buffer = device.directory[obis].get(2, device.context(None))
            assert isinstance(buffer, RawArray)
            assert len(buffer.elements) == count, obis
    finally:
        device.close()


def test_a_schedule_is_planned_again_only_when_it_ran_or_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hang_cap: None) -> None:
    plans: list[Obis] = []
    original = SingleActionSchedule.next_after

    def counted(self: SingleActionSchedule, after: float, clock: object) -> float | None:
        plans.append(self.logical_name)
        return original(self, after, clock)  # type: ignore[arg-type]

    monkeypatch.setattr(SingleActionSchedule, "next_after", counted)
    device = open_device(tmp_path / "state", fast_timebase(), history=10 * DAY)
    device.close()
    # The push scheduler runs 960 times in 10 days; the end-of-billing schedule runs once
    # (plus a plan at start and one per chunk commit that wrote it): before, it was planned
    # after every run of any schedule.
    assert plans.count(END_OF_BILLING) < 30, plans.count(END_OF_BILLING)
