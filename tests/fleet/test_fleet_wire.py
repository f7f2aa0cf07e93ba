"""A fleet of 20 live meters in one process (``acesm-meter fleet``), reached the way a head end
reaches it: the CSV it prints, one wrapper port per meter, gurux-dlms as shipped. Each meter
answers with its own serial; HLS-GMAC associates with the keys the CSV gives for that meter (and
not with another meter's); energy advances per meter; everything persists across a restart; a
shard serves its slice only; HDLC over TCP on the second port range; the start-up progress shows
on a terminal only."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from interop.clients import HDLC, MANAGEMENT, PUBLIC, READER, WRAPPER, Endpoint, GuruxDriver, Ref
from interop.conftest import INVOCATION_COUNTER
from support.paths import PROFILE, ROOT
from support.terminal import Terminal

from meter.persistence.store import Store

pytestmark = pytest.mark.interop

SERIAL = Ref(1, "0.0.96.1.0.255", 2)
ENERGY = Ref(3, "1.0.1.8.0.255", 2)
CLOCK = Ref(8, "0.0.1.0.0.255", 2)
COUNT = 20
START = "2026-01-01T00:00:00Z"


class Fleet:
    """``python -m meter.cli fleet ...`` until READY; its CSV parsed."""

    def __init__(self, state: Path, *args: str, stderr: int | None = None) -> None:
        self.log = state.with_name(f"{state.name}.log")
        self._sink = self.log.open("a")
        sink = stderr if stderr is not None else self._sink.fileno()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meter.cli", "fleet", "--state", str(state), "--start", START,
             *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=sink, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.lines: list[str] = []
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        reader.join(120)
        assert self.lines and self.lines[-1].startswith("READY"), (self.lines, self.log_text())
        self.ready = self.lines[-1]
        self.meters = list(csv.DictReader(io.StringIO("".join(self.lines[:-1]))))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("READY"):
                return

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._sink.close()
        return code


@contextmanager
def fleet(state: Path, *args: str) -> Iterator[Fleet]:
    f = Fleet(state, *args)
    try:
        yield f
    finally:
        if f.proc.poll() is None:
            f.stop()


def _free_base(span: int) -> int:
    """A base port with ``span`` ports above it free now, below the ephemeral range (where
    clients' own ports come from)."""
    candidate = 10000 + (os.getpid() * 97) % 20000
    for _ in range(200):
        sockets = []
        try:
            for port in range(candidate, candidate + span):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return candidate
        except OSError:
            candidate = 10000 + (candidate + span * 7 - 10000) % 20000
        finally:
            for s in sockets:
                s.close()
    raise AssertionError("no free port range")


def read(endpoint: Endpoint, ref: Ref, association: Any = PUBLIC) -> Any:
    driver = GuruxDriver(endpoint, association)
    driver.associate()
    try:
        outcome = driver.get(ref)
        assert outcome.ok, outcome.result
        return outcome.value
    finally:
        driver.release()


def management(endpoint: Endpoint, meter: dict[str, str]) -> GuruxDriver:
    """HLS-GMAC with this meter's keys from the CSV, its counter above the meter's last."""
    counter = int(read(endpoint, INVOCATION_COUNTER)) + 1
    driver = GuruxDriver(endpoint, MANAGEMENT, counter)
    cipher = driver.client.ciphering
    cipher.blockCipherKey = bytearray(bytes.fromhex(meter["encryption_key"]))
    cipher.authenticationKey = bytearray(bytes.fromhex(meter["authentication_key"]))
    return driver


def wrapper(meter: dict[str, str]) -> Endpoint:
    return Endpoint(WRAPPER, meter["host"], int(meter["wrapper_port"]))


def test_every_meter_answers_as_itself_and_lives_on(tmp_path: Path) -> None:
    base = _free_base(COUNT)
    state = tmp_path / "state"
    args = ("--count", str(COUNT), "--base-port", str(base), "--seed", "wire", "--resident", "4",
            "--time-scale", "600")
    with fleet(state, *args) as f:
        assert f.ready.startswith(f"READY fleet={COUNT} tcp=127.0.0.1:{base}-{base + COUNT - 1}")
        assert len(f.meters) == COUNT
        serials = [m["serial"] for m in f.meters]
        assert len(set(serials)) == COUNT and len({m["system_title"] for m in f.meters}) == COUNT
        for m in f.meters:  # more meters than stay built: most are built again on the way
            assert bytes(read(wrapper(m), SERIAL)).decode() == m["serial"]
        # A fleet's connections open and end at DEBUG (README, Fleets): no line each at INFO.
        assert ": connected" not in f.log_text() and ": disconnected" not in f.log_text()
        # HLS-GMAC with each meter's own keys; another meter's keys do not associate.
        for m in (f.meters[0], f.meters[7], f.meters[19]):
            driver = management(wrapper(m), m)
            driver.associate()
            title = bytes(driver.client.settings.sourceSystemTitle)  # from the meter's AARE
            outcome = driver.get(SERIAL)
            driver.release()
            assert outcome.ok and bytes(outcome.value).decode() == m["serial"]
            assert title.hex().upper() == m["system_title"]
        wrong = management(wrapper(f.meters[1]), f.meters[2])
        with pytest.raises(Exception):  # noqa: B017 - gurux raises its own types
            wrong.associate()
        # Energy advances on every meter, built or not in between (at 600x: 10 min a second).
        first = {i: float(read(wrapper(f.meters[i]), ENERGY, READER)) for i in (0, 5, 11)}
        time.sleep(1.5)
        later = {i: float(read(wrapper(f.meters[i]), ENERGY, READER)) for i in (0, 5, 11)}
        assert all(later[i] > first[i] for i in first), (first, later)
        assert f.stop() == 0
    store = Store.open(state)
    try:
        assert store.get("fleet/origin") is not None
        for m in (f.meters[0], f.meters[11]):  # each meter's state in its namespace
            view = store.namespace(m["serial"], state / "meters" / m["serial"])
            assert view.get("device/t") is not None and view.keys("obj/")
    finally:
        store.close()
    with fleet(state, *args) as again:
        assert again.meters == f.meters  # same seed, same identities
        after = {i: float(read(wrapper(again.meters[i]), ENERGY, READER)) for i in (0, 5, 11)}
        assert all(after[i] >= later[i] for i in later), (later, after)
        assert bytes(read(wrapper(again.meters[19]), SERIAL)).decode() == again.meters[19]["serial"]


def test_a_shard_serves_its_slice_and_hdlc_on_the_second_range(tmp_path: Path) -> None:
    base = _free_base(2 * COUNT)
    with fleet(tmp_path / "s1", "--count", str(COUNT), "--base-port", str(base), "--shard", "1/3",
               "--hdlc") as f:
        indices = [int(m["wrapper_port"]) - base for m in f.meters]
        assert indices == list(range(6, 13))  # 20 * 1 // 3 .. 20 * 2 // 3
        m = f.meters[0]
        assert int(m["hdlc_port"]) == base + COUNT + 6
        hdlc = Endpoint(HDLC, "127.0.0.1", int(m["hdlc_port"]))
        assert bytes(read(hdlc, SERIAL)).decode() == m["serial"]
        assert bytes(read(wrapper(m), SERIAL)).decode() == m["serial"]
        with pytest.raises(OSError):  # meter 5 belongs to shard 0
            socket.create_connection(("127.0.0.1", base + 5), 1).close()


def test_start_up_progress_on_a_terminal_only(tmp_path: Path) -> None:
    base = _free_base(20)
    quiet = Fleet(tmp_path / "q", "--count", "5", "--base-port", str(base))
    assert quiet.stop() == 0
    assert "%" not in quiet.log_text() and "\r" not in quiet.log_text()
    with Terminal() as terminal:
        shown = Fleet(tmp_path / "t", "--count", "5", "--base-port", str(base + 10),
                      stderr=terminal.fd)
        assert shown.stop() == 0
    text = terminal.text
    assert b"fleet: 5 meters listening: 100% 5/5" in text


def test_a_killed_fleet_comes_back_with_what_it_answered(tmp_path: Path) -> None:
    base = _free_base(5)
    state = tmp_path / "state"
    args = ("--count", "5", "--base-port", str(base), "--time-scale", "600")
    f = Fleet(state, *args)
    try:
        before = {i: float(read(wrapper(f.meters[i]), ENERGY, READER)) for i in (1, 3)}
    finally:
        f.proc.kill()  # kill -9: nothing runs on the way down
        f.proc.wait(30)
        assert f.proc.stdout is not None
        f.proc.stdout.close()
    with fleet(state, *args) as again:
        after = {i: float(read(wrapper(again.meters[i]), ENERGY, READER)) for i in (1, 3)}
        assert all(after[i] >= before[i] > 0 for i in before), (before, after)
        assert bytes(read(wrapper(again.meters[4]), SERIAL)).decode() == again.meters[4]["serial"]


def test_one_fleet_per_state_directory(tmp_path: Path) -> None:
    base = _free_base(6)
    state = tmp_path / "state"
    with fleet(state, "--count", "3", "--base-port", str(base)):
        second = subprocess.run(
            [sys.executable, "-m", "meter.cli", "fleet", "--state", str(state), "--count", "3",
             "--base-port", str(base + 3), "--csv", str(tmp_path / "m.csv")],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert second.returncode == 1
        assert "in use by another meter" in second.stderr and "Traceback" not in second.stderr
        assert not (tmp_path / "m.csv").exists()  # refused before writing anything


def test_meters_push_on_time_built_or_not(tmp_path: Path) -> None:
    """Interval push 1 (every 15 minutes, general-glo ciphered with each meter's own system
    title) to a head end's listener: with one meter kept built (--resident 1), all three push."""
    titles: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.5)
    port = server.getsockname()[1]

    def accept() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(set(titles)) < 3:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
            if data[8:10] == b"\xdb\x08":  # general-glo-ciphering: the sender's system title
                titles.append(data[10:18])

    profile = tmp_path / "profile.toml"
    profile.write_text(f'extends = "{PROFILE}"\n[[object]]\nobis = "0.1.25.9.0.255"\n'
                       f'destination = "127.0.0.1:{port}"\n')
    catcher = threading.Thread(target=accept, daemon=True)
    catcher.start()
    base = _free_base(3)
    with fleet(tmp_path / "state", "--count", "3", "--base-port", str(base), "--resident", "1",
               "--time-scale", "600", "--profile", str(profile)) as f:
        catcher.join(60)
        wanted = {bytes.fromhex(m["system_title"]) for m in f.meters}
    server.close()
    assert set(titles) == wanted, (titles, f.log_text()[-3000:])
