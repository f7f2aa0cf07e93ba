"""A Device on a tmp state dir with a fake timebase, and its in-memory connections already
associated as the default profile's clients (README: 16 public, 32 reader LLS, 1 management
HLS-GMAC)."""

from __future__ import annotations

from pathlib import Path

from refclient import Keys

from meter.codec.obis import Obis
from meter.device.device import Device
from support.clients import PUBLIC, SERVER_TITLE, MemoryClient
from support.paths import PROFILE
from support.timebase import START, FakeTimebase

READER, MANAGEMENT = 32, 1
LLS_SECRET = b"12345678"
SETUP = Obis.parse("0.0.43.0.0.255")  # the management association's Security setup

__all__ = ["LLS_SECRET", "MANAGEMENT", "PUBLIC", "READER", "SERVER_TITLE", "SETUP", "START",
           "FakeTimebase", "Meter", "connect", "management", "next_ic", "public", "reader"]


def connect(device: Device, timebase: FakeTimebase, client_sap: int = PUBLIC,
            port: Obis | None = None, *, framing: str = "wrapper", general: bool = False) -> MemoryClient:
    """A new connection (``port``: the setup object of the port it arrives on), not associated."""
    return MemoryClient(device.new_stack(framing, port, now=timebase.now), timebase, client_sap, general=general)


def next_ic(device: Device, setup: Obis = SETUP) -> int:
    """A client invocation counter above every one the setup accepted so far."""
    return max(device.security_context(setup).rx.last, 0) + 1


def public(device: Device, timebase: FakeTimebase) -> MemoryClient:
    client = connect(device, timebase, PUBLIC)
    client.associate()
    return client


def reader(device: Device, timebase: FakeTimebase, max_pdu: int = 0xFFFF) -> MemoryClient:
    client = connect(device, timebase, READER)
    client.associate(mechanism=1, secret=LLS_SECRET, max_pdu=max_pdu)
    return client


def management(device: Device, timebase: FakeTimebase, keys: Keys | None = None, *,
               general: bool = False, max_pdu: int = 0xFFFF) -> MemoryClient:
    """Client 1 after HLS-GMAC; ``keys`` default to refclient's with a fresh invocation counter."""
    client = connect(device, timebase, MANAGEMENT, general=general)
    client.associate(mechanism=5, keys=keys or Keys(invocation_counter=next_ic(device)),
                     max_pdu=max_pdu)
    return client


class Meter:
    """A Device opened on ``state_dir``, and the factory for its in-memory connections."""

    def __init__(self, state_dir: Path, profile: str | Path = PROFILE, *,
                 timebase: FakeTimebase | None = None, history: float | None = None) -> None:
        self.state_dir = state_dir
        self.profile = profile
        self.timebase = timebase or FakeTimebase()
        self.device = Device.open(profile, state_dir, self.timebase, history=history)

    def reopen(self) -> None:
        """A restart at the same instant: close the device and open it again on the same state."""
        self.device.close()
        self.device = Device.open(self.profile, self.state_dir, self.timebase)

    def restart(self) -> None:
        """A restart a minute later."""
        self.device.close()
        self.timebase.t += 60
        self.device = Device.open(self.profile, self.state_dir, self.timebase)

    def close(self) -> None:
        self.device.close()

    def connect(self, client_sap: int = PUBLIC, port: Obis | None = None, *, framing: str = "wrapper",
                general: bool = False) -> MemoryClient:
        return connect(self.device, self.timebase, client_sap, port, framing=framing, general=general)

    def next_ic(self, setup: Obis = SETUP) -> int:
        return next_ic(self.device, setup)

    def keys(self, **changes: bytes) -> Keys:
        """Management keys (refclient's, ``changes`` applied) with a fresh invocation counter."""
        return Keys(invocation_counter=self.next_ic(), **changes)  # type: ignore[arg-type]

    def public(self) -> MemoryClient:
        return public(self.device, self.timebase)

    def reader(self, max_pdu: int = 0xFFFF) -> MemoryClient:
        return reader(self.device, self.timebase, max_pdu)

    def management(self, *, general: bool = False, keys: Keys | None = None,
                   max_pdu: int = 0xFFFF) -> MemoryClient:
        return management(self.device, self.timebase, keys, general=general, max_pdu=max_pdu)
