"""Issue 12 item 7: a ``serve --history`` back-fill shows its progress on a terminal (stderr a
tty) and writes none of it to a pipe or a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from support.paths import ROOT
from support.terminal import Terminal


def _serve(state: Path, stderr: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meter.cli", "serve", "--state", str(state), "--tcp",
         "127.0.0.1:0", "--start", "2026-03-01T00:00:00Z", "--history", "10d"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("READY")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    proc.stdout.close()


def test_history_progress_on_a_terminal_only(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as log:
        _serve(tmp_path / "quiet", log.fileno())
    assert "back-filling" in (tmp_path / "log").read_text()  # the log itself is there
    assert "history back-fill:" not in (tmp_path / "log").read_text()
    with Terminal() as terminal:
        _serve(tmp_path / "shown", terminal.fd)
    text = terminal.text
    assert b"\rhistory back-fill: 100% " in text
    assert b"\rhistory back-fill:  10% " in text  # one step per day of the ten
