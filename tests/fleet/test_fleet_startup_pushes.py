"""The fleet's start-up pushes in process (meter/transport/fleet.py), over real loopback sockets:
every meter's "on connectivity" push reaches a head end's push port, read by gurux-dlms and
naming that meter; never more than ``connecting`` meters have pushes on the way at once (a
probe looks at every loop turn); a meter whose push went out is not kept built; a meter without
a destination is not built for it.

The fleet's own first look at every meter (Fleet.due, when the profile pushes anywhere) builds
meters too, a few per turn, and some of those are built again here when the window was full
then: a cost at start only, left to the fleet's scheduling."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fleet.test_fleet_wire import _free_base
from push.test_push_wire import CONNECTIVITY, gurux_parse, take_apart
from support.paths import PROFILE

from meter.codec.axdr import Enum, OctetString, Structure
from meter.codec.obis import Obis
from meter.device.fleet import Fleet, identities
from meter.persistence.store import Store
from meter.profile import load as load_profile
from meter.timebase import Timebase
from meter.transport.fleet import FleetService

COUNT = 12
WINDOW = 3
RESIDENT = 5
START = 1767225600.0  # 2026-01-01T00:00:00Z


def _profile(tmp_path: Path, port: int | None) -> Path:
    path = tmp_path / "profile.toml"
    extra = "" if port is None else (f'[[object]]\nobis = "{CONNECTIVITY}"\n'
                                     f'destination = "127.0.0.1:{port}"\n')
    path.write_text(f'extends = "{PROFILE}"\n{extra}')
    return path


async def _serve(tmp_path: Path, port: int | None, received: list[bytes],
                 expected: int) -> tuple[int, int, Fleet]:
    """A fleet of COUNT on loopback until ``expected`` pushes came (or 30 s); the most meters
    that had pushes on their way at once, and the most built at once."""
    profile = load_profile(_profile(tmp_path, port))
    timebase = Timebase(start=START, scale=1.0)
    fleet = Fleet(profile, Store.open(tmp_path / "state"), tmp_path / "state", timebase,
                  identities(profile, COUNT, "seed", _free_base(COUNT)), resident=RESIDENT)
    service = FleetService(fleet, timebase, "127.0.0.1", connecting=WINDOW)
    fleet.on_built, fleet.on_released, fleet.is_busy = service.built, service.released, service.busy
    most = built = 0
    loop = asyncio.get_running_loop()

    def probe() -> None:  # every loop turn
        nonlocal most, built
        most = max(most, sum(service.busy(i) for i in fleet.members))
        built = max(built, len(fleet.built()))
        loop.call_soon(probe)

    loop.call_soon(probe)
    try:
        await service.start()
        end = loop.time() + 30
        while len(received) < expected and loop.time() < end:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # one too many would come now
    finally:
        await service.aclose()
        fleet.close()
    return most, built, fleet


async def _push_listener(received: list[bytes]) -> asyncio.Server:
    """A head end's push port: each connection's bytes, as one push."""
    async def push_port(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())
        writer.close()

    return await asyncio.start_server(push_port, "127.0.0.1", 0)


def test_connectivity_pushes_go_a_few_at_a_time_one_per_meter(tmp_path: Path) -> None:
    received: list[bytes] = []

    async def run() -> tuple[int, int, Fleet]:
        server = await _push_listener(received)
        try:
            return await _serve(tmp_path, server.sockets[0].getsockname()[1], received, COUNT)
        finally:
            server.close()

    most, built, fleet = asyncio.run(run())
    assert 1 <= most <= WINDOW
    names = []
    for wire in received:
        push = take_apart(wire)
        assert push.name == CONNECTIVITY
        names.append(bytes(gurux_parse(wire).value[1]))  # the meter's logical device name
    assert sorted(names) == sorted(f"ACE{m.ident.serial}".encode() for m in fleet.members.values())
    # Not every meter stays built for it: the resident ones and those with a push on the way.
    assert built <= RESIDENT + WINDOW < COUNT


def test_no_destination_builds_no_meter(tmp_path: Path) -> None:
    most, built, fleet = asyncio.run(_serve(tmp_path, None, [], 0))
    assert most == 0 and built == 0 and fleet.builds == 0


def test_a_destination_written_into_one_meter_makes_that_one_push(tmp_path: Path) -> None:
    """The profile programs no destination; a head end wrote one into meter 2's connectivity
    push setup (its stored state): at the next start meter 2 pushes, and only meter 2 is built
    for it."""
    received: list[bytes] = []

    async def run() -> tuple[int, int, Fleet]:
        server = await _push_listener(received)
        port = server.sockets[0].getsockname()[1]
        profile = load_profile(_profile(tmp_path, None))
        before = Fleet(profile, Store.open(tmp_path / "state"), tmp_path / "state",
                       Timebase(start=START), identities(profile, COUNT, "seed", 20000))
        device = before.device(2)
        setup = device.directory[Obis.parse(CONNECTIVITY)]
        setup.set(3, Structure((Enum(0), OctetString(f"127.0.0.1:{port}".encode()), Enum(0))),
                  device.context(None))  # as a head end's SET does
        device.commit()
        before.close()
        try:
            return await _serve(tmp_path, None, received, 1)
        finally:
            server.close()

    most, _, fleet = asyncio.run(run())
    assert most == 1 and fleet.builds == 1
    assert [bytes(gurux_parse(wire).value[1]) for wire in received] == [
        f"ACE{fleet.members[2].ident.serial}".encode()]
