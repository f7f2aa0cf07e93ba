"""A meter as a real process, started the way an operator or a head-end tester starts it
(``python -m meter.cli serve ...``) and reached only through what its READY line names.

Its stderr (the log) goes to a file, by default beside the state directory (so a test can check
that a refused start wrote nothing into the state), appended to when a meter restarts on it; tests
watch its size and text. RSS and open descriptors are read from /proc.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from support.paths import PROFILE, ROOT

__all__ = ["MeterProcess", "meter_process", "profile_with"]

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_FIELD = re.compile(r"(\w+)=(\S+)")


class MeterProcess:
    """``python -m meter.cli serve --state STATE ARGS``; ``wait_ready`` before talking to it."""

    def __init__(self, state: Path, *args: str, log: Path | None = None,
                 env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self.log = log if log is not None else state.with_name(f"{state.name}.log")
        self.ready: dict[str, str] = {}
        self.line = ""  # the READY line
        with self.log.open("a") as sink:
            self._from = sink.tell()  # this process's part of a log shared across restarts
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "meter.cli", "serve", "--state", str(state), *args],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=sink, text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                preexec_fn=preexec_fn)  # noqa: PLW1509 - callers only set rlimits there

    def wait_ready(self, timeout: float = START_TIMEOUT) -> dict[str, str]:
        """The fields of the READY line (medium=address); the process is killed if none comes."""
        lines: list[str] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                if line.startswith("READY"):
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[-1].startswith("READY"):
            self.kill()
            raise AssertionError(f"meter did not print READY within {timeout} s "
                                 f"(exit {self.proc.returncode}): {lines!r}\n"
                                 f"{self.log_text()[-4000:]}")
        self.line = lines[-1].strip()
        self.ready = dict(_FIELD.findall(self.line))
        return self.ready

    def address(self, medium: str = "tcp") -> tuple[str, int]:
        host, _, port = self.ready[medium].rpartition(":")
        return host, int(port)

    def port(self, medium: str = "tcp") -> int:
        return self.address(medium)[1]

    def rss(self) -> int:
        """Resident set size in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def wait_fds(self, at_most: int, timeout: float) -> None:
        """Until the process holds at most ``at_most`` descriptors, or ``timeout`` s passed."""
        deadline = time.monotonic() + timeout
        while self.fds() > at_most and time.monotonic() < deadline:
            time.sleep(0.05)

    def log_text(self) -> str:
        """What this process wrote to stderr so far."""
        with self.log.open("rb") as f:
            f.seek(self._from)
            return f.read().decode(errors="replace")

    def wait_for_log(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log_text()
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM,
             timeout: float = STOP_TIMEOUT) -> tuple[int, float]:
        """Send ``signum``; the exit code and the seconds the process took to exit."""
        t0 = time.monotonic()
        self.proc.send_signal(signum)
        code = self._exit_code(timeout, f"signal {signum}")
        return code, time.monotonic() - t0

    def finish(self, timeout: float = START_TIMEOUT) -> int:
        """The exit code of a process that ends by itself (a refused start)."""
        return self._exit_code(timeout, "start")

    def kill(self) -> None:
        """SIGKILL: nothing runs on the way down."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)
        self._close_stdout()

    def close(self) -> None:
        """SIGTERM if still running (SIGKILL if that does not end it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def _exit_code(self, timeout: float, since: str) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running {timeout} s after {since}\n{self.log_text()}") \
                from None
        self._close_stdout()
        return code

    def _close_stdout(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def profile_with(tmp: Path, text: str, base: Path = PROFILE) -> Path:
    """A profile file extending ``base`` with ``text`` (TOML tables) added."""
    path = tmp / "profile.toml"
    path.write_text(f'extends = "{base}"\n{text}')
    return path


@contextmanager
def meter_process(state: Path, *args: str, env: dict[str, str] | None = None,
                  preexec_fn: Callable[[], None] | None = None,
                  start: str = "2026-01-01T00:00:00Z") -> Iterator[MeterProcess]:
    """Serve with ``args`` (e.g. "--tcp", "127.0.0.1:0") once READY; stopped with SIGTERM
    afterwards."""
    state.mkdir(parents=True, exist_ok=True)
    meter = MeterProcess(state, "--start", start, *args, env=env, preexec_fn=preexec_fn)
    try:
        meter.wait_ready()
        yield meter
    finally:
        meter.close()
