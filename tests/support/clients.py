"""refclient's WrapperClient recording every server invocation counter it sees, over a socket or
over a MeterStack in memory (no sockets, no sleeps)."""

from __future__ import annotations

from refclient import ClientError, WrapperClient

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import DecodeError
from meter.link.wrapper import WrapperConnection, WrapperPdu
from meter.security import gcm
from meter.stack import MeterStack
from support.timebase import FakeTimebase

CURRENT_ASSOCIATION = Obis(0, 0, 40, 0, 0, 255)
SERVER_TITLE = bytes.fromhex("4143450000000001")  # profiles/acesm.toml [meter]
PUBLIC = 16

__all__ = ["MemoryClient", "RecordingClient", "SocketClient"]


class RecordingClient(WrapperClient):
    """Notes in ``server_ics`` every invocation counter the meter used towards us: ciphered APDUs
    (glo and general-glo), the ciphered initiate response inside the AARE and the one of f(StoC)
    in HLS pass 4 (Green Book 9.2.7.4)."""

    server_ics: list[int]

    def _transfer(self, payload: bytes) -> bytes:
        return WrapperClient.exchange_raw(self, payload)

    def exchange_raw(self, payload: bytes) -> bytes:
        reply = self._transfer(payload)
        try:
            apdu = A.decode_apdu(reply)
            if isinstance(apdu, A.AARE) and apdu.user_information:
                apdu = A.decode_apdu(apdu.user_information)
        except DecodeError:
            return reply  # no counter to note; the test looks at the bytes itself
        if isinstance(apdu, (A.CipheredApdu, A.GeneralGloCiphering)):
            self.server_ics.append(apdu.invocation_counter)
        return reply

    def action(self, class_id: int, obis: Obis, method: int, params: axdr.Data | None) -> object:
        before = len(self.server_ics)
        reply = super().action(class_id, obis, method, params)
        if obis == CURRENT_ASSOCIATION and method == 1 and isinstance(reply, axdr.OctetString):
            # f(CtoS) took its counter before the response carrying it was ciphered: keep the
            # list in the order the meter used them.
            self.server_ics.insert(before, int.from_bytes(reply.value[1:5], "big"))
        return reply


class SocketClient(RecordingClient):
    def __init__(self, host: str, port: int, client_sap: int = PUBLIC, timeout: float = 10.0) -> None:
        super().__init__(host, port, client_sap, timeout)
        self.server_ics = []


class MemoryClient(RecordingClient):
    """The client over a MeterStack, at the timebase's now.

    ``general`` selects general-glo-ciphering instead of service-specific glo-ciphering;
    ``last_raw`` keeps the last reply payload as it came off the wire (still ciphered).
    """

    def __init__(self, stack: MeterStack, timebase: FakeTimebase, client_sap: int = PUBLIC,
                 *, general: bool = False) -> None:
        self.stack = stack
        self.timebase = timebase
        self.client_sap = client_sap
        self.keys = None
        self.server_title = None
        self.max_pdu = 0xFFFF
        self.general = general
        self.last_raw = b""
        self.server_ics = []
        self._framer = WrapperConnection()

    def close(self) -> None:
        self.stack.connection_lost()

    def _transfer(self, payload: bytes) -> bytes:
        wire = WrapperPdu(self.client_sap, 1, payload).to_bytes()
        pdus = self._framer.receive_data(self.stack.receive_data(wire, self.timebase.now()))
        if len(pdus) != 1:
            raise ClientError(f"expected one reply, got {len(pdus)}")
        assert (pdus[0].source_wport, pdus[0].destination_wport) == (1, self.client_sap)
        self.last_raw = pdus[0].payload
        return pdus[0].payload

    def _cipher(self, plain: bytes) -> bytes:
        if not self.general:
            return super()._cipher(plain)
        k = self.keys
        assert k is not None
        ic = k.invocation_counter
        k.invocation_counter += 1
        payload = gcm.protect(0x30, k.system_title, ic, k.ek, k.ak, plain)
        return A.GeneralGloCiphering(k.system_title, 0x30, ic, payload).to_bytes()

    def exchange(self, request: A.Apdu) -> A.Apdu:
        data = request.to_bytes()
        if self.keys is not None and not isinstance(request, (A.AARQ, A.RLRQ)):
            data = self._cipher(data)
        return self.open_reply(self.exchange_raw(data))

    def open_reply(self, raw: bytes) -> A.Apdu:
        """Decode a reply, deciphering glo- or general-glo-ciphered ones."""
        reply = A.decode_apdu(raw)
        if isinstance(reply, A.GeneralGloCiphering):
            assert reply.system_title == SERVER_TITLE
            reply = A.CipheredApdu(0xCC, reply.security_control, reply.invocation_counter,
                                   reply.payload)
        if isinstance(reply, A.CipheredApdu):
            return self._decipher(reply)
        return reply

    def send_apdu(self, request: A.Apdu | bytes) -> A.Apdu:
        """One request without the refclient conveniences: bytes go out as they are."""
        if isinstance(request, bytes):
            return self.open_reply(self.exchange_raw(request))
        return self.exchange(request)

    def aarq(self, aarq: A.AARQ) -> A.Apdu:
        return A.decode_apdu(self.exchange_raw(aarq.to_bytes()))

    def action_result(self, obis: Obis, method: int, params: axdr.Data | None,
                      class_id: int = 64) -> tuple[int, axdr.Data | None]:
        """(action-result, return data) of one ACTION, without raising on a failure."""
        reply = self.exchange(A.ActionRequestNormal(
            0xC1, A.CosemMethodDescriptor(class_id, obis, method), params))
        assert isinstance(reply, A.ActionResponseNormal), reply
        return int(reply.result), reply.return_data
