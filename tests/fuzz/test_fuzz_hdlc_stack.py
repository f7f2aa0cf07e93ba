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

from .fuzzkit import (
    HDLC_OPS,
    STATES,
    A,
    HdlcClient,
    HdlcStation,
    Meter,
    check_hdlc_reply,
    hdlc_piece,
    make_aarq,
)


@pytest.fixture(scope="module")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    m = Meter(tmp_path_factory.mktemp("hdlc-fuzz") / "s", history=3600)
    yield m
    m.close()


@pytest.mark.parametrize("state", list(STATES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(HDLC_OPS), st.integers(0, 2**32)), max_size=8),
       data=st.data())
def test_hdlc_stack_sessions_in_every_state(meter: Meter, state: str,
                                            ops: list[tuple[str, int]], data: st.DataObject) -> None:
    client = HdlcClient(meter)
    STATES[state](meter, client)
    h = client.station or HdlcStation(client.stack)
    stream = b"".join(hdlc_piece(random.Random(seed), h, op, client.keys) for op, seed in ops)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        check_hdlc_reply(h, h.wire(stream[a:b]))
    for later in (2.0, 1000.0):  # the inter-octet and the inactivity timeout
        check_hdlc_reply(h, h.stack.handle_timer(h.now + later))
    h.stack.connection_lost()
    fresh = HdlcStation(meter.device.new_stack("hdlc", now=meter.timebase.now))
    fresh.connect()
    aare = A.decode_apdu(fresh.request(make_aarq().to_bytes()))
    assert isinstance(aare, A.AARE) and aare.result == 0
