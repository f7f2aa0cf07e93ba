"""IEC 62056-21 mode E opening, meter side: the exchange Gurux' optical-head client performs
(GXDLMSReader.initializeOpticalHead: "/?!\\r\\n", baud char at offset 4, ACK '2' Z '2' CR LF)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import mutate

from meter.errors import EncodeError
from meter.link.iec62056_21 import (
    BaudRateChange,
    EnterHdlc,
    Failed,
    ModeEOpening,
    Phase,
)


def test_gurux_style_opening() -> None:
    meter = ModeEOpening("ACE", "ACESM100", "5")
    assert meter.receive_data(b"/?!\r\n", 0.0) == []
    ident = meter.data_to_send()
    assert ident == b"/ACE5\\2ACESM100\r\n"
    assert chr(ident[4]) == "5" and ident[5:7] == b"\\2"
    assert meter.next_deadline() == 1.5
    assert meter.receive_data(b"\x06252\r\n", 0.4) == [BaudRateChange(9600), EnterHdlc(9600)]
    assert meter.phase is Phase.HDLC and meter.next_deadline() is None
    assert meter.data_to_send() == b""


def test_lower_baud_split_input_and_parity_bits() -> None:
    meter = ModeEOpening(max_baud_char="6")
    for ch in b"/?12345678!\r\n":
        meter.receive_data(bytes((ch | 0x80,)), 0.0)  # parity bit left in by the port
    assert meter.data_to_send() == b""  # addressed to another device
    meter = ModeEOpening(device_address="12345678", max_baud_char="6")
    meter.receive_data(b"\x00\x7f/?12345678!\r", 0.0)
    meter.receive_data(b"\n", 0.1)
    assert meter.data_to_send().startswith(b"/ACE6\\2")
    assert meter.receive_data(b"\x06232\r\n", 0.2) == [BaudRateChange(2400), EnterHdlc(2400)]


@pytest.mark.parametrize(("ack", "why"), [
    (b"\x06050\r\n", "protocol"),  # mode C readout
    (b"\x06252\r\n", "baud"),  # more than offered ('4')
    (b"\x0625\r\n", "acknowledgement"),
    (b"hello\r\n", "acknowledgement"),
])
def test_bad_ack_fails(ack: bytes, why: str) -> None:
    meter = ModeEOpening(max_baud_char="4")
    meter.receive_data(b"/?!\r\n", 0.0)
    [event] = meter.receive_data(ack, 0.1)
    assert isinstance(event, Failed) and why in event.reason
    assert meter.phase is Phase.WAIT_REQUEST
    meter.receive_data(b"/?!\r\n", 1.0)  # and the meter answers a new sign-on
    assert meter.data_to_send().startswith(b"/ACE4")


def test_ack_timeout_and_partial_line_timeout() -> None:
    meter = ModeEOpening()
    meter.receive_data(b"/?!\r\n", 10.0)
    meter.data_to_send()
    assert meter.handle_timer(11.0) == []
    assert meter.handle_timer(11.5) == [Failed("no acknowledgement/option select message in time")]
    meter.receive_data(b"/?", 20.0)
    assert meter.next_deadline() == 21.5
    assert meter.handle_timer(21.5) == []
    meter.receive_data(b"!\r\n", 22.0)  # the stale "/?" was dropped
    assert meter.data_to_send() == b""


def test_repeated_request_reidentifies() -> None:
    meter = ModeEOpening()
    meter.receive_data(b"/?!\r\n", 0.0)
    meter.receive_data(b"/?!\r\n", 1.0)
    assert meter.data_to_send().count(b"/ACE") == 2
    assert meter.next_deadline() == 2.5


def test_bad_configuration() -> None:
    for kwargs in ({"manufacturer": "AC"}, {"max_baud_char": "9"}, {"identification": "a/b"},
                   {"identification": ""}):
        with pytest.raises(EncodeError):
            ModeEOpening(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=20), max_size=8))
def test_random_input_never_raises(chunks: list[bytes]) -> None:
    meter = ModeEOpening()
    now = 0.0
    for chunk in [b"/?!\r\n", *chunks]:
        now += 0.3
        meter.receive_data(chunk, now)
        meter.handle_timer(now)
        meter.data_to_send()


SIGN_ON = [b"/?!\r\n", b"\x06252\r\n"]
IDENT = b"/ACE5\\2ACESM\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SIGN_ON), st.integers(0, 2**32)), max_size=6),
       st.data())
def test_mutated_sign_on_never_wedges_the_port(pieces: list[tuple[bytes, int]],
                                               data: st.DataObject) -> None:
    """Sign-on messages damaged, repeated and cut anywhere: only the opening's own events come
    out, nothing but the identification is sent, and once the timers have run a correct sign-on
    opens the port (unless the damaged one already did)."""
    stream = b""
    for message, seed in pieces:
        rng = random.Random(seed)
        stream += mutate(message, rng) if rng.random() < 0.7 else message
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    meter = ModeEOpening()
    now = 0.0
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        now += 0.2
        for event in [*meter.receive_data(stream[a:b], now), *meter.handle_timer(now)]:
            assert isinstance(event, BaudRateChange | EnterHdlc | Failed)
        assert meter.data_to_send().replace(IDENT, b"") == b""  # one per request line
    if meter.phase is Phase.HDLC:
        return
    meter.handle_timer(now + 2.0)
    meter.receive_data(b"/?!\r\n", now + 3.0)
    assert meter.data_to_send() == IDENT
    assert meter.receive_data(b"\x06252\r\n", now + 3.5) == [BaudRateChange(9600), EnterHdlc(9600)]
