"""The optical probe offers the IEC HDLC setup's comm_speed (class 23 attribute 2) in its mode E
identification message, and switches the line to it after the acknowledgement; a SET of
comm_speed applies to the next sign-on (IEC 62056-21 6.3.2, Blue Book 4.8.4)."""

from __future__ import annotations

import asyncio
import termios

import pytest
import serial

from meter.codec.axdr import Enum
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.registry import ObjectDirectory
from meter.device.port_setups import opening_factory
from meter.errors import AccessError, DataAccessResult
from meter.link.iec62056_21 import BAUD_RATES, baud_character
from meter.timebase import Timebase
from meter.transport.optical import SIGN_ON_BAUD, OpticalPort

from .conftest import EchoStack, on_loop, wait_for

HDLC_SETUP = Obis.parse("0.0.22.0.0.255")


def test_baud_characters_cover_every_comm_speed() -> None:
    """'0'..'6' name 300..19200 baud; comm_speed 7-9 (38400-115200) has no character in
    IEC 62056-21's table, so the fastest one, '6', is offered."""
    assert [baud_character(rate) for rate in BAUD_RATES.values()] == list(BAUD_RATES)
    assert [baud_character(b) for b in (38400, 57600, 115200, 110)] == ["6", "6", "6", "0"]


def _sign_on(port: OpticalPort, client: serial.Serial, offered: str, rate: int) -> None:
    """Sign on, check the meter offers ``offered`` and then runs the line at ``rate``."""
    client.write(b"/?!\r\n")
    ident = client.read_until(b"\r\n")
    assert ident[4:5] == offered.encode(), ident
    client.write(b"\x062" + offered.encode() + b"2\r\n")
    wait_for(lambda: port.baud == rate)
    # The slave tty's speed, as the client's own port reads it from the OS.
    speed = getattr(termios, f"B{rate}")
    assert termios.tcgetattr(client.fileno())[4:6] == [speed, speed]


@pytest.mark.parametrize(("comm_speed", "char", "baud"),
                         [(6, "6", 19200), (3, "3", 2400), (9, "6", 19200), (0, "0", 300)])
def test_a_set_of_comm_speed_applies_to_the_next_sign_on(
    loop_thread: asyncio.AbstractEventLoop, comm_speed: int, char: str, baud: int,
) -> None:
    setup = IecHdlcSetup(HDLC_SETUP)
    ctx = Context(ObjectDirectory([setup]), None, lambda _e: None, lambda _o: None)
    loop = loop_thread
    port = on_loop(loop, lambda: OpticalPort(loop, Timebase(), EchoStack,
                                             opening_factory("ACE", lambda: [setup])))
    on_loop(loop, port.start)
    client = serial.Serial(port.path, SIGN_ON_BAUD, timeout=5)
    try:
        for offered, rate in (("5", 9600), (char, baud)):  # the default 9600, then the SET's
            _sign_on(port, client, offered, rate)
            client.write(b"close\n")  # the stack ends: back to 300 baud and the sign-on
            assert client.read_until(b"\n") == b"bye\n"
            wait_for(lambda: port.baud == SIGN_ON_BAUD)
            client.baudrate = SIGN_ON_BAUD
            on_loop(loop, lambda: setup.set(2, Enum(comm_speed), ctx))
    finally:
        client.close()
        on_loop(loop, port.close)


def test_comm_speed_out_of_range_is_refused() -> None:
    setup = IecHdlcSetup(HDLC_SETUP)
    ctx = Context(ObjectDirectory([setup]), None, lambda _e: None, lambda _o: None)
    with pytest.raises(AccessError) as exc:
        setup.set(2, Enum(10), ctx)
    assert exc.value.result == DataAccessResult.OTHER_REASON
    assert setup.baud == 9600
