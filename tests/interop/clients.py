"""Test-only drivers: one small client interface over two independent DLMS/COSEM client stacks.

gurux-dlms (GPLv2, `gurux_dlms`) and dlms-cosem (BSL, `dlms_cosem`) are installed packages used only by
these tests; meter/ never imports them and nothing of theirs is vendored. Both speak LN referencing
(Green Book DLMS UA 1000-2 Ed. 10: ACSE 9.3.2, xDLMS services 9.4, wrapper 7.3.3, HDLC 8.4) over a real
TCP socket, either with the IEC 62056-47 wrapper or with HDLC frames carried on TCP.

What we learned reading the installed libraries (gurux-dlms 1.0.203, dlms-cosem 25.1.0):

gurux-dlms
  * GXDLMSClient only builds request frames (`snrmRequest`, `aarqRequest`, `read`, `readRowsByRange`...)
    and parses replies (`getData(GXByteBuffer, GXReplyData)` returns False until a whole frame is in);
    the socket loop is ours. `reply.isMoreData()` asks for `receiverReady(reply)` (HDLC RR for a
    segmented frame, or GET-next for a data block), `reply.error` holds the data-access/action result.
  * HDLC server address: `getServerAddress(logical, physical, 4)` plus `serverAddressSize = 4` gives
    the 4-byte form; SNRM carries max-info TX/RX only when they differ from the 128-byte default.
  * `parseObjects` (its own object_list parser, used as shipped) takes the access-mode coding (v<3
    enum or v3 bit flags) from the object_list entry of 0.0.40.0.0.255 only. Where it and the Blue
    Book disagree: its v3 attribute access mode `AccessMode3` is an IntEnum, not flags (its
    `MethodAccessMode3` is an IntFlag, as is Gurux.NET's AccessMode3), so an attribute whose access
    mode combines read/write with protection bits (0x6D) fails the whole list with
    "ValueError: 109 is not a valid AccessMode3". The meter lists only the protection an attribute
    needs beyond its association's security policy (meter/cosem/association_ln.py), which for the
    default associations is none.
  * Writes need a COSEM object whose getValue/getDataType give the value: `_Value` below.
dlms-cosem
  * Its own object_list parser is `dlms_cosem.parsers.AssociationObjectListParser` (v3 bit flags).
  * `DlmsClient(transport, authentication, ...)` with `TcpTransport`/`HdlcTransport` over
    `BlockingTcpIO`; `send(apdu)` then `next_event()`. Its `get`/`action` raise with the result name
    only, so the driver runs the same loop itself to keep the numeric result.
  * It always proposes general-block-transfer in the AARQ conformance but has no GBT APDU in its
    factory: a meter must answer with service-specific blocks (GetResponseWithBlock), which is what
    Green Book 9.4.6.12 prescribes when the client's PDU size is exceeded and the negotiated
    conformance has block-transfer-with-get; a meter granting GBT must still not *need* it.
  * HLS-GMAC sends a 32-byte CtoS challenge (Green Book allows 8..64 octets).
  * Its ciphered connection rejects a server invocation counter <= the last seen one and starts at 0,
    so a meter's first IC 0 would be refused: we start its view at -1 (IC 0 is a valid first value).
  * HDLC: no SNRM parameter negotiation (128-byte info fields both ways), window 1, LLC prepended once;
    server address in the 2-byte form unless `extended_addressing=True` (4-byte form). It finds frame
    ends by searching 0x7E, which breaks when an FCS byte is 0x7E (no byte stuffing in 62056-46):
    `_length_framed_hdlc` reads frames by their length field instead.
  * Its A-XDR decoder does not implement bit-string and loops forever on truncated data; values are
    decoded only after the driver has the complete Data.
  * Range selector: date-times with deviation 0 for aware datetimes, clock status 0; no entry selector.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

WRAPPER = "wrapper"
HDLC = "hdlc"
TIMEOUT = 10.0

# A-XDR Data tags (Blue Book 4.1.5 / cosem-reference.md) for the arguments the tests send.
NULL, OCTET_STRING, INTEGER, LONG, UNSIGNED, LONG_UNSIGNED = 0, 9, 15, 16, 17, 18

# Simulation keys of the management association (profiles/acesm.toml [keys]).
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_SYSTEM_TITLE = bytes.fromhex("4D4D4D0000000001")

# Data-access-result / action-result success (Green Book 9.4.6).
SUCCESS = 0
# A PDU small enough that reads of the object list and of profiles need block transfer.
CLIENT_PDU = 256
# Info field we ask for in SNRM: more than 255 so frame lengths use the full 11-bit length field.
HDLC_INFO = 512


@dataclass(frozen=True, slots=True)
class Endpoint:
    framing: str  # WRAPPER or HDLC
    host: str
    port: int
    physical_address: int = 17  # HDLC lower server address (HDLC setup device_address)


@dataclass(frozen=True, slots=True)
class Association:
    name: str
    client_sap: int
    mechanism: int  # 0 lowest, 1 LLS, 5 HLS-GMAC
    secret: bytes | None = None
    ciphered: bool = False


PUBLIC = Association("public", 16, 0)
READER = Association("reader", 32, 1, b"12345678")
MANAGEMENT = Association("management", 1, 5, None, True)


@dataclass(frozen=True, slots=True)
class Ref:
    class_id: int
    obis: str
    index: int


@dataclass(frozen=True, slots=True)
class Arg:
    """A typed argument: A-XDR tag plus a Python value (bytes for octet-string, int otherwise)."""

    tag: int
    value: int | bytes | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Result of a GET or ACTION: `result` is the data-access/action result, `value` the plain value."""

    result: int
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.result == SUCCESS


