"""The daily profile 1.0.99.2.0.255 (issue 9 item 4): a snapshot of the energy registers, total
and per rate, at each midnight of the meter's local time, DST included: under CET/CEST the
spring-forward day's row is 23 hours of energy after the one before, the fall-back day's 25."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from device.helpers import POWER_W, fast_timebase, open_device, rows

from meter.codec import axdr
from meter.codec.axdr import Boolean, Long
from meter.codec.obis import Obis
from meter.device import Device

UTC = dt.timezone.utc
DAILY = Obis.parse("1.0.99.2.0.255")


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def cet(device: Device) -> None:
    """Central European time: UTC+1, summer time from the last Sunday of March (the clock's
    default EU rules)."""
    ctx = device.context(None)
    device.clock.set(3, Long(-60), ctx)  # Blue Book sign: UTC - local
    device.clock.set(8, Boolean(True), ctx)
    device.commit()


def daily_rows(device: Device) -> list[tuple[object, ...]]:
    buffer = device.directory[DAILY].get(2, device.context(None))
    return rows(axdr.decode(buffer.to_bytes()))  # the encoded rows, as a client reads them


@pytest.mark.parametrize(("start", "until", "midnights", "hours"), [
    # Friday 27 March 2026 to Tuesday 31: CEST from Sunday 29 01:00 UTC.
    (utc(2026, 3, 27, 12), utc(2026, 3, 31, 1),
     [utc(2026, 3, 27, 23), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), utc(2026, 3, 30, 22)], [24, 23, 24]),
    # Saturday 24 October 2026 to Tuesday 27: CET again from Sunday 25 01:00 UTC.
    (utc(2026, 10, 23, 12), utc(2026, 10, 27, 1),
     [utc(2026, 10, 23, 22), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), utc(2026, 10, 26, 23)], [24, 25, 24]),
])
def test_a_row_at_each_local_midnight_across_dst(tmp_path: Path, start: float, until: float,
                                                  midnights: list[float], hours: list[int]) -> None:
    timebase = fast_timebase(start)
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    cet(device)
    timebase.t = until
    device.tick(timebase.t)
    got = daily_rows(device)
    assert [r[0] for r in got] == midnights
    for row in got:
        total, _, _, _, *rates = row[1:]
        assert total == pytest.approx(sum(rates[0::4]), abs=3)  # +A rates add up to +A
    totals = [r[1] for r in got]
    grown = [b - a for a, b in zip(totals, totals[1:])]  # type: ignore[operator]
    assert grown == pytest.approx([h * POWER_W for h in hours], abs=3)
    device.close()
