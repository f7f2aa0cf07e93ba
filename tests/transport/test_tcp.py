from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from meter.timebase import Timebase
from meter.transport.service import loop_factory
from meter.transport.tcp import (
    ConnectionLimits,
    bound_address,
    parse_host_port,
    start_tcp_server,
)

from .conftest import EchoStack

LOOPS = {"stdlib": asyncio.new_event_loop, "uvloop": loop_factory()}
TIMEOUT = 5.0


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[None]], None]:
    def runner(coro: Awaitable[None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as r:
            r.run(asyncio.wait_for(coro, TIMEOUT))  # type: ignore[arg-type]

    return runner


async def _serve(scale: float = 1.0) -> tuple[asyncio.Server, int]:
    server = await start_tcp_server("127.0.0.1", 0, EchoStack, Timebase(scale=scale))
    return server, bound_address(server)[1]


async def _ask(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    return await reader.readexactly(len(data))


def test_many_connections_each_get_their_own_stack(run: Callable[..., None]) -> None:
    async def main() -> None:
        server, port = await _serve()
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(40)]
        replies = await asyncio.gather(
            *(_ask(w, r, f"hello {i:03}\n".encode()) for i, (r, w) in enumerate(conns))
        )
        assert replies == [f"hello {i:03}\n".encode() for i in range(40)]
        assert len(EchoStack.instances) == 40
        assert all(len(s.received) == 1 for s in EchoStack.instances)
        for _, w in conns:
            w.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_a_failing_stack_closes_only_its_connection(run: Callable[..., None]) -> None:
    async def main() -> None:
        server, port = await _serve()
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        assert await _ask(w1, r1, b"one\n") == b"one\n"
        w1.write(b"boom\n")
        assert await r1.read() == b""  # EOF: closed by the meter
        assert await _ask(w2, r2, b"two\n") == b"two\n"
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        assert await _ask(w3, r3, b"three\n") == b"three\n"
        assert EchoStack.instances[0].lost
        for w in (w1, w2, w3):
            w.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_stack_close_flushes_last_reply_then_closes(run: Callable[..., None]) -> None:
    async def main() -> None:
        server, port = await _serve()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"close\n")
        assert await r.read() == b"bye\n"
        w.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_timers_fire_on_stack_deadlines(run: Callable[..., None]) -> None:
    async def main() -> None:
        # 5 simulated seconds at 1000x pass in 5 ms of real time.
        server, port = await _serve(scale=1000.0)
        r, w = await asyncio.open_connection("127.0.0.1", port)
        assert await _ask(w, r, b"timer\n") == b"armed\n"
        assert await r.readexactly(5) == b"tick\n"
        stack = EchoStack.instances[0]
        armed_at = stack.received[-1][1]
        assert stack.deadline is None
        # A later request must not hold the timer back, nor an earlier one fire it twice.
        assert await _ask(w, r, b"timer\n") == b"armed\n"
        assert await _ask(w, r, b"x\n") == b"x\n"
        assert await r.readexactly(5) == b"tick\n"
        assert stack.received[-2][1] > armed_at
        w.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_client_disconnect_tells_the_stack(run: Callable[..., None]) -> None:
    async def main() -> None:
        server, port = await _serve()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        assert await _ask(w, r, b"hi\n") == b"hi\n"
        w.close()
        await w.wait_closed()
        for _ in range(200):
            if EchoStack.instances[0].lost:
                break
            await asyncio.sleep(0.01)
        assert EchoStack.instances[0].lost
        server.close()
        await server.wait_closed()

    run(main())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4059", ("127.0.0.1", 4059)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("[::1]:4060", ("::1", 4060)),
        (":0", ("127.0.0.1", 0)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["x", "host:", "1:70000", "h:-1"])
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)


def test_connections_beyond_the_cap_are_closed_at_once(run: Callable[..., None]) -> None:
    async def main() -> None:
        limits = ConnectionLimits(max_connections=2)
        server = await start_tcp_server("127.0.0.1", 0, EchoStack, limits=limits)
        port = bound_address(server)[1]
        (r1, w1), (r2, w2) = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        assert await _ask(w1, r1, b"one\n") == b"one\n"
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        assert await r3.read() == b""  # refused: closed without a stack
        assert len(EchoStack.instances) == 2
        w1.close()
        await w1.wait_closed()
        for _ in range(200):
            if limits.active < 2:
                break
            await asyncio.sleep(0.01)
        r4, w4 = await asyncio.open_connection("127.0.0.1", port)
        assert await _ask(w4, r4, b"four\n") == b"four\n"
        for w in (w2, w3, w4):
            w.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_a_client_not_reading_its_replies_is_not_read_either(run: Callable[..., None]) -> None:
    async def main() -> None:
        limits = ConnectionLimits(max_connections=10, max_unsent_bytes=4096)
        server = await start_tcp_server("127.0.0.1", 0, EchoStack, limits=limits)
        port = bound_address(server)[1]
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        chunk, offered, sent = (b"x" * 1023 + b"\n") * 64, 20_000_000, 0
        loop = asyncio.get_running_loop()
        deadline, blocked_since = loop.time() + 3.0, None
        while sent < offered and loop.time() < deadline:
            try:
                sent += sock.send(chunk)
                blocked_since = None
            except BlockingIOError:
                blocked_since = blocked_since or loop.time()
                if loop.time() - blocked_since > 0.3:
                    break  # the meter has stopped reading us
                await asyncio.sleep(0.01)
        # Without backpressure the echo of all 20 MB would wait in the server's write buffer.
        assert sent < offered
        sock.close()
        server.close()
        await server.wait_closed()

    run(main())


class _OrderedEcho(EchoStack):
    """An echo stack that records, across connections, the order messages were served in."""

    order: list[bytes] = []

    def _message(self, data: bytes, now: float) -> bytes:
        _OrderedEcho.order.append(data)
        return super()._message(data, now)


def test_one_client_pipelining_cannot_hold_the_others(run: Callable[..., None]) -> None:
    """64 KiB of pipelined requests arrive in one read; another client's request that arrives
    with them is served after one slice of them, not after all (one slice per loop turn)."""
    async def main() -> None:
        _OrderedEcho.order.clear()
        server = await start_tcp_server("127.0.0.1", 0, _OrderedEcho)
        port = bound_address(server)[1]
        busy = socket.create_connection(("127.0.0.1", port))
        other = socket.create_connection(("127.0.0.1", port))
        await asyncio.sleep(0.05)  # both connections made
        burst = b"".join(b"%05d" % i + b"x" * 58 + b"\n" for i in range(1024))  # 64 KiB
        busy.sendall(burst)  # the loop does not run in between: both arrive together
        other.sendall(b"ping\n")
        loop = asyncio.get_running_loop()
        while len(_OrderedEcho.order) < 1025:
            await asyncio.sleep(0.01)
        other.setblocking(False)
        assert await loop.sock_recv(other, 16) == b"ping\n"
        served = _OrderedEcho.order
        assert served.index(b"ping\n") < 64, "the other client waited for the whole burst"
        busy.close()
        other.close()
        server.close()
        await server.wait_closed()

    run(main())
