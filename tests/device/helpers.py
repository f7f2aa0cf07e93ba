"""Shared pieces of the device tests: a hand-driven timebase and clients that record every
server invocation counter they see (tools/refclient.py underneath)."""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from meter import apdu as A
from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.device import Device

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

from refclient import ClientError, Keys, WrapperClient  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
QUARTER = 900.0
# Default profile load: 3 phases * 230 V * 5 A * PF 0.95 (profiles/acesm.toml [meter]).
POWER_W = 3 * 230.0 * 5.0 * 0.95

ENERGY = Obis.parse("1.0.1.8.0.255")
CLOCK = Obis.parse("0.0.1.0.0.255")
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")
BILLING = Obis.parse("0.0.98.1.0.255")
EVENT_LOG = Obis.parse("0.0.99.98.0.255")
IC_OBJECT = Obis.parse("0.0.43.1.0.255")
BILLING_COUNTER = Obis.parse("1.0.0.1.0.255")
HLS_ASSOCIATION = Obis(0, 0, 40, 0, 0, 255)


@dataclass
class FakeTimebase:
    """Simulated time moved by the test (Device.open reads ``now()`` and ``scale``)."""

    t: float = T0
    scale: float = 3600.0  # > 10: the engine fast-forwards (closed form) instead of sampling

    def now(self) -> float:
        return self.t

    def resume_at(self, t: float) -> None:
        self.t = max(self.t, t)


def timestamp(value: axdr.Data) -> float:
    """A COSEM date-time octet string (clock, profile row) as UTC seconds."""
    assert isinstance(value, axdr.OctetString)
    return CosemDateTime.from_bytes(value.value).to_datetime().timestamp()


def rows(data: axdr.Data) -> list[tuple[object, ...]]:
    """A profile buffer as tuples, the capture time first as UTC seconds."""
    assert isinstance(data, axdr.Array)
    out = []
    for row in data.items:
        first, *rest = row.items  # type: ignore[attr-defined]
        out.append((timestamp(first), *(v.to_python() for v in rest)))
    return out


class Recording(WrapperClient):
    """Notes every invocation counter the meter used towards us: ciphered APDUs, the ciphered
    initiate response inside the AARE and the one of f(StoC) in HLS pass 4."""

    server_ics: list[int]

    def _raw(self, payload: bytes) -> bytes:
        return WrapperClient.exchange_raw(self, payload)

    def exchange_raw(self, payload: bytes) -> bytes:
        reply = self._raw(payload)
        apdu = A.decode_apdu(reply)
        if isinstance(apdu, A.AARE) and apdu.user_information:
            apdu = A.decode_apdu(apdu.user_information)
        if isinstance(apdu, A.CipheredApdu):
            self.server_ics.append(apdu.invocation_counter)
        return reply

    def action(self, class_id: int, obis: Obis, method: int, params: axdr.Data | None) -> object:
        reply = super().action(class_id, obis, method, params)
        if obis == HLS_ASSOCIATION and method == 1 and isinstance(reply, axdr.OctetString):
            self.server_ics.append(int.from_bytes(reply.value[1:5], "big"))
        return reply


class SocketClient(Recording):
    def __init__(self, host: str, port: int, client_sap: int = 16, timeout: float = 10.0) -> None:
        super().__init__(host, port, client_sap, timeout)
        self.server_ics = []


class LocalClient(Recording):
    """The same client talking to a device's wrapper stack in-process, at the timebase's now."""

    def __init__(self, device: Device, timebase: FakeTimebase, client_sap: int = 16) -> None:
        self.stack = device.new_stack("wrapper")
        self.timebase = timebase
        self.client_sap = client_sap
        self.keys = None
        self.server_title = None
        self.max_pdu = 0xFFFF
        self._buf = b""
        self.server_ics = []

    def _raw(self, payload: bytes) -> bytes:
        frame = struct.pack(">HHHH", 1, self.client_sap, 1, len(payload)) + payload
        out = self.stack.receive_data(frame, self.timebase.now())
        if len(out) < 8:
            raise ClientError("no answer from the meter")
        return out[8:]

    def close(self) -> None:
        """Nothing to close: no socket."""


def reader(device: Device, timebase: FakeTimebase) -> LocalClient:
    client = LocalClient(device, timebase, client_sap=32)
    client.associate(mechanism=1, secret=b"12345678")
    return client


def manager(device: Device, timebase: FakeTimebase, keys: Keys) -> LocalClient:
    client = LocalClient(device, timebase, client_sap=1)
    client.associate(mechanism=5, keys=keys)
    return client


def public(device: Device, timebase: FakeTimebase) -> LocalClient:
    client = LocalClient(device, timebase, client_sap=16)
    client.associate()
    return client


def crash(device: Device) -> None:
    """What a kill -9 right after the last response leaves: the store, nothing more committed."""
    device.store.close()


def open_device(state: Path, timebase: FakeTimebase, *, history: float | None = None,
                profile: str = "acesm") -> Device:
    return Device.open(profile, state, timebase, history=history)
