"""The control API (issue 12 item 1) on a running `acesm-meter serve --control` process, driven
through meter.control.Client, each effect checked over DLMS with gurux-dlms as shipped (the
head end's view): an injected outage reads ~0 V and lands in the power-quality log, a sag and a
load change show in the instantaneous registers, the relay button moves output_state, a time
jump moves the clock and appends load-profile rows, a triggered push reaches a listener, the
APDU trace of a ciphered association is deciphered. Bad input gets a 4xx JSON answer (never a
traceback) and the meter keeps serving; bodies are bounded; off loopback a token is required."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from interop.clients import (
    HDLC,
    MANAGEMENT,
    PUBLIC,
    READER,
    WRAPPER,
    Endpoint,
    GuruxDriver,
    Ref,
    parse_datetime,
)
from interop.clients import read_ok as read
from interop.conftest import INVOCATION_COUNTER
from support.process import MeterProcess, meter_process, profile_with

from meter.control import Client, ControlError

pytestmark = pytest.mark.interop

RELAY = "0.0.96.3.10.255"
OUTPUT_STATE = Ref(70, RELAY, 2)
VOLTAGE_L1 = Ref(3, "1.0.32.7.0.255", 2)
CURRENT_L1 = Ref(3, "1.0.31.7.0.255", 2)
POWER = Ref(3, "1.0.1.7.0.255", 2)
CLOCK = Ref(8, "0.0.1.0.0.255", 2)
LOAD_PROFILE_ROWS = Ref(7, "1.0.99.1.0.255", 7)
PQ_LOG = Ref(7, "0.0.99.98.4.255", 2)
CONNECTIVITY = "0.0.25.9.0.255"
#: Power-quality log codes (cosem-reference.md §4: IDIS power quality events).
MISSING_VOLTAGE = {82, 83, 84}
VOLTAGE_NORMAL = {85, 86, 87}
SAG_L1 = 76
POWER_FAILURES = Ref(1, "0.0.96.7.21.255", 2)
TERMINAL_COVER_COUNTER = Ref(1, "0.0.96.20.5.255", 2)
FRAUD_LOG = Ref(7, "0.0.99.98.1.255", 2)
ALARM_REGISTER_1 = Ref(1, "0.0.97.98.0.255", 2)
#: Fraud log codes of the terminal cover (IDIS 40 removed / 41 closed: cosem-reference.md §4.1).
TERMINAL_COVER_REMOVED, TERMINAL_COVER_CLOSED = 40, 41
WAIT_S = 30.0


@dataclass
class Listener:
    """A push destination: a TCP listener keeping every connection's bytes."""

    sock: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                self.received.append(data)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.sock.close()


@dataclass
class Served:
    process: MeterProcess
    client: Client
    listener: Listener

    @property
    def tcp(self) -> Endpoint:
        return Endpoint(WRAPPER, *self.process.address("tcp"))

    def head_end(self) -> GuruxDriver:
        driver = GuruxDriver(self.tcp, READER)
        driver.associate()
        return driver


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("control")
    listener = Listener()
    # The supply relay in mode 1 (its button disconnects and reconnects); the connectivity push
    # goes to the test's listener.
    profile = profile_with(tmp, f'''
[[object]]
obis = "{RELAY}"
control_mode = 1

[[object]]
obis = "{CONNECTIVITY}"
class = "push_setup"
destination = "127.0.0.1:{listener.port}"
''')
    with meter_process(tmp / "state", "--profile", str(profile), "--tcp", "127.0.0.1:0",
                       "--hdlc-over-tcp", "127.0.0.1:0", "--control", "127.0.0.1:0") as process:
        host, port = process.address("control")
        try:
            yield Served(process, Client(f"http://{host}:{port}"), listener)
        finally:
            listener.close()


def pq_codes(m: GuruxDriver) -> list[int]:
    return [int(row[1]) for row in read(m, PQ_LOG) or []]


