"""Shared pieces of the fuzz tests and tools/fuzz-long: a corpus of valid APDUs, an HDLC primary
station over a MeterStack, and sessions that drive a stack into each association state (idle,
associated, HLS pending, ciphered) over either framing. Seeded ``random.Random`` only: every run
is reproducible."""

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
    mutate,
)

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.port_protection import PortProtection
from meter.link.hdlc.address import HdlcAddress
from meter.link.hdlc.connection import LLC_REQUEST
from meter.link.hdlc.frame import Control, FrameKind, Framer, HdlcFrame
from meter.link.wrapper import WrapperPdu
from meter.security import gcm
from meter.stack import MeterStack

__all__ = [
    "CLOCK",
    "CORPUS",
    "GET_CLOCK",
    "HDLC_OPS",
    "LLS_SECRET",
    "MANAGEMENT",
    "PUBLIC",
    "READER",
    "STATES",
    "check_hdlc_reply",
    "hdlc_piece",
    "seal",
    "wrapper_piece",
    "A",
    "HdlcClient",
    "HdlcStation",
    "Keys",
    "MemoryClient",
    "Meter",
    "hdlc_opening",
    "hls_aarq",
    "make_aarq",
    "mutate",
]

SERVER = HdlcAddress(1, 17, 2)


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
        """One APDU there and its reply back (taking every segment with RR)."""
        wire = self.i_frame(apdu)
        self.vs = (self.vs + 1) & 7
        info = b""
        while True:
            frames = Framer().feed(self.wire(wire))
            for f in frames:
                c = Control.from_byte(f.control)
                if c.kind is FrameKind.I:
                    self.vr = (c.ns + 1) & 7
                    info += f.info
            if not frames or not frames[-1].segmented:
                break
            wire = self.frame(Control(FrameKind.RR, True, 0, self.vr))
        assert info[:3] == b"\xe6\xe7\x00", frames
        return info[3:]


class HdlcClient(MemoryClient):
    """The in-memory test client over an HDLC link instead of the wrapper."""

    def __init__(self, meter: Meter, client_sap: int = PUBLIC) -> None:
        super().__init__(meter.device.new_stack("hdlc", now=meter.timebase.now), meter.timebase, client_sap)
        self.station: HdlcStation | None = None

    def _transfer(self, payload: bytes) -> bytes:
        if self.station is None:  # the SAP is known once the state sets it
            self.station = HdlcStation(self.stack, self.client_sap)
            self.station.connect()
        self.last_raw = self.station.request(payload)
        return self.last_raw


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


CLOCK = Obis.parse("0.0.1.0.0.255")
GET_CLOCK = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(8, CLOCK, 2))


def corpus() -> list[bytes]:
    """Valid APDUs of every kind the server handles, to be mutated."""
    keys = Keys(invocation_counter=10**6)
    plain = [
        make_aarq().to_bytes(),
        make_aarq(mechanism_name=1, sender_acse_requirements=True,
                  calling_authentication_value=b"12345678").to_bytes(),
        hls_aarq(bytes(16), Keys()).to_bytes(),
        GET_CLOCK.to_bytes(),
        A.GetRequestNext(0xC1, 1).to_bytes(),
        A.GetRequestWithList(0xC1, ((GET_CLOCK.attribute, None),) * 3).to_bytes(),
        A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(7, Obis.parse("1.0.99.1.0.255"), 2),
                           A.SelectiveAccess(2, axdr.Structure((axdr.DoubleLongUnsigned(1),
                                                                axdr.DoubleLongUnsigned(3),
                                                                axdr.LongUnsigned(1),
                                                                axdr.LongUnsigned(0))))).to_bytes(),
        A.SetRequestNormal(0xC1, GET_CLOCK.attribute, None, axdr.OctetString(bytes(12))).to_bytes(),
        A.SetRequestWithFirstDataBlock(0xC1, GET_CLOCK.attribute, None, False, 1, b"\x09\x0c").to_bytes(),
        A.SetRequestWithDataBlock(0xC1, True, 2, bytes(12)).to_bytes(),
        A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(8, CLOCK, 6), axdr.Long(5)).to_bytes(),
        A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(15, Obis.parse("0.0.40.0.0.255"), 1),
                              axdr.OctetString(bytes(17))).to_bytes(),
        A.ActionRequestWithFirstPBlock(0xC1, A.CosemMethodDescriptor(8, CLOCK, 6), False, 1, b"\x10").to_bytes(),
        A.RLRQ(reason=0).to_bytes(),
    ]
    ciphered = []
    for p in plain[3:8]:
        ic = keys.invocation_counter
        keys.invocation_counter += 1
        payload = gcm.protect(0x30, keys.system_title, ic, keys.ek, keys.ak, p)
        ciphered.append(A.CipheredApdu(A.ciphered_tag_for(p[0], False), 0x30, ic, payload).to_bytes())
        ciphered.append(A.GeneralGloCiphering(keys.system_title, 0x30, ic + 10**5, payload).to_bytes())
    return plain + ciphered


