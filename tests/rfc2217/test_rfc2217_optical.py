"""The optical port as an RFC 2217 server (issue 13 item 1), opened with pyserial's own
``rfc2217://`` client against a real meter process: sign on at 300 baud, switch by mode E to the
rate the meter offers (HDLC setup comm_speed, 9600 by default), read the clock over HDLC with
gurux-dlms, disconnect, and again; and a client that does not switch gets nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import serial
from support.gurux_hdlc import GuruxHdlc
from support.process import MeterProcess, meter_process
from support.rfc2217_client import open_optical, read_clock, sign_on, switch

from meter.transport.rfc2217 import parse_rfc2217_url

START = "2026-03-01T12:00:00+00:00"


@pytest.fixture(scope="module")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeterProcess]:
    state: Path = tmp_path_factory.mktemp("rfc2217") / "state"
    with meter_process(state, "--optical", "rfc2217://127.0.0.1:0", "--start", START) as m:
        yield m


def test_sign_on_switch_by_mode_e_and_read_the_clock_twice(meter: MeterProcess) -> None:
    port = open_optical(meter)
    try:
        times = []
        for _ in range(2):
            port.baudrate, port.bytesize, port.parity = 300, serial.SEVENBITS, serial.PARITY_EVEN
            # The switch travels as RFC 2217 SET-BAUDRATE (and the 8N1 of HDLC with it).
            switch(port, sign_on(port))
            times.append(read_clock(port))  # DISC ends it: the meter is back at 300
        assert times[0].year == 2026 and times[0] <= times[1]
    finally:
        port.close()


def test_a_client_that_does_not_switch_gets_nothing(meter: MeterProcess) -> None:
    port = open_optical(meter)
    try:
        sign_on(port)
        switch(port, 300)  # 8N1, but no switch of the rate
        client = GuruxHdlc(port.write, lambda: port.read(max(1, port.in_waiting)))
        snrm = bytes(client.client.snrmRequest())
        port.timeout = 0.5  # a real wait for silence: nothing should come back
        port.write(snrm)  # still at 300 baud: the meter listens at 9600
        assert port.read(64) == b""
        port.timeout = 5
        port.baudrate = 9600
        port.write(snrm)  # at the agreed rate the same frame is answered (UA)
        assert port.read(1) == b"\x7e"
    finally:
        port.close()  # the hang-up: the next client signs on at 300 again


def test_the_url_takes_a_default_host() -> None:
    assert parse_rfc2217_url("rfc2217://4060", "127.0.0.1") == ("127.0.0.1", 4060)
    assert parse_rfc2217_url("rfc2217://[::1]:4060/", "127.0.0.1") == ("::1", 4060)
    with pytest.raises(ValueError):
        parse_rfc2217_url("socket://host:1", "127.0.0.1")


@pytest.mark.parametrize("command", [
    b"\xff\xfa\x2c\x04\x09\xff\xf0",  # SET-STOPSIZE 9: no such code (PortManager raises KeyError)
    b"\xff\xfa\x2c\x01" + b"\x00" * 100,  # a subnegotiation that never ends
])
def test_a_bad_client_is_closed_and_the_port_serves_the_next(meter: MeterProcess,
                                                             command: bytes) -> None:
    host, port_number = parse_rfc2217_url(meter.ready["optical"], "127.0.0.1")
    with socket.create_connection((host, port_number), timeout=5) as raw:
        raw.sendall(command)
        while raw.recv(1024):  # the meter's own option requests, then the close
            pass
    port = open_optical(meter)
    try:
        sign_on(port)
    finally:
        port.close()
    assert "Traceback" not in meter.log_text()
