"""Schedule (class 10) entries and the Special days table in a whole meter: on a date the table
lists, exec_specdays decides (bit n for day_id n) and exec_weekdays does not; on other dates the
weekdays do. The entries run the end-of-billing script, so each run is a billing profile row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from device.helpers import BILLING, fast_timebase, open_device, rows

from meter.codec import axdr
from meter.codec.axdr import LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.device import Device

from .calendar_data import SPECIAL_DAYS

UTC = dt.timezone.utc
SCHEDULE = Obis.parse("0.0.12.0.0.255")
END_OF_BILLING_SCRIPTS = Obis.parse("0.0.10.0.1.255")


def billing_rows(device: Device) -> list[tuple[object, ...]]:
    buffer = device.directory[BILLING].get(2, device.context(None))
    return rows(axdr.decode(buffer.to_bytes()))  # the encoded rows, as a client reads them


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def entry(index: int, hour: int, weekdays: str, specdays: str) -> Structure:
    return Structure((LongUnsigned(index), axdr.Boolean(True), OctetString(END_OF_BILLING_SCRIPTS.to_bytes()),
                      LongUnsigned(1), OctetString(bytes([hour, 0, 0, 0])), LongUnsigned(0xFFFF),
                      axdr.BitString.from_bits(weekdays), axdr.BitString.from_bits(specdays.ljust(50, "0")),
                      OctetString(bytes.fromhex("FFFFFFFFFF")), OctetString(bytes.fromhex("FFFFFFFFFF"))))


def test_special_days_run_the_entries_of_their_day_id_not_the_weekdays(tmp_path: Path) -> None:
    timebase = fast_timebase(utc(2026, 1, 14, 0, 30))  # Wednesday
    device = open_device(tmp_path, timebase)
    device.at(timebase.t)
    ctx = device.context(None)
    # Thursday 15 January 2026 a special day of day_id 5.
    device.directory[SPECIAL_DAYS].action(1, Structure((
        LongUnsigned(10), OctetString(bytes.fromhex("07EA010FFF")), axdr.Unsigned(5))), ctx)
    schedule = device.directory[SCHEDULE]
    schedule.action(2, entry(1, 12, "0000000", "000001"), ctx)  # day_id 5 only, 12:00
    schedule.action(2, entry(2, 13, "1111111", ""), ctx)  # every weekday, 13:00
    schedule.action(2, entry(3, 14, "1111111", "0001"), ctx)  # day_id 3 only on special days
    device.commit()
    before = len(billing_rows(device))
    timebase.t = utc(2026, 1, 17)
    device.tick(timebase.t)
    clock = device.directory.clock
    stamps = [r[0] for r in billing_rows(device)][before:]

    def local(day: int, hour: int) -> float:
        wall = utc(2026, 1, day, hour)
        return wall - 60 * clock.local_offset(wall)

    # Entry 2 on the 14th and 16th, not on the special 15th; entry 1 only on the 15th; entry 3
    # neither (the 15th has day_id 5) nor on weekdays (not a special day: its weekdays run).
    assert stamps == [local(14, 13), local(14, 14), local(15, 12), local(16, 13), local(16, 14)]
    device.close()
