"""When a connection's sans-IO stack ends, in wire time (issue 7 items 3, 4, 12): the wrapper after
inactivity_time_out without a complete PDU, HDLC when its link ends or none opens in time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Meter
from support.gurux_hdlc import GuruxHdlc

from meter.link.wrapper import WrapperConnection
from meter.stack import MeterStack

T0 = 1000.0  # wire time (the loop's monotonic clock) when the connection opened
WRAPPER_IDLE = 180.0  # profiles/acesm.toml [tcp] inactivity_timeout
HDLC_IDLE = 120.0  # profiles/acesm.toml [hdlc] inactivity_timeout


@pytest.fixture(scope="module")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    m = Meter(Path(tmp_path_factory.mktemp("state")))
    yield m
    m.close()


def _stack(meter: Meter, framing: str) -> MeterStack:
    stack = meter.device.new_stack(framing, now=meter.timebase.now)
    stack.connection_made(T0)
    return stack


class _Wire:
    """gurux-dlms speaking HDLC to a stack in memory, at wire time ``now``."""

    def __init__(self, stack: MeterStack) -> None:
        self.stack = stack
        self.now = T0
        self.replies: list[bytes] = []
        self.client = GuruxHdlc(self._send, self.replies.pop)

    def _send(self, frame: bytes) -> None:
        self.now += 1
        self.replies.append(self.stack.receive_data(frame, self.now))


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.tuples(st.binary(max_size=7), st.floats(0, WRAPPER_IDLE - 0.001)),
                       max_size=8))
def test_bytes_that_never_make_a_wrapper_pdu_do_not_keep_the_connection(
        meter: Meter, chunks: list[tuple[bytes, float]]) -> None:
    stack = _stack(meter, "wrapper")
    sent = b""
    for data, at in sorted(chunks, key=lambda c: c[1]):
        sent += data
        if len(sent) >= 8:
            break  # the stream is at most a partial header: never a PDU
        assert stack.receive_data(data, T0 + at) == b""
        assert stack.next_deadline() == T0 + WRAPPER_IDLE
    assert not stack.closed
    stack.handle_timer(T0 + WRAPPER_IDLE)
    assert stack.closed


def test_a_complete_pdu_restarts_the_wrapper_idle_time(meter: Meter) -> None:
    stack = _stack(meter, "wrapper")
    aarq = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
    assert stack.receive_data(WrapperConnection.frame(16, 1, aarq), T0 + 100)
    assert stack.next_deadline() == T0 + 100 + WRAPPER_IDLE
    stack.handle_timer(T0 + WRAPPER_IDLE)
    assert not stack.closed
    stack.handle_timer(T0 + 100 + WRAPPER_IDLE)
    assert stack.closed


def test_an_hdlc_connection_that_never_opens_a_link_ends(meter: Meter) -> None:
    stack = _stack(meter, "hdlc")
    stack.receive_data(b"\x7e\xa0\x07junk", T0 + 50)
    stack.handle_timer(T0 + HDLC_IDLE - 1)
    assert not stack.closed
    stack.handle_timer(T0 + HDLC_IDLE)
    assert stack.closed


def test_an_hdlc_stack_ends_with_its_link(meter: Meter) -> None:
    # DISC ends it (the optical port goes back to its sign-on, TCP closes).
    wire = _Wire(_stack(meter, "hdlc"))
    wire.client.connect()
    assert wire.client.logical_device_name().startswith(b"ACE")
    assert not wire.stack.closed
    wire.client.disconnect()
    assert wire.stack.closed
    # So does the link's inactivity time-out, counted from the last frame.
    wire = _Wire(_stack(meter, "hdlc"))
    wire.client.connect()
    assert wire.stack.next_deadline() == wire.now + HDLC_IDLE
    wire.stack.handle_timer(wire.now + HDLC_IDLE - 1)
    assert not wire.stack.closed
    wire.stack.handle_timer(wire.now + HDLC_IDLE)
    assert wire.stack.closed
    # A new SNRM on an open link resets it: the stack goes on.
    wire = _Wire(_stack(meter, "hdlc"))
    wire.client.connect()
    assert wire.stack.receive_data(bytes(wire.client.client.snrmRequest()), wire.now + 1)  # UA
    assert not wire.stack.closed
