"""A meter as a real process, started the way an operator or a head-end tester starts it
(``python -m meter.cli serve ...``).

``meter_process``: reached only through what its READY line names; its log goes to a file whose
size tests can watch, and its RSS and open descriptors are read from /proc.
``ServeProcess``: its READY line, its stderr collected as it comes, signals and exit codes.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from support.paths import PROFILE, ROOT

__all__ = ["MeterProcess", "ServeProcess", "meter_process", "profile_with"]

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


READY = re.compile(r"READY tcp=([\d.]+):(\d+)")


class ServeProcess:
    """``python -m meter.cli serve ARGS`` (stdout: the READY line; stderr: the log)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meter.cli", "serve", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        self.stderr: list[str] = []
        assert self.proc.stderr is not None
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def ready(self, timeout: float = 60.0) -> int:
        """The TCP port of the READY line."""
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else ""
        match = READY.search(line)
        assert match is not None, f"no READY: {line!r}\n{self.log()}"
        return int(match[2])

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.stderr):
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log()
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, float]:
        """Send ``signum``; the exit code and the seconds the process took to exit."""
        t0 = time.monotonic()
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running {timeout} s after signal {signum}\n{self.log()}") \
                from None
        took = time.monotonic() - t0
        self._drain.join(5)
        return code, took

    def finish(self, timeout: float = 60.0) -> int:
        """The exit code of a process that ends by itself (a refused start)."""
        code = self.proc.wait(timeout)
        self._drain.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return "".join(self.stderr)

