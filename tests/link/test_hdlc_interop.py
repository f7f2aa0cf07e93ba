"""The HDLC server against dlms-cosem's independent sans-IO HDLC client (test-only dependency)."""

from __future__ import annotations

import pytest

from meter.link.hdlc.connection import LLC_REQUEST, LLC_RESPONSE, HdlcConfig, HdlcServer
from meter.link.hdlc.events import ApduReceived

hdlc = pytest.importorskip("dlms_cosem.hdlc")
from dlms_cosem.hdlc import frames  # noqa: E402
from dlms_cosem.hdlc.address import HdlcAddress as TheirAddress  # noqa: E402
from dlms_cosem.hdlc.connection import HdlcConnection  # noqa: E402
from dlms_cosem.hdlc.state import NEED_DATA  # noqa: E402


@pytest.mark.parametrize("physical", [None, 17])
def test_dlms_cosem_client_session(physical: int | None) -> None:
    server = HdlcServer(HdlcConfig(max_info_tx=128))
    client_address = TheirAddress(16, None, "client")
    server_address = TheirAddress(1, physical, "server")
    client = HdlcConnection(client_address=client_address, server_address=server_address)
    now = 0.0

    def roundtrip(frame: object) -> object:
        nonlocal now
        now += 0.1
        server.receive_data(client.send(frame), now)
        while (event := server.next_event(now)) is not None:
            if isinstance(event, ApduReceived):
                server.send_apdu(event.client_address, bytes(300) + event.apdu)
        client.receive_data(server.data_to_send())
        reply = client.next_event()
        assert reply is not NEED_DATA
        return reply

    ua = roundtrip(frames.SetNormalResponseModeFrame(server_address, client_address))
    assert isinstance(ua, frames.UnNumberedAcknowledgmentFrame)

    response = b""
    reply = roundtrip(frames.InformationFrame(
        server_address, client_address, LLC_REQUEST + b"\xc0\x01\xc1",
        send_sequence_number=client.server_ssn, receive_sequence_number=client.server_rsn))
    while True:
        assert isinstance(reply, frames.InformationFrame)
        response += reply.payload
        if not reply.segmented:
            break
        reply = roundtrip(frames.ReceiveReadyFrame(
            server_address, client_address, receive_sequence_number=client.client_ssn))
    assert response == LLC_RESPONSE + bytes(300) + b"\xc0\x01\xc1"

    ua = roundtrip(frames.DisconnectFrame(server_address, client_address))
    assert isinstance(ua, frames.UnNumberedAcknowledgmentFrame)
