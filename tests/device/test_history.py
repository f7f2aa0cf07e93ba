"""``--history`` on a state directory that already exists (issue 7 item 5): the meter back-fills
what it missed since it last ran, as if it had stayed powered, and its logs fill the way they
would have live (the scenario's sag in the PQ log, every load-profile capture, no power events)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import PROFILE, START, FakeTimebase, reader

from meter.codec.obis import Obis
from meter.device import Device

from .helpers import rows

DAY = 86400.0
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")
STANDARD_LOG = Obis.parse("0.0.99.98.0.255")
PQ_LOG = Obis.parse("0.0.99.98.4.255")
SAG, NORMAL = 76, 85  # IDIS PQ codes, phase L1 (cosem-reference.md §4.1)


def _profile(tmp_path: Path) -> Path:
    # Scenario times count from the meter's first day: a fresh 2-day history starts at
    # START - 2 d, so this sag falls one day after START, in the gap the second start fills.
    path = tmp_path / "sag.toml"
    path.write_text(f'extends = "{PROFILE}"\n[metrology.scenario]\n'
                    'events = [{ kind = "sag", phases = ["A"], start = 259200.0, duration = 0.5, '
                    'v_scale = 0.5 }]\n')
    return path


def _rows(device: Device, tb: FakeTimebase, obis: Obis) -> list[tuple[object, ...]]:
    return rows(reader(device, tb).get(7, obis, 2))


def test_history_on_an_existing_state_backfills_the_gap(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    profile, state = _profile(tmp_path), tmp_path / "state"
    tb = FakeTimebase(START, scale=3600.0)
    device = Device.open(profile, state, tb, history=2 * DAY)
    captured = len(_rows(device, tb, LOAD_PROFILE))
    assert _rows(device, tb, PQ_LOG) == []
    device.close()

    tb.t = START + 3 * DAY  # three days later, the README's command again with --history
    device = Device.open(profile, state, tb, history=30 * DAY)
    assert "back-fills only what it missed since it last ran" in caplog.text  # not 30 days
    try:
        profile_rows = _rows(device, tb, LOAD_PROFILE)
        assert len(profile_rows) == captured + 3 * 96  # every quarter hour of the gap
        assert profile_rows[-1][0] == START + 3 * DAY
        pq = [(round(float(t) - START), code) for t, code in _rows(device, tb, PQ_LOG)]  # type: ignore[arg-type]
        assert [code for _, code in pq] == [SAG, NORMAL]
        assert all(t == DAY for t, _ in pq)  # at the sag, not at the restart
        assert _rows(device, tb, STANDARD_LOG) == []  # it ran: no power-down/up
    finally:
        device.close()
