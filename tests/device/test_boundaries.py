"""The next capture boundary, which the scheduler keeps between requests (meter/device/
scheduler.py), follows a written capture period and a clock set back."""

from __future__ import annotations

from pathlib import Path

from support import START, Meter

from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis

from .helpers import rows

CLOCK = Obis.parse("0.0.1.0.0.255")
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")  # capture_period 900 in profiles/acesm.toml


def at(meter: Meter, seconds: float) -> None:
    meter.timebase.t = START + seconds


def _times(meter: Meter) -> list[float]:
    c = meter.reader()
    try:
        return [row[0] for row in rows(c.get(7, LOAD_PROFILE, 2))]
    finally:
        c.close()


def test_a_written_capture_period_takes_effect_at_once(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state")
    try:
        device = meter.device
        at(meter, 100)
        device.at(meter.timebase.t)
        assert device.next_deadline() == START + 900
        # What a SET of capture_period does: the object's set, then the request's persist
        # (the default profile lets no client write it).
        profile = device.directory[LOAD_PROFILE]
        profile.set(4, axdr.DoubleLongUnsigned(300), device.context(None))
        device.persistence.persist()
        assert device.next_deadline() == START + 300
        at(meter, 1000)
        assert _times(meter)[-3:] == [START + 300, START + 600, START + 900]
    finally:
        meter.close()


def test_captures_after_the_clock_is_set_back_fall_on_the_earlier_boundaries(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state")
    try:
        c = meter.management()
        at(meter, 1000)
        assert _times(meter)[-1] == START + 900
        back = CosemDateTime.from_datetime(CosemDateTime.from_bytes(
            c.get(8, CLOCK, 2).value).to_datetime().replace(minute=1, second=40), 0)  # type: ignore[attr-defined]
        assert c.set(8, CLOCK, 2, axdr.OctetString(back.to_bytes())) == 0  # meter time START + 100
        c.close()
        at(meter, 1900)  # meter time START + 1000: the boundary at START + 900 comes again
        assert _times(meter).count(START + 900) == 2
        assert meter.device.next_deadline() == START + 1900 + 800
    finally:
        meter.close()
