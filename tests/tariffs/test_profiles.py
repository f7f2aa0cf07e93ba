"""The calendars the bundled profiles ship (issue 9 item 7): the default profile's two seasons
with peak/shoulder/off-peak and holidays, and acesm-na.toml's Ontario-style TOU."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from device.helpers import fast_timebase, open_device

from meter.cosem.activity_calendar import ActivityCalendar

from .calendar_data import ACTIVITY_CALENDAR

UTC = dt.timezone.utc


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(("profile", "moments"), [
    ("acesm", [((2026, 1, 14, 8), 1), ((2026, 1, 14, 12), 2), ((2026, 1, 14, 23, 30), 3),
               ((2026, 1, 17, 12), 2), ((2026, 7, 15, 13), 1), ((2026, 7, 15, 9), 2),
               ((2026, 12, 25, 18), 2), ((2026, 5, 1, 13), 2)]),
    ("acesm-na", [((2026, 7, 15, 13), 1), ((2026, 7, 15, 8), 2), ((2026, 1, 14, 8), 1),
                  ((2026, 1, 14, 13), 2), ((2026, 1, 14, 20), 3), ((2026, 7, 1, 13), 3),
                  ((2026, 7, 18, 13), 3)]),
])
def test_bundled_calendars(tmp_path: Path, profile: str,
                           moments: list[tuple[tuple[int, ...], int]]) -> None:
    device = open_device(tmp_path, fast_timebase(utc(2026, 1, 1)), profile=profile)
    calendar = device.directory[ACTIVITY_CALENDAR]
    assert isinstance(calendar, ActivityCalendar)
    for when, script in moments:
        action = calendar.action_at(utc(*when), device.clock)
        assert action is not None and action.selector == script, (profile, when)
    device.close()
