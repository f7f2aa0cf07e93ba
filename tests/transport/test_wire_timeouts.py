"""Idle connections and link timers over real sockets, on a meter subprocess (issue 7 items 3, 12).

The wrapper inactivity time-out is the TCP-UDP setup's inactivity_time_out (profile [tcp]
inactivity_timeout is its initial value, a SET changes it for new connections); HDLC over TCP
closes when its link times out or none is opened within the HDLC inactivity time-out. These are
wire timers: real seconds, whatever --time-scale says.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from support import ClientError, Keys, WrapperClient
from support.gurux_hdlc import GuruxHdlc
from support.process import MeterProcess, meter_process, profile_with

from meter.codec import axdr
from meter.codec.obis import Obis

IDLE = "[tcp]\ninactivity_timeout = 1\n[hdlc]\ninactivity_timeout = 1\n"
TCP_UDP_SETUP = Obis.parse("0.0.25.0.0.255")
LDN = Obis.parse("0.0.42.0.0.255")
PUBLIC, MANAGEMENT = 16, 1
BOTH = ("--tcp", "127.0.0.1:0", "--hdlc-over-tcp", "127.0.0.1:0")


def _closed_by_meter(sock: socket.socket, within: float) -> float:
    """Seconds until the meter closes ``sock`` (EOF or reset); fails after ``within``."""
    start = time.monotonic()
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"connection still open after {within} s") from None
    return time.monotonic() - start


def _connect(m: MeterProcess, medium: str = "tcp") -> socket.socket:
    return socket.create_connection(m.address(medium), timeout=5)


def test_idle_and_slow_connections_are_closed_after_the_inactivity_time_out(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, IDLE)
    with meter_process(tmp_path / "state", "--profile", str(profile), *BOTH) as m:
        baseline = m.fds()
        silent = [_connect(m) for _ in range(40)] + [_connect(m, "hdlc") for _ in range(20)]
        associated = WrapperClient(*m.address(), client_sap=PUBLIC)
        associated.associate()
        # Slowloris: a wrapper header one byte at a time never makes a PDU.
        slow = _connect(m)
        opened = time.monotonic()
        for byte in bytes.fromhex("0001001000"):
            slow.sendall(bytes((byte,)))
            time.sleep(0.3)
        # A client that keeps asking stays connected past the time-out.
        busy = WrapperClient(*m.address(), client_sap=PUBLIC)
        busy.associate()
        for _ in range(8):
            assert isinstance(busy.get(1, LDN, 2), axdr.OctetString)
            time.sleep(0.25)
        for sock in [*silent, slow, associated.sock]:
            _closed_by_meter(sock, within=3.0)
        assert time.monotonic() - opened >= 1.0
        with pytest.raises((ClientError, OSError)):
            associated.get(1, LDN, 2)
        assert isinstance(busy.get(1, LDN, 2), axdr.OctetString)
        busy.close()
        for sock in silent:
            sock.close()
        m.wait_fds(baseline, 5)
        assert m.fds() <= baseline


def test_an_hdlc_link_that_times_out_closes_the_tcp(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, IDLE)
    with meter_process(tmp_path / "state", "--profile", str(profile), *BOTH) as m:
        sock = _connect(m, "hdlc")
        client = GuruxHdlc(sock.sendall, lambda: sock.recv(4096))
        client.connect()
        assert client.logical_device_name().startswith(b"ACE")
        _closed_by_meter(sock, within=3.0)


def test_a_set_inactivity_time_out_applies_to_new_connections(tmp_path: Path) -> None:
    # Initially 100 s from the profile; the management client sets 1 s.
    profile = profile_with(tmp_path, "[tcp]\ninactivity_timeout = 100\n")
    with meter_process(tmp_path / "state", "--profile", str(profile), "--tcp", "127.0.0.1:0") as m:
        reader = WrapperClient(*m.address(), client_sap=PUBLIC)
        reader.associate()
        before = _connect(m)
        manager = WrapperClient(*m.address(), client_sap=MANAGEMENT)
        manager.associate(mechanism=5, keys=Keys())
        assert manager.get(41, TCP_UDP_SETUP, 6) == axdr.LongUnsigned(100)
        assert manager.set(41, TCP_UDP_SETUP, 6, axdr.LongUnsigned(1)) == 0
        manager.release()
        manager.close()
        after = _connect(m)
        assert 0.8 < _closed_by_meter(after, within=3.0) < 3.0
        before.settimeout(0.5)
        with pytest.raises(TimeoutError):
            before.recv(1)  # opened under 100 s: still open
        before.close()


def test_link_timers_run_on_real_time_at_any_time_scale(tmp_path: Path) -> None:
    # At 600x, 120 s of HDLC inactivity and 180 s of wrapper inactivity would pass in 0.2-0.3 s
    # of simulated time, and the 1 s inter-octet time-out in 1.7 ms.
    with meter_process(tmp_path / "state", *BOTH, "--time-scale", "600") as m:
        sock = _connect(m, "hdlc")
        client = GuruxHdlc(sock.sendall, lambda: sock.recv(4096))
        client.connect()
        time.sleep(0.5)
        assert client.logical_device_name().startswith(b"ACE")

        def split(frame: bytes) -> None:  # one frame in two segments 20 ms apart
            sock.sendall(frame[:7])
            time.sleep(0.02)
            sock.sendall(frame[7:])

        client.send = split
        assert client.logical_device_name().startswith(b"ACE")

        wrapper = WrapperClient(*m.address(), client_sap=PUBLIC)
        wrapper.associate()
        time.sleep(0.5)
        assert isinstance(wrapper.get(1, LDN, 2), axdr.OctetString)
        wrapper.close()
        sock.close()
