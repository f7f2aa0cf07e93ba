"""Shared pieces of the port-protection tests: an in-process meter for the port-protection tests: a Device on a tmp state dir with a hand-moved
timebase, and refclient's WrapperClient talking to a MeterStack instead of a socket."""

from __future__ import annotations

import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

from refclient import ClientError, Keys, WrapperClient  # noqa: E402

from meter.codec.obis import Obis  # noqa: E402
from meter.device.device import Device  # noqa: E402
from meter.link.wrapper import WrapperConnection, WrapperPdu  # noqa: E402
from meter.stack import MeterStack  # noqa: E402

__all__ = ["ClientError", "Keys", "LocalMeter", "MemoryClient"]

PROFILE = ROOT / "profiles" / "acesm.toml"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeTimebase:
    scale = 1.0

    def __init__(self, t: float = START) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class MemoryClient(WrapperClient):
    def __init__(self, stack: MeterStack, timebase: FakeTimebase, client_sap: int) -> None:
        self.stack, self.timebase, self.client_sap = stack, timebase, client_sap
        self.keys: Keys | None = None
        self.server_title: bytes | None = None
        self.max_pdu = 0xFFFF
        self._framer = WrapperConnection()

    def close(self) -> None:
        self.stack.connection_lost()

    def exchange_raw(self, payload: bytes) -> bytes:
        out = self.stack.receive_data(WrapperPdu(self.client_sap, 1, payload).to_bytes(),
                                      self.timebase.now())
        (pdu,) = self._framer.receive_data(out)
        return pdu.payload


class LocalMeter:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.timebase = FakeTimebase()
        self.device = Device.open(PROFILE, state_dir, self.timebase)

    def reopen(self) -> None:
        """A restart: close the device and open it again on the same state."""
        self.device.close()
        self.device = Device.open(PROFILE, self.state_dir, self.timebase)

    def connect(self, client_sap: int, port: Obis | None = None) -> MemoryClient:
        return MemoryClient(self.device.new_stack("wrapper", port), self.timebase, client_sap)

    def keys(self) -> Keys:
        """Management keys with an invocation counter above every one the meter accepted."""
        ctx = self.device.security_context(Obis.parse("0.0.43.0.0.255"))
        return Keys(invocation_counter=max(ctx.rx.last, 0) + 1)
