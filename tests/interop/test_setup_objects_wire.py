"""The communication setup objects driving the meter's ports, set by two independent clients on
meters of their own (these tests move the meter's ports): the IEC HDLC setup's comm_speed
(class 23 attribute 2) offered by the optical port's next mode E sign-on (IEC 62056-21 6.3.2),
and the TCP-UDP setup (class 41) moving the wrapper listener (TCP_UDP_port), capping its
connections (nb_of_sim_conn) and setting the segment size it announces (MSS)."""

from __future__ import annotations

import socket
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial
from support.gurux_hdlc import GuruxHdlc
from support.process import meter_process, profile_with

from .clients import (
    DRIVERS,
    HDLC,
    LONG_UNSIGNED,
    MANAGEMENT,
    READER,
    SUCCESS,
    UNSIGNED,
    WRAPPER,
    Arg,
    Driver,
    Endpoint,
    Ref,
)
from .conftest import Meter, next_invocation_counter

pytestmark = pytest.mark.interop

ENUM = 22
COMM_SPEED = Ref(23, "0.0.22.0.0.255", 2)
TCP_UDP_SETUP = "0.0.25.0.0.255"
PORT, MSS, NB_OF_SIM_CONN = (Ref(41, TCP_UDP_SETUP, i) for i in (2, 4, 5))
LDN = Ref(1, "0.0.42.0.0.255", 2)


@contextmanager
def _serve(state: Path, *extra: str) -> Iterator[Meter]:
    with meter_process(state, "--tcp", "127.0.0.1:0", "--hdlc-over-tcp", "127.0.0.1:0",
                       "--history", "1h", *extra) as process:
        yield Meter(process, Endpoint(WRAPPER, *process.address("tcp")),
                    Endpoint(HDLC, *process.address("hdlc")))


def _sign_on(path: str) -> tuple[bytes, int]:
    """A mode E sign-on taking the offered rate, then an HDLC link opened and closed (the port
    goes back to sign-on): (identification, the tty's speed once HDLC runs)."""
    with serial.Serial(path, 300, timeout=5) as probe:
        probe.write(b"/?!\r\n")
        ident = probe.read_until(b"\r\n")
        probe.write(b"\x062" + ident[4:5] + b"2\r\n")
        hdlc = GuruxHdlc(probe.write, lambda: probe.read(max(1, probe.in_waiting)))
        hdlc.connect()
        speed = termios.tcgetattr(probe.fileno())[4]
        hdlc.disconnect()
        return ident, speed


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_comm_speed_set_over_tcp_is_offered_at_the_next_optical_sign_on(tmp_path: Path,
                                                                        client: str) -> None:
    """comm_speed 5 (9600, [hdlc]) offered as '5'; after a SET to 6 (19200) the next sign-on
    offers '6' and the probe's tty runs at 19200; the value survives a restart. On a meter
    without an IEC local port setup: where there is one, its prop_baud rules the sign-on
    (meter/device/port_setups.py; tests/local_port)."""
    profile = profile_with(tmp_path, 'remove = ["0.0.20.0.0.255"]\n[[object]]\nobis = "0.6.25.9.0.255"\n'
                                     'class = "push_setup"\nport_reference = "0.0.22.0.0.255"\n')
    with _serve(tmp_path / "state", "--optical", "--profile", str(profile)) as meter:
        optical = meter.process.ready["optical"]
        ident, speed = _sign_on(optical)
        assert (ident[4:5], speed) == (b"5", termios.B9600)
        manager = DRIVERS[client](meter.tcp, MANAGEMENT,
                                  next_invocation_counter(meter, WRAPPER))
        manager.associate()
        assert manager.get(COMM_SPEED).value == 5
        assert manager.set(COMM_SPEED, Arg(ENUM, 6)) == SUCCESS
        assert manager.set(COMM_SPEED, Arg(ENUM, 10)) != SUCCESS  # not a Blue Book baud rate
        manager.release()
        ident, speed = _sign_on(optical)
        assert (ident[4:5], speed) == (b"6", termios.B19200)
    with _serve(tmp_path / "state", "--optical", "--profile", str(profile)) as meter:
        ident, _speed = _sign_on(meter.process.ready["optical"])
        assert ident[4:5] == b"6"
        reader = DRIVERS[client](meter.tcp, READER, 0)
        reader.associate()
        assert reader.get(COMM_SPEED).value == 6
        reader.release()


