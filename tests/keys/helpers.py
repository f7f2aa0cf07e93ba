"""In-process meter for the key-management tests: a Device on a tmp state dir and refclient's
WrapperClient talking to a MeterStack through memory (no sockets)."""

from __future__ import annotations

import sys
from pathlib import Path

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.device.device import Device
from meter.link.wrapper import WrapperConnection, WrapperPdu
from meter.stack import MeterStack

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

from refclient import ClientError, Keys, WrapperClient  # noqa: E402

__all__ = ["ClientError", "Keys", "LocalMeter", "MemoryClient", "SETUP", "SUITE1_SETUP",
           "profile_with_suite1"]

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SETUP = Obis.parse("0.0.43.0.0.255")
SUITE1_SETUP = Obis.parse("0.0.43.0.3.255")
MASTER = bytes.fromhex("00112233445566778899AABBCCDDEEFF")  # profiles/acesm.toml [keys]
SERVER_TITLE = bytes.fromhex("4143450000000001")
MANAGEMENT = 1


class FakeTimebase:
    scale = 1.0

    def __init__(self, t: float = START) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class MemoryClient(WrapperClient):
    """refclient over a MeterStack; remembers the server invocation counters it saw."""

    def __init__(self, stack: MeterStack, timebase: FakeTimebase, client_sap: int) -> None:
        self.stack, self.timebase, self.client_sap = stack, timebase, client_sap
        self.keys: Keys | None = None
        self.server_title: bytes | None = None
        self.max_pdu = 0xFFFF
        self._framer = WrapperConnection()
        self.server_ics: list[int] = []

    def close(self) -> None:
        self.stack.connection_lost()

    def exchange_raw(self, payload: bytes) -> bytes:
        out = self.stack.receive_data(WrapperPdu(self.client_sap, 1, payload).to_bytes(),
                                      self.timebase.now())
        (pdu,) = self._framer.receive_data(out)
        # glo-get/set/action-response with a one-byte length: SC at 2, IC at 3..6
        if pdu.payload[:1] in (b"\xcc", b"\xcd", b"\xcf") and pdu.payload[1] < 0x80:
            self.server_ics.append(int.from_bytes(pdu.payload[3:7], "big"))
        return pdu.payload

    def action_result(self, obis: Obis, method: int, params: axdr.Data | None,
                      class_id: int = 64) -> tuple[int, axdr.Data | None]:
        """(action-result, return data) of one ACTION, without raising on a failure."""
        reply = self.exchange(A.ActionRequestNormal(
            0xC1, A.CosemMethodDescriptor(class_id, obis, method), params))
        assert isinstance(reply, A.ActionResponseNormal), reply
        return int(reply.result), reply.return_data


def profile_with_suite1(tmp: Path) -> Path:
    """The default profile plus a suite-1 Security setup whose methods management may call."""
    # acesm.toml has this setup since client 3 (HLS-ECDSA): override it, merged by OBIS.
    text = f'extends = "{ROOT / "profiles" / "acesm.toml"}"\n'
    text += (f'\n[[object]]\nobis = "{SUITE1_SETUP}"\nclass = "security_setup"\n'
             'security_policy = 0\nsecurity_suite = 1\nread = "public"\nwrite = "management"\n'
             'methods = "management"\n')
    path = tmp / "suite1.toml"
    path.write_text(text)
    return path


class LocalMeter:
    def __init__(self, state_dir: Path, profile: Path | None = None) -> None:
        self.state_dir = state_dir
        self.profile = profile or ROOT / "profiles" / "acesm.toml"
        self.timebase = FakeTimebase()
        self.device = Device.open(self.profile, state_dir, self.timebase)

    def restart(self) -> None:
        self.device.close()
        self.timebase.t += 60
        self.device = Device.open(self.profile, self.state_dir, self.timebase)

    def connect(self, client_sap: int = MANAGEMENT) -> MemoryClient:
        return MemoryClient(self.device.new_stack("wrapper"), self.timebase, client_sap)

    def keys(self, **changes: bytes) -> Keys:
        """Management keys with an invocation counter above every one the meter accepted."""
        ctx = self.device.security_context(SETUP)
        return Keys(invocation_counter=max(ctx.rx.last, 0) + 1, **changes)  # type: ignore[arg-type]

    def management(self, **changes: bytes) -> MemoryClient:
        client = self.connect()
        client.associate(mechanism=5, keys=self.keys(**changes))
        return client
