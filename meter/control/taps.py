"""What the control API sees of the meter's connections, counted and traced at the edge.

Every stack the service makes is wrapped (``MeterService.stack_tap``): the bytes in and out of
the connection are counted, and the stack's ``observer`` hook hands over each APDU served with
its response. Per connection a bounded ring keeps the most recent APDUs as they crossed the
wire (raw bytes, cheap); they are decoded, deciphered where the association's keys decipher,
and described (``meter.apdu.describe``) only when the trace is asked for. The counters are the
``/metrics`` exposition (Prometheus text format 0.0.4).

Failures counted: an association the meter rejected, an exception-response, a
confirmed-service-error, and a plain GET/SET/ACTION response whose result is not success (a
ciphered response's result is not looked into: that would cost a decryption per request).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from meter.apdu import decode_apdu
from meter.apdu.acse import AARE, AARQ
from meter.apdu.ciphered import CipheredApdu, GeneralDedCiphering
from meter.apdu.describe import describe
from meter.apdu.initiate import InitiateRequest
from meter.control.decipher import decipher
from meter.errors import MeterError
from meter.transport.pcap import AssociationKeys
from meter.stack import Stack, StackDelegate

__all__ = ["AssociationKeys", "Connection", "Connections", "Metrics", "TappedStack"]

log = logging.getLogger(__name__)

#: APDUs kept per connection, and bytes kept of each (the rest is cut, and says so).
TRACE_APDUS = 64
TRACE_BYTES = 4096
#: Closed connections whose trace stays readable.
KEPT_CLOSED = 32

# Tags of the responses looked into for failures (Green Book 9.5, xDLMS APDU tags).
_EXCEPTION_RESPONSE = 0xD8
_SERVICE_ERROR = 0x0E
_GET_RESPONSE, _SET_RESPONSE, _ACTION_RESPONSE = 0xC4, 0xC5, 0xC7
_AARQ, _AARE, _RLRQ = 0x60, 0x61, 0x62
_NORMAL, _WITH_DATABLOCK = 1, 2


class Metrics:
    """Counters by name and labels, every one carrying the meter's profile."""

    HELP: ClassVar[dict[str, str]] = {
        "acesm_dlms_requests_total": "APDUs received from DLMS clients and served",
        "acesm_associations_total": "associations asked for, by result",
        "acesm_failures_total": "requests answered with a failure, by kind",
        "acesm_connections_total": "connections opened, by medium",
        "acesm_bytes_received_total": "bytes received from DLMS clients",
        "acesm_bytes_sent_total": "bytes sent to DLMS clients",
        "acesm_pushes_total": "pushes sent, by outcome",
        "acesm_control_requests_total": "control API requests, by operation and status",
        "acesm_scenario_steps_total": "scenario steps run, by action",
        "acesm_scenario_expectations_total": "scenario expectations checked, by result",
    }

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def add(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self._values[key] = self._values.get(key, 0.0) + value

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name`` over every label set that has ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self._values.items() if n == name and wanted <= set(ls))

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """The text exposition: every counter (declared even before it counts), then
        ``gauges`` (name -> (help, value))."""
        lines: list[str] = []
        profile = f'profile="{_escape(self.profile)}"'
        for name, text in self.HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            for (n, labels), v in sorted(self._values.items()):
                if n == name:
                    parts = [profile] + [f'{k}="{_escape(val)}"' for k, val in labels]
                    lines.append(f"{name}{{{','.join(parts)}}} {_number(v)}")
        for name, (text, v) in gauges.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge",
                      f"{name}{{{profile}}} {_number(v)}"]
        return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


@dataclass(slots=True)
class Connection:
    """One connection as the control API shows it: its associations and its recent APDUs."""

    id: int
    medium: str
    opened: float  # simulated UTC s
    client_sap: int | None = None
    associated: bool = False
    closed: bool = False
    client_title: bytes | None = None  # from the last AARQ (deciphers the client's APDUs)
    dedicated_key: bytes | None = None  # from the last AARQ's xDLMS initiate
    # (simulated time, inbound, client SAP, bytes kept, length on the wire)
    trace: deque[tuple[float, bool, int, bytes, int]] = field(
        default_factory=lambda: deque(maxlen=TRACE_APDUS))

    def summary(self) -> dict[str, object]:
        return {"id": self.id, "medium": self.medium, "opened": self.opened,
                "client_sap": self.client_sap, "associated": self.associated,
                "closed": self.closed, "apdus": len(self.trace)}


