"""One connection's protocol stack, sans-IO: a link framer (IEC 62056-47 wrapper or HDLC)
under the xDLMS application server.

Bytes and ``now`` go in, bytes come out; the transport only pumps. Before any response leaves,
the device commits what the request changed (``commit``), so nothing acknowledged on the wire is
lost to a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from meter.codec.obis import Obis
from meter.errors import RemoteProtocolError, StoreError
from meter.link.hdlc.connection import HdlcConfig, HdlcServer
from meter.link.hdlc.events import ApduReceived, Connected, Disconnected
from meter.link.wrapper import WrapperConnection, WrapperPdu
from meter.server.association import ApplicationServer, Environment

log = logging.getLogger(__name__)


class MeterStack:
    """Framing + application server for one connection (TCP socket or serial line)."""

    def __init__(
        self,
        framing: str,
        env: Environment,
        commit: Callable[[], None],
        *,
        before: Callable[[], None] = lambda: None,
        server_wport: int = 1,
        hdlc_config: HdlcConfig | None = None,
        port: Obis | None = None,
    ) -> None:
        """``port``: the setup object of the port this connection came in on (its failed
        authentications count against that port's Communication port protection)."""
        self.closed = False
        self._server = ApplicationServer(env, port)
        self._commit = commit
        self._before = before
        self._server_wport = server_wport
        self._wrapper: WrapperConnection | None = None
        self._hdlc: HdlcServer | None = None
        if framing == "wrapper":
            self._wrapper = WrapperConnection()
        elif framing == "hdlc":
            self._hdlc = HdlcServer(hdlc_config or HdlcConfig())
        else:
            raise ValueError(f"unknown framing {framing!r}")

    def _apdu(self, client: int, apdu: bytes) -> bytes | None:
        self._before()
        response = self._server.handle(client, apdu)
        try:
            self._commit()
        except StoreError as exc:
            # What the request changed was stored, or undone and answered as a failure, before
            # its result (Context.persist); what failed here is the meter's own state (metrology
            # snapshot, clock mark, profile rows), which the next commit retries. The client
            # still gets its answer.
            log.error("state not stored after a request from client %d: %s", client, exc)
        return response

    def receive_data(self, data: bytes, now: float) -> bytes:
        if self._wrapper is not None:
            return self._receive_wrapped(data)
        return self._receive_hdlc(data, now)

    def _receive_wrapped(self, data: bytes) -> bytes:
        assert self._wrapper is not None
        try:
            pdus = self._wrapper.receive_data(data)
        except RemoteProtocolError as exc:
            # A wrapper header we cannot resynchronise from: the only safe answer is to close.
            log.warning("closing connection: %s", exc)
            self.closed = True
            self._server.release_all()
            return b""
        out = []
        for pdu in pdus:
            if pdu.destination_wport != self._server_wport:
                log.info("wrapper PDU for wPort %d ignored", pdu.destination_wport)
                continue
            response = self._apdu(pdu.source_wport, pdu.payload)
            if response is not None:
                out.append(WrapperPdu(self._server_wport, pdu.source_wport, response).to_bytes())
        return b"".join(out)

    def _receive_hdlc(self, data: bytes, now: float) -> bytes:
        assert self._hdlc is not None
        self._hdlc.receive_data(data, now)
        self._serve_hdlc(now)
        return self._hdlc.data_to_send()

    def _serve_hdlc(self, now: float) -> None:
        """Take up the link's events one by one, each APDU answered before the next event:
        its reply then goes out on the link it came in on, even when a DISC or SNRM came
        behind it in the same chunk."""
        assert self._hdlc is not None
        while (event := self._hdlc.next_event(now)) is not None:
            if isinstance(event, ApduReceived):
                response = self._apdu(event.client_address, event.apdu)
                if response is not None:
                    self._hdlc.send_apdu(event.client_address, response)
            elif isinstance(event, (Connected, Disconnected)):
                # A new or lost HDLC connection ends the associations it carried (Green Book).
                self._server.release_all()

    def next_deadline(self) -> float | None:
        return self._hdlc.next_deadline() if self._hdlc is not None else None

    def handle_timer(self, now: float) -> bytes:
        if self._hdlc is None:
            return b""
        self._hdlc.handle_timer(now)
        self._serve_hdlc(now)
        return self._hdlc.data_to_send()

    def connection_lost(self) -> None:
        self._server.release_all()
