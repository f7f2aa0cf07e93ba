"""In-process meter and an independent HLS client for the mechanism 6/7 tests.

The client is a copy of the tools/refclient.py pattern extended from the Green Book (9.2.7.4
HLS, 9.2.3.3 suites) for what refclient lacks: HLS-SHA256 and HLS-ECDSA, security suites 1 and
2 (SC low nibble, 32-byte keys). f(StoC)/f(CtoS) are computed here with hashlib and
cryptography directly, not with meter.security.hls, so the byte order is checked independently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID
from support import SERVER_TITLE, FakeTimebase, Meter

from meter import apdu as A
from meter.apdu.initiate import Conformance
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.link.wrapper import WrapperConnection, WrapperPdu
from meter.security import gcm
from meter.stack import MeterStack

CURRENT_ASSOCIATION = Obis(0, 0, 40, 0, 0, 255)
SETUP0 = Obis.parse("0.0.43.0.0.255")
SETUP3 = Obis.parse("0.0.43.0.3.255")
FRAUD_LOG = Obis.parse("0.0.99.98.1.255")
TCP_GUARD = Obis.parse("0.0.44.2.0.255")
LDN = Obis.parse("0.0.42.0.0.255")
MANAGEMENT, SHA256_CLIENT, ECDSA_CLIENT = 1, 2, 3
SECRET = b"12345678"

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
# profiles/acesm-suite2.toml, Security setup 0.0.43.0.3.255
EK32 = bytes.fromhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
AK32 = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEF")
WANTED = Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ \
    | Conformance.BLOCK_TRANSFER_WITH_ACTION

_CURVE = {1: ec.SECP256R1, 2: ec.SECP384R1}
_HASH = {1: hashes.SHA256, 2: hashes.SHA384}
_SIZE = {1: 32, 2: 48}


class ClientError(Exception):
    pass


@dataclass
class Keys:
    ek: bytes = EK
    ak: bytes = AK
    system_title: bytes = bytes.fromhex("4D4D4D0000000002")
    invocation_counter: int = 1
    suite: int = 0

    @property
    def sc(self) -> int:
        return 0x30 | self.suite  # authenticated and encrypted, suite in the low nibble


@dataclass
class Ecdsa:
    """The client's signing key and the server's public key for mechanism 7."""

    suite: int
    private: ec.EllipticCurvePrivateKey = field(init=False)
    server_public: ec.EllipticCurvePublicKey | None = None

    def __post_init__(self) -> None:
        self.private = ec.generate_private_key(_CURVE[self.suite]())

    def certificate(self, title: bytes, critical: bool = True) -> bytes:
        """Self-signed X.509 for the signing key: subject CN = system title in hex (the
        convention of Green Book 9.2.6 / Gurux systemTitleToSubject), digitalSignature
        (critical unless asked: gurux's GXx509Certificate cannot parse a critical flag)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, title.hex().upper())])
        now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
        usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=False,
                              crl_sign=False, encipher_only=False, decipher_only=False)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.private.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(usage, critical=critical).sign(self.private, _HASH[self.suite]()))
        return cert.public_bytes(serialization.Encoding.DER)

    def sign(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self.private.sign(message, ec.ECDSA(_HASH[self.suite]())))
        n = _SIZE[self.suite]
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")

    def verify(self, signature: bytes, message: bytes) -> bool:
        assert self.server_public is not None
        n = _SIZE[self.suite]
        der = encode_dss_signature(int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big"))
        try:
            self.server_public.verify(der, message, ec.ECDSA(_HASH[self.suite]()))
        except InvalidSignature:
            return False
        return True


class HlsClient:
    """One association at a time over a MeterStack in memory (wrapper framing)."""

    def __init__(self, stack: MeterStack, timebase: FakeTimebase, client_sap: int, keys: Keys) -> None:
        self.stack, self.timebase, self.client_sap, self.keys = stack, timebase, client_sap, keys
        self.server_title: bytes | None = None
        self.last_aarq = b""
        self.last_pass3 = b""  # the ciphered reply_to_HLS_authentication request sent
        self._framer = WrapperConnection()

    def exchange_raw(self, payload: bytes) -> bytes:
        out = self.stack.receive_data(WrapperPdu(self.client_sap, 1, payload).to_bytes(),
                                      self.timebase.now())
        (pdu,) = self._framer.receive_data(out)
        return pdu.payload

    def cipher(self, plain: bytes) -> bytes:
        k = self.keys
        ic = k.invocation_counter
        k.invocation_counter += 1
        payload = gcm.protect(k.sc, k.system_title, ic, k.ek, k.ak, plain)
        return A.CipheredApdu(A.ciphered_tag_for(plain[0], False), k.sc, ic, payload).to_bytes()

    def exchange(self, request: A.Apdu) -> A.Apdu:
        reply = A.decode_apdu(self.exchange_raw(self.cipher(request.to_bytes())))
        if isinstance(reply, A.CipheredApdu):
            assert self.server_title is not None
            plain = gcm.unprotect(reply.security_control, self.server_title, reply.invocation_counter,
                                  self.keys.ek, self.keys.ak, reply.payload)
            reply = A.decode_apdu(plain)
        return reply

    def associate(self, mechanism: int, *, secret: bytes = b"", ecdsa: Ecdsa | None = None,
                  tamper: Callable[[bytes], bytes] = lambda f: f) -> None:
        """AARQ/AARE then pass 3/4; ClientError when the meter refuses or its f(CtoS) is wrong."""
        k = self.keys
        ctos = os.urandom(32)
        init = A.InitiateRequest(proposed_conformance=WANTED, client_max_receive_pdu_size=0xFFFF).to_bytes()
        ic = k.invocation_counter
        k.invocation_counter += 1
        user_info = A.CipheredApdu(0x21, k.sc, ic, gcm.protect(k.sc, k.system_title, ic, k.ek, k.ak, init))
        aarq = A.AARQ(application_context_name=3, calling_ap_title=k.system_title, calling_ae_qualifier=None,
                      sender_acse_requirements=True, mechanism_name=mechanism,
                      calling_authentication_value=ctos, user_information=user_info.to_bytes())
        self.last_aarq = aarq.to_bytes()
        aare = A.decode_apdu(self.exchange_raw(self.last_aarq))
        if not isinstance(aare, A.AARE) or aare.result != 0:
            raise ClientError(f"association refused: {aare}")
        stoc = aare.responding_authentication_value
        server = self.server_title = aare.responding_ap_title
        assert stoc is not None and server is not None
        me = k.system_title
        if mechanism == 6:  # Green Book 9.2.7.4: SHA-256(secret || ST-C || ST-S || StoC || CtoS)
            f_stoc = hashlib.sha256(secret + me + server + stoc + ctos).digest()
        else:
            assert ecdsa is not None
            f_stoc = ecdsa.sign(me + server + stoc + ctos)
        request = A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(15, CURRENT_ASSOCIATION, 1),
                                        axdr.OctetString(tamper(f_stoc)))
        self.last_pass3 = self.cipher(request.to_bytes())
        raw = self.exchange_raw(self.last_pass3)
        reply = A.decode_apdu(raw)
        if isinstance(reply, A.CipheredApdu):
            reply = A.decode_apdu(gcm.unprotect(reply.security_control, server, reply.invocation_counter,
                                                k.ek, k.ak, reply.payload))
        if not isinstance(reply, A.ActionResponseNormal) or reply.result != 0 \
                or not isinstance(reply.return_data, axdr.OctetString):
            raise ClientError(f"HLS pass 3 refused: {reply}")
        f_ctos = reply.return_data.value
        if mechanism == 6:
            ok = f_ctos == hashlib.sha256(secret + server + me + ctos + stoc).digest()
        else:
            assert ecdsa is not None
            ok = ecdsa.verify(f_ctos, server + me + ctos + stoc)
        if not ok:
            raise ClientError("the meter's f(CtoS) does not verify")

    def get(self, class_id: int, obis: Obis, attribute: int) -> axdr.Data:
        reply = self.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(class_id, obis, attribute), None))
        if not isinstance(reply, A.GetResponseNormal) or not isinstance(reply.result, axdr.Data):
            raise ClientError(f"GET failed: {reply}")
        return reply.result

    def action(self, class_id: int, obis: Obis, method: int, params: axdr.Data | None) -> axdr.Data | None:
        reply = self.exchange(A.ActionRequestNormal(0xC1, A.CosemMethodDescriptor(class_id, obis, method), params))
        if not isinstance(reply, A.ActionResponseNormal) or reply.result != 0:
            raise ClientError(f"ACTION failed: {reply}")
        return reply.return_data

    def release(self) -> None:
        self.exchange_raw(A.RLRQ(reason=0, user_information=None).to_bytes())


