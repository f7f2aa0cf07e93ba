"""The control API of a fleet (``acesm-meter fleet --control``, issue 12 items 4 and 6) against a
real fleet process: GET /meters lists every meter of the shard; an outage injected into one
meter through ``meter.control.Client`` shows on that meter over DLMS with gurux-dlms (as shipped)
and not on its neighbour; /metrics counts the associations the gurux reads made; a bad meter id
is a JSON 404 and what belongs to the fleet is a 409 under one meter; ``ctl --meter`` reaches
one meter from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from control.test_control_wire import _raw
from fleet.test_fleet_wire import Fleet, _free_base, read, wrapper
from interop.clients import READER, Ref, parse_datetime
from support.paths import ROOT

from meter.control import Client, ControlError

pytestmark = pytest.mark.interop

COUNT = 6
SERIAL = Ref(1, "0.0.96.1.0.255", 2)
VOLTAGE_L1 = Ref(3, "1.0.32.7.0.255", 2)
POWER_FAILURES = Ref(1, "0.0.96.7.21.255", 2)
PQ_LOG = Ref(7, "0.0.99.98.4.255", 2)
#: Power-quality log codes (cosem-reference.md §4: IDIS power quality events).
MISSING_VOLTAGE = {82, 83, 84}
VOLTAGE_NORMAL = {85, 86, 87}


@dataclass
class Served:
    fleet: Fleet
    url: str

    @property
    def client(self) -> Client:
        return Client(self.url)

    def meter(self, index: int) -> dict[str, str]:
        """Meter ``index``'s CSV row."""
        return self.fleet.meters[index]


@contextmanager
def controlled(state: Path, *args: str) -> Iterator[Served]:
    """A fleet of COUNT meters with its control API (``args``: more options; the ports for
    --hdlc are free too) until the block ends; it must stop cleanly, without a traceback in its log."""
    f = Fleet(state, "--count", str(COUNT), "--base-port", str(_free_base(2 * COUNT)), *args,
              "--control", "127.0.0.1:0")
    try:
        control = f.ready.split(" control=", 1)[1].split()[0]
        yield Served(f, f"http://{control}")
    finally:
        if f.proc.poll() is None:
            assert f.stop() == 0, f.log_text()[-3000:]
    assert "Traceback" not in f.log_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with controlled(tmp_path_factory.mktemp("fleet-control") / "state", "--seed", "ctl") as s:
        yield s


def counter(text: str, name: str, label: str = "") -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and label in line)


def test_meters_lists_every_meter_of_the_shard(served: Served) -> None:
    listed = served.client.meters()
    assert listed["total"] == COUNT and listed["next"] is None
    rows = listed["meters"]
    assert [r["id"] for r in rows] == list(range(COUNT))
    for row, m in zip(rows, served.fleet.meters, strict=True):
        assert row["serial"] == m["serial"]
        assert row["system_title"] == m["system_title"]
        assert row["port"] == int(m["wrapper_port"])
        assert row["base"] == f"/meters/{row['id']}"
        assert isinstance(row["built"], bool)
    # Paged: a page of 4, then the rest.
    first = served.client.meters(limit=4)
    assert [r["id"] for r in first["meters"]] == [0, 1, 2, 3]
    assert first["next"] == "/meters?offset=4&limit=4"
    rest = served.client.request("GET", first["next"])
    assert [r["id"] for r in rest["meters"]] == [4, 5] and rest["next"] is None
    for bad in ("?limit=0", "?limit=10001", "?offset=-1", "?limit=x"):
        with pytest.raises(ControlError) as refused:
            served.client.request("GET", "/meters" + bad)
        assert refused.value.status == 400, bad


def test_each_meter_answers_as_itself(served: Served) -> None:
    for index in (0, 5):
        live = served.client.of(index).request("GET", "/face/live")
        assert live["meter"]["ldn"] == served.meter(index)["logical_device_name"]


