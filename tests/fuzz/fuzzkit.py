"""Shared pieces of the fuzz tests: byte mutators, an HDLC primary station over a MeterStack,
and sessions that drive a stack into each association state (idle, associated, HLS pending,
ciphered). Seeded ``random.Random`` only: every run is reproducible."""

from __future__ import annotations

import random
from collections.abc import Callable

from support import (
    LLS_SECRET,
    MANAGEMENT,
    PUBLIC,
    READER,
    Keys,
    MemoryClient,
    Meter,
    hls_aarq,
    make_aarq,
)

from meter import apdu as A
from meter.cosem.port_protection import PortProtection
from meter.link.hdlc.address import HdlcAddress
from meter.link.hdlc.connection import LLC_REQUEST
from meter.link.hdlc.frame import Control, FrameKind, Framer, HdlcFrame
from meter.link.wrapper import WrapperPdu
from meter.stack import MeterStack

__all__ = ["A", "LLS_SECRET", "MANAGEMENT", "PUBLIC", "READER", "Keys", "MemoryClient", "Meter",
           "HdlcStation", "STATES", "hdlc_opening", "mutate", "make_aarq", "hls_aarq"]

SERVER = HdlcAddress(1, 17, 2)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random structural damage: flip, overwrite, truncate, insert, duplicate or splice."""
    b = bytearray(data)
    op = rng.randrange(6)
    if not b:
        return bytes(rng.randbytes(rng.randrange(1, 16)))
    i = rng.randrange(len(b))
    if op == 0:
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        b[i] = rng.choice((0x00, 0x7E, 0x80, 0x81, 0x82, 0xFF, rng.randrange(256)))
    elif op == 2:
        del b[i:]
    elif op == 3:
        b[i:i] = rng.randbytes(rng.randrange(1, 8))
    elif op == 4:
        b[i:i] = b[i:i + rng.randrange(1, 16)]
    else:
        j = rng.randrange(len(b))
        b[i], b[j] = b[j], b[i]
    return bytes(b)


class HdlcStation:
    """A minimal HDLC primary (one frame per APDU, window 1) feeding a MeterStack in memory."""

    def __init__(self, stack: MeterStack, client: int = PUBLIC) -> None:
        self.stack, self.me = stack, HdlcAddress(client)
        self.vs = self.vr = 0
        self.now = 0.0

    def wire(self, data: bytes) -> bytes:
        self.now += 0.01
        return self.stack.receive_data(data, self.now)

    def frame(self, control: Control, info: bytes = b"") -> bytes:
        return HdlcFrame(SERVER, self.me, control.to_byte(), info).to_bytes()

    def connect(self) -> None:
        [ua] = Framer().feed(self.wire(self.frame(Control(FrameKind.SNRM, True))))
        assert Control.from_byte(ua.control).kind is FrameKind.UA
        self.vs = self.vr = 0

    def i_frame(self, apdu: bytes) -> bytes:
        return self.frame(Control(FrameKind.I, True, self.vs, self.vr), LLC_REQUEST + apdu)

    def request(self, apdu: bytes) -> bytes:
        wire = self.i_frame(apdu)
        self.vs = (self.vs + 1) & 7
        frames = Framer().feed(self.wire(wire))
        info = b""
        for f in frames:
            c = Control.from_byte(f.control)
            if c.kind is FrameKind.I:
                self.vr = (c.ns + 1) & 7
                info += f.info
        assert info[:3] == b"\xe6\xe7\x00", frames
        return info[3:]


def hdlc_opening(apdu: bytes, client: int = PUBLIC) -> bytes:
    """SNRM then the first I frame carrying ``apdu``: what a client sends on a fresh line."""
    me = HdlcAddress(client)
    snrm = HdlcFrame(SERVER, me, Control(FrameKind.SNRM, True).to_byte())
    first = HdlcFrame(SERVER, me, Control(FrameKind.I, True, 0, 0).to_byte(), LLC_REQUEST + apdu)
    return snrm.to_bytes() + first.to_bytes()


def _idle(meter: Meter, client: MemoryClient) -> None:
    pass


def _public(meter: Meter, client: MemoryClient) -> None:
    client.associate()


def _unlocked(meter: Meter) -> None:
    """Mutated AARQs and HLS replies are failed authentications that lock the port: each
    connection that authenticates starts on an unlocked one."""
    for obj in meter.device.directory:
        if isinstance(obj, PortProtection):
            obj.clear()


def _reader(meter: Meter, client: MemoryClient) -> None:
    _unlocked(meter)
    client.client_sap = READER
    client.associate(mechanism=1, secret=LLS_SECRET)


def _pending(meter: Meter, client: MemoryClient) -> None:
    _unlocked(meter)
    client.client_sap = MANAGEMENT
    keys = Keys(invocation_counter=meter.next_ic())
    aare = client.aarq(hls_aarq(bytes(16), keys))
    assert isinstance(aare, A.AARE) and aare.result == 0


def _management(meter: Meter, client: MemoryClient) -> None:
    _unlocked(meter)
    client.client_sap = MANAGEMENT
    client.associate(mechanism=5, keys=Keys(invocation_counter=meter.next_ic()))


#: Drive a fresh wrapper connection into each association state.
STATES: dict[str, Callable[[Meter, MemoryClient], None]] = {
    "idle": _idle, "public": _public, "reader": _reader, "hls-pending": _pending,
    "management": _management,
}


def wrapped(client_sap: int, apdu: bytes) -> bytes:
    return WrapperPdu(client_sap, 1, apdu).to_bytes()