def test_the_ready_line_names_the_control_port(served: Served) -> None:
    assert "control" in served.process.ready
    spec = served.client.openapi()
    assert spec["openapi"].startswith("3.")
    assert {"/state", "/inject/outage", "/time/jump", "/push", "/trace/{id}", "/scenario",
            "/metrics"} <= set(spec["paths"])


def test_state_reads_what_dlms_reads(served: Served) -> None:
    state = served.client.state()
    m = served.head_end()
    try:
        volts = read(m, VOLTAGE_L1)
    finally:
        m.release()
    register = state["registers"]["1.0.32.7.0.255"]
    assert (register["scaler"], register["unit"]) == (-1, 35)  # 0.1 V (unit 35: V)
    assert register["value"] == pytest.approx(volts, abs=5)
    assert state["relays"][RELAY]["output_state"] is True
    assert set(state["events"]) >= {"standard", "fraud", "power_quality"}
    assert state["active_tariff"] in (1, 2, 3)
    reading = served.client.read("1.0.32.7.0.255")
    assert reading["scaled"] == pytest.approx(230, abs=1)


def test_an_outage_reads_zero_volts_and_is_logged(served: Served) -> None:
    m = served.head_end()
    try:
        before = pq_codes(m)
        failures = read(m, POWER_FAILURES)
        served.client.outage("10m")
        served.client.jump("1m")
        assert read(m, VOLTAGE_L1) <= 50  # 0.1 V units: under 5 V
        served.client.jump("10m")
        assert read(m, VOLTAGE_L1) == pytest.approx(2300, abs=20)
        new = pq_codes(m)[len(before):]
        assert read(m, POWER_FAILURES) == failures + 1  # the power-failure counter (all phases)
    finally:
        m.release()
    assert MISSING_VOLTAGE <= set(new) and VOLTAGE_NORMAL <= set(new), new
    events = served.client.state()["events"]["power_quality"]
    assert {e["code"] for e in events} & VOLTAGE_NORMAL


def test_a_sag_on_one_phase(served: Served) -> None:
    m = served.head_end()
    try:
        before = pq_codes(m)
        served.client.sag("5m", scale=0.5, phases=["A"])
        served.client.jump("1m")
        assert read(m, VOLTAGE_L1) == pytest.approx(1150, abs=20)
        assert read(m, Ref(3, "1.0.52.7.0.255", 2)) == pytest.approx(2300, abs=20)  # L2 as it was
        served.client.jump("5m")
        assert SAG_L1 in pq_codes(m)[len(before):]
    finally:
        m.release()


def test_a_load_change_and_harmonics(served: Served) -> None:
    m = served.head_end()
    try:
        served.client.load(current=10, pf=0.5)
        served.client.jump("1m")
        assert read(m, POWER) == pytest.approx(3 * 230 * 10 * 0.5, rel=0.02)
        assert read(m, CURRENT_L1) == pytest.approx(10_000, rel=0.02)  # mA
        served.client.harmonics(i=[[3, 0.4]])
        served.client.jump("1m")
        # the rms grows by sqrt(1 + 0.4^2); the fundamental power stays
        assert read(m, CURRENT_L1) == pytest.approx(10_000 * (1 + 0.4 ** 2) ** 0.5, rel=0.02)
        served.client.load(current=5, pf=1.0, harmonics={"i": []})
        served.client.jump("1m")
        assert read(m, POWER) == pytest.approx(3 * 230 * 5, rel=0.02)
    finally:
        m.release()


def test_the_relay_button_moves_output_state(served: Served) -> None:
    m = served.head_end()
    try:
        assert read(m, OUTPUT_STATE) is True
        assert served.client.button()["control_state"] == 2  # ready for reconnection
        assert read(m, OUTPUT_STATE) is False
        served.client.jump("1m")
        assert read(m, POWER) == 0
        assert served.client.button(RELAY)["control_state"] == 1  # connected
        assert read(m, OUTPUT_STATE) is True
    finally:
        m.release()


