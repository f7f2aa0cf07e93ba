from __future__ import annotations

import asyncio
import os

import serial

from meter.timebase import Timebase
from meter.transport.service import MeterService, Ready, ServeConfig

from .conftest import EchoStack, FakeDevice

TIMEOUT = 5.0


def test_ready_line_lists_enabled_media_only() -> None:
    assert Ready(tcp=("127.0.0.1", 4059)).line() == "READY tcp=127.0.0.1:4059"
    ready = Ready(("0.0.0.0", 1), ("::1", 2), "/dev/pts/3", "/dev/pts/4")
    assert ready.line() == "READY tcp=0.0.0.0:1 hdlc=::1:2 serial=/dev/pts/3 optical=/dev/pts/4"


def test_service_serves_every_medium_with_its_framing() -> None:
    device = FakeDevice(tick_every=60.0)

    async def main() -> None:
        # 60 simulated seconds between ticks at 6000x: a tick every 10 ms.
        service = MeterService(device, Timebase(scale=6000.0))
        ready = await service.start(
            ServeConfig(
                tcp=("127.0.0.1", 0), hdlc_tcp=("127.0.0.1", 0), serial="pty", optical=True
            )
        )
        assert ready.tcp and ready.hdlc_tcp and ready.serial and ready.optical
        assert os.path.exists(ready.optical)
        for host, port in (ready.tcp, ready.hdlc_tcp):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"ping\n")
            assert await reader.readexactly(5) == b"ping\n"
            writer.close()
        client = serial.Serial(ready.serial, 9600, timeout=TIMEOUT)
        client.write(b"over serial\n")
        reply = await asyncio.to_thread(client.read_until, b"\n")
        assert reply == b"over serial\n"
        client.close()
        while len(device.ticks) < 3:
            await asyncio.sleep(0.01)
        await service.aclose()
        assert not os.path.exists(ready.serial)

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
    assert device.framings == ["hdlc", "wrapper", "hdlc"]  # the serial stack comes first
    assert all(b > a for a, b in zip(device.ticks, device.ticks[1:]))
    assert {s.framing for s in EchoStack.instances} == {"wrapper", "hdlc"}


def test_failed_start_closes_what_was_opened() -> None:
    async def main() -> None:
        service = MeterService(FakeDevice(), Timebase())
        first = await service.start(ServeConfig(tcp=("127.0.0.1", 0)))
        assert first.tcp is not None
        other = MeterService(FakeDevice(), Timebase())
        try:
            await other.start(ServeConfig(hdlc_tcp=("127.0.0.1", 0), tcp=first.tcp))
        except OSError:
            pass
        else:
            raise AssertionError("binding a port in use must fail")
        await service.aclose()

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
