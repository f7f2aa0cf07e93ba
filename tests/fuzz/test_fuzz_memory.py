"""Fuzzing in memory (hypothesis + seeded random): random bytes and mutated valid frames into the
wrapper framer, decode_apdu, HdlcServer.receive_data and MeterStack.receive_data (both framings,
every association state). Nothing but the documented errors escapes, and afterwards a correct
client still associates and reads on a fresh connection."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter.codec import axdr
from meter.errors import DecodeError, RemoteProtocolError
from meter.link.hdlc.connection import HdlcServer
from meter.link.hdlc.frame import Control, FrameKind
from meter.link.wrapper import WrapperConnection

from .fuzzkit import (
    CLOCK,
    CORPUS,
    GET_CLOCK,
    PUBLIC,
    STATES,
    A,
    HdlcStation,
    Meter,
    make_aarq,
    mutate,
    wrapped,
    wrapper_piece,
)

SNRM = Control(FrameKind.SNRM, True)
#: Wall-clock budget of each seeded loop: bounded in count and in time.
BUDGET_S = 4.0


# --- (a) the wrapper framer, (b) decode_apdu: hypothesis ---------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=6))
def test_wrapper_framer_random_chunks(chunks: list[bytes]) -> None:
    w = WrapperConnection()
    for chunk in chunks:
        try:
            w.receive_data(chunk)
        except RemoteProtocolError:
            return


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CORPUS), st.integers(0, 2**32), st.integers(1, 8))
def test_wrapper_framer_mutated_stream(apdu: bytes, seed: int, cut: int) -> None:
    rng = random.Random(seed)
    wire = mutate(wrapped(PUBLIC, apdu) * 2, rng)
    w = WrapperConnection()
    try:
        for i in range(0, len(wire), cut):
            for pdu in w.receive_data(wire[i:i + cut]):
                assert pdu.to_bytes()[8:] == pdu.payload
    except RemoteProtocolError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_decode_apdu_random(data: bytes) -> None:
    try:
        A.decode_apdu(data)
    except DecodeError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(CORPUS), st.integers(0, 2**32), st.integers(1, 4))
def test_decode_apdu_mutated(apdu: bytes, seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    for _ in range(rounds):
        apdu = mutate(apdu, rng)
    try:
        A.decode_apdu(apdu)
    except DecodeError:
        pass


# --- (c) HdlcServer.receive_data ----------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=80), max_size=6), st.booleans())
def test_hdlc_server_random_bytes(chunks: list[bytes], flags: bool) -> None:
    s = HdlcServer()
    now = 0.0
    for chunk in chunks:
        now += 0.01
        s.receive_data(b"\x7e" + chunk + b"\x7e" if flags else chunk, now)
        while s.next_event(now) is not None:
            pass
        s.data_to_send()


def test_hdlc_server_mutated_frames(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "s", history=None)
    rng = random.Random(1)
    deadline = time.monotonic() + BUDGET_S
    for n in range(400):
        if time.monotonic() > deadline:
            break
        station = HdlcStation(meter.device.new_stack("hdlc", now=meter.timebase.now))
        if n % 2:
            station.connect()
        apdu = rng.choice(CORPUS)
        wire = station.i_frame(apdu) if rng.random() < 0.8 else station.frame(SNRM)
        for _ in range(rng.randrange(1, 4)):
            wire = mutate(wire, rng)
        station.wire(wire)
        station.stack.handle_timer(station.now + 200)
    meter.close()


# --- (d) MeterStack.receive_data in every association state --------------------------------------

def still_serves(meter: Meter) -> None:
    c = meter.connect(PUBLIC)
    assert c.associate().result == 0
    assert isinstance(c.get(8, CLOCK, 2), axdr.OctetString)
    h = HdlcStation(meter.device.new_stack("hdlc", now=meter.timebase.now))
    h.connect()
    aare = A.decode_apdu(h.request(make_aarq().to_bytes()))
    assert isinstance(aare, A.AARE) and aare.result == 0
    reply = A.decode_apdu(h.request(GET_CLOCK.to_bytes()))
    assert isinstance(reply, A.GetResponseNormal) and isinstance(reply.result, axdr.OctetString)


@pytest.mark.parametrize("state", list(STATES))
def test_wrapper_stack_in_every_state(tmp_path: Path, state: str) -> None:
    meter = Meter(tmp_path / "s", history=3600)
    rng = random.Random(state)
    deadline = time.monotonic() + BUDGET_S
    for n in range(150):
        if time.monotonic() > deadline:
            break
        client = meter.connect(PUBLIC)
        STATES[state](meter, client)
        for _ in range(rng.randrange(1, 6)):
            client.stack.receive_data(wrapper_piece(rng, client), meter.timebase.now())
        client.close()
    still_serves(meter)
    meter.close()


@pytest.mark.parametrize("connected", [False, True])
def test_hdlc_stack_associated_and_not(tmp_path: Path, connected: bool) -> None:
    meter = Meter(tmp_path / "s", history=3600)
    rng = random.Random(int(connected))
    deadline = time.monotonic() + BUDGET_S
    for n in range(150):
        if time.monotonic() > deadline:
            break
        h = HdlcStation(meter.device.new_stack("hdlc", now=meter.timebase.now))
        if connected:
            h.connect()
            if n % 2:
                assert A.decode_apdu(h.request(make_aarq().to_bytes())).result == 0  # type: ignore[attr-defined]
        for _ in range(rng.randrange(1, 6)):
            if rng.random() < 0.7:
                wire = h.i_frame(mutate(rng.choice(CORPUS), rng))
                h.vs = (h.vs + 1) & 7
            else:
                wire = mutate(h.i_frame(rng.choice(CORPUS)), rng)
            h.wire(wire)
        h.stack.handle_timer(h.now + 1000)
        h.stack.connection_lost()
    still_serves(meter)
    meter.close()
