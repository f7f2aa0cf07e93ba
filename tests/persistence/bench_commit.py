"""Measure what one single-key commit of Store costs with synchronous=NORMAL and FULL (WAL).

Run: .venv/bin/python tests/persistence/bench_commit.py [state_dir]
The figures quoted in meter/persistence/store.py and counters.py come from this script.
"""

from __future__ import annotations

import sys
import tempfile
import time

from meter.persistence.store import Store


def per_commit_us(state_dir: str, synchronous: str, n: int = 2000) -> float:
    with Store.open(f"{state_dir}/{synchronous}", synchronous=synchronous) as store:
        t0 = time.perf_counter()
        for i in range(n):
            store.put("rx_ic", i.to_bytes(8, "big"))
        return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as d:
        for mode in ("NORMAL", "FULL"):
            sys.stdout.write(f"{mode:6} {per_commit_us(d, mode):9.1f} µs/commit\n")


if __name__ == "__main__":
    main()
