"""Link faults on a fleet's listeners (issue 12 item 3, per meter or fleet-wide, settable live),
against a real fleet process (``acesm-meter fleet --control``): one meter's own ``refuse_every``
refuses its connections while its neighbour serves a gurux-dlms read (as shipped); a fleet-wide
``delay`` holds back the replies of two meters to a raw wrapper client; a ``cut_block`` on one
meter cuts a gurux block read of its load profile, and the client reads it whole on its next
connection; the counters under ``/meters/ID/faults``, ``/faults`` and ``/metrics`` say so; a
meter goes back to the fleet's faults with ``{"fleet": true}``; ``fleet --faults SPEC`` starts
with faults on the wrapper and HDLC-over-TCP listeners."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from control.test_control_wire import _raw
from fleet.test_fleet_control import Served as ControlServed
from fleet.test_fleet_control import controlled
from fleet.test_fleet_wire import Fleet, _free_base, read, wrapper
from interop.clients import HDLC, READER, Endpoint, GuruxDriver, Ref
from link_faults.test_cut_block_transfer import END, FIRST, LOAD_PROFILE, ROWS, _read
from support.paths import ROOT

from meter.control import Client, ControlError

pytestmark = pytest.mark.interop

SERIAL = Ref(1, "0.0.96.1.0.255", 2)
# Public client (SAP 16) to the management logical device, lowest-level security, LN, no
# ciphering (the AARQ of tools/bench-fleet): the raw client's association.
AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1FFFFF")


class Served(ControlServed):
    def endpoint(self, index: int) -> Endpoint:
        return wrapper(self.meter(index))

    def hdlc(self, index: int) -> Endpoint:
        return Endpoint(HDLC, "127.0.0.1", int(self.meter(index)["hdlc_port"]))

    def port(self, index: int) -> int:
        return int(self.meter(index)["wrapper_port"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Two days of history (the load profile the cut test reads, as the serve test's meter has).
    with controlled(tmp_path_factory.mktemp("fleet-faults") / "state", "--seed", "faults",
                    "--history", "2d", "--hdlc") as s:
        yield Served(s.fleet, s.url)


@pytest.fixture(autouse=True)
def all_off(served: Served) -> Iterator[None]:
    """Every test starts and ends with no fault on and every meter on the fleet's faults."""
    yield
    served.client.set_faults(delay=0, jitter=0, refuse_every=0, cut_block=0)
    for index in served.client.faults()["meters_own"]:
        served.client.of(index).set_faults(fleet=True)


def totals(text: str, name: str) -> dict[str, float]:
    """``name``'s series in a Prometheus text: label set -> value."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels[len(name):]] = float(value)
    return out


def fault_total(text: str, fault: str) -> float:
    return totals(text, "acesm_link_faults_total").get(
        f'{{profile="acesm",fault="{fault}"}}', 0.0)


def associate_raw(port: int) -> tuple[bytes, float]:
    """A raw wrapper client: connect, send the AARQ, read the reply (b"" when the meter closed
    the connection); the reply and the seconds it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        t0 = time.monotonic()
        s.sendall(bytes.fromhex("0001" "0010" "0001") + len(AARQ).to_bytes(2, "big") + AARQ)
        reply = b""
        while len(reply) < 8 or len(reply) < 8 + int.from_bytes(reply[6:8], "big"):
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:  # closed before (or as) the AARQ came
                chunk = b""
            if not chunk:
                break
            reply += chunk
        return reply, time.monotonic() - t0