def test_a_terminal_cover_opened_and_closed(served: Served) -> None:
    m = served.head_end()
    try:
        count = read(m, TERMINAL_COVER_COUNTER)
        served.client.tamper("terminal_cover", True)
        served.client.tamper("terminal_cover", False)
        assert read(m, TERMINAL_COVER_COUNTER) == count + 1  # it counts removals
        codes = [int(row[1]) for row in read(m, FRAUD_LOG) or []]
        assert codes[-2:] == [TERMINAL_COVER_REMOVED, TERMINAL_COVER_CLOSED], codes
        assert read(m, ALARM_REGISTER_1) & (1 << 13)  # fraud attempt (profiles/acesm.toml map)
    finally:
        m.release()


def test_the_display_shows_what_the_registers_hold(served: Served) -> None:
    display = served.client.display()
    assert display["list"] == "0.0.21.0.1.255" and display["items"]
    assert display["text"] and display["item"] in display["items"]


def test_a_time_jump_moves_the_clock_and_fills_the_load_profile(served: Served) -> None:
    m = served.head_end()
    try:
        rows = read(m, LOAD_PROFILE_ROWS)
        clock = parse_datetime(read(m, CLOCK))
        served.client.jump("2h")
        after = parse_datetime(read(m, CLOCK))
        assert after - clock >= timedelta(hours=2)
        assert after - clock < timedelta(hours=2, minutes=1)
        # a row every 15 minutes (8 in two hours, one more if the real seconds between the
        # reads crossed a quarter too)
        quarters = int(after.timestamp() // 900) - int(clock.timestamp() // 900)
        assert read(m, LOAD_PROFILE_ROWS) - rows in (quarters, quarters + 1)
        assert quarters >= 8
        # back: the clock is set back (true time goes on), and says so
        served.client.jump("-30m")
        back = parse_datetime(read(m, CLOCK))
        assert timedelta(minutes=29) < after - back < timedelta(minutes=31)
        served.client.set_time("2027-06-01T12:00:00Z")
        assert parse_datetime(read(m, CLOCK)) - datetime(2027, 6, 1, 12, tzinfo=UTC) \
            < timedelta(seconds=30)
        time_now = served.client.time()
        assert time_now["meter_time"].startswith("2027-06-01")
    finally:
        m.release()


def test_the_time_scale(served: Served) -> None:
    assert served.client.time_scale(600)["scale"] == 600
    try:
        first = datetime.fromisoformat(served.client.time()["true_time"])
        deadline = time.monotonic() + WAIT_S
        while datetime.fromisoformat(served.client.time()["true_time"]) - first \
                < timedelta(minutes=5):
            assert time.monotonic() < deadline, "simulated time does not run 600x"
            time.sleep(0.1)
    finally:
        served.client.time_scale(1)


def test_a_triggered_push_reaches_the_listener(served: Served) -> None:
    deadline = time.monotonic() + WAIT_S
    while not served.listener.received:  # the push "on connectivity" at start
        assert time.monotonic() < deadline
        time.sleep(0.05)
    count = len(served.listener.received)
    assert served.client.push(CONNECTIVITY) == {"triggered": CONNECTIVITY}
    while len(served.listener.received) == count:
        assert time.monotonic() < deadline, "the triggered push never came"
        time.sleep(0.05)
    wire = served.listener.received[-1]
    assert wire[:2] == b"\x00\x01" and wire[8] == 0x0F  # wrapper, DATA-NOTIFICATION
    assert bytes.fromhex("0000190900ff") in wire  # names its push setup
    metrics = served.client.metrics()
    assert 'acesm_pushes_total{profile="profile",result="delivered"}' in metrics
    with pytest.raises(ControlError) as err:
        served.client.push("1.0.32.7.0.255")
    assert err.value.status == 404


def test_the_trace_of_a_ciphered_association_is_deciphered(served: Served) -> None:
    public = GuruxDriver(served.tcp, PUBLIC)
    public.associate()
    try:
        ic = int(read(public, INVOCATION_COUNTER)) + 1
    finally:
        public.release()
    m = GuruxDriver(served.tcp, MANAGEMENT, ic)
    m.associate()
    try:
        read(m, VOLTAGE_L1)
        listed = [a for a in served.client.associations()
                  if a["client_sap"] == 1 and a["associated"] and not a["closed"]]
        assert listed, served.client.associations()
        trace = served.client.trace(listed[-1]["id"])["trace"]
    finally:
        m.release()
    texts = "\n".join(entry["text"] for entry in trace)
    assert "AARQ" in texts and "AARE" in texts
    # the GET went glo-ciphered; the trace shows it deciphered, naming the register
    ciphered = [e for e in trace if "deciphered:" in e["text"]]
    assert any("GetRequestNormal" in e["text"] and "1.0.32.7.0.255" in e["text"]
               for e in ciphered), texts
    assert any("GetResponseNormal" in e["text"] for e in ciphered), texts
    assert {e["direction"] for e in trace} == {"in", "out"}
    with pytest.raises(ControlError) as err:
        served.client.trace(999999)
    assert err.value.status == 404


def test_metrics_count_at_the_edges(served: Served) -> None:
    before = _counter(served.client.metrics(), "acesm_dlms_requests_total")
    m = served.head_end()
    try:
        read(m, VOLTAGE_L1)
        assert not m.get(Ref(3, "1.0.99.99.99.255", 2)).ok  # object-undefined: a failure
    finally:
        m.release()
    text = served.client.metrics()
    assert _counter(text, "acesm_dlms_requests_total") - before >= 4  # AARQ, 2 GETs, RLRQ
    assert _counter(text, "acesm_associations_total", 'result="accepted"') >= 1
    assert _counter(text, "acesm_failures_total", 'kind="data-access-result"') >= 1
    assert _counter(text, "acesm_bytes_received_total") > 0
    assert _counter(text, "acesm_bytes_sent_total") > 0
    assert "# TYPE acesm_dlms_requests_total counter" in text


def _counter(text: str, name: str, label: str = "") -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and label in line)