@dataclass(frozen=True, slots=True)
class Undecoded:
    """Complete A-XDR Data a client library could not turn into Python values."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    class_id: int
    version: int
    obis: str
    attribute_access: dict[int, int] = field(default_factory=dict)
    method_access: dict[int, int] = field(default_factory=dict)


def obis_bytes(obis: str) -> bytes:
    return bytes(int(part) for part in obis.split("."))


def obis_str(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def parse_datetime(raw: bytes) -> datetime:
    """A 12-octet COSEM date-time (Blue Book 4.1.6.1) as an aware UTC datetime."""
    year = int.from_bytes(raw[0:2], "big")
    local = datetime(year, raw[2], raw[3], raw[5], raw[6], raw[7], (raw[8] % 100) * 10000)
    deviation = int.from_bytes(raw[9:11], "big", signed=True)
    if deviation == -0x8000:  # not specified: the meter's local time is UTC (profile time_zone 0)
        deviation = 0
    # Blue Book sign: deviation = UTC - local, in minutes.
    return (local + timedelta(minutes=deviation)).replace(tzinfo=timezone.utc)


def encode_datetime(moment: datetime) -> bytes:
    """A 12-octet COSEM date-time in UTC, deviation 0, clock status 0."""
    utc = moment.astimezone(timezone.utc)
    return (
        utc.year.to_bytes(2, "big")
        + bytes([utc.month, utc.day, utc.isoweekday(), utc.hour, utc.minute, utc.second])
        + bytes([utc.microsecond // 10000])
        + (0).to_bytes(2, "big", signed=True)
        + b"\x00"
    )


def readable(access_mode: int, association_version: int) -> bool:
    """Whether an attribute access_mode allows reading (Blue Book 4.4.3: v3 bit flags, else enum)."""
    if association_version >= 3:
        return bool(access_mode & 0x01)
    return access_mode in (1, 3, 4, 6)


class Driver(Protocol):
    """What every test calls; one instance is one association over one TCP connection."""

    name: str

    def associate(self) -> None: ...

    def get(self, ref: Ref) -> Outcome: ...

    def set(self, ref: Ref, arg: Arg) -> int: ...

    def action(self, ref: Ref, arg: Arg) -> Outcome: ...

    def read_profile_range(self, obis: str, start: datetime, end: datetime) -> list[list[Any]]: ...

    def read_profile_entries(self, obis: str, first: int, last: int) -> list[list[Any]]: ...

    def object_list(self) -> list[ObjectEntry]: ...

    def release(self) -> None: ...


def _plain(value: Any) -> Any:
    """A library's decoded value as plain Python: bytes, int, bool, str, float, None, list."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    inner = getattr(value, "value", None)  # gurux GXEnum, GXUInt8, ... wrap a plain value
    if isinstance(inner, (int, float)):
        return inner
    return value