def test_one_meters_own_refusal_leaves_its_neighbour_serving(served: Served) -> None:
    metrics_before = served.client.metrics()
    three, four = served.client.of(3), served.client.of(4)
    assert three.faults()["fleet"] is True  # no faults of its own yet
    answer = three.set_faults(refuse_every=1)
    assert answer["fleet"] is False and answer["settings"]["refuse_every"] == 1
    assert answer["counters"]["refused"] == 0
    assert served.client.faults()["meters_own"] == [3]

    # Meter 3 accepts and closes at once; meter 4 serves a gurux read meanwhile.
    for _ in range(2):
        reply, _ = associate_raw(served.port(3))
        assert reply == b""
    with pytest.raises((ConnectionError, OSError)):
        read(served.endpoint(3), SERIAL)
    assert bytes(read(served.endpoint(4), SERIAL)).decode() == served.fleet.meters[4]["serial"]

    assert three.faults()["counters"]["refused"] == 3
    mine = four.faults()
    assert mine["fleet"] is True and mine["counters"]["refused"] == 0
    assert mine["settings"]["refuse_every"] == 0
    assert served.client.faults()["counters"]["refused"] == 0  # the fleet's own: untouched
    text = served.client.metrics()
    assert fault_total(text, "refused") == fault_total(metrics_before, "refused") + 3

    # Back on the fleet's faults: its settings and counters go, the meter serves.
    back = three.set_faults(fleet=True)
    assert back["fleet"] is True and back["settings"]["refuse_every"] == 0
    assert served.client.faults()["meters_own"] == []
    assert bytes(read(served.endpoint(3), SERIAL)).decode() == served.fleet.meters[3]["serial"]
    # The fleet's total stays (a Prometheus counter never goes down).
    assert fault_total(served.client.metrics(), "refused") == fault_total(text, "refused")


def test_a_fleet_wide_delay_holds_back_every_meters_replies(served: Served) -> None:
    before = served.client.faults()["counters"]
    frames_before = totals(served.client.metrics(), "acesm_link_fault_frames_total")
    assert served.client.set_faults(delay=0.6)["settings"]["delay"] == 0.6
    for index in (1, 2):
        theirs = served.client.of(index).faults()  # the fleet's, as the meter's links use them
        assert theirs["fleet"] is True and theirs["settings"]["delay"] == 0.6
        reply, took = associate_raw(served.port(index))
        assert reply[8:9] == b"\x61", reply.hex()  # the AARE, whole
        assert took >= 0.6  # never sooner than the delay (no upper bound: a loaded machine)
    after = served.client.faults()["counters"]
    assert after["delayed"] == before["delayed"] + 2
    assert after["replies"] == before["replies"] + 2
    frames = totals(served.client.metrics(), "acesm_link_fault_frames_total")
    out = '{profile="acesm",direction="out"}'
    assert frames[out] == frames_before.get(out, 0.0) + 2

    # Switched off live: the next connection's replies are not held back any more.
    served.client.set_faults(delay=0)
    reply, _ = associate_raw(served.port(1))
    assert reply[8:9] == b"\x61"
    assert served.client.faults()["counters"]["delayed"] == after["delayed"]


@pytest.mark.parametrize("medium", ["tcp", "hdlc"])
def test_a_cut_block_on_one_meter_then_the_client_reads_it_whole(served: Served,
                                                                 medium: str) -> None:
    five = served.client.of(5)
    endpoint = served.endpoint(5) if medium == "tcp" else served.hdlc(5)
    whole = _read(endpoint)
    assert len(whole) == ROWS
    cuts_before = fault_total(served.client.metrics(), "cuts")

    assert five.set_faults(cut_block=3)["settings"]["cut_times"] == 1
    driver = GuruxDriver(endpoint, READER)  # max PDU 256: the profile takes many blocks
    driver.associate()
    with pytest.raises(ConnectionError):
        driver.read_profile_range(LOAD_PROFILE, FIRST, END)
    driver.link.close()
    mine = five.faults()
    assert mine["counters"]["cuts"] == 1
    if medium == "tcp":
        # The AARE, then blocks 1, 2 and 3 went out, then nothing: cut behind block 3.
        assert mine["counters"]["replies"] == 4
    else:  # UA, AARE, the blocks (a block spans HDLC frames): cut behind the last of block 3
        assert mine["counters"]["replies"] >= 5
    assert mine["settings"]["cut_times"] == 0
    assert fault_total(served.client.metrics(), "cuts") == cuts_before + 1
    assert served.client.faults()["counters"]["cuts"] == 0  # not the fleet's

    # The client connects again and reads the same range whole; another meter was never cut.
    assert _read(endpoint) == whole
    assert five.faults()["counters"]["cuts"] == 1
    assert len(_read(served.endpoint(0))) == ROWS


