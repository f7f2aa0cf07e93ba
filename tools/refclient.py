"""A small DLMS client over the TCP wrapper, written from the Green Book on top of the meter's own
codecs. For benchmarks and for tests of features the third-party clients cannot exercise; it
is not part of the meter (meter/ never imports it).
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from meter import apdu as A
from meter.apdu.initiate import Conformance
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.security import gcm

WANTED = (Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.SELECTIVE_ACCESS
          | Conformance.MULTIPLE_REFERENCES | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
          | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE | Conformance.BLOCK_TRANSFER_WITH_ACTION)

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")


class ClientError(Exception):
    pass


@dataclass
class Keys:
    ek: bytes = EK
    ak: bytes = AK
    system_title: bytes = bytes.fromhex("4D4D4D0000000001")
    invocation_counter: int = 1


class WrapperClient:
    """One TCP connection, one association at a time."""

    def __init__(self, host: str, port: int, client_sap: int = 16, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client_sap = client_sap
        self.keys: Keys | None = None
        self.server_title: bytes | None = None
        self.max_pdu = 0xFFFF
        self._buf = b""

    def close(self) -> None:
        self.sock.close()

    # --- framing -------------------------------------------------------------------------

    def exchange_raw(self, payload: bytes) -> bytes:
        self.sock.sendall(struct.pack(">HHHH", 1, self.client_sap, 1, len(payload)) + payload)
        while True:
            if len(self._buf) >= 8:
                n = struct.unpack(">H", self._buf[6:8])[0]
                if len(self._buf) >= 8 + n:
                    out, self._buf = self._buf[8:8 + n], self._buf[8 + n:]
                    return out
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ClientError("connection closed by the meter")
            self._buf += chunk

    def exchange(self, request: A.Apdu) -> A.Apdu:
        data = request.to_bytes()
        if self.keys is not None and not isinstance(request, (A.AARQ, A.RLRQ)):
            data = self._cipher(data)
        reply = A.decode_apdu(self.exchange_raw(data))
        if isinstance(reply, A.CipheredApdu):
            reply = self._decipher(reply)
        return reply

    def _cipher(self, plain: bytes) -> bytes:
        k = self.keys
        assert k is not None
        ic = k.invocation_counter
        k.invocation_counter += 1
        payload = gcm.protect(0x30, k.system_title, ic, k.ek, k.ak, plain)
        return A.CipheredApdu(A.ciphered_tag_for(plain[0], False), 0x30, ic, payload).to_bytes()

    def _decipher(self, c: A.CipheredApdu) -> A.Apdu:
        k = self.keys
        assert k is not None and self.server_title is not None
        plain = gcm.unprotect(c.security_control, self.server_title, c.invocation_counter,
                              k.ek, k.ak, c.payload)
        return A.decode_apdu(plain)

    # --- ACSE ------------------------------------------------------------------------------

    def associate(self, *, mechanism: int = 0, secret: bytes = b"", keys: Keys | None = None,
                  max_pdu: int = 0xFFFF, conformance: Conformance = WANTED) -> A.AARE:
        init = A.InitiateRequest(proposed_conformance=conformance, client_max_receive_pdu_size=max_pdu)
        user_info = init.to_bytes()
        ctos = os.urandom(16) if mechanism >= 2 else None
        if keys is not None:
            ic = keys.invocation_counter
            keys.invocation_counter += 1
            user_info = A.CipheredApdu(0x21, 0x30, ic, gcm.protect(0x30, keys.system_title, ic,
                                                                     keys.ek, keys.ak, user_info)).to_bytes()
        aarq = A.AARQ(
            application_context_name=3 if keys is not None else 1,
            calling_ap_title=keys.system_title if keys is not None else None,
            calling_ae_qualifier=None,
            sender_acse_requirements=mechanism > 0,
            mechanism_name=mechanism if mechanism > 0 else None,
            calling_authentication_value=secret if mechanism == 1 else ctos,
            user_information=user_info,
        )
        aare = A.decode_apdu(self.exchange_raw(aarq.to_bytes()))
        if not isinstance(aare, A.AARE) or aare.result != 0:
            raise ClientError(f"association refused: {aare}")
        self.server_title = aare.responding_ap_title
        self.keys = keys
        if mechanism == 5:
            assert keys is not None and aare.responding_authentication_value is not None
            ic = keys.invocation_counter
            tag = gcm.gmac(0x10, keys.system_title, ic, keys.ek, keys.ak, aare.responding_authentication_value)
            keys.invocation_counter += 1
            f_stoc = bytes((0x10,)) + ic.to_bytes(4, "big") + tag
            reply = self.action(15, Obis(0, 0, 40, 0, 0, 255), 1, axdr.OctetString(f_stoc))
            if not isinstance(reply, axdr.OctetString) or self.server_title is None:
                raise ClientError(f"HLS pass 4 failed: {reply}")
            expected = gcm.gmac(reply.value[0], self.server_title, int.from_bytes(reply.value[1:5], "big"),
                                keys.ek, keys.ak, ctos or b"")
            if reply.value[5:] != expected:
                raise ClientError("the meter's f(CtoS) does not verify")
        return aare

    def release(self) -> A.Apdu:
        reply = A.decode_apdu(self.exchange_raw(A.RLRQ(reason=0, user_information=None).to_bytes()))
        self.keys = None
        return reply

    # --- services --------------------------------------------------------------------------

    def get(self, class_id: int, obis: Obis, attribute: int,
            access: A.SelectiveAccess | None = None) -> axdr.Data:
        reply = self.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(class_id, obis, attribute), access))
        raw = b""
        while isinstance(reply, A.GetResponseWithDataBlock):
            if not isinstance(reply.result, bytes):
                raise ClientError(f"GET block failed: {reply.result!r}")
            raw += reply.result
            if reply.last_block:
                return axdr.decode(raw)
            reply = self.exchange(A.GetRequestNext(0xC1, reply.block_number))
        if not isinstance(reply, A.GetResponseNormal):
            raise ClientError(f"unexpected reply {reply}")
        if not isinstance(reply.result, axdr.Data):
            raise ClientError(f"GET failed: {reply.result!r}")
        return reply.result

    def set(self, class_id: int, obis: Obis, attribute: int, value: axdr.Data) -> object:
        reply = self.exchange(A.SetRequestNormal(0xC1, A.CosemAttributeDescriptor(class_id, obis, attribute),
                                                 None, value))
        return getattr(reply, "result", reply)

    def action(self, class_id: int, obis: Obis, method: int, params: axdr.Data | None) -> object:
        reply = self.exchange(A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(class_id, obis, method), params))
        if isinstance(reply, A.ActionResponseNormal):
            if reply.result != 0:
                raise ClientError(f"ACTION failed: {reply.result!r}")
            return reply.return_data
        return reply
