"""The optical probe emulator over a real pty, driven by a scripted mode E client (and, end to end,
by gurux-dlms on a meter subprocess)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st
from support.gurux_hdlc import GuruxHdlc
from support.process import meter_process, profile_with

from meter.link.iec62056_21 import ModeEOpening
from meter.timebase import Timebase
from meter.transport.optical import SIGN_ON_BAUD, OpticalPort

from .conftest import EchoStack, on_loop, wait_for

# IEC 62056-21 baud rate characters of modes C and E.
BAUD_CHARS = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}


@contextmanager
def _optical(
    loop: asyncio.AbstractEventLoop, scale: float = 1.0
) -> Iterator[tuple[OpticalPort, serial.Serial]]:
    """A started optical port and a client on its pty at 300 baud; both closed afterwards."""
    port = on_loop(loop, lambda: OpticalPort(loop, Timebase(scale=scale), EchoStack, ModeEOpening))
    on_loop(loop, port.start)
    client = serial.Serial(port.path, 300, timeout=5)
    try:
        yield port, client
    finally:
        client.close()
        on_loop(loop, port.close)


def _sign_on(client: serial.Serial) -> int:
    """Mode E opening as a client does it; returns the agreed baud rate."""
    client.baudrate = 300
    client.write(b"/?!\r\n")
    ident = client.read_until(b"\r\n")
    assert ident.startswith(b"/") and ident.endswith(b"\r\n"), ident
    assert b"\\2" in ident  # mode E: the meter offers HDLC
    baud_char = chr(ident[4])
    client.write(b"\x062" + baud_char.encode() + b"2\r\n")
    client.baudrate = BAUD_CHARS[baud_char]
    return client.baudrate


def test_mode_e_opening_then_hdlc_then_back_to_sign_on(
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    with _optical(loop_thread) as (port, client):
        baud = _sign_on(client)
        wait_for(lambda: port.baud == baud)
        # HDLC from here on: the stack sees exactly the client's bytes.
        client.write(b"\x7e frame\n")
        assert client.read_until(b"\n") == b"\x7e frame\n"
        assert EchoStack.instances[0].framing == "wrapper"  # the factory we passed
        # The stack closing (DISC) returns the port to 300 baud and the sign-on.
        client.write(b"close\n")
        assert client.read_until(b"\n") == b"bye\n"
        wait_for(lambda: port.baud == SIGN_ON_BAUD)
        assert _sign_on(client) == baud
        client.write(b"again\n")
        assert client.read_until(b"\n") == b"again\n"
        assert len(EchoStack.instances) == 2


def test_garbage_before_sign_on_does_not_reach_the_stack(
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    with _optical(loop_thread) as (port, client):
        client.write(b"hello\r\n")
        _sign_on(client)
        client.write(b"x\n")
        assert client.read_until(b"\n") == b"x\n"
        assert [m for m, _ in EchoStack.instances[0].received] == [b"x\n"]


def test_hdlc_right_behind_the_ack_reaches_the_stack(
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    with _optical(loop_thread) as (port, client):
        client.write(b"/?!\r\n")
        ident = client.read_until(b"\r\n")
        client.write(b"\x062" + ident[4:5] + b"2\r\n" + b"snrm\n")  # one write, one chunk
        assert client.read_until(b"\n") == b"snrm\n"


def test_missing_ack_times_out_through_the_deadline(
    loop_thread: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    # At 1000x the 1.5 s ack timeout of IEC 62056-21 passes in 1.5 ms.
    with _optical(loop_thread, scale=1000.0) as (port, client):
        with caplog.at_level(logging.WARNING, logger="meter.transport.optical"):
            client.write(b"/?!\r\n")
            assert client.read_until(b"\r\n").startswith(b"/ACE")
            wait_for(lambda: "no acknowledgement" in caplog.text)
        assert port.baud == SIGN_ON_BAUD
        assert not EchoStack.instances
        _sign_on(client)
        client.write(b"late\n")
        assert client.read_until(b"\n") == b"late\n"


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=12))
def test_any_chunking_hands_hdlc_exactly_the_bytes_after_the_ack(cuts: list[int]) -> None:
    stream = b"junk\r\n/?!\r\n\x06252\r\n" + b"first frame\nsecond\n"
    chunks, pos = [], 0
    for cut in sorted(set(cuts)):
        chunks.append(stream[pos:cut])
        pos = cut
    chunks.append(stream[pos:])
    loop = asyncio.new_event_loop()  # never run: only the pty and timers need a loop
    EchoStack.instances.clear()
    port = OpticalPort(loop, Timebase(), EchoStack, ModeEOpening)
    try:
        for chunk in chunks:
            if chunk:
                port._received(chunk)  # noqa: SLF001 - what the pty reader calls
        assert port.baud == 9600
        assert [m for m, _ in EchoStack.instances[0].received] == [b"first frame\n", b"second\n"]
    finally:
        port.close()
        loop.close()


def _hdlc_session(client: serial.Serial) -> GuruxHdlc:
    """gurux-dlms over the probe: SNRM, AARQ (public), one GET."""
    hdlc = GuruxHdlc(client.write, lambda: client.read(max(1, client.in_waiting)))
    hdlc.connect()
    assert hdlc.logical_device_name().startswith(b"ACE")
    return hdlc


def test_every_disc_and_every_link_timeout_returns_the_meter_to_sign_on(tmp_path: Path) -> None:
    # A meter subprocess; its HDLC inactivity time-out (real seconds) shortened to 1 s.
    profile = profile_with(tmp_path, "[hdlc]\ninactivity_timeout = 1\n")
    with meter_process(tmp_path / "state", "--profile", str(profile), "--optical") as m:
        client = serial.Serial(m.ready["optical"], 300, timeout=5)
        try:
            for _ in range(3):
                _sign_on(client)
                _hdlc_session(client).disconnect()
            for _ in range(2):
                _sign_on(client)
                _hdlc_session(client)
                time.sleep(1.5)  # the link times out (DM) and the port goes back to 300 baud
                client.reset_input_buffer()
        finally:
            client.close()
        # The last sign-on after the time-out, then a DISC, still works.
        with serial.Serial(m.ready["optical"], 300, timeout=5) as client:
            _sign_on(client)
            _hdlc_session(client).disconnect()