class HlsMeter(Meter):
    """The shared in-memory meter (tests/support) with this folder's HlsClient on top."""

    def hls_keys(self, setup: Obis = SETUP0, **kw: object) -> Keys:
        """Keys of the setup's suite with an invocation counter above every one it accepted."""
        ctx = self.device.security_context(setup)
        keys = Keys(invocation_counter=self.next_ic(setup), **kw)  # type: ignore[arg-type]
        if ctx.suite == 2:
            keys.ek, keys.ak = EK32, AK32
        keys.suite = ctx.suite
        return keys

    def client(self, client_sap: int, setup: Obis = SETUP0, **kw: object) -> HlsClient:
        return HlsClient(self.device.new_stack("wrapper", now=self.timebase.now), self.timebase, client_sap, self.hls_keys(setup, **kw))

    def hls_management(self) -> HlsClient:
        """Client 1 (HLS-GMAC), through the meter's own refclient-style exchange."""
        c = self.client(MANAGEMENT, system_title=bytes.fromhex("4D4D4D0000000001"))
        _gmac_associate(c)
        return c

    def fraud_codes(self) -> list[int]:
        buffer = self.device.directory[FRAUD_LOG].get(2, self.device.context(None))
        rows = axdr.decode(buffer.to_bytes())  # the buffer comes pre-encoded
        return [row.items[1].value for row in getattr(rows, "items", ())]

    def failed_attempts(self) -> int:
        return int(self.device.directory[TCP_GUARD].value("failed_attempts").value)