def test_an_outage_on_meter_3_shows_on_meter_3_only(served: Served) -> None:
    three, four = wrapper(served.meter(3)), wrapper(served.meter(4))
    failures = {3: read(three, POWER_FAILURES, READER), 4: read(four, POWER_FAILURES, READER)}
    pq_before = {k: len(read(e, PQ_LOG, READER) or []) for k, e in ((3, three), (4, four))}
    answer = Client(served.url, meter=3).outage("10m")
    assert answer == {"outage_s": 600.0}
    served.client.jump("1m")  # the fleet's time: every meter lives through it
    assert read(three, VOLTAGE_L1, READER) <= 50  # 0.1 V units: under 5 V
    assert read(four, VOLTAGE_L1, READER) == pytest.approx(2300, abs=20)
    served.client.jump("10m")
    assert read(three, VOLTAGE_L1, READER) == pytest.approx(2300, abs=20)
    assert read(three, POWER_FAILURES, READER) == failures[3] + 1
    assert read(four, POWER_FAILURES, READER) == failures[4]
    new = [int(row[1]) for row in read(three, PQ_LOG, READER)][pq_before[3]:]
    assert MISSING_VOLTAGE <= set(new) and VOLTAGE_NORMAL <= set(new), new
    assert len(read(four, PQ_LOG, READER) or []) == pq_before[4]
    # The meter's own state through the API says the same.
    events = Client(served.url, meter=3).state()["events"]["power_quality"]
    assert {e["code"] for e in events} & VOLTAGE_NORMAL


def test_metrics_count_the_gurux_associations(served: Served) -> None:
    before = served.client.metrics()
    accepted = counter(before, "acesm_associations_total", 'result="accepted"')
    for index in (1, 2):
        assert bytes(read(wrapper(served.meter(index)), SERIAL)).decode() == \
            served.meter(index)["serial"]
    text = served.client.metrics()
    assert counter(text, "acesm_associations_total", 'result="accepted"') == accepted + 2
    assert counter(text, "acesm_dlms_requests_total") >= counter(before,
                                                                 "acesm_dlms_requests_total") + 6
    assert counter(text, "acesm_fleet_meters") == COUNT
    assert 2 <= counter(text, "acesm_fleet_meters_built") <= COUNT
    assert counter(text, "acesm_fleet_builds_total") >= 2
    assert 'acesm_associations_total{profile="acesm",medium="tcp",result="accepted"}' in text
    assert "# TYPE acesm_pushes_total counter" in text
    # Every series names the profile; the per-meter path points at the fleet's.
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert series and all('profile="acesm"' in line for line in series)


def test_a_connection_is_traced_on_its_own_meter(served: Served) -> None:
    five, zero = Client(served.url, meter=5), Client(served.url, meter=0)
    before = {5: len(five.associations()), 0: len(zero.associations())}
    read(wrapper(served.meter(5)), SERIAL)
    connections = five.associations()
    assert len(connections) == before[5] + 1 and all(c["closed"] for c in connections)
    assert len(zero.associations()) == before[0]
    trace = five.trace(connections[-1]["id"])["trace"]
    assert trace[0]["direction"] == "in" and "AARQ" in trace[0]["text"], trace[0]


#: Paths of meters this shard does not serve (or that are no meter id at all).
NO_METER = ["/meters/99/state", "/meters/abc/state", "/meters/-1/time", "/meters/1e3/display",
            "/meters/99999999999999999999/state", "/meters/99/face/live", "/meters/6/associations"]
#: What belongs to the fleet under one meter: 409, and where to go instead.
THE_FLEETS = {"/meters/2/time/scale": (b'{"scale": 10}', "the fleet's"),
              "/meters/2/time/jump": (b'{"by": "1h"}', "whole fleet"),
              "/meters/2/metrics": (None, "GET /metrics")}


