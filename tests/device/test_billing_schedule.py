"""Billing from the end-of-billing schedule 0.0.15.0.0.255 and script 0.0.10.0.1.255 (issue 8
item 4): cut on the meter's local time, run on demand by a head end's execute, reprogrammed over
the wire, exactly once per scheduled time across clock shifts, and kept across restarts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import ClientError, FakeTimebase, Meter
from support.process import profile_with

from meter.codec import axdr
from meter.codec.cosem_time import CosemDate, CosemDateTime, CosemTime
from meter.codec.obis import Obis

from .helpers import BILLING, BILLING_COUNTER, CLOCK, rows, timestamp

SCRIPT = Obis.parse("0.0.10.0.1.255")
SCHEDULE = Obis.parse("0.0.15.0.0.255")
LAST_BILLING = Obis.parse("1.0.0.1.2.255")
HOUR = 3600.0
UTC = timezone.utc


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def billing_state(meter: Meter) -> tuple[int, list[float], float | None]:
    """(billing counter, capture times of the billing profile, last billing stamp) as UTC s."""
    r = meter.reader()
    counter = r.get(1, BILLING_COUNTER, 2)
    assert isinstance(counter, axdr.Unsigned)
    stamp = r.get(1, LAST_BILLING, 2)
    assert isinstance(stamp, axdr.OctetString)
    stamped = CosemDateTime.from_bytes(stamp.value)
    return (counter.value, [row[0] for row in rows(r.get(7, BILLING, 2))],  # type: ignore[misc]
            timestamp(stamp) if stamped.is_fully_specified() else None)


def execution_time(*entries: tuple[CosemTime, CosemDate]) -> axdr.Array:
    return axdr.Array(tuple(axdr.Structure((axdr.OctetString(t.to_bytes()), axdr.OctetString(d.to_bytes())))
                            for t, d in entries))


def at(moment: datetime) -> tuple[CosemTime, CosemDate]:
    """A fully specified execution_time entry (local time)."""
    return (CosemTime(moment.hour, moment.minute, moment.second, 0),
            CosemDate(moment.year, moment.month, moment.day, None))


def test_the_billing_month_is_cut_on_local_time(tmp_path: Path) -> None:
    """UTC+1 (time_zone -60): the month starts at 23:00 UTC the day before, not at 00:00 UTC."""
    profile = profile_with(tmp_path, "[meter]\ntime_zone = -60\n")
    tb = FakeTimebase(utc(2026, 2, 2), scale=3600.0)
    meter = Meter(tmp_path / "state", profile, timebase=tb, history=3 * 86400)
    cut = utc(2026, 1, 31, 23)
    assert billing_state(meter) == (1, [cut], cut)
    meter.close()


def test_execute_closes_a_billing_period_on_demand(tmp_path: Path) -> None:
    tb = FakeTimebase(utc(2026, 1, 10), scale=3600.0)
    meter = Meter(tmp_path / "state", timebase=tb)
    assert billing_state(meter) == (0, [], None)
    with pytest.raises(ClientError):  # the reader may read the script table, not execute it
        meter.reader().action(9, SCRIPT, 1, axdr.LongUnsigned(1))
    tb.t += 100.0
    assert meter.management().action_result(SCRIPT, 1, axdr.LongUnsigned(1), class_id=9) == (0, None)
    assert billing_state(meter) == (1, [tb.t], tb.t)
    meter.restart()
    assert billing_state(meter) == (1, [tb.t - 60], tb.t - 60)
    meter.close()


def test_a_reprogrammed_schedule_fires_at_its_new_time_and_survives_a_restart(tmp_path: Path) -> None:
    tb = FakeTimebase(utc(2026, 1, 10), scale=3600.0)
    meter = Meter(tmp_path / "state", timebase=tb)
    new_time = execution_time(at(datetime(2026, 1, 10, 5, 30)))
    assert meter.management().set(22, SCHEDULE, 4, new_time) == 0
    meter.reopen()  # the program is kept
    assert meter.reader().get(22, SCHEDULE, 4) == new_time
    tb.t += 5 * HOUR
    assert billing_state(meter) == (0, [], None)
    tb.t += HOUR
    assert billing_state(meter) == (1, [utc(2026, 1, 10, 5, 30)], utc(2026, 1, 10, 5, 30))
    meter.restart()
    tb.t = utc(2026, 2, 2)  # no longer monthly: Feb 1 passes without a billing
    assert billing_state(meter)[:2] == (1, [utc(2026, 1, 10, 5, 30)])
    meter.close()


def set_clock(meter: Meter, moment: float) -> None:
    value = axdr.OctetString(CosemDateTime.from_datetime(datetime.fromtimestamp(moment, UTC)).to_bytes())
    assert meter.management().set(8, CLOCK, 2, value) == 0


def test_clock_shifts_fire_each_scheduled_time_once(tmp_path: Path) -> None:
    """Daily at 12:00: a time passed again after the clock was set back does not fire again;
    times jumped over by setting the clock forward fire once."""
    tb = FakeTimebase(utc(2026, 1, 10, 11), scale=3600.0)
    meter = Meter(tmp_path / "state", timebase=tb)
    daily = execution_time((CosemTime(12, 0, 0, 0), CosemDate(None, None, None, None)))
    assert meter.management().set(22, SCHEDULE, 4, daily) == 0
    tb.t += 2 * HOUR  # 13:00
    assert billing_state(meter)[:2] == (1, [utc(2026, 1, 10, 12)])
    set_clock(meter, utc(2026, 1, 10, 11, 30))
    tb.t += 2 * HOUR  # meter clock 13:30 again
    assert billing_state(meter)[0] == 1
    set_clock(meter, utc(2026, 1, 13, 13))  # jumps over Jan 11, 12 and 13 noon
    assert billing_state(meter)[0] == 2
    tb.t += 24 * HOUR
    counter, times, _ = billing_state(meter)
    assert counter == 3 and times[-1] == utc(2026, 1, 14, 12)
    meter.close()


def test_a_schedule_entry_inserted_by_the_head_end_runs_its_script(tmp_path: Path) -> None:
    """Schedule 0.0.12.0.0.255: insert an entry (weekdays 06:00 -> script 1 of the billing
    script table); set on a Friday after 06:00, it next runs on Monday (not over the weekend),
    kept across a restart."""
    tb = FakeTimebase(utc(2026, 1, 9, 7), scale=3600.0)  # Friday 07:00
    meter = Meter(tmp_path / "state", timebase=tb)
    entry = axdr.Structure((
        axdr.LongUnsigned(1), axdr.Boolean(True), axdr.OctetString(SCRIPT.to_bytes()), axdr.LongUnsigned(1),
        axdr.OctetString(CosemTime(6, 0, 0, 0).to_bytes()), axdr.LongUnsigned(0xFFFF),
        axdr.BitString.from_bits("1111100"), axdr.BitString.from_bits("0" * 50),
        axdr.OctetString(bytes.fromhex("FFFFFFFFFF")), axdr.OctetString(bytes.fromhex("FFFFFFFFFF"))))
    assert meter.management().action_result(Obis.parse("0.0.12.0.0.255"), 2, entry, class_id=10) == (0, None)
    meter.restart()
    tb.t = utc(2026, 1, 12, 7)  # Monday 07:00
    counter, times, _ = billing_state(meter)
    assert counter == 1 and times == [utc(2026, 1, 12, 6)]
    meter.close()


def test_a_time_zone_written_by_the_head_end_moves_the_next_billing(tmp_path: Path) -> None:
    tb = FakeTimebase(utc(2026, 1, 31, 12), scale=3600.0)
    meter = Meter(tmp_path / "state", timebase=tb)
    tb.t += HOUR
    assert billing_state(meter)[0] == 0  # the schedule is planned for 00:00 UTC now
    assert meter.management().set(8, CLOCK, 3, axdr.Long(-120)) == 0  # UTC+2
    tb.t = utc(2026, 1, 31, 22, 30)
    assert billing_state(meter)[:2] == (1, [utc(2026, 1, 31, 22)])
    meter.close()