def test_bad_fault_settings_change_nothing(served: Served) -> None:
    for path, body, says in (
            ("/meters/2/faults", {"drop": 2}, "probability"),
            ("/meters/2/faults", {"fleet": False}, "fleet"),
            ("/meters/2/faults", {"fleet": True, "delay": 1}, "alone"),
            ("/faults", {"fleet": True}, "unknown link fault"),
            ("/faults", {"delay": "soon"}, "not a number")):
        code, raw = _raw(served, "POST", path, json.dumps(body).encode())  # type: ignore[arg-type]
        assert code == 400 and says in json.loads(raw)["error"], (path, body, raw)
    assert served.client.faults()["meters_own"] == []  # a refused first POST made none
    assert served.client.of(2).faults()["fleet"] is True
    with pytest.raises(ControlError) as missing:
        served.client.of(99).faults()
    assert missing.value.status == 404


def test_the_openapi_names_the_fault_paths(served: Served) -> None:
    paths = served.client.openapi()["paths"]
    assert {"get", "post"} <= set(paths["/faults"]) and {"get", "post"} <= set(
        paths["/meters/{meter}/faults"])
    body = paths["/meters/{meter}/faults"]["post"]["requestBody"]["content"]["application/json"]
    assert "fleet" in body["schema"]["properties"]
    assert "fleet" not in paths["/faults"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]


def _first_bytes(port: int) -> bytes:
    """Connect and read: what the meter sends first (b"": it closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            return s.recv(4096)
        except ConnectionResetError:
            return b""


def test_fleet_faults_on_the_command_line_act_on_every_listener(tmp_path: Path) -> None:
    count = 2
    f = Fleet(tmp_path / "state", "--count", str(count), "--base-port", str(_free_base(2 * count)),
              "--hdlc", "--faults", "refuse_every=1,seed=7", "--control", "127.0.0.1:0")
    try:
        client = Client("http://" + f.ready.split(" control=", 1)[1].split()[0])
        assert client.faults()["settings"]["refuse_every"] == 1
        assert client.faults()["settings"]["seed"] == 7
        for meter in f.meters:
            assert associate_raw(int(meter["wrapper_port"]))[0] == b""
            assert _first_bytes(int(meter["hdlc_port"])) == b""
        assert client.faults()["counters"]["refused"] == 2 * count
        # Switched off live: the next connections are served, on both media.
        client.set_faults(refuse_every=0)
        for meter in f.meters:
            assert bytes(read(wrapper(meter), SERIAL)).decode() == meter["serial"]
            hdlc = Endpoint(HDLC, meter["host"], int(meter["hdlc_port"]))
            assert bytes(read(hdlc, SERIAL)).decode() == meter["serial"]
        assert client.faults()["counters"]["refused"] == 2 * count
    finally:
        if f.proc.poll() is None:
            assert f.stop() == 0, f.log_text()[-3000:]
    assert "Traceback" not in f.log_text()


def test_ctl_sets_one_meters_faults_and_puts_it_back(served: Served) -> None:
    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "meter.cli", "ctl", "--url", served.url,
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})

    own = ctl("--meter", "2", "faults", "drop_every=5,seed=3")
    assert own.returncode == 0, own.stderr
    answer = json.loads(own.stdout)
    assert answer["fleet"] is False and answer["settings"]["drop_every"] == 5
    assert json.loads(ctl("faults").stdout)["meters_own"] == [2]
    shown = json.loads(ctl("--meter", "2", "faults").stdout)
    assert shown["settings"]["seed"] == 3 and shown["fleet"] is False
    back = ctl("--meter", "2", "faults", "--fleet")
    assert back.returncode == 0 and json.loads(back.stdout)["fleet"] is True
    assert json.loads(ctl("--meter", "2", "faults").stdout)["settings"]["drop_every"] == 0
    refused = ctl("faults", "--fleet")  # the fleet itself has no fleet to go back to
    assert refused.returncode == 2 and "400" in refused.stderr
    bad = ctl("faults", "drop=7")  # checked before anything is sent
    assert bad.returncode != 0 and "probability" in bad.stderr
    reset = json.loads(ctl("faults", "--reset").stdout)
    assert set(reset["counters"].values()) == {0}
