"""The communication setup objects driving the meter's ports, set by two independent clients on
meters of their own (these tests move the meter's ports): the IEC HDLC setup's comm_speed
(class 23 attribute 2) offered by the optical port's next mode E sign-on (IEC 62056-21 6.3.2)."""

from __future__ import annotations

import termios
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial
from support.gurux_hdlc import GuruxHdlc
from support.process import meter_process

from .clients import DRIVERS, HDLC, MANAGEMENT, READER, SUCCESS, WRAPPER, Arg, Endpoint, Ref
from .conftest import Meter, next_invocation_counter

pytestmark = pytest.mark.interop

ENUM = 22
COMM_SPEED = Ref(23, "0.0.22.0.0.255", 2)


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
    offers '6' and the probe's tty runs at 19200; the value survives a restart."""
    with _serve(tmp_path / "state", "--optical") as meter:
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
    with _serve(tmp_path / "state", "--optical") as meter:
        ident, _speed = _sign_on(meter.process.ready["optical"])
        assert ident[4:5] == b"6"
        reader = DRIVERS[client](meter.tcp, READER, 0)
        reader.associate()
        assert reader.get(COMM_SPEED).value == 6
        reader.release()
