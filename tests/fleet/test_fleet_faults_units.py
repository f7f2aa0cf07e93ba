"""FleetFaults (meter/transport/fleet_faults.py) alone and on a TCP listener: which faults a
meter's connection gets (its own, else the fleet's, None while nothing is on), the tally of
every count for the fleet's metrics, and ``start_tcp_server(faults_for=...)`` asked once per
connection, a connection opened while nothing was on carrying no fault link."""

from __future__ import annotations

import asyncio

from link_faults.test_serial_link import Echo

from meter.link.framing import Framing
from meter.transport.faults import LinkFaults
from meter.transport.fleet_faults import FleetFaults
from meter.transport.tcp import bound_address, start_tcp_server

FRAME = b"\x7e\xa0\x02\x7e"  # HDLC-shaped: Echo answers it with itself


def test_a_meter_uses_its_own_faults_else_the_fleets() -> None:
    faults = FleetFaults(LinkFaults(delay=0.1))
    assert faults.of(3) is faults.fleet and not faults.has_own(3)
    assert faults.applicable(3) is faults.fleet  # the fleet's delay is on
    own = faults.own(3)
    assert own is not faults.fleet and faults.of(3) is own and faults.own(3) is own
    assert own.snapshot()["settings"]["delay"] == 0.0  # starts all off, not a copy
    assert faults.applicable(3) is None  # nothing on for meter 3 now
    assert faults.applicable(4) is faults.fleet
    own.update(refuse_every=1)
    assert faults.applicable(3) is own
    assert faults.owners() == [3]
    faults.to_fleet(3)
    assert faults.of(3) is faults.fleet and faults.owners() == []
    faults.to_fleet(3)  # again: nothing to do
    faults.fleet.update(delay=0)
    assert faults.applicable(3) is None and faults.applicable(4) is None


def test_on_says_whether_a_connection_needs_a_fault_link() -> None:
    assert not LinkFaults().on
    for setting in ({"refuse_every": 2}, {"refuse": 0.5}, {"drop_in": 0.1}, {"delay": 0.1},
                    {"cut_block": 2}):
        assert LinkFaults(**setting).on, setting
    spent = LinkFaults(cut_block=2)
    assert spent.cut_due(2) and not spent.on  # the one cut made: off again


def test_the_tally_hears_every_count_of_every_meter() -> None:
    heard: list[str] = []
    faults = FleetFaults()
    early = faults.own(1)
    faults.tally = heard.append  # set later: reaches what exists and what comes
    late = faults.own(2)
    adopted = LinkFaults(refuse_every=1)
    faults.adopt(5, adopted)
    for f in (faults.fleet, early, late, adopted):
        f.update(refuse_every=1)
        assert f.refuses()
    assert heard == ["refused"] * 4
    assert early.snapshot()["counters"]["refused"] == 1
    early.reset_counters()
    faults.to_fleet(1)
    assert heard == ["refused"] * 4  # the totals are not undone


def test_faults_for_is_asked_per_connection() -> None:
    async def exchange(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(FRAME)
        try:
            return await asyncio.wait_for(reader.read(10), 0.5)
        except TimeoutError:
            return b"(nothing)"
        finally:
            writer.close()

    async def main() -> None:
        faults = FleetFaults()
        asked: list[LinkFaults | None] = []

        def faults_for() -> LinkFaults | None:
            asked.append(faults.applicable(0))
            return asked[-1]

        server = await start_tcp_server("127.0.0.1", 0, Echo, framing=Framing.HDLC,
                                        faults_for=faults_for)
        port = bound_address(server)[1]
        try:
            assert await exchange(port) == FRAME
            assert asked == [None]
            # A connection opened while nothing is on has no fault link: switched on while it
            # is open, the fault reaches it only from the next connection.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(FRAME)
            assert await reader.readexactly(len(FRAME)) == FRAME
            faults.fleet.update(drop_every=1)
            writer.write(FRAME)
            assert await reader.readexactly(len(FRAME)) == FRAME
            assert await exchange(port) == b"(nothing)"  # the next one: every reply dropped
            assert faults.fleet.snapshot()["counters"]["dropped"] == 1
            writer.close()
            faults.own(0).update(refuse_every=1)  # meter 0's own: refused, the fleet's unused
            assert await exchange(port) == b""
            assert faults.of(0).snapshot()["counters"]["refused"] == 1
            assert faults.fleet.snapshot()["counters"]["dropped"] == 1
            faults.to_fleet(0)
            faults.fleet.update(drop_every=0)
            assert await exchange(port) == FRAME
            assert len(asked) == 5
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())
