"""Stopping a real meter process (issue 7 item 6): SIGTERM and SIGINT at the highest time scale
(READY) and in the middle of a long --history back-fill end the process within 2 s, with exit
code 0, no traceback, and a state a restart opens with the energy acknowledged before. A time
scale beyond the bound is refused with one line."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from support import LLS_SECRET, READER, SocketClient
from support.process import MeterProcess

from meter.codec.obis import Obis
from meter.timebase import MAX_SCALE

ENERGY = Obis.parse("1.0.1.8.0.255")
STOP_WITHIN_S = 2.0
SIGNALS = [signal.SIGTERM, signal.SIGINT]


def _energy(port: int) -> int:
    client = SocketClient("127.0.0.1", port, READER)
    try:
        client.associate(mechanism=1, secret=LLS_SECRET)
        value = client.get(3, ENERGY, 2)
        client.release()
    finally:
        client.close()
    return int(value.to_python())  # type: ignore[attr-defined]


def _assert_clean(code: int, took: float, meter: MeterProcess) -> None:
    assert code == 0, meter.log_text()
    assert took < STOP_WITHIN_S, f"{took:.2f} s"
    assert "Traceback" not in meter.log_text()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_stop_at_the_highest_scale_keeps_the_acknowledged_energy(tmp_path: Path, signum: int) -> None:
    args = ("--tcp", "127.0.0.1:0", "--start", "2026-01-01T00:00:00Z")
    meter = MeterProcess(tmp_path, *args, "--time-scale", f"{MAX_SCALE:g}")
    try:
        meter.wait_ready()
        acknowledged = _energy(meter.port())
        assert acknowledged > 0  # a simulated day per second: energy grows at once
        _assert_clean(*meter.stop(signum), meter)
    finally:
        meter.kill()
    again = MeterProcess(tmp_path, *args)
    try:
        again.wait_ready()
        assert _energy(again.port()) >= acknowledged
        _assert_clean(*again.stop(), again)
    finally:
        again.kill()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_stop_during_a_long_backfill(tmp_path: Path, signum: int) -> None:
    args = ("--tcp", "127.0.0.1:0", "--start", "2026-01-01T00:00:00Z")
    # minutes of work: stopped well before
    meter = MeterProcess(tmp_path, *args, "--history", "3650d")
    try:
        meter.wait_for_log("back-filling")
        _assert_clean(*meter.stop(signum), meter)
    finally:
        meter.kill()
    assert "back-fill stopped" in meter.log_text()
    # the state is consistent: the meter starts on it and serves
    again = MeterProcess(tmp_path, *args)
    try:
        again.wait_ready()
        assert _energy(again.port()) > 0  # what the back-fill committed before the signal
        _assert_clean(*again.stop(), again)
    finally:
        again.kill()


def test_a_scale_beyond_the_bound_is_refused_in_one_line(tmp_path: Path) -> None:
    meter = MeterProcess(tmp_path, "--tcp", "127.0.0.1:0", "--time-scale", "1e9")
    assert meter.finish() == 2
    lines = meter.log_text().splitlines()
    assert lines[-1].startswith("acesm-meter serve: error: argument --time-scale: at most 86400")
    assert not any(tmp_path.iterdir())  # refused before anything was written


@pytest.mark.parametrize("no_uvloop", ["1", "0"])
def test_the_meter_names_the_event_loop_it_runs(tmp_path: Path, no_uvloop: str) -> None:
    """tools/bench labels its figures by this line, not by what it hoped to run."""
    try:
        import uvloop  # noqa: F401
        expected = "asyncio" if no_uvloop == "1" else "uvloop"
    except ImportError:
        expected = "asyncio"
    meter = MeterProcess(tmp_path, "--tcp", "127.0.0.1:0",
                         env={"ACESM_NO_UVLOOP": no_uvloop})
    try:
        meter.wait_ready()
        meter.wait_for_log("event loop: ")
        _assert_clean(*meter.stop(), meter)
    finally:
        meter.kill()
    assert f"event loop: {expected}\n" in meter.log_text()
