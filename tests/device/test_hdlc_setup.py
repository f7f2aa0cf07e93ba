"""The IEC HDLC setup 0.0.22.0.0.255 (class 23) drives each new HDLC connection (issue 8 item 1):
device_address is the address the link answers at, inter_octet_time_out the serial line's
inter-octet time-out; a SET applies to the next connection. Wire time is injected."""

from __future__ import annotations

from pathlib import Path

from gurux_dlms import GXDLMSClient
from gurux_dlms.enums import Authentication, InterfaceType
from support import Meter

from meter.codec import axdr
from meter.codec.obis import Obis

HDLC_SETUP = Obis.parse("0.0.22.0.0.255")
T0 = 1000.0  # wire time


def snrm(physical: int) -> bytes:
    client = GXDLMSClient(True, 16, GXDLMSClient.getServerAddress(1, physical, 4),
                          Authentication.NONE, None, InterfaceType.HDLC)
    client.setServerAddressSize(4)
    return bytes(client.snrmRequest())


def answer(meter: Meter, frame: bytes, gap: float = 0.0, *, serial: bool = False) -> bytes:
    """What a new HDLC connection answers to ``frame`` sent in two halves ``gap`` seconds apart
    (the stack's timers run in between, as the transport runs them)."""
    stack = meter.device.new_stack("hdlc", serial=serial, now=meter.timebase.now)
    stack.connection_made(T0)
    half = len(frame) // 2
    out = stack.receive_data(frame[:half], T0)
    out += stack.handle_timer(T0 + gap)
    return out + stack.receive_data(frame[half:], T0 + gap)


def test_device_address_is_the_address_the_link_answers_at(tmp_path: Path) -> None:
    meter = Meter(tmp_path)
    try:
        assert meter.reader().get(23, HDLC_SETUP, 9) == axdr.LongUnsigned(17)
        assert answer(meter, snrm(17)) and not answer(meter, snrm(18))
        assert meter.management().set(23, HDLC_SETUP, 9, axdr.LongUnsigned(18)) == 0
        assert answer(meter, snrm(18)) and not answer(meter, snrm(17))
        meter.restart()
        assert answer(meter, snrm(18)) and not answer(meter, snrm(17))
    finally:
        meter.close()


def test_inter_octet_time_out_is_the_serial_lines(tmp_path: Path) -> None:
    meter = Meter(tmp_path)
    try:
        # 25 ms (Blue Book default): a frame split by 100 ms is discarded on a serial line; over
        # TCP a frame may be split by more (HdlcConfig's 1 s).
        assert meter.reader().get(23, HDLC_SETUP, 7) == axdr.LongUnsigned(25)
        assert not answer(meter, snrm(17), 0.1, serial=True)
        assert answer(meter, snrm(17), 0.1)
        assert meter.management().set(23, HDLC_SETUP, 7, axdr.LongUnsigned(200)) == 0
        assert answer(meter, snrm(17), 0.1, serial=True)
        assert not answer(meter, snrm(17), 0.3, serial=True)
    finally:
        meter.close()
