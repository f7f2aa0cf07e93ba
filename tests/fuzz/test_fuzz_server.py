"""Fuzzing a RUNNING meter (``python -m meter.cli serve``): a few hundred TCP connections send
random bytes and mutated wrapper/HDLC frames while a correct client on its own connection keeps
reading the clock; every read must succeed and the process must be alive at the end."""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path

from support import WrapperClient
from support.process import MeterProcess

from meter.codec import axdr
from meter.codec.obis import Obis

from .fuzzkit import CORPUS, PUBLIC, hdlc_opening, mutate, wrapped

CLOCK = Obis.parse("0.0.1.0.0.255")
CONNECTIONS = 300
BUDGET_S = 25.0


def garbage(rng: random.Random, hdlc: bool) -> bytes:
    """Random bytes, or mutated valid frames of the port's framing."""
    if rng.random() < 0.2:
        return rng.randbytes(rng.randrange(1, 200))
    if hdlc:
        frames = hdlc_opening(rng.choice(CORPUS))
        return mutate(frames, rng) if rng.random() < 0.7 else frames + mutate(frames, rng)
    sap = rng.choice((PUBLIC, 32, 1, 0x66))
    good = wrapped(sap, CORPUS[0]) if rng.random() < 0.5 else b""
    if rng.random() < 0.6:
        return good + wrapped(sap, mutate(rng.choice(CORPUS), rng))
    return good + mutate(wrapped(sap, rng.choice(CORPUS)), rng)


def attack(port: int, data: bytes) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.settimeout(0.05)
            s.sendall(data)
            try:
                s.recv(4096)
            except (TimeoutError, OSError):
                pass
    except OSError:
        pass  # the meter may close a connection it cannot frame: that is the point


def test_running_meter_survives_fuzz(tmp_path: Path) -> None:
    meter = MeterProcess(tmp_path / "state", "--tcp", "127.0.0.1:0", "--hdlc-over-tcp",
                         "127.0.0.1:0", "--start", "2026-01-01T00:00:00Z", "--history", "1d")
    meter.wait_ready()
    tcp, hdlc = meter.port("tcp"), meter.port("hdlc")
    reads: list[float] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            c = WrapperClient("127.0.0.1", tcp, client_sap=PUBLIC, timeout=5.0)
            c.associate()
            while not stop.is_set():
                value = c.get(8, CLOCK, 2)
                assert isinstance(value, axdr.OctetString) and len(value.value) == 12
                reads.append(time.monotonic())
                time.sleep(0.005)
            c.close()
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    thread = threading.Thread(target=reader, daemon=True)
    try:
        thread.start()
        rng = random.Random(2026)
        deadline = time.monotonic() + BUDGET_S
        sent = 0
        for n in range(CONNECTIONS):
            if time.monotonic() > deadline or failures:
                break
            use_hdlc = n % 3 == 0
            attack(hdlc if use_hdlc else tcp, garbage(rng, use_hdlc))
            sent += 1
        stop.set()
        thread.join(10)
        assert not failures, failures
        assert sent >= 100 and len(reads) >= 20
        assert meter.proc.poll() is None, "the meter process died"
        # A fresh correct client after the storm.
        c = WrapperClient("127.0.0.1", tcp, client_sap=PUBLIC)
        c.associate()
        assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)
        c.close()
    finally:
        stop.set()
        meter.close()
    assert meter.proc.returncode == 0