def _raw(served: Served, method: str, path: str, data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(served.client.base_url + path, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize(("method", "path", "body", "status", "says"), [
    ("POST", "/inject/outage", b"{not json", 400, "not JSON"),
    ("POST", "/inject/outage", b"[1, 2]", 400, "JSON object"),
    ("POST", "/inject/outage", b'{"duration": "soon"}', 400, "duration"),
    ("POST", "/inject/outage", b'{"duration": -5}', 400, "duration"),
    ("POST", "/inject/sag", b'{"duration": 10, "scale": 1.5}', 400, "scale"),
    ("POST", "/inject/outage", b'{"duration": 10, "phases": ["Q"]}', 400, "no phase"),
    ("POST", "/inject/load", b'{"pf": 3}', 400, "power factor"),
    ("POST", "/time/jump", b'{"by": "500d"}', 400, "at most"),
    ("POST", "/time/scale", b'{"scale": 0}', 400, "scale"),
    ("POST", "/time/set", b'{"time": "tomorrow"}', 400, "ISO 8601"),
    ("GET", "/registers/1.2.3", None, 400, "OBIS"),
    ("GET", "/registers/9.9.9.9.9.9", None, 404, "no object"),
    ("GET", "/registers/1.0.32.7.0.255?attribute=9", None, 404, "no attribute"),
    ("POST", "/push", b'{"obis": "0.0.25.9.9.255"}', 404, "no push setup"),
    ("POST", "/inject/tamper", b'{"kind": "cover"}', 400, "unknown tamper"),
    ("POST", "/inject/tamper", b'{"kind": "meter_cover", "active": "yes"}', 400, "true or false"),
    ("GET", "/no/such/thing", None, 404, "Not Found"),
    ("DELETE", "/state", None, 405, "Not Allowed"),
    ("POST", "/scenario", b"not = [toml", 400, "not TOML"),
    ("POST", "/faults", b'{"thunder": 1}', 400, "unknown link fault"),
    ("POST", "/scenario", b'[[step]]\nat = 1\ndo = "explode"\n', 400, "do = one of"),
])
def test_bad_input_gets_a_clear_4xx(served: Served, method: str, path: str, body: bytes | None,
                                    status: int, says: str) -> None:
    code, answer = _raw(served, method, path, body)
    assert code == status, answer
    message = json.loads(answer)["error"]
    assert says in message
    assert "Traceback" not in served.process.log_text()


def test_link_faults_set_live_through_the_api(served: Served) -> None:
    # Refuse every new connection: a head end's connect is closed at once and counted.
    served.client.set_faults(refuse=1.0, reset_counters=True)
    try:
        with socket.create_connection(served.process.address("tcp"), timeout=5) as sock:
            assert sock.recv(16) == b""  # closed without a byte
        assert served.client.faults()["counters"]["refused"] == 1
    finally:
        snapshot = served.client.set_faults(refuse=0.0)
    assert snapshot["settings"]["refuse"] == 0.0
    m = served.head_end()  # served again
    try:
        assert read(m, VOLTAGE_L1) == pytest.approx(2300, abs=20)
    finally:
        m.release()
    with pytest.raises(ControlError) as bad:
        served.client.set_faults(drop=2.0)  # a probability over 1: nothing changes
    assert bad.value.status == 400 and served.client.faults()["settings"]["drop"] == 0.0


def test_a_body_is_bounded_and_the_meter_keeps_serving(served: Served) -> None:
    code, answer = _raw(served, "POST", "/inject/outage", b"{" + b" " * (300 * 1024) + b"}")
    assert code == 413 and "larger than" in json.loads(answer)["error"]
    m = served.head_end()
    try:
        assert read(m, VOLTAGE_L1) > 0
    finally:
        m.release()
    assert "Traceback" not in served.process.log_text()


def test_off_loopback_a_token_is_required(tmp_path: Path) -> None:
    refused = MeterProcess(tmp_path / "a", "--tcp", "127.0.0.1:0", "--control", "0.0.0.0:0")
    assert refused.finish() == 1
    assert "needs --control-token" in refused.log_text()
    with meter_process(tmp_path / "b", "--tcp", "127.0.0.1:0", "--control", "0.0.0.0:0",
                       "--control-token", "s3cret") as process:
        port = process.port("control")
        with pytest.raises(ControlError) as err:
            Client(f"http://127.0.0.1:{port}").time()
        assert err.value.status == 401
        with pytest.raises(ControlError) as err:
            Client(f"http://127.0.0.1:{port}", token="wrong").time()
        assert err.value.status == 401
        assert Client(f"http://127.0.0.1:{port}", token="s3cret").time()["scale"] == 1


def test_ctl_on_the_command_line(served: Served) -> None:
    import subprocess
    import sys

    from support.paths import ROOT

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "meter.cli", "ctl", "--url",
                               served.client.base_url, *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": ""})

    done = ctl("read", "1.0.32.7.0.255")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unit"] == 35
    assert ctl("expect", "1.0.32.7.0.255", "0", "--op", ">").returncode == 0
    assert ctl("expect", "1.0.32.7.0.255", "0", "--op", "<").returncode == 3
    refused = ctl("outage", "soon")
    assert refused.returncode == 2 and "400" in refused.stderr and "duration" in refused.stderr
    assert "Traceback" not in refused.stderr
    state = json.loads(ctl("state").stdout)
    assert "associations" in state and "1.0.32.7.0.255" in state["registers"]


def test_an_hdlc_connection_is_traced_too(served: Served) -> None:
    m = GuruxDriver(Endpoint(HDLC, *served.process.address("hdlc")), READER)
    m.associate()
    try:
        read(m, VOLTAGE_L1)
        hdlc = [a for a in served.client.associations()
                if a["medium"] == "hdlc-tcp" and a["associated"]]
        assert hdlc, served.client.associations()
        trace = served.client.trace(hdlc[-1]["id"])["trace"]
    finally:
        m.release()
    assert any("GetRequestNormal" in e["text"] and "1.0.32.7.0.255" in e["text"] for e in trace)
    assert 'medium="hdlc-tcp"' in served.client.metrics()