# --------------------------------------------------------------------------------------- gurux


class _Socket:
    """A blocking TCP socket with a deadline per read: a silent meter is a failure, never a hang."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.sock = socket.create_connection((endpoint.host, endpoint.port), timeout=TIMEOUT)

    def send(self, data: bytes) -> None:
        LOG.debug("gurux -> %s", data.hex())
        self.sock.sendall(data)

    def recv(self) -> bytes:
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError("meter closed the connection")
        LOG.debug("gurux <- %s", chunk.hex())
        return chunk

    def close(self) -> None:
        self.sock.close()


OBJECT_LIST = Ref(15, "0.0.40.0.0.255", 2)


class GuruxDriver:
    """gurux-dlms: we own the socket loop, GXDLMSClient builds and parses frames."""

    name = "gurux"

    def __init__(
        self,
        endpoint: Endpoint,
        association: Association,
        invocation_counter: int = 0,
        four_byte_address: bool = True,
        max_pdu: int = CLIENT_PDU,
    ):
        from gurux_dlms import GXDLMSClient
        from gurux_dlms.enums import Authentication, InterfaceType, Security
        from gurux_dlms.secure import GXDLMSSecureClient

        self.endpoint = endpoint
        hdlc = endpoint.framing == HDLC
        server = (GXDLMSClient.getServerAddress(1, endpoint.physical_address, 4 if four_byte_address else 0)
                  if hdlc else 1)
        self.client = GXDLMSSecureClient(
            True,
            association.client_sap,
            server,
            Authentication(association.mechanism),
            association.secret,
            InterfaceType.HDLC if hdlc else InterfaceType.WRAPPER,
        )
        if hdlc:
            if four_byte_address:
                self.client.setServerAddressSize(4)
            self.client.hdlcSettings.maxInfoTX = HDLC_INFO
            self.client.hdlcSettings.maxInfoRX = HDLC_INFO
        self.client.maxReceivePDUSize = max_pdu
        if association.ciphered:
            cipher = self.client.ciphering
            cipher.security = Security.AUTHENTICATION_ENCRYPTION
            cipher.systemTitle = bytearray(CLIENT_SYSTEM_TITLE)
            cipher.blockCipherKey = bytearray(EK)
            cipher.authenticationKey = bytearray(AK)
            cipher.invocationCounter = invocation_counter
        self.link = _Socket(endpoint)
        self.closed = False

    # One request (possibly several frames) and its complete reply, following GXReplyData.moreData.
    def _exchange(self, frames: Any) -> Any:
        from gurux_dlms import GXReplyData

        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        reply = GXReplyData()
        for frame in frames:
            reply.clear()
            self._read_packet(frame, reply)
            while reply.isMoreData():
                self._read_packet(self.client.receiverReady(reply), reply)
        return reply

    def _read_packet(self, frame: bytes, reply: Any) -> None:
        from gurux_dlms import GXByteBuffer, GXReplyData

        self.link.send(bytes(frame))
        buffer = GXByteBuffer()
        notify = GXReplyData()
        while not self.client.getData(buffer, reply, notify):
            buffer.set(self.link.recv())

    def associate(self) -> None:
        if self.endpoint.framing == HDLC:
            reply = self._exchange(self.client.snrmRequest())
            self.client.parseUAResponse(reply.data)
        reply = self._exchange(self.client.aarqRequest())
        self.client.parseAareResponse(reply.data)
        if self.client.getIsAuthenticationRequired():
            reply = self._exchange(self.client.getApplicationAssociationRequest())
            self.client.parseApplicationAssociationResponse(reply.data)

    def _object(self, class_id: int, obis: str) -> Any:
        from gurux_dlms.objects import GXDLMSObject

        return GXDLMSObject(class_id, obis)

    def get(self, ref: Ref) -> Outcome:
        reply = self._exchange(self.client.read(self._object(ref.class_id, ref.obis), ref.index))
        if reply.error:
            return Outcome(reply.error)
        return Outcome(SUCCESS, _plain(reply.value))

    def set(self, ref: Ref, arg: Arg) -> int:
        return int(self._exchange(self.client.write(_gurux_value(ref, arg), ref.index)).error)

    def object_list(self) -> list[ObjectEntry]:
        """gurux's own parser (GXDLMSClient.parseObjects), unknown classes kept."""
        reply = self._exchange(self.client.read(self._object(OBJECT_LIST.class_id, OBJECT_LIST.obis), 2))
        assert not reply.error, f"object_list read failed: {reply.error}"
        entries = []
        for obj in self.client.parseObjects(reply.data, False):
            entries.append(ObjectEntry(
                int(obj.objectType), int(obj.version), obj.logicalName,
                {a.index: int(a.access3) for a in obj.attributes},
                {m.index: int(m.methodAccess3) for m in obj.methodAttributes},
            ))
        return entries

    def write_object(self, obj: Any, index: int) -> int:
        """SET attribute ``index`` of a gurux COSEM object as gurux itself encodes it."""
        return int(self._exchange(self.client.write(obj, index)).error)

    def action(self, ref: Ref, arg: Arg) -> Outcome:
        from gurux_dlms.enums import DataType

        obj = self._object(ref.class_id, ref.obis)
        reply = self._exchange(self.client.method(obj, ref.index, arg.value, DataType(arg.tag)))
        return Outcome(int(reply.error), _plain(reply.value))

    def _profile(self, obis: str) -> Any:
        from gurux_dlms.objects import GXDLMSProfileGeneric

        return GXDLMSProfileGeneric(obis)

    def read_profile_range(self, obis: str, start: datetime, end: datetime) -> list[list[Any]]:
        from gurux_dlms import GXDateTime

        pg = self._profile(obis)
        reply = self._exchange(self.client.readRowsByRange(pg, GXDateTime(start), GXDateTime(end)))
        return self._rows(reply)

    def read_profile_entries(self, obis: str, first: int, last: int) -> list[list[Any]]:
        pg = self._profile(obis)
        return self._rows(self._exchange(self.client.readRowsByEntry(pg, first, last - first + 1)))

    @staticmethod
    def _rows(reply: Any) -> list[list[Any]]:
        if reply.error:
            raise AssertionError(f"profile read failed: data-access-result {reply.error}")
        return _plain(reply.value) or []

    def release(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            frames = self.client.releaseRequest()
            if frames:
                self._exchange(frames)
            if self.endpoint.framing == HDLC:
                self._exchange(self.client.disconnectRequest())
        finally:
            self.link.close()


def _gurux_value(ref: Ref, arg: Arg) -> Any:
    """A gurux COSEM object that hands `arg` to GXDLMSClient.write (its only write entry point)."""
    from gurux_dlms.objects import GXDLMSObject

    class _Value(GXDLMSObject):  # type: ignore[misc]
        def getValue(self, settings: Any, e: Any) -> Any:
            return arg.value

        def getDataType(self, index: int) -> Any:
            from gurux_dlms.enums import DataType

            return DataType(arg.tag)

    return _Value(ref.class_id, ref.obis)


# ---------------------------------------------------------------------------------- dlms-cosem


class DlmsCosemDriver:
    """dlms-cosem: its DlmsClient over its own TcpTransport/HdlcTransport and BlockingTcpIO."""

    name = "dlms-cosem"

    def __init__(
        self,
        endpoint: Endpoint,
        association: Association,
        invocation_counter: int = 0,
        four_byte_address: bool = True,
        max_pdu: int = CLIENT_PDU,
    ):
        from dlms_cosem import security
        from dlms_cosem.client import DlmsClient
        from dlms_cosem.io import BlockingTcpIO, TcpTransport

        io = BlockingTcpIO(endpoint.host, endpoint.port, timeout=int(TIMEOUT))
        transport: Any
        if endpoint.framing == HDLC:
            transport = _length_framed_hdlc()(
                client_logical_address=association.client_sap,
                server_logical_address=1,
                server_physical_address=endpoint.physical_address,
                io=io,
                extended_addressing=four_byte_address,
            )
        else:
            transport = TcpTransport(
                client_logical_address=association.client_sap, server_logical_address=1, io=io
            )
        authentication: Any
        if association.mechanism == 0:
            authentication = security.NoSecurityAuthentication()
        elif association.mechanism == 1:
            authentication = security.LowLevelSecurityAuthentication(secret=association.secret)
        else:
            authentication = security.HighLevelSecurityGmacAuthentication(challenge_length=32)
        keys: dict[str, Any] = {}
        if association.ciphered:
            keys = dict(
                encryption_key=EK,
                authentication_key=AK,
                client_system_title=CLIENT_SYSTEM_TITLE,
                client_initial_invocation_counter=invocation_counter,
                meter_initial_invocation_counter=-1,  # see module docstring
            )
        self.client = DlmsClient(
            transport=transport, authentication=authentication, max_pdu_size=max_pdu, **keys
        )
        self.client.connect()
        self.closed = False

    def associate(self) -> None:
        self.client.associate()

    def _attribute(self, ref: Ref) -> Any:
        from dlms_cosem import cosem
        from dlms_cosem.enumerations import CosemInterface

        # Its capture-object encoder wants the enum; plain ints do for classes it lacks.
        known = ref.class_id in CosemInterface._value2member_map_
        interface = CosemInterface(ref.class_id) if known else ref.class_id
        return cosem.CosemAttribute(interface, cosem.Obis.from_bytes(obis_bytes(ref.obis)), ref.index)

    def _get_raw(self, ref: Ref, selector: Any = None) -> tuple[int, bytes]:
        from dlms_cosem.protocol import xdlms

        self.client.send(
            xdlms.GetRequestNormal(cosem_attribute=self._attribute(ref), access_selection=selector)
        )
        data = bytearray()
        while True:
            response = self.client.next_event()
            if isinstance(response, xdlms.GetResponseNormal):
                return SUCCESS, bytes(response.data)
            if isinstance(response, xdlms.GetResponseWithBlock):
                data += response.data
                self.client.send(
                    xdlms.GetRequestNext(
                        invoke_id_and_priority=response.invoke_id_and_priority,
                        block_number=response.block_number,
                    )
                )
                continue
            if isinstance(response, xdlms.GetResponseLastBlock):
                return SUCCESS, bytes(data + response.data)
            if isinstance(response, (xdlms.GetResponseNormalWithError, xdlms.GetResponseLastBlockWithError)):
                return int(response.error.value), b""
            raise AssertionError(f"unexpected answer to GET: {response!r}")

    def get(self, ref: Ref) -> Outcome:
        from dlms_cosem.utils import parse_as_dlms_data

        result, raw = self._get_raw(ref)
        if result != SUCCESS:
            return Outcome(result)
        try:
            return Outcome(SUCCESS, _plain(parse_as_dlms_data(raw)))
        except NotImplementedError:  # its decoder lacks bit-string: keep the bytes, the read worked
            return Outcome(SUCCESS, Undecoded(raw))

    def set(self, ref: Ref, arg: Arg) -> int:
        response = self.client.set(self._attribute(ref), _cosem_data(arg))
        return int(response.result.value)

    def object_list(self) -> list[ObjectEntry]:
        """dlms-cosem's own parser (AssociationObjectListParser.parse_bytes)."""
        from dlms_cosem.parsers import AssociationObjectListParser

        result, raw = self._get_raw(OBJECT_LIST)
        assert result == SUCCESS, f"object_list read failed: {result}"

        def bits(rights: Any) -> int:  # its AccessRight values are the v3 bit positions
            return sum(1 << int(r) for r in rights.access_rights)

        return [
            ObjectEntry(
                int(item.interface), int(item.version), obis_str(item.logical_name.to_bytes()),
                {i: bits(r) for i, r in item.attribute_access_rights.items()},
                {i: bits(r) for i, r in item.method_access_rights.items()},
            )
            for item in AssociationObjectListParser.parse_bytes(raw)
        ]

    def action(self, ref: Ref, arg: Arg) -> Outcome:
        from dlms_cosem import cosem
        from dlms_cosem.protocol import xdlms
        from dlms_cosem.utils import parse_as_dlms_data

        method = cosem.CosemMethod(ref.class_id, cosem.Obis.from_bytes(obis_bytes(ref.obis)), ref.index)
        self.client.send(xdlms.ActionRequestNormal(cosem_method=method, data=_cosem_data(arg)))
        response = self.client.next_event()
        if isinstance(response, xdlms.ActionResponseNormalWithError):
            return Outcome(int(response.status.value))
        if isinstance(response, xdlms.ActionResponseNormalWithData):
            return Outcome(int(response.status.value), _plain(parse_as_dlms_data(response.data)))
        return Outcome(int(response.status.value))

    def read_profile_range(self, obis: str, start: datetime, end: datetime) -> list[list[Any]]:
        from dlms_cosem.cosem.capture_object import CaptureObject
        from dlms_cosem.cosem.selective_access import RangeDescriptor
        from dlms_cosem.utils import parse_as_dlms_data

        clock = CaptureObject(self._attribute(Ref(8, "0.0.1.0.0.255", 2)), data_index=0)
        selector = RangeDescriptor(restricting_object=clock, from_value=start, to_value=end)
        result, raw = self._get_raw(Ref(7, obis, 2), selector)
        if result != SUCCESS:
            raise AssertionError(f"profile read failed: data-access-result {result}")
        return _plain(parse_as_dlms_data(raw)) or []

    def read_profile_entries(self, obis: str, first: int, last: int) -> list[list[Any]]:
        raise NotImplementedError("dlms-cosem has no entry selector")

    def release(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.client.release_association()
        finally:
            self.client.disconnect()


def _length_framed_hdlc() -> type:
    """dlms-cosem's HdlcTransport, reading frames by their length field instead of up to the next
    0x7E: IEC 62056-46 HDLC has no byte stuffing, so 0x7E may occur inside a frame (we met it as an
    FCS byte), and the stock reader then waits forever for a flag the meter never sends."""
    from dlms_cosem.hdlc.state import NEED_DATA
    from dlms_cosem.io import HdlcTransport

    class LengthFramedHdlcTransport(HdlcTransport):  # type: ignore[misc]
        def recv_frame(self) -> bytes:
            first = self.io.recv(1)
            while first == b"\x7e":  # opening flag(s); a flag may be shared with the last frame
                first = self.io.recv(1)
            second = self.io.recv(1)
            length = ((first[0] & 0x07) << 8) | second[0]  # frame format field, 11-bit length
            return b"\x7e" + first + second + self.io.recv(length - 2) + self.io.recv(1)

        def next_event(self) -> Any:
            connection = self.hdlc_connection
            while True:
                event = connection.next_event()
                if event is not NEED_DATA:
                    return event
                # Its frame finder stopped at a 0x7E inside the frame: let it search on first.
                if connection.buffer_search_position < len(connection.buffer):
                    continue
                connection.receive_data(self.recv_frame())

    return LengthFramedHdlcTransport


def _cosem_data(arg: Arg) -> bytes:
    """The A-XDR encoding of an argument, built with dlms-cosem's own data classes."""
    from dlms_cosem import dlms_data

    if arg.tag == NULL:
        return dlms_data.NullData().to_bytes()
    return dlms_data.DlmsDataFactory.get_data_class(arg.tag)(arg.value).to_bytes()


DriverFactory = Callable[[Endpoint, Association, int], Driver]
DRIVERS: dict[str, DriverFactory] = {"gurux": GuruxDriver, "dlms-cosem": DlmsCosemDriver}


def read_ok(driver: Driver, ref: Ref) -> Any:
    """The value of a GET that must succeed (the test fails naming the result otherwise)."""
    outcome = driver.get(ref)
    assert outcome.ok, f"GET {ref} failed: {outcome.result}"
    return outcome.value