def _error(served: Served, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    code, raw = _raw(served, method, path, body)  # type: ignore[arg-type]
    answer = json.loads(raw)
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    assert served.client.of(2).time()["true_time"]  # still serving
    return code, str(answer["error"])


@pytest.mark.parametrize("path", NO_METER)
def test_an_unknown_meter_is_a_json_404(served: Served, path: str) -> None:
    assert _error(served, "GET", path)[0] == 404
    meter = "/".join(path.split("/")[:3])  # /meters/ID
    code, text = _error(served, "POST", meter + "/inject/outage", b"{}")
    assert code == 404 and "no meter" in text


@pytest.mark.parametrize("path", sorted(THE_FLEETS))
def test_what_is_the_fleets_is_a_409_under_one_meter(served: Served, path: str) -> None:
    body, says = THE_FLEETS[path]
    code, text = _error(served, "GET" if body is None else "POST", path, body)
    assert code == 409 and says in text, text


def test_bad_parameters_are_a_400(served: Served) -> None:
    for path, body, says in (("/meters/2/inject/outage", b'{"duration": "soon"}', "duration"),
                             ("/time/jump", b'{"by": "-1h"}', "forward only"),
                             ("/time/scale", b'{"scale": 0}', "scale")):
        code, text = _error(served, "POST", path, body)
        assert code == 400 and says in text, (path, text)
    assert _error(served, "GET", "/meters/2")[0] == 404  # no such route


def test_a_meter_clock_set_back_is_its_own(served: Served) -> None:
    before = Client(served.url, meter=1).time()
    after = Client(served.url, meter=1).jump("-1h")
    assert after["meter_time"] < before["meter_time"]
    other = Client(served.url, meter=0).time()
    assert other["meter_time"][:13] == other["true_time"][:13]


def test_the_openapi_names_the_fleet_paths(served: Served) -> None:
    spec = served.client.openapi()
    assert {"/meters", "/metrics", "/time/jump", "/meters/{meter}/inject/outage",
            "/meters/{meter}/registers/{obis}", "/meters/{meter}/state"} <= set(spec["paths"])
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_ctl_addresses_one_meter(served: Served) -> None:
    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "meter.cli", "ctl", "--url", served.url,
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})

    shown = ctl("--meter", "4", "display")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["text"]
    listed = ctl("meters")
    assert listed.returncode == 0 and json.loads(listed.stdout)["total"] == COUNT
    missing = ctl("--meter", "77", "state")
    assert missing.returncode == 2 and "404" in missing.stderr and "no meter" in missing.stderr


def test_fleet_control_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "meter.cli", "fleet", "--count", "2", "--base-port",
         str(_free_base(2)), "--state", str(tmp_path / "s"), "--control", "0.0.0.0:0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "--control-token" in proc.stderr and "Traceback" not in proc.stderr


def test_with_a_token_every_fleet_request_needs_it(tmp_path: Path) -> None:
    f = Fleet(tmp_path / "state", "--count", "2", "--base-port", str(_free_base(2)),
              "--control", "127.0.0.1:0", "--control-token", "s3cret")
    try:
        url = "http://" + f.ready.split(" control=", 1)[1].split()[0]
        for path in ("/meters", "/metrics", "/meters/1/state", "/meters/1/face/live"):
            with pytest.raises(ControlError) as refused:
                Client(url).request("GET", path)
            assert refused.value.status == 401, path
        assert Client(url, "s3cret").meters()["total"] == 2
        assert Client(url, "s3cret", meter=1).time()["true_time"]
        assert "fleet-table" in Client(url).request("GET", "/")  # the page itself: no token
    finally:
        assert f.stop() == 0


def test_a_drifting_clock_is_one_meters_own(served: Served) -> None:
    """POST /meters/2/inject/drift: meter 2's crystal runs 10,000 ppm fast (36 s an hour); over
    the fleet's 10-minute jump its clock gains 6 s, its neighbour's none (gurux reads both)."""
    clock = Ref(8, "0.0.1.0.0.255", 2)
    two = Client(served.url, meter=2)
    try:
        assert two.drift(10_000) == {"drift_ppm": 10_000.0, "deviation_s": two.time()["deviation_s"]}
        before = two.time()["deviation_s"]
        served.client.jump("10m")
        assert two.time()["deviation_s"] == before + 6.0
        assert Client(served.url, meter=4).time()["drift_ppm"] == 0.0
        ahead = (parse_datetime(read(wrapper(served.meter(2)), clock))
                 - parse_datetime(read(wrapper(served.meter(4)), clock))).total_seconds()
        assert ahead == pytest.approx(before + 6.0 - Client(served.url, meter=4).time()["deviation_s"],
                                      abs=1.5)
    finally:
        two.drift(0)
