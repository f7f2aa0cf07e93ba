"""What the server acknowledged survives a Device close/reopen (stack.py commits before every
response): clock shift, NA-01 algorithm selection, and the server's invocation counter."""

from __future__ import annotations

from support import START, Meter

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import DataAccessResult

from .harness import CLOCK
from .test_services import clock_seconds

ALGORITHMS = [Obis.parse(f"1.0.0.11.{e}.255") for e in range(1, 8)]


def test_shift_time_survives_reopen(meter: Meter) -> None:
    c = meter.management()
    assert c.action(8, CLOCK, 6, axdr.Long(900)) is None
    meter.timebase.t += 10
    meter.reopen()
    assert abs(clock_seconds(meter.public()) - (START + 10 + 900)) < 3


def test_algorithms_survive_reopen(meter: Meter) -> None:
    c = meter.management()
    chosen = {ALGORITHMS[0]: 2, ALGORITHMS[2]: 3, ALGORITHMS[4]: 7, ALGORITHMS[6]: 1}
    for obis, value in chosen.items():
        assert c.set(1, obis, 2, axdr.Enum(value)) == DataAccessResult.SUCCESS
    assert c.set(1, ALGORITHMS[1], 2, axdr.Enum(99)) != DataAccessResult.SUCCESS
    meter.reopen()
    r = meter.reader()
    for obis, value in chosen.items():
        assert r.get(1, obis, 2) == axdr.Enum(value)
    assert r.get(1, ALGORITHMS[1], 2) == axdr.Enum(4)  # the profile's default, untouched


def test_server_invocation_counter_above_all_before(meter: Meter) -> None:
    c = meter.management()
    for _ in range(3):
        c.get(8, CLOCK, 2)
    sent_before = max(c.server_ics)
    client_ic = c.keys.invocation_counter if c.keys else 0
    meter.reopen()
    assert meter.next_ic() == client_ic  # the client's counter persisted too
    d = meter.management()
    d.get(8, CLOCK, 2)
    assert d.server_ics and min(d.server_ics) > sent_before
