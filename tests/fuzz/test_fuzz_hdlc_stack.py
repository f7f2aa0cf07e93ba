"""MeterStack over HDLC in every association state (hypothesis): sessions of valid, mutated, cut
and junk frames, concatenated and cut anywhere, with the timers run. Nothing escapes the stack,
everything it sends is a frame it can name addressed to the client, and a correct client is still
served on a new link afterwards (issue 7 item 11 and the fuzz target of the HDLC stack)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter.link.hdlc.frame import Control, FrameKind, Framer

from .fuzzkit import CORPUS, STATES, A, HdlcClient, HdlcStation, Meter, make_aarq, mutate

OPS = ["i", "i", "i-mutated", "snrm", "disc", "rr", "rnr", "junk", "cut", "damaged"]


@pytest.fixture(scope="module")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    m = Meter(tmp_path_factory.mktemp("hdlc-fuzz") / "s", history=3600)
    yield m
    m.close()


def render(op: str, seed: int, h: HdlcStation) -> bytes:
    """One piece of a session, numbered as the station's link stands."""
    rng = random.Random(seed)
    apdu = rng.choice(CORPUS)
    if op in ("i", "i-mutated", "cut", "damaged"):
        wire = h.i_frame(apdu if op != "i-mutated" else mutate(apdu, rng))
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


def check_reply(h: HdlcStation, wire: bytes) -> None:
    for f in Framer().feed(wire):
        c = Control.from_byte(f.control)  # the stack sends only frames it can name
        assert f.destination == h.me
        if c.kind is FrameKind.I:
            h.vr = (c.ns + 1) & 7


@pytest.mark.parametrize("state", list(STATES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2**32)), max_size=8),
       data=st.data())
def test_hdlc_stack_sessions_in_every_state(meter: Meter, state: str,
                                            ops: list[tuple[str, int]], data: st.DataObject) -> None:
    client = HdlcClient(meter)
    STATES[state](meter, client)
    h = client.station or HdlcStation(client.stack)
    stream = b"".join(render(op, seed, h) for op, seed in ops)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        check_reply(h, h.wire(stream[a:b]))
    for later in (2.0, 1000.0):  # the inter-octet and the inactivity timeout
        check_reply(h, h.stack.handle_timer(h.now + later))
    h.stack.connection_lost()
    fresh = HdlcStation(meter.device.new_stack("hdlc"))
    fresh.connect()
    aare = A.decode_apdu(fresh.request(make_aarq().to_bytes()))
    assert isinstance(aare, A.AARE) and aare.result == 0
