"""An independent general-signing client written from the Green Book (9.2.7.2.4): the APDU is
built octet by octet here (tag 0xDF, seven length-prefixed octet strings), the signature covers
every octet before the signature field, raw r || s (tests/hls/helpers.Ecdsa). Cipher then sign:
the content is the glo-ciphered request of tests/hls/helpers.HlsClient.

gurux-dlms 1.0.x (Python) cannot send or read general-signing: its Command enum has no 0xDF,
GXDLMSChippering only carries dead code for it, so every test here uses this client."""

from __future__ import annotations

from meter import apdu as A
from meter.security import gcm
from tests.hls.helpers import Ecdsa, HlsClient


def octets(value: bytes) -> bytes:
    assert len(value) < 0x80  # one-octet A-XDR length is all these tests need
    return bytes((len(value),)) + value


def signed_apdu(key: Ecdsa, transaction_id: bytes, originator: bytes, recipient: bytes,
                content: bytes, *, tamper: bool = False) -> bytes:
    if len(content) >= 0x80:
        raise ValueError("content too long for this small client")
    head = b"\xDF" + b"".join(octets(f) for f in (transaction_id, originator, recipient, b"", b"", content))
    signature = key.sign(head)
    if tamper:
        signature = bytes((signature[0] ^ 1,)) + signature[1:]
    return head + octets(signature)


class SigningClient:
    """Signs what an HlsClient would send; checks and opens what comes back."""

    def __init__(self, client: HlsClient, key: Ecdsa) -> None:
        self.client, self.key = client, key

    def send(self, request: A.Apdu, *, cipher: bool = True, tamper: bool = False,
             originator: bytes | None = None, transaction_id: int | None = None) -> bytes:
        c = self.client
        plain = request.to_bytes()
        if cipher:
            content = c.cipher(plain)
            tid = c.keys.invocation_counter - 1
        else:
            content = plain
            tid = c.keys.invocation_counter
            c.keys.invocation_counter += 1
        if transaction_id is not None:
            tid = transaction_id
        assert c.server_title is not None
        return c.exchange_raw(signed_apdu(self.key, tid.to_bytes(8, "big"), originator or c.keys.system_title,
                                          c.server_title, content, tamper=tamper))

    def open(self, raw: bytes) -> A.Apdu:
        """Verify the meter's signature (its exported certificate's key), then decipher."""
        reply = A.decode_apdu(raw)
        assert isinstance(reply, A.GeneralSigning), reply
        c = self.client
        assert reply.originator_system_title == c.server_title
        assert reply.recipient_system_title == c.keys.system_title
        head = b"\xDF" + b"".join(octets(f) for f in (
            reply.transaction_id, reply.originator_system_title, reply.recipient_system_title,
            reply.date_time, reply.other_information, reply.content))
        assert self.key.verify(reply.signature, head), "the meter's signature does not verify"
        inner = A.decode_apdu(reply.content)
        if isinstance(inner, A.CipheredApdu):
            inner = A.decode_apdu(gcm.unprotect(inner.security_control, c.server_title,
                                                inner.invocation_counter, c.keys.ek, c.keys.ak,
                                                inner.payload))
        return inner