CORPUS = corpus()


def seal(keys: Keys, plain: bytes) -> bytes:
    """general-glo-ciphering fits any plaintext, even one whose tag a mutation changed."""
    ic = keys.invocation_counter
    keys.invocation_counter += 1
    payload = gcm.protect(0x30, keys.system_title, ic, keys.ek, keys.ak, plain)
    return A.GeneralGloCiphering(keys.system_title, 0x30, ic, payload).to_bytes()


def wrapper_piece(rng: random.Random, client: MemoryClient) -> bytes:
    """One piece of a wrapper session: a damaged request in a valid envelope (reaching the
    decoder behind GCM), a damaged APDU in a valid wrapper, a damaged wrapper PDU, or noise."""
    choice = rng.random()
    if client.keys is not None and choice < 0.3:
        return wrapped(client.client_sap, seal(client.keys, mutate(rng.choice(CORPUS[3:15]), rng)))
    if choice < 0.6:
        return wrapped(client.client_sap, mutate(rng.choice(CORPUS), rng))
    if choice < 0.8:
        return mutate(wrapped(client.client_sap, rng.choice(CORPUS)), rng)
    return rng.randbytes(rng.randrange(0, 40))


HDLC_OPS = ("i", "i", "i-mutated", "sealed", "snrm", "disc", "rr", "rnr", "junk", "cut", "damaged")


def hdlc_piece(rng: random.Random, h: HdlcStation, op: str, keys: Keys | None = None) -> bytes:
    """One piece of an HDLC session (``op`` from HDLC_OPS), numbered as the station's link
    stands: I frames (valid, with a damaged APDU, or a damaged request in a valid ciphered
    envelope), link commands, and noise, frames cut short or damaged."""
    apdu = rng.choice(CORPUS)
    if op == "sealed" and keys is not None:
        apdu = seal(keys, mutate(rng.choice(CORPUS[3:15]), rng))
    elif op == "i-mutated":
        apdu = mutate(apdu, rng)
    if op in ("i", "i-mutated", "sealed", "cut", "damaged"):
        wire = h.i_frame(apdu)
        if op == "cut":
            return wire[:rng.randrange(1, len(wire))]
        if op == "damaged":
            return mutate(wire, rng)
        h.vs = (h.vs + 1) & 7
        return wire
    if op == "snrm":
        h.vs = h.vr = 0
        return h.frame(Control(FrameKind.SNRM, True))
    if op == "disc":
        return h.frame(Control(FrameKind.DISC, True))
    if op in ("rr", "rnr"):
        kind = FrameKind.RR if op == "rr" else FrameKind.RNR
        return h.frame(Control(kind, rng.random() < 0.8, 0, h.vr))
    return rng.randbytes(rng.randrange(0, 40))


def check_hdlc_reply(h: HdlcStation, wire: bytes) -> None:
    """What the stack sent is frames it can name, for this client; follows its N(S)."""
    for f in Framer().feed(wire):
        c = Control.from_byte(f.control)
        assert f.destination == h.me, f
        if c.kind is FrameKind.I:
            h.vr = (c.ns + 1) & 7
