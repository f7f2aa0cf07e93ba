"""The management association (HLS-GMAC, every APDU authenticated and encrypted): SET of the clock
(Blue Book 4.5.1), ACTIONs on clock, profile and register, and the access limits of the reader."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .clients import INTEGER, LONG, MANAGEMENT, OCTET_STRING, READER, SUCCESS, Arg, Ref, encode_datetime, parse_datetime
from .conftest import Connect

pytestmark = pytest.mark.interop

CLOCK = Ref(8, "0.0.1.0.0.255", 2)
LOAD_PROFILE = "1.0.99.1.0.255"
LDN = Ref(1, "0.0.42.0.0.255", 2)
# Action-result codes (Green Book 9.4.6 Action-Result): anything in 0..250 is a clean answer.
ACTION_RESULTS = set(range(0, 14)) | {250}


def test_set_clock_and_read_back(connect: Connect) -> None:
    driver = connect(MANAGEMENT)
    now = parse_datetime(driver.get(CLOCK).value)
    target = (now + timedelta(seconds=30)).replace(microsecond=0)
    assert driver.set(CLOCK, Arg(OCTET_STRING, encode_datetime(target))) == SUCCESS
    back = parse_datetime(driver.get(CLOCK).value)
    assert timedelta(0) <= back - target <= timedelta(seconds=2), (target, back)
    driver.release()


def test_clock_shift_time_and_adjust_to_quarter(connect: Connect) -> None:
    driver = connect(MANAGEMENT)
    before = parse_datetime(driver.get(CLOCK).value)
    assert driver.action(Ref(8, "0.0.1.0.0.255", 6), Arg(LONG, 60)).result == SUCCESS
    after = parse_datetime(driver.get(CLOCK).value)
    assert timedelta(seconds=60) <= after - before <= timedelta(seconds=62), (before, after)
    assert driver.action(Ref(8, "0.0.1.0.0.255", 1), Arg(INTEGER, 0)).result == SUCCESS
    quarter = parse_datetime(driver.get(CLOCK).value)
    assert (quarter.minute % 15, quarter.second) in {(0, 0), (0, 1), (0, 2)}, quarter
    driver.release()


def test_profile_capture_adds_one_entry(connect: Connect) -> None:
    driver = connect(MANAGEMENT)
    before = driver.get(Ref(7, LOAD_PROFILE, 7)).value
    assert driver.action(Ref(7, LOAD_PROFILE, 2), Arg(INTEGER, 0)).result == SUCCESS
    assert driver.get(Ref(7, LOAD_PROFILE, 7)).value == before + 1
    driver.release()


def test_register_reset_answers_cleanly(connect: Connect) -> None:
    """Energy registers are not resettable on a real meter: any action-result is acceptable, but it
    must be an answer, and the association must survive it."""
    driver = connect(MANAGEMENT)
    outcome = driver.action(Ref(3, "1.0.1.8.0.255", 1), Arg(INTEGER, 0))
    assert outcome.result in ACTION_RESULTS
    assert driver.get(LDN).ok
    driver.release()


def test_reader_cannot_set_clock(connect: Connect) -> None:
    driver = connect(READER)
    now = parse_datetime(driver.get(CLOCK).value)
    assert driver.set(CLOCK, Arg(OCTET_STRING, encode_datetime(now))) != SUCCESS
    assert driver.get(LDN).ok
    driver.release()
