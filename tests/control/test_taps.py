"""The edge counters and the trace ring (meter/control/taps.py) on a meter in process: each APDU
a connection serves is counted and kept, bounded; failures are told from the responses; the
Prometheus text is well formed; and the OpenAPI description covers every route."""

from __future__ import annotations

import re

import pytest
from support.clients import MemoryClient
from support.meter import Meter

from meter.codec.obis import Obis
from meter.control.server import ROUTES, SERVER_ONLY, openapi
from meter.control.taps import TRACE_APDUS, TRACE_BYTES, Connections, Metrics
from meter.control.timeline import Timeline

SAMPLE = re.compile(r'^[a-z_]+\{profile="[^"]*"(,[a-z_]+="[^"]*")*\} \d+(\.\d+)?$')


class _Plain:
    """A stack that answers each APDU with a canned response (the observer sees both)."""

    closed = False

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.observer = None

    def connection_made(self, now: float) -> None: ...

    def receive_data(self, data: bytes, now: float) -> bytes:
        assert self.observer is not None
        self.observer(16, data, self.response)
        return self.response

    def next_deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> bytes:
        return b""

    def connection_lost(self) -> None: ...


@pytest.mark.parametrize(("response", "kind"), [
    (bytes.fromhex("D8 01 02"), "exception-response"),
    (bytes.fromhex("0E 01 06 00"), "confirmed-service-error"),
    (bytes.fromhex("C4 01 C1 01 04"), "data-access-result"),  # get-response-normal, object-undefined
    (bytes.fromhex("C4 02 C1 00 00000001 01 02"), "data-access-result"),  # a block's failure
    (bytes.fromhex("C5 01 C1 03"), "data-access-result"),  # set-response, read-write-denied
    (bytes.fromhex("C7 01 C1 0B 00"), "action-result"),
    (bytes.fromhex("C4 01 C1 00 12 00 05"), None),  # success
    (bytes.fromhex("C5 01 C1 00"), None),
])
def test_failures_are_told_from_the_response(response: bytes, kind: str | None) -> None:
    metrics = Metrics("acesm")
    connections = Connections(metrics, lambda: 0.0, lambda sap: None)
    stack = connections.tap(_Plain(response), "tcp")  # type: ignore[arg-type]
    stack.receive_data(b"\xc0\x01\xc1", 0.0)
    assert metrics.value("acesm_dlms_requests_total") == 1
    if kind is None:
        assert metrics.value("acesm_failures_total") == 0
    else:
        assert metrics.value("acesm_failures_total", kind=kind) == 1
    assert metrics.value("acesm_bytes_received_total", medium="tcp") == 3
    assert metrics.value("acesm_bytes_sent_total", medium="tcp") == len(response)


def test_the_trace_ring_is_bounded(meter: Meter) -> None:
    connections = Connections(Metrics("acesm"), meter.timebase.now, lambda sap: None)
    stack = _Plain(b"\xc4\x01\xc1\x00\x12\x00\x05")
    tapped = connections.tap(stack, "tcp")  # type: ignore[arg-type]
    for _ in range(TRACE_APDUS):
        tapped.receive_data(b"\xc0\x01\xc1" + b"\x00" * 20, 0.0)
    tapped.receive_data(b"\xc0" + b"\x00" * (TRACE_BYTES + 100), 0.0)
    conn = next(iter(connections))
    assert len(conn.trace) == TRACE_APDUS
    described = connections.describe(conn)
    big = described[-2]
    assert big["truncated"] and big["bytes"] == TRACE_BYTES + 101
    assert len(big["hex"]) == 2 * TRACE_BYTES
    assert described[-1]["text"].startswith("GetResponseNormal")
    tapped.connection_lost()
    assert connections.open_count == 0 and next(iter(connections)).closed


def test_a_real_connection_is_traced_and_counted(meter: Meter) -> None:
    metrics = Metrics("acesm")
    connections = Connections(metrics, meter.timebase.now, lambda sap: None)
    stack = connections.tap(meter.device.new_stack("wrapper", now=meter.timebase.now), "tcp")
    client = MemoryClient(stack, meter.timebase)  # type: ignore[arg-type]
    client.associate()
    client.get(8, Obis.parse("0.0.1.0.0.255"), 2)
    conn = next(iter(connections))
    assert conn.associated and conn.client_sap == 16
    texts = [e["text"] for e in connections.describe(conn)]
    assert texts[0].startswith("AARQ") and texts[1].startswith("AARE")
    assert any("0.0.1.0.0.255" in t for t in texts)
    assert metrics.value("acesm_associations_total", result="accepted") == 1


def test_the_exposition_is_well_formed() -> None:
    metrics = Metrics('we"ird')
    metrics.add("acesm_dlms_requests_total", medium="tcp")
    metrics.add("acesm_failures_total", 2, medium="tcp", kind="exception-response")
    text = metrics.render({"acesm_connections_open": ("open now", 3.0)})
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples and all(SAMPLE.match(line.replace('\\"', "")) for line in samples), samples
    assert 'acesm_failures_total{profile="we\\"ird",kind="exception-response",medium="tcp"} 2' \
        in text
    for name in Metrics.HELP:
        assert f"# TYPE {name} counter" in text
    assert "# TYPE acesm_connections_open gauge" in text


def test_openapi_describes_every_route() -> None:
    spec = openapi()
    for route in ROUTES:
        assert route.method.lower() in spec["paths"][route.path]
        assert spec["paths"][route.path][route.method.lower()]["operationId"] == route.op
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_every_operation_is_a_scenario_action() -> None:
    for route in ROUTES:
        if route.op in SERVER_ONLY:
            continue
        Timeline.parse(f'[[step]]\nat = 0\ndo = "{route.op}"\n')
