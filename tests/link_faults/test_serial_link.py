"""A SerialLink (a serial device path opened with pyserial, here a pty) with link faults: its
replies dropped and delayed, and a cut that restarts its stack as a line drop would."""

from __future__ import annotations

import os
import time


from meter.timebase import Timebase
from meter.transport.faults import LinkFaults
from meter.transport.serial import SerialLink

from .conftest import Served, wait_for

FRAME = bytes.fromhex("7ea00a0002002303930a1a7e")  # an HDLC frame shape: flags, length 10


class Echo:
    """A stack that answers every whole HDLC-shaped frame (by its length field) with itself,
    however the line chunks it."""

    made = 0

    def __init__(self) -> None:
        Echo.made += 1
        self.closed = False
        self._buffer = b""

    def connection_made(self, now: float) -> None:
        pass

    def receive_data(self, data: bytes, now: float) -> bytes:
        self._buffer += data
        out = b""
        while len(self._buffer) >= 3 and len(self._buffer) >= 2 + self._buffer[2]:
            size = 2 + self._buffer[2]
            out += self._buffer[:size]
            self._buffer = self._buffer[size:]
        return out

    def next_deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> bytes:
        return b""

    def connection_lost(self) -> None:
        pass


def _read(master: int, n: int, timeout: float = 5.0) -> bytes:
    os.set_blocking(master, False)
    data = b""
    end = time.monotonic() + timeout
    while len(data) < n and time.monotonic() < end:
        try:
            data += os.read(master, n - len(data))
        except BlockingIOError:
            time.sleep(0.005)
    return data


def test_faults_on_a_serial_link(served: Served) -> None:
    """On the served meter's loop thread (the meter itself is not involved)."""
    master, slave = os.openpty()
    faults = LinkFaults(drop_every=2)
    link = served.call(lambda: SerialLink(os.ttyname(slave), Echo, Timebase(), served.loop,
                                          faults=faults))
    try:
        served.call(link.start)
        made = Echo.made
        os.write(master, FRAME * 3)  # however chunked, each reply frame counts alone
        assert _read(master, 3 * len(FRAME), timeout=1.0) == 2 * FRAME  # the second dropped
        assert faults.counters["dropped"] == 1
        served.call(lambda: faults.update(drop_every=0, delay=0.3))
        t0 = time.monotonic()
        os.write(master, FRAME)
        assert _read(master, len(FRAME)) == FRAME
        assert time.monotonic() - t0 >= 0.3
        # A reply carrying block 1 of a GET with blocks (not the last) cuts the line.
        served.call(lambda: faults.update(delay=0.0, cut_block=1))
        block = bytes.fromhex("7ea0170002002303" "10" "0000" "e6e700c402c10000000001" "0000" "7e")
        os.write(master, block)
        assert _read(master, len(block)) == block
        wait_for(lambda: Echo.made == made + 1)  # a fresh stack waits on the line
        assert faults.counters["cuts"] == 1
    finally:
        served.call(link.close)
        os.close(master)
        os.close(slave)