def _gmac_associate(c: HlsClient) -> None:
    """Mechanism 5 for the management client (Green Book 9.2.7.4, as tools/refclient.py)."""
    k = c.keys
    ctos = os.urandom(16)
    init = A.InitiateRequest(proposed_conformance=WANTED, client_max_receive_pdu_size=0xFFFF).to_bytes()
    ic = k.invocation_counter
    k.invocation_counter += 1
    user_info = A.CipheredApdu(0x21, k.sc, ic, gcm.protect(k.sc, k.system_title, ic, k.ek, k.ak, init))
    aare = A.decode_apdu(c.exchange_raw(A.AARQ(
        application_context_name=3, calling_ap_title=k.system_title, calling_ae_qualifier=None,
        sender_acse_requirements=True, mechanism_name=5, calling_authentication_value=ctos,
        user_information=user_info.to_bytes()).to_bytes()))
    assert isinstance(aare, A.AARE) and aare.result == 0, aare
    c.server_title = aare.responding_ap_title
    ic = k.invocation_counter
    k.invocation_counter += 1
    tag = gcm.gmac(0x10, k.system_title, ic, k.ek, k.ak, aare.responding_authentication_value)
    reply = c.action(15, CURRENT_ASSOCIATION, 1, axdr.OctetString(b"\x10" + ic.to_bytes(4, "big") + tag))
    assert isinstance(reply, axdr.OctetString), reply


def import_client_certificate(meter: HlsMeter, setup: Obis, der: bytes) -> bytes:
    """What a head end does over the management association: import_certificate (method 6) of
    the client's signing certificate, then export_certificate (method 7, by entity: server,
    digital signature, server system title) of the meter's; returns the exported DER."""
    m = meter.hls_management()
    m.action(64, setup, 6, axdr.OctetString(der))
    exported = m.action(64, setup, 7, axdr.Structure((axdr.Enum(0), axdr.Structure((
        axdr.Enum(0), axdr.Enum(0), axdr.OctetString(SERVER_TITLE))))))
    m.release()
    assert isinstance(exported, axdr.OctetString)
    return exported.value


def server_public_key(der: bytes) -> ec.EllipticCurvePublicKey:
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key
