"""Repeated log records are rate-limited (issue 7 item 9: 1 million accept() records in 2 min)."""

from __future__ import annotations

import logging

from meter.transport.logfilter import RepeatFilter


class _Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def _record(msg: str, level: int = logging.ERROR, *args: object) -> logging.LogRecord:
    return logging.LogRecord("asyncio", level, __file__, 1, msg, args, None)


def test_a_flood_passes_a_burst_per_window_then_says_how_many_were_left_out() -> None:
    clock = _Clock()
    f = RepeatFilter(burst=3, window=10.0, clock=clock)
    passed = [f.filter(_record("socket.accept() out of system resource")) for _ in range(1000)]
    assert sum(passed) == 3
    # Another message, or the same one from another logger or level, has its own allowance.
    assert f.filter(_record("other"))
    assert f.filter(_record("socket.accept() out of system resource", logging.WARNING))
    clock.t = 10.0
    again = _record("socket.accept() out of system resource")
    assert f.filter(again)
    assert again.getMessage().endswith("[997 similar record(s) left out]")


def test_records_differing_only_in_their_arguments_are_one_group() -> None:
    f = RepeatFilter(burst=2, clock=_Clock())
    assert [f.filter(_record("tcp %s: connected", logging.INFO, i)) for i in range(4)] == [
        True, True, False, False]


def test_debug_records_always_pass() -> None:
    f = RepeatFilter(burst=1, clock=_Clock())
    assert all(f.filter(_record("APDU %s", logging.DEBUG, i)) for i in range(100))
