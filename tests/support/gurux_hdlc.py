"""gurux-dlms as an HDLC client over any byte pipe (a TCP socket, a pty opened with pyserial):
GXDLMSClient builds and parses the frames, the caller's ``send``/``recv`` carry them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["GuruxHdlc"]

LDN = "0.0.42.0.0.255"


class GuruxHdlc:
    """The public client (SAP 16) of server 1, physical address 17."""

    def __init__(self, send: Callable[[bytes], None], recv: Callable[[], bytes],
                 client_sap: int = 16) -> None:
        from gurux_dlms import GXDLMSClient
        from gurux_dlms.enums import Authentication, InterfaceType

        self.client = GXDLMSClient(True, client_sap, GXDLMSClient.getServerAddress(1, 17, 0),
                                   Authentication.NONE, None, InterfaceType.HDLC)
        self.send = send  # may be swapped, e.g. to split frames
        self._recv = recv

    def exchange(self, frame: bytes | bytearray) -> Any:
        from gurux_dlms import GXByteBuffer, GXReplyData

        reply, notify, buffer = GXReplyData(), GXReplyData(), GXByteBuffer()
        self.send(bytes(frame))
        while not self.client.getData(buffer, reply, notify):
            chunk = self._recv()
            if not chunk:
                raise ConnectionError("the meter closed the link")
            buffer.set(chunk)
        return reply

    def connect(self) -> None:
        """SNRM/UA, then AARQ/AARE."""
        self.client.parseUAResponse(self.exchange(self.client.snrmRequest()).data)
        [aarq] = self.client.aarqRequest()
        self.client.parseAareResponse(self.exchange(aarq).data)

    def logical_device_name(self) -> bytes:
        from gurux_dlms.objects import GXDLMSData

        obj = GXDLMSData(LDN)
        [request] = self.client.read(obj, 2)
        reply = self.exchange(request)
        self.client.updateValue(obj, 2, reply.value)
        return bytes(obj.value)

    def disconnect(self) -> None:
        """DISC (gurux sends it without RLRQ for HDLC); the meter answers UA."""
        self.exchange(self.client.disconnectRequest())
