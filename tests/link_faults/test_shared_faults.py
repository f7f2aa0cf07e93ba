"""One LinkFaults handed to several services (a fleet's meters): a change reaches every one of
them at once and the counters add up over all; a service made without one has its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from meter.timebase import Timebase
from meter.transport.faults import LinkFaults
from meter.transport.service import MeterService, ServeConfig

from .test_serial_link import Echo


class Device:
    def new_stack(self, framing: str, *, serial: bool = False,
                  now: Callable[[], float] = lambda: 0.0) -> Echo:
        return Echo()

    def tick(self, now: float) -> None:
        pass

    def next_deadline(self) -> float | None:
        return None


def test_a_fleet_shares_one_set_of_faults() -> None:
    async def main() -> None:
        shared = LinkFaults()
        fleet = [MeterService(Device(), Timebase(), faults=shared) for _ in range(3)]
        alone = MeterService(Device(), Timebase())
        assert alone.faults is not shared
        ports = []
        for service in [*fleet, alone]:
            ready = await service.start(ServeConfig(tcp=("127.0.0.1", 0)))
            assert ready.tcp is not None
            ports.append(ready.tcp)
        shared.update(refuse=1.0)  # live, on every meter of the fleet
        for host, port in ports:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"\x7e\xa0\x01\x7e")
            data = await asyncio.wait_for(reader.read(10), 5)
            assert (data == b"") == ((host, port) != ports[-1])  # the lone meter answers
            writer.close()
        assert shared.snapshot()["counters"]["refused"] == 3
        assert alone.faults.snapshot()["counters"]["refused"] == 0
        for service in [*fleet, alone]:
            await service.aclose()

    asyncio.run(main())
