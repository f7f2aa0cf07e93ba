"""SIGKILL a process allocating invocation counters; no value may ever be handed out twice.

The child writes every value to stdout (unbuffered, one write per value) *before* it would use
it, so everything the parent reads counts as used. After each kill the next run's values must
all be above every value any killed run printed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from meter.persistence.counters import InvocationCounter
from meter.persistence.store import Store

CHILD = """
import os, sys
from meter.persistence.counters import InvocationCounter
from meter.persistence.store import Store
ic = InvocationCounter(Store.open(sys.argv[1]), "ic/tx", block=int(sys.argv[2]))
while True:
    os.write(1, b"%d\\n" % ic.next())
"""

ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(state_dir: Path, block: int, delay: float) -> list[int]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state_dir), str(block)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    stdout = child.stdout
    assert stdout is not None
    chunks: list[bytes] = []
    started = threading.Event()

    def drain() -> None:  # so the child never blocks on a full pipe
        for chunk in iter(lambda: stdout.read1(65536), b""):
            chunks.append(chunk)
            started.set()

    reader = threading.Thread(target=drain)
    reader.start()
    # The kill lands ``delay`` after the child's first value, not after its start: interpreter
    # start-up alone can take longer than the delay on a loaded machine.
    started.wait(60)
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    reader.join()
    stdout.close()
    # A write of a few bytes to a pipe is atomic, so there are no partial lines.
    return [int(line) for line in b"".join(chunks).split()]


@pytest.mark.slow
def test_sigkill_never_reuses_a_value(tmp_path: Path) -> None:
    rng = random.Random(0xD1A5)
    highest = -1
    total = 0
    for _ in range(20):
        # Small blocks so kills land inside reservation commits too, not only between them.
        block, delay = rng.choice([1, 7, 100]), rng.uniform(0.05, 0.3)
        values = _run_and_kill(tmp_path, block, delay)
        assert values == sorted(set(values)), "values within one run must strictly increase"
        if values:
            assert values[0] > highest, f"value {values[0]} reused after a crash (had {highest})"
            highest = values[-1]
        total += len(values)
    assert total > 1000, "the child barely ran; the test proved nothing"
    with Store.open(tmp_path) as store:
        assert InvocationCounter(store, "ic/tx").next() > highest
