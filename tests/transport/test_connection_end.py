"""What a TCP connection leaves behind when it ends, on both event loops: nothing for the garbage
collector (its protocol, session, timer and stack are freed as it closes), no task when the
TCP-UDP setup asks for no move (one only when it does), and its records at the level its
listener was given (a single meter's at INFO, a fleet's at DEBUG; refusals at WARNING)."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import weakref
from collections.abc import Iterator

import pytest

from meter.transport.service import loop_factory
from meter.transport.tcp import ConnectionLimits, ListenerHooks, bound_address, start_tcp_server
from meter.transport.tcp_setup import WrapperListener

from .test_tcp_setup import FakeSetup, _echo

LOOPS = {"stdlib": asyncio.new_event_loop, "uvloop": loop_factory()}
HOST = "127.0.0.1"


class _Echo:
    """An echo stack with an idle deadline (so the session arms its timer), kept by nobody."""

    closed = False

    def connection_made(self, now: float) -> None:
        self.deadline = now + 60.0

    def receive_data(self, data: bytes, now: float) -> bytes:
        return data

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> bytes:
        return b""

    def connection_lost(self) -> None:
        pass


@pytest.fixture(params=sorted(LOOPS))
def runner(request: pytest.FixtureRequest) -> Iterator[asyncio.Runner]:
    with asyncio.Runner(loop_factory=LOOPS[request.param]) as run:
        yield run


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _until(condition: object, what: str) -> None:
    for _ in range(200):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


def test_an_ended_connection_is_freed_without_the_garbage_collector(
        runner: asyncio.Runner, no_gc: None) -> None:
    stacks: list[weakref.ref[_Echo]] = []
    limits = ConnectionLimits(max_connections=10)

    def factory() -> _Echo:
        stack = _Echo()
        stacks.append(weakref.ref(stack))
        return stack

    async def main() -> None:
        server = await start_tcp_server(HOST, 0, factory, limits=limits)
        port = bound_address(server)[1]
        for _ in range(3):
            assert await _echo(port) == b"hi\n"
        await _until(lambda: limits.active == 0, "the connections did not end")
        await asyncio.sleep(0.05)  # the loop lets go of the transports
        server.close()
        await server.wait_closed()

    runner.run(main())
    assert len(stacks) == 3
    assert [ref() for ref in stacks] == [None, None, None]  # freed by reference counting


def test_a_connection_end_starts_a_task_only_for_a_move(runner: asyncio.Runner) -> None:
    setup = FakeSetup()
    servers: list[asyncio.Server] = []

    async def bind(host: str, port: int, hooks: ListenerHooks, serving: bool) -> asyncio.Server:
        return await start_tcp_server(host, port, lambda: _Echo(), hooks=hooks,
                                      start_serving=serving)

    async def main() -> None:
        listener = WrapperListener(HOST, bind, lambda: setup, servers)
        old = (await listener.bind(0))[1]
        await listener.follow_setup(serving=True)
        for server in servers:
            await server.start_serving()
        tasks = len(asyncio.all_tasks())
        setup.mss = 700
        listener.opened()
        listener.closed()  # nothing to move: applied at once, no task
        assert len(asyncio.all_tasks()) == tasks
        assert setup.listening == [old, old]
        assert servers[0].sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG) == 700
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            setup.port = new = probe.getsockname()[1]
        listener.opened()
        listener.closed()  # a move awaits a bind: a task does it
        assert len(asyncio.all_tasks()) == tasks + 1
        await _until(lambda: listener.port == new, "the listener did not move")
        assert await _echo(new) == b"hi\n"
        listener.close()
        for server in servers:
            server.close()

    runner.run(asyncio.wait_for(main(), 10))


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_connection_records_at_the_listeners_level(runner: asyncio.Runner, level: int,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="meter.transport.tcp")
    limits = ConnectionLimits(max_connections=1)

    async def main() -> None:
        server = await start_tcp_server(HOST, 0, lambda: _Echo(), limits=limits,
                                        connection_log=level)
        port = bound_address(server)[1]
        _reader, writer = await asyncio.open_connection(HOST, port)
        assert await _echo(port) == b""  # over the limit: refused
        writer.close()
        await _until(lambda: limits.active == 0, "the connection did not end")
        server.close()
        await server.wait_closed()

    runner.run(asyncio.wait_for(main(), 10))
    levels = {r.getMessage().rsplit(": ", 1)[1]: r.levelno for r in caplog.records
              if r.name == "meter.transport.tcp" and "listening" not in r.getMessage()}
    assert levels == {"connected": level, "disconnected": level,
                      "connection refused": logging.WARNING}