def _manager(client: str, meter: Meter) -> Driver:
    driver = DRIVERS[client](meter.tcp, MANAGEMENT, next_invocation_counter(meter, WRAPPER))
    driver.associate()
    return driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A connection to host:port, retried while the port is not listening yet."""
    end = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=2)
        except ConnectionRefusedError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def _refused(sock: socket.socket, wait: float = 2.0) -> bool:
    """True when the meter closes the connection within ``wait`` s without a word."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _maxseg(host: str, port: int) -> int:
    """The segment size a new connection's client side sends with (what the meter announced,
    less the TCP options)."""
    with _connect(host, port) as sock:
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_tcp_udp_port_set_moves_the_listener_after_the_connection(tmp_path: Path,
                                                                  client: str) -> None:
    """TCP_UDP_port reads the port the command line bound; a SET of another port moves the
    listener once the SET's connection ends: the meter answers there and no longer on the old
    port, while a connection opened before the move keeps being served; after a restart with
    the same command line the meter listens on the port set."""
    new = _free_port()
    with _serve(tmp_path / "state") as meter:
        host, old = meter.tcp.host, meter.tcp.port
        early = DRIVERS[client](meter.tcp, READER, 0)
        early.associate()
        assert early.get(PORT).value == old
        manager = _manager(client, meter)
        assert manager.set(PORT, Arg(LONG_UNSIGNED, 0)) != SUCCESS  # no port to listen on
        assert manager.set(PORT, Arg(LONG_UNSIGNED, new)) == SUCCESS
        assert manager.get(LDN).ok  # the SET's own connection goes on
        manager.release()
        moved = Endpoint(WRAPPER, host, new)
        _connect(host, new).close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, old), timeout=2)
        assert early.get(LDN).ok
        early.release()
        reader = DRIVERS[client](moved, READER, 0)
        reader.associate()
        assert reader.get(PORT).value == new
        reader.release()
    with _serve(tmp_path / "state") as meter:
        assert meter.tcp.port == new


def _capped_at_two_with_small_segments(host: str, port: int) -> None:
    end = time.monotonic() + 5.0  # the settings apply as the manager's connection ends
    while _maxseg(host, port) > 536:
        assert time.monotonic() < end, "MSS not applied"
        time.sleep(0.05)
    first, second = _connect(host, port), _connect(host, port)
    third = _connect(host, port)
    assert _refused(third) and not _refused(second, 0.5)
    first.close()
    time.sleep(0.2)
    fourth = _connect(host, port)
    assert not _refused(fourth, 0.5)
    for sock in (second, third, fourth):
        sock.close()
    time.sleep(0.2)


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_nb_of_sim_conn_caps_and_mss_is_announced(tmp_path: Path, client: str) -> None:
    """nb_of_sim_conn (255: "255 or more", the cap left to [limits]) set to 2: a third wrapper
    connection is closed at once, and served once one of the two ends; MSS set to 536: new
    connections are offered segments of at most 536 bytes. Both apply once the SET's connection
ends, and after a restart."""
    with _serve(tmp_path / "state") as meter:
        host, port = meter.tcp.host, meter.tcp.port
        assert _maxseg(host, port) > 536  # loopback's own, some 64 KiB
        manager = _manager(client, meter)
        assert manager.get(NB_OF_SIM_CONN).value == 255
        assert manager.set(NB_OF_SIM_CONN, Arg(UNSIGNED, 0)) != SUCCESS
        assert manager.set(MSS, Arg(LONG_UNSIGNED, 39)) != SUCCESS
        assert manager.set(NB_OF_SIM_CONN, Arg(UNSIGNED, 2)) == SUCCESS
        assert manager.set(MSS, Arg(LONG_UNSIGNED, 536)) == SUCCESS
        manager.release()
        _capped_at_two_with_small_segments(host, port)
    with _serve(tmp_path / "state") as meter:
        _capped_at_two_with_small_segments(meter.tcp.host, meter.tcp.port)
        reader = DRIVERS[client](meter.tcp, READER, 0)
        reader.associate()
        assert (reader.get(NB_OF_SIM_CONN).value, reader.get(MSS).value) == (2, 536)
        reader.release()
