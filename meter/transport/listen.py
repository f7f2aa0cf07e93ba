"""A push port (``acesm-meter listen``): accepts the connections meters push on and cuts the
IEC 62056-47 wrapper PDUs out of each; what a PDU holds is the caller's to read and show."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from meter.errors import MeterError
from meter.link.wrapper import WrapperConnection, WrapperPdu

__all__ = ["MALFORMED", "serve_pushes"]

log = logging.getLogger(__name__)

#: Exit code after a PDU ``show`` refused (or a connection that broke the wrapper framing).
MALFORMED = 2

#: ``show(peer, pdu)`` prints one push and says whether enough were received; it raises
#: MeterError for one that is no notification.
Show = Callable[[str, WrapperPdu], bool]


async def serve_pushes(host: str, port: int, show: Show,
                       listening: Callable[[str, int], None]) -> int:
    """Listen on host:port (0: any free port; ``listening`` is told where) until ``show`` says
    enough (0), SIGINT/SIGTERM (0) or a malformed push (MALFORMED, reported on stderr's log)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def finish(code: int) -> None:
        if not done.done():
            done.set_result(code)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        framer = WrapperConnection()
        try:
            while data := await reader.read(65536):
                for pdu in framer.receive_data(data):
                    if show(peer, pdu):
                        finish(0)
            if framer.buffered():
                raise MeterError(f"connection closed inside a wrapper PDU "
                                 f"({framer.buffered()} bytes)")
        except MeterError as exc:
            log.error("malformed notification from %s: %s", peer, exc)
            finish(MALFORMED)
        except OSError:
            pass  # the pushing meter went away: nothing to show
        finally:
            writer.close()

    server = await asyncio.start_server(connection, host, port, reuse_address=True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, finish, 0)
    bound = server.sockets[0].getsockname()
    listening(str(bound[0]), int(bound[1]))
    try:
        return await done
    finally:
        server.close()
