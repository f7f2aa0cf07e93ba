"""gurux-dlms as a real client on an in-memory connection: its wrapper frames go straight into a
MeterStack (no socket), so security tests can drive gurux through the meter in process."""

from __future__ import annotations

from typing import Any

from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.objects.enums import SecuritySuite
from gurux_dlms.secure import GXDLMSSecureClient

from support.meter import Meter


class GuruxMemoryClient:
    """One gurux client (glo-ciphered, authenticated and encrypted) on one in-memory connection."""

    def __init__(self, meter: Meter, client_sap: int, authentication: Authentication,
                 password: bytes | None, *, title: str, ek: bytes, ak: bytes,
                 invocation_counter: int, suite: int = 0) -> None:
        self.meter = meter
        self.stack = meter.device.new_stack("wrapper", now=meter.timebase.now)
        self.client = GXDLMSSecureClient(True, client_sap, 1, authentication, password,
                                         InterfaceType.WRAPPER)
        c = self.client.ciphering
        c.security = Security.AUTHENTICATION_ENCRYPTION
        c.securitySuite = SecuritySuite(suite)
        c.systemTitle = bytearray.fromhex(title)
        c.blockCipherKey = bytearray(ek)
        c.authenticationKey = bytearray(ak)
        c.invocationCounter = invocation_counter

    def exchange(self, frames: Any) -> Any:
        """Send gurux's frames (one request, maybe in blocks); the parsed reply."""
        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        reply = GXReplyData()
        for frame in frames:
            reply.clear()
            out = self.stack.receive_data(bytes(frame), self.meter.timebase.now())
            assert self.client.getData(GXByteBuffer(out), reply, GXReplyData())
        return reply

    def associate(self) -> None:
        """AARQ/AARE, then HLS pass 3/4 when the AARE asks for it."""
        self.client.parseAareResponse(self.exchange(self.client.aarqRequest()).data)
        if self.client.isAuthenticationRequired:
            self.client.parseApplicationAssociationResponse(
                self.exchange(self.client.getApplicationAssociationRequest()).data)