class Connections:
    """The open connections and the last closed ones, by id."""

    def __init__(self, metrics: Metrics, now: Callable[[], float],
                 keys: Callable[[int], AssociationKeys | None]) -> None:
        self.metrics = metrics
        self._now = now
        self._keys = keys
        self._next = 1
        self._open: dict[int, Connection] = {}
        self._closed: deque[Connection] = deque(maxlen=KEPT_CLOSED)

    def tap(self, stack: Stack, medium: str) -> Stack:
        """``stack``, counted and traced (MeterService.stack_tap)."""
        conn = Connection(self._next, medium, self._now())
        self._next += 1
        self._open[conn.id] = conn
        self.metrics.add("acesm_connections_total", medium=medium)
        return TappedStack(stack, conn, self)

    def __iter__(self) -> Iterator[Connection]:
        yield from self._open.values()
        yield from self._closed

    def get(self, ident: int) -> Connection | None:
        return self._open.get(ident) or next((c for c in self._closed if c.id == ident), None)

    @property
    def open_count(self) -> int:
        return len(self._open)

    def closed(self, conn: Connection) -> None:
        if self._open.pop(conn.id, None) is not None:
            conn.closed, conn.associated = True, False
            self._closed.append(conn)

    def served(self, conn: Connection, client: int, request: bytes,
               response: bytes | None) -> None:
        """One APDU served on ``conn`` (the stack's observer)."""
        now = self._now()
        conn.client_sap = client
        conn.trace.append((now, True, client, request[:TRACE_BYTES], len(request)))
        medium = conn.medium
        self.metrics.add("acesm_dlms_requests_total", medium=medium)
        if request[:1] == bytes([_AARQ]):
            self._aarq(conn, client, request)
        elif request[:1] == bytes([_RLRQ]):
            conn.associated = False
        if response is None:
            return
        conn.trace.append((now, False, client, response[:TRACE_BYTES], len(response)))
        failure = self._failure(conn, response)
        if failure is not None:
            self.metrics.add("acesm_failures_total", medium=medium, kind=failure)

    def _aarq(self, conn: Connection, client: int, request: bytes) -> None:
        """A new association: the client's title and dedicated key, for deciphering."""
        conn.client_title = conn.dedicated_key = None
        try:
            aarq = decode_apdu(request)
            if not isinstance(aarq, AARQ):
                return
            conn.client_title = aarq.calling_ap_title
            keys = self._keys(client)
            plain = None if keys is None else decipher(aarq, keys.encryption_key,
                                                       keys.authentication_key, None)
            initiate = decode_apdu(plain) if plain else None
            if isinstance(initiate, InitiateRequest) and initiate.dedicated_key:
                conn.dedicated_key = initiate.dedicated_key
        except (MeterError, ValueError):
            pass  # the meter answered it as it deserved; the trace shows it undecoded

    def _failure(self, conn: Connection, response: bytes) -> str | None:
        tag = response[0] if response else -1
        if tag == _AARE:
            try:
                aare = decode_apdu(response)
            except MeterError:
                return "association-rejected"
            accepted = isinstance(aare, AARE) and aare.result == 0
            conn.associated = accepted
            self.metrics.add("acesm_associations_total", medium=conn.medium,
                             result="accepted" if accepted else "rejected")
            return None if accepted else "association-rejected"
        if tag == _EXCEPTION_RESPONSE:
            return "exception-response"
        if tag == _SERVICE_ERROR:
            return "confirmed-service-error"
        kind = response[1] if len(response) > 1 else 0
        if tag == _GET_RESPONSE:
            at = 3 if kind == _NORMAL else 7 if kind == _WITH_DATABLOCK else None
            if at is not None and len(response) > at and response[at] == 1:
                return "data-access-result"
        elif tag in (_SET_RESPONSE, _ACTION_RESPONSE) and kind == _NORMAL \
                and len(response) > 3 and response[3] != 0:
            return "data-access-result" if tag == _SET_RESPONSE else "action-result"
        return None

    def describe(self, conn: Connection) -> list[dict[str, object]]:
        """The connection's recent APDUs, oldest first: hex, and text deciphered where the
        association's keys decipher it."""
        out: list[dict[str, object]] = []
        for when, inbound, client, data, size in conn.trace:
            keys = self._keys(client)
            try:
                apdu = decode_apdu(data)
                lines = [describe(apdu)]
                ek = None if keys is None else keys.encryption_key
                if conn.dedicated_key is not None and (
                        isinstance(apdu, GeneralDedCiphering)
                        or (isinstance(apdu, CipheredApdu) and not apdu.is_global)):
                    ek = conn.dedicated_key
                title = conn.client_title if inbound else (
                    None if keys is None else keys.server_system_title)
                plain = decipher(apdu, ek, None if keys is None else keys.authentication_key,
                                 title)
                if plain is not None:
                    lines += ["deciphered:", describe(decode_apdu(plain))]
                text = "\n".join(lines)
            except (MeterError, ValueError) as exc:
                text = f"(not decoded: {exc})"
            out.append({"time": when, "direction": "in" if inbound else "out",
                        "client_sap": client, "bytes": size, "truncated": size > len(data),
                        "hex": data.hex(), "text": text})
        return out


class TappedStack(StackDelegate):
    """A stack whose bytes are counted and whose APDUs are traced."""

    __slots__ = ("_conn", "_connections", "_medium", "_metrics")

    def __init__(self, stack: Stack, conn: Connection, connections: Connections) -> None:
        super().__init__(stack)
        self._conn = conn
        self._connections = connections
        self._metrics = connections.metrics
        self._medium = conn.medium
        if hasattr(stack, "observer"):  # meter.stack.MeterStack
            stack.observer = self._served

    def _served(self, client: int, request: bytes, response: bytes | None) -> None:
        self._connections.served(self._conn, client, request, response)

    def receive_data(self, data: bytes, now: float) -> bytes:
        self._metrics.add("acesm_bytes_received_total", len(data), medium=self._medium)
        out = self._stack.receive_data(data, now)
        if out:
            self._metrics.add("acesm_bytes_sent_total", len(out), medium=self._medium)
        return out

    def handle_timer(self, now: float) -> bytes:
        out = self._stack.handle_timer(now)
        if out:
            self._metrics.add("acesm_bytes_sent_total", len(out), medium=self._medium)
        return out

    def connection_lost(self) -> None:
        self._connections.closed(self._conn)
        self._stack.connection_lost()
