"""pyserial's own RFC 2217 client on a meter's optical port (serve --optical rfc2217://...):
mode E sign-on at 300 baud 7E1, the switch, the clock read over HDLC with gurux-dlms."""

from __future__ import annotations

from datetime import datetime

import serial
from gurux_dlms.objects import GXDLMSClock

from support.gurux_hdlc import GuruxHdlc
from support.process import MeterProcess

__all__ = ["SIGN_ON", "open_optical", "read_clock", "sign_on", "switch"]

SIGN_ON = b"/?!\r\n"


def open_optical(meter: MeterProcess) -> serial.Serial:
    """The port the READY line names, opened at the sign-on's 300 baud 7E1."""
    url = meter.ready["optical"]
    assert url.startswith("rfc2217://127.0.0.1:")
    return serial.serial_for_url(url, baudrate=300, bytesize=serial.SEVENBITS,
                                 parity=serial.PARITY_EVEN, timeout=5)


def sign_on(port: serial.Serial) -> int:
    """Mode E: the meter's identification, our ack of its baud character; returns the rate the
    meter switched to."""
    port.write(SIGN_ON)
    ident = port.read_until(b"\r\n")
    assert ident.startswith(b"/ACE5\\2"), ident  # '5': 9600 baud, '\2': HDLC (mode E)
    port.write(b"\x0625" b"2\r\n")
    return 9600


def switch(port: serial.Serial, rate: int) -> None:
    """The client's half of the switch: the agreed rate, 8N1 (RFC 2217 SET-BAUDRATE etc.)."""
    port.baudrate, port.bytesize, port.parity = rate, serial.EIGHTBITS, serial.PARITY_NONE


def read_clock(port: serial.Serial) -> datetime:
    """SNRM, AARQ (public client), GET of the clock's time, DISC (the meter goes back to 300)."""
    client = GuruxHdlc(port.write, lambda: port.read(max(1, port.in_waiting)))
    client.connect()
    clock = GXDLMSClock("0.0.1.0.0.255")
    [request] = client.client.read(clock, 2)
    client.client.updateValue(clock, 2, client.exchange(request).value)
    client.disconnect()
    return clock.time.value
