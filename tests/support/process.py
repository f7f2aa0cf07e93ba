"""A meter started as a head-end tester starts it (``python -m meter.cli serve ...``), reached
only through what its READY line names; its log goes to a file whose size tests can watch, and
its RSS and open descriptors are read from /proc."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from support.paths import PROFILE, ROOT

__all__ = ["MeterProcess", "meter_process", "profile_with"]

START_TIMEOUT = 30.0
_FIELD = re.compile(r"(\w+)=(\S+)")


class MeterProcess:
    def __init__(self, proc: subprocess.Popen[str], ready: dict[str, str], log: Path) -> None:
        self.proc = proc
        self.ready = ready
        self.log = log

    def address(self, medium: str = "tcp") -> tuple[str, int]:
        host, _, port = self.ready[medium].rpartition(":")
        return host, int(port)

    def rss(self) -> int:
        """Resident set size in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def profile_with(tmp: Path, text: str, base: Path = PROFILE) -> Path:
    """A profile file extending ``base`` with ``text`` (TOML tables) added."""
    path = tmp / "profile.toml"
    path.write_text(f'extends = "{base}"\n{text}')
    return path


@contextmanager
def meter_process(state: Path, *args: str, env: dict[str, str] | None = None,
                  preexec_fn: Callable[[], None] | None = None,
                  start: str = "2026-01-01T00:00:00Z") -> Iterator[MeterProcess]:
    """Serve with ``args`` (e.g. "--tcp", "127.0.0.1:0"); stopped with SIGTERM afterwards."""
    state.mkdir(parents=True, exist_ok=True)
    log = state.parent / f"{state.name}.log"
    command: Sequence[str] = [sys.executable, "-m", "meter.cli", "serve", "--state", str(state),
                              "--start", start, *args]
    with log.open("w") as sink:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=sink, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            preexec_fn=preexec_fn)  # noqa: PLW1509 - callers only set rlimits there
    lines: list[str] = []

    def read_ready() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("READY"):
                return

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    try:
        if not lines or not lines[-1].startswith("READY"):
            raise AssertionError(f"meter did not start: {lines!r}\n{log.read_text()[-3000:]}")
        yield MeterProcess(proc, dict(_FIELD.findall(lines[-1])), log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
