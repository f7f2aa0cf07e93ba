"""One instance per OBIS code where it matters (meter/codec/obis.py _KNOWN): the code's first
instance (meter/cosem/names.py's constants, made at import) is what parsing a profile and
decoding the wire give back, so a named code finds its object in a directory on identity."""

from __future__ import annotations

from meter.codec.obis import Obis
from meter.cosem.names import CLOCK, COMMUNICATION_LOG, last_event_code


def test_named_codes_are_the_parsed_and_decoded_ones() -> None:
    assert Obis.parse("0.0.1.0.0.255") is CLOCK
    assert Obis.parse("0-0:1.0.0") is CLOCK
    assert Obis.from_bytes(CLOCK.to_bytes()) is CLOCK
    assert Obis.from_bytes(COMMUNICATION_LOG.to_bytes()) is COMMUNICATION_LOG


def test_last_event_code_is_made_once() -> None:
    """(Whether it is the directory's instance depends on the known table's room when it was
    first asked: a long test session fills it with generated codes, a meter does not.)"""
    name = last_event_code(COMMUNICATION_LOG)
    assert name == Obis(0, 0, 96, 11, 5, 255) and name is last_event_code(COMMUNICATION_LOG)


def test_a_later_equal_instance_is_still_equal() -> None:
    again = Obis(0, 0, 1, 0, 0, 255)
    assert again == CLOCK and hash(again) == hash(CLOCK) and {CLOCK: 1}[again] == 1
