"""The wrapper listener following a TCP-UDP setup (meter.transport.tcp_setup), in process on both
event loops: the port moves once a connection ends, a port that cannot be bound is logged and
the listener stays, nb_of_sim_conn caps the wrapper connections, MSS reaches the socket."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

import pytest

from meter.timebase import Timebase
from meter.transport.service import MeterService, ServeConfig, loop_factory

from .conftest import FakeDevice

LOOPS = {"stdlib": asyncio.new_event_loop, "uvloop": loop_factory()}
HOST = "127.0.0.1"


@dataclass
class FakeSetup:
    port: int | None = None
    max_connections: int | None = None
    mss: int | None = None
    listening: list[int] = field(default_factory=list)

    def listening_on(self, port: int) -> None:
        self.listening.append(port)


async def _echo(port: int) -> bytes:
    """What a connection to ``port`` gets back for one line: the echo if served, b"" if the
    meter closed it at once."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"hi\n")
    try:
        return await asyncio.wait_for(reader.readline(), 2.0)
    finally:
        writer.close()


async def _settle() -> None:
    await asyncio.sleep(0.1)  # the connection's end reaches the meter, which follows the setup


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def _scenario(caplog: pytest.LogCaptureFixture) -> None:
    setup = FakeSetup()
    service = MeterService(FakeDevice(), Timebase(), tcp_setup=lambda: setup)
    ready = await service.start(ServeConfig(tcp=(HOST, 0)))
    assert ready.tcp is not None
    old = ready.tcp[1]
    assert setup.listening == [old]  # the command line's port, told to the setup
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen()
        setup.port = blocker.getsockname()[1]
        assert await _echo(old) == b"hi\n"
        await _settle()
        assert "cannot move to port" in caplog.text
        assert await _echo(old) == b"hi\n"  # stayed
    setup.port = new = _free_port()
    setup.mss = 600
    assert await _echo(old) == b"hi\n"
    await _settle()
    assert await _echo(new) == b"hi\n"
    with pytest.raises(ConnectionRefusedError):
        await _echo(old)
    _reader, probe = await asyncio.open_connection(HOST, new)
    assert probe.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG) <= 600
    probe.close()
    await _settle()
    setup.max_connections = 1
    reader, writer = await asyncio.open_connection(HOST, new)
    assert await _echo(new) == b""  # the second wrapper connection is refused
    writer.close()
    await _settle()
    assert await _echo(new) == b"hi\n"
    await service.aclose()


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_the_listener_follows_the_setup(loop: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(asyncio.wait_for(_scenario(caplog), 20))


async def _stop_with_a_connection_open(caplog: pytest.LogCaptureFixture) -> None:
    service = MeterService(FakeDevice(), Timebase(), tcp_setup=lambda: FakeSetup())
    ready = await service.start(ServeConfig(tcp=(HOST, 0)))
    assert ready.tcp is not None
    reader, writer = await asyncio.open_connection(HOST, ready.tcp[1])
    writer.write(b"hi\n")
    assert await asyncio.wait_for(reader.readline(), 2.0) == b"hi\n"
    await service.aclose()
    writer.close()  # the connection ends after the listener closed: nothing to move
    await _settle()
    assert "applying the TCP-UDP setup failed" not in caplog.text


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_connection_ending_after_stop_moves_nothing(loop: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Found on a 10,000-meter fleet's SIGTERM: the connections of a sweep ended after the
    listeners closed, and each end asked a closed server where it listened (IndexError)."""
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(asyncio.wait_for(_stop_with_a_connection_open(caplog), 20))
