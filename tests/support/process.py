"""``acesm-meter serve`` as a real process, the way an operator runs it: its READY line, its
stderr collected as it comes, signals and exit codes."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

from support.paths import ROOT

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

