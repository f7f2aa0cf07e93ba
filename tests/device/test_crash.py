"""kill -9 of the real server under ciphered management traffic (Green Book 9.2.3.3.7: an
invocation counter is never reused with a key; Blue Book: registers keep their values).

After each restart: (a) every invocation counter the meter used towards the client before the kill
is below every one it uses after; (b) 1.0.1.8.0.255 (and the clock) read after the restart is not
below the last value acknowledged on the wire; (c) the meter refuses the client's old counters and
0.0.43.1.0.255, read by the public client, tells the client where to continue.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import START, ClientError, Keys, SocketClient
from support.process import MeterProcess

from meter.codec import axdr

from .helpers import CLOCK, ENERGY, IC_OBJECT, timestamp

SCALE = 60.0  # simulated seconds per real second: energy visibly grows between kills
KILLS = 25
BUDGET_S = 60.0


@dataclass
class Observed:
    """What the client has seen acknowledged on the wire so far."""

    server_ics: list[int] = field(default_factory=list)
    client_ic: int = 0  # last client counter the meter answered
    energy: int = 0
    clock: float = 0.0
    kills: int = 0


class Meter:
    """One server process on the state directory, simulated time starting at ``start``."""

    def __init__(self, state: Path, start: float, log: Path) -> None:
        iso = datetime.fromtimestamp(start, timezone.utc).isoformat()
        self.started = time.monotonic()
        self.start = start
        self.process = MeterProcess(state, "--tcp", "127.0.0.1:0", "--start", iso,
                                    "--time-scale", str(SCALE), log=log)
        self.proc = self.process.proc
        self.process.wait_ready()
        self.port = self.process.port()

    def sim_now(self) -> float:
        return self.start + (time.monotonic() - self.started) * SCALE

    def kill(self) -> None:
        self.process.kill()


@pytest.fixture
def meters() -> Iterator[list[Meter]]:
    started: list[Meter] = []
    yield started
    for m in started:
        m.kill()


def _next_counter(port: int, seen: Observed) -> int:
    """(c): the public client reads where the management client must continue."""
    pub = SocketClient("127.0.0.1", port, client_sap=16, timeout=5.0)
    try:
        pub.associate()
        value = pub.get(1, IC_OBJECT, 2)
    finally:
        pub.close()
    assert isinstance(value, axdr.DoubleLongUnsigned)
    assert value.value >= seen.client_ic
    return value.value


def _old_counter_refused(port: int, counter: int) -> None:
    old = SocketClient("127.0.0.1", port, client_sap=1, timeout=5.0)
    try:
        with pytest.raises(ClientError):
            old.associate(mechanism=5, keys=Keys(invocation_counter=counter))
    finally:
        old.close()


def _traffic(port: int, keys: Keys, seen: Observed, after_restart: bool) -> int:
    """Ciphered reads until the meter dies under us; (a) and (b) on the first answers.
    Returns how many energy reads were answered."""
    client = SocketClient("127.0.0.1", port, client_sap=1, timeout=5.0)
    reads = 0
    try:
        before = max(seen.server_ics, default=-1)
        client.associate(mechanism=5, keys=keys)
        seen.client_ic = keys.invocation_counter - 1
        assert min(client.server_ics) > before, "the meter reused an invocation counter"
        while True:
            energy = client.get(3, ENERGY, 2)
            clock = client.get(8, CLOCK, 2)
            seen.client_ic = keys.invocation_counter - 1
            assert isinstance(energy, axdr.DoubleLongUnsigned)
            if after_restart and not reads:
                assert energy.value >= seen.energy, "energy went back after a crash"
                assert timestamp(clock) >= seen.clock - 1.0, "the clock went back after a crash"
            assert energy.value >= seen.energy
            seen.energy, seen.clock = energy.value, timestamp(clock)
            reads += 1
    except (OSError, ClientError):
        pass  # killed
    finally:
        seen.server_ics.extend(client.server_ics)
        client.close()
    assert len(set(client.server_ics)) == len(client.server_ics)
    return reads


def kill_loop(tmp_path: Path, meters: list[Meter], *, kills_wanted: int, budget_s: float,
              max_delay: float = 0.8, seed: int = 20260101) -> Observed:
    """Up to ``kills_wanted`` kill -9 (each after a random delay under traffic) within
    ``budget_s``, checking (a)-(c) after each restart; returns what the client saw."""
    rng = random.Random(seed)
    state, log = tmp_path / "state", tmp_path / "meter.log"
    deadline = time.monotonic() + budget_s
    start = START
    keys = Keys()
    seen = Observed()
    kills = runs_with_reads = 0
    while kills < kills_wanted and time.monotonic() < deadline:
        meter = Meter(state, start, log)
        meters.append(meter)
        if kills:
            counter = _next_counter(meter.port, seen)
            if kills % 5 == 1:
                _old_counter_refused(meter.port, counter)
            keys.invocation_counter = counter + 1
        timer = threading.Timer(rng.uniform(0.05, max_delay), meter.kill)
        timer.start()
        runs_with_reads += _traffic(meter.port, keys, seen, after_restart=kills > 0) > 0
        timer.join()
        start = meter.sim_now()  # the meter was off for as long as the restart takes
        kills += 1
    seen.kills = kills
    assert runs_with_reads >= kills // 2  # most kills hit a meter that was serving reads
    assert seen.energy > 0
    # A last start: the final state is still consistent.
    meter = Meter(state, start, log)
    meters.append(meter)
    assert _next_counter(meter.port, seen) >= seen.client_ic
    return seen


@pytest.mark.slow
def test_kill_9_under_ciphered_traffic(tmp_path: Path, meters: list[Meter]) -> None:
    kills = kill_loop(tmp_path, meters, kills_wanted=KILLS, budget_s=BUDGET_S).kills
    assert kills >= 10, f"only {kills} kills in {BUDGET_S} s"
