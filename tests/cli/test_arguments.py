"""Bad command-line input is refused with one line naming the option, before anything is
written (issue 7 item 7): times a COSEM date-time or the meter's certificates cannot hold, a
duration without its unit, a time scale beyond the bound."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.process import MeterProcess

from meter import cli


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["serve", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("start", ["9999-12-31T23:59:59", "1900-01-01", "0001-01-01T00:00+01:00",
                                   "9990-01-01"])
def test_a_start_the_meter_cannot_live_at_is_refused(capsys: pytest.CaptureFixture[str],
                                                      start: str) -> None:
    line = _refused(capsys, "--start", start)
    assert line.startswith("acesm-meter serve: error: argument --start:")
    assert "1950-01-02 to 9979-12-15" in line


@pytest.mark.parametrize("start", ["1950-01-02T00:00:00", "2026-01-01", "9979-12-15T00:00:00Z"])
def test_starts_inside_the_range_are_taken(start: str) -> None:
    assert cli.build_parser().parse_args(["serve", "--start", start]).start is not None


@pytest.mark.parametrize("history", ["90", "1.5", "90 days", "d"])
def test_a_duration_needs_its_unit(capsys: pytest.CaptureFixture[str], history: str) -> None:
    line = _refused(capsys, "--history", history)
    assert "argument --history: bad duration" in line and "90d" in line


@pytest.mark.parametrize("scale", ["1e9", "86401", "inf", "nan", "0", "-1"])
def test_a_scale_outside_the_bound_is_refused(capsys: pytest.CaptureFixture[str], scale: str) -> None:
    assert "argument --time-scale:" in _refused(capsys, "--time-scale", scale)


def test_a_history_reaching_before_1950_is_refused_before_any_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    meter = MeterProcess(state, "--tcp", "127.0.0.1:0",
                         "--start", "1950-01-03", "--history", "3d")
    assert meter.finish() == 1
    assert meter.log_text().splitlines() == [
        "acesm-meter: error: --history reaches back before 1950-01-02, "
        "the earliest time the meter can live at"]
    assert not state.exists()
