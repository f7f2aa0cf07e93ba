"""Calendars as a head end writes them (A-XDR values of the Activity calendar's attributes)."""

from __future__ import annotations

from meter.codec.axdr import Array, LongUnsigned, OctetString, Structure, Unsigned
from meter.codec.obis import Obis

# The tariff objects of the default profile (use case 13).
ACTIVITY_CALENDAR = Obis.parse("0.0.13.0.0.255")
SPECIAL_DAYS = Obis.parse("0.0.11.0.0.255")
REGISTER_ACTIVATION = Obis.parse("0.0.14.0.0.255")
TARIFF_SCRIPTS = Obis.parse("0.0.10.0.100.255")
ACTIVE_TARIFF = Obis.parse("0.0.96.14.0.255")


def season(name: str, start_date: str, week: str) -> Structure:
    """``start_date`` in hex, 5 bytes (FFFF: every year); the season starts at 00:00."""
    start = bytes.fromhex(start_date) + bytes.fromhex("00000000") + bytes.fromhex("8000FF")
    return Structure((OctetString(name.encode()), OctetString(start), OctetString(week.encode())))


def week(name: str, *days: int) -> Structure:
    return Structure((OctetString(name.encode()), *(Unsigned(d) for d in days)))


def day(day_id: int, *actions: tuple[int, int, int]) -> Structure:
    """actions: (hour, minute, tariff script id)."""
    return Structure((Unsigned(day_id), Array(tuple(Structure((
        OctetString(bytes([h, m, 0, 0])), OctetString(TARIFF_SCRIPTS.to_bytes()), LongUnsigned(s)))
        for h, m, s in actions))))


#: Two seasons, two weeks, three days (the shape the issue's wire test writes).
SEASONS = Array((season("winter", "FFFF0A01FF", "wk-winter"), season("summer", "FFFF0401FF", "wk-summer")))
WEEKS = Array((week("wk-winter", 1, 1, 1, 1, 1, 2, 2), week("wk-summer", 3, 3, 3, 3, 3, 2, 2)))
DAYS = Array((day(1, (0, 0, 3), (7, 0, 1), (20, 0, 3)),
              day(2, (0, 0, 3), (9, 30, 2), (18, 0, 3)),
              day(3, (0, 0, 2), (12, 0, 1), (16, 0, 2))))
