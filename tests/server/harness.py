"""In-memory harness for the application server (h11 ConnectionPair style): a Device on a tmp
state dir with an injected fake timebase, one MeterStack per connection, and a small client that
builds APDUs with meter.apdu, ciphers them with meter.security.gcm and frames them (WrapperPdu).
No sockets, no sleeps. The client reuses tools/refclient.py (ACSE, HLS-GMAC, GET/SET/ACTION) and
only swaps its socket for the stack.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from refclient import WANTED, ClientError, Keys, WrapperClient  # noqa: E402

from meter import apdu as A  # noqa: E402
from meter.codec.obis import Obis  # noqa: E402
from meter.device.device import Device  # noqa: E402
from meter.link.wrapper import WrapperConnection, WrapperPdu  # noqa: E402
from meter.security import gcm  # noqa: E402
from meter.stack import MeterStack  # noqa: E402

PROFILE = ROOT / "profiles" / "acesm.toml"
START = 1767225600.0  # 2026-01-01T00:00:00Z
HISTORY = 3 * 86400.0
SERVER_TITLE = bytes.fromhex("4143450000000001")
LLS_SECRET = b"12345678"
PUBLIC, READER, MANAGEMENT = 16, 32, 1

CLOCK = Obis.parse("0.0.1.0.0.255")
LDN = Obis.parse("0.0.42.0.0.255")
ENERGY = Obis.parse("1.0.1.8.0.255")
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")
FRAUD_LOG = Obis.parse("0.0.99.98.1.255")
CURRENT = Obis.parse("0.0.40.0.0.255")
IC_OBJECT = Obis.parse("0.0.43.1.0.255")

__all__ = ["A", "WANTED", "ClientError", "Keys", "MemoryClient", "FakeTimebase", "Meter", "Obis"]


class FakeTimebase:
    """The Timebase interface with time that moves only when a test says so."""

    scale = 1.0

    def __init__(self, t: float = START) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def resume_at(self, t: float) -> None:
        self.t = max(self.t, t)


class MemoryClient(WrapperClient):
    """refclient's WrapperClient over an in-memory MeterStack instead of a socket.

    ``general`` selects general-glo-ciphering instead of service-specific glo-ciphering;
    ``last_raw`` keeps the last reply payload as it came off the wire (still ciphered).
    """

    def __init__(self, stack: MeterStack, timebase: FakeTimebase, client_sap: int = PUBLIC,
                 *, general: bool = False) -> None:
        self.stack = stack
        self.timebase = timebase
        self.client_sap = client_sap
        self.keys: Keys | None = None
        self.server_title: bytes | None = None
        self.max_pdu = 0xFFFF
        self.general = general
        self.last_raw = b""
        self.server_ics: list[int] = []
        self._framer = WrapperConnection()

    def close(self) -> None:
        self.stack.connection_lost()

    def exchange_raw(self, payload: bytes) -> bytes:
        wire = WrapperPdu(self.client_sap, 1, payload).to_bytes()
        out = self.stack.receive_data(wire, self.timebase.now())
        pdus = self._framer.receive_data(out)
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
        """Decode a reply, deciphering glo- or general-glo-ciphered ones (counters are kept)."""
        reply = A.decode_apdu(raw)
        if isinstance(reply, A.GeneralGloCiphering):
            assert reply.system_title == SERVER_TITLE
            reply = A.CipheredApdu(0xCC, reply.security_control, reply.invocation_counter,
                                   reply.payload)
        if isinstance(reply, A.CipheredApdu):
            self.server_ics.append(reply.invocation_counter)
            return self._decipher(reply)
        return reply

    def send_apdu(self, request: A.Apdu | bytes) -> A.Apdu:
        """One request without the refclient conveniences: bytes go out as they are."""
        if isinstance(request, bytes):
            return self.open_reply(self.exchange_raw(request))
        return self.exchange(request)

    def aarq(self, aarq: A.AARQ) -> A.Apdu:
        return A.decode_apdu(self.exchange_raw(aarq.to_bytes()))


class Meter:
    """A Device opened on a tmp state dir, and the factory for its in-memory connections."""

    def __init__(self, state_dir: Path, timebase: FakeTimebase | None = None,
                 history: float | None = HISTORY) -> None:
        self.state_dir = state_dir
        self.timebase = timebase or FakeTimebase()
        self.device = Device.open(PROFILE, state_dir, self.timebase, history=history)

    def connect(self, client_sap: int = PUBLIC, *, framing: str = "wrapper",
                general: bool = False) -> MemoryClient:
        return MemoryClient(self.device.new_stack(framing), self.timebase, client_sap, general=general)

    def public(self) -> MemoryClient:
        c = self.connect(PUBLIC)
        c.associate()
        return c

    def reader(self, max_pdu: int = 0xFFFF) -> MemoryClient:
        c = self.connect(READER)
        c.associate(mechanism=1, secret=LLS_SECRET, max_pdu=max_pdu)
        return c

    def management(self, *, general: bool = False, keys: Keys | None = None,
                   max_pdu: int = 0xFFFF) -> MemoryClient:
        c = self.connect(MANAGEMENT, general=general)
        c.associate(mechanism=5, keys=keys or Keys(invocation_counter=self.next_ic()), max_pdu=max_pdu)
        return c

    def next_ic(self) -> int:
        """A client invocation counter above every one the meter accepted so far."""
        ctx = self.device.security_context(Obis.parse("0.0.43.0.0.255"))
        return ctx.rx.last + 1

    def reopen(self) -> None:
        self.device.close()
        self.device = Device.open(PROFILE, self.state_dir, self.timebase)

    def close(self) -> None:
        self.device.close()


def initiate(conformance: int = WANTED, max_pdu: int = 0xFFFF, version: int = 6) -> bytes:
    return A.InitiateRequest(proposed_conformance=A.Conformance(conformance),
                             client_max_receive_pdu_size=max_pdu,
                             proposed_dlms_version_number=version).to_bytes()


def make_aarq(**overrides: object) -> A.AARQ:
    """A plain LN AARQ (public association) with fields overridden."""
    fields: dict[str, object] = dict(application_context_name=1, user_information=initiate())
    fields.update(overrides)
    return A.AARQ(**fields)  # type: ignore[arg-type]


def hls_aarq(ctos: bytes, keys: Keys) -> A.AARQ:
    ic = keys.invocation_counter
    keys.invocation_counter += 1
    user_info = A.CipheredApdu(0x21, 0x30, ic, gcm.protect(0x30, keys.system_title, ic, keys.ek,
                                                            keys.ak, initiate())).to_bytes()
    return A.AARQ(application_context_name=3, calling_ap_title=keys.system_title,
                  sender_acse_requirements=True, mechanism_name=5,
                  calling_authentication_value=ctos, user_information=user_info)


def pending_hls(meter: Meter) -> tuple[MemoryClient, A.AARE, bytes]:
    """A management connection after pass 2 of HLS-GMAC: (client, AARE, CtoS); the client ciphers."""
    c = meter.connect(MANAGEMENT)
    keys = Keys(invocation_counter=meter.next_ic())
    ctos = bytes(range(16))
    aare = c.aarq(hls_aarq(ctos, keys))
    assert isinstance(aare, A.AARE) and aare.result == 0
    c.keys, c.server_title = keys, aare.responding_ap_title
    return c, aare, ctos
