"""Push setup (class_id 40, version 2; Blue Book 4.4.8): what the meter pushes, where, when.

Attributes (cosem-reference.md, Push setup v2): 2 push_object_list array of {class_id
long-unsigned, logical_name octet-string, attribute_index integer, data_index long-unsigned,
restriction {restriction_type enum, restriction_value}, columns array}; 3
send_destination_and_method {transport_service enum, destination octet-string, message enum}; 4
communication_window array of {start, end} date-times; 5 randomisation_start_interval
long-unsigned (s); 6 number_of_retries unsigned; 7 repetition_delay {min, exponent, max}
long-unsigneds; 8 port_reference; 9 push_client_SAP; 10 push_protection_parameters; 11
push_operation_method enum; 12 confirmation_parameters; 13 last_confirmation_date_time.
Methods 1 push(integer 0), 2 reset(integer 0).

This meter pushes over TCP (transport_service 0, the IEC 62056-47 wrapper, destination
"host:port" in ASCII) or on a local port (transport_service 5, HDLC: the DATA-NOTIFICATION in
an HDLC UI frame on the serial or optical line, destination the client's HDLC address in ASCII
decimal, port_reference the port's setup object: an IEC local port setup 0.0.20.0.0.255 means the
optical port, anything else the serial line; use case 12, consumer information), A-XDR APDUs only
(message 0), unconfirmed (push_operation_method 0: a failed connection or write is retried). The object holds the program; the device decides when a
push is due and what it carries (meter/device/pushes.py), the transport sends it
(meter/transport/push.py). Its protection is the device's: the profile names the Security setup
whose keys and invocation counter cipher it (``security_setup``, ``ciphering``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from meter.codec.axdr import (
    NULL,
    Array,
    Data,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
)
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr,
    Context,
    CosemObject,
    Method,
    bad_type,
    expect,
    fields,
    in_range,
    integer,
    items,
    octets,
    on_action,
    on_set,
)
from meter.cosem.local_dates import LocalTime, dates, local_times, start_day
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult, DecodeError, EncodeError

__all__ = ["CIPHERINGS", "DEFAULT_PUSH_CLIENT_SAP", "HDLC", "TCP", "PushQueue", "PushSetup",
           "parse_destination", "parse_hdlc_destination"]

#: transport_service TCP and HDLC, message A-XDR (Blue Book enums, cosem-reference.md).
TCP, HDLC, AXDR = 0, 5, 0
#: Profile names of the transports this meter pushes over.
TRANSPORTS = {"tcp": TCP, "hdlc": HDLC}
#: The client SAP a push goes to when the profile names none (IDIS: the push client, 0x66).
DEFAULT_PUSH_CLIENT_SAP = 0x66
#: Bounds on what a head end may program (every input from outside is bounded).
MAX_OBJECTS = 64
MAX_DESTINATION = 255
MAX_WINDOWS = 16
#: How a push is protected: plain, or general-glo-ciphered (authenticated and encrypted) under
#: its Security setup's global key. DATA-NOTIFICATION has no service-specific glo- tag (Green
#: Book 9.5): general-glo-ciphering is the one global envelope it fits in.
CIPHERINGS = ("none", "general-glo")

#: How far back the start of a window open now is looked for (a window may recur monthly).
_WINDOW_LOOKBACK = 32 * 86400.0

_NO_DESTINATION = Structure((Enum(TCP), OctetString(b""), Enum(AXDR)))
_NO_DELAY = Structure((LongUnsigned(0), LongUnsigned(100), LongUnsigned(0)))
_NO_RESTRICTION = Structure((Enum(0), NULL))


class PushQueue(Protocol):
    """The device's side of methods push and reset."""

    def request(self, setup: PushSetup) -> None: ...

    def cancel(self, setup: PushSetup) -> None: ...


class _Unwired:
    def request(self, setup: PushSetup) -> None:
        raise AccessError(DataAccessResult.OTHER_REASON, "this meter does not push")

    cancel = request


def parse_destination(raw: bytes) -> tuple[str, int]:
    """``b"host:port"`` (``[v6]:port`` for IPv6) -> (host, port); ValueError if it is not one."""
    text = raw.decode("ascii")
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 0xFFFF:
        raise ValueError(f"destination {text!r} is not host:port")
    if any(c.isspace() for c in host):
        raise ValueError(f"destination {text!r}: blank in the host")
    return host, int(port)


def parse_hdlc_destination(raw: bytes) -> int:
    """``b"102"`` -> the client HDLC address 102 a local-port push goes to (one-byte client
    addresses, Green Book 8.4.2.2: 1..0x7F); ValueError if it is not one."""
    text = raw.decode("ascii")
    if not text.isdigit() or not 0 < int(text) <= 0x7F:
        raise ValueError(f"destination {text!r} is not an HDLC client address 1..127")
    return int(text)


def _check_destination(transport: int, raw: bytes) -> None:
    if transport == HDLC:
        parse_hdlc_destination(raw)
    else:
        parse_destination(raw)


def object_definition(class_id: int, name: Obis, attribute: int, data_index: int = 0) -> Structure:
    """One push_object_list entry (v2 shape: no restriction, all columns)."""
    return Structure((LongUnsigned(class_id), OctetString(name.to_bytes()), Integer(attribute),
                      LongUnsigned(data_index), _NO_RESTRICTION, Array(())))


class PushSetup(CosemObject):
    CLASS_ID = 40
    VERSION = 2
    NAME = "push_setup"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "push_object_list", Array, default=Array(())),
        Attr(3, "send_destination_and_method", Structure, default=_NO_DESTINATION),
        Attr(4, "communication_window", Array, default=Array(())),
        Attr(5, "randomisation_start_interval", LongUnsigned, default=LongUnsigned(0)),
        Attr(6, "number_of_retries", Unsigned, default=Unsigned(0)),
        Attr(7, "repetition_delay", Structure, default=_NO_DELAY),
        Attr(8, "port_reference", OctetString, default=OctetString(bytes(6))),
        Attr(9, "push_client_SAP", Integer, default=Integer(DEFAULT_PUSH_CLIENT_SAP)),
        Attr(10, "push_protection_parameters", Array, default=Array(())),
        Attr(11, "push_operation_method", Enum, default=Enum(0)),
        Attr(12, "confirmation_parameters", Structure,
             default=Structure((OctetString(bytes(12)), LongUnsigned(0)))),
        Attr(13, "last_confirmation_date_time", OctetString, default=OctetString(bytes(12))),
    )
    METHODS = (Method(1, "push"), Method(2, "reset"))

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> PushSetup:
        obj = cls(entry.obis, **cls.profile_values(entry))
        o = entry.options
        obj.ciphering = str(o.get("ciphering", "none"))
        if obj.ciphering not in CIPHERINGS:
            raise OptionError(f"ciphering is one of {', '.join(CIPHERINGS)}")
        setup = o.get("security_setup")
        obj.security_setup = Obis.parse(str(setup)) if setup is not None else None
        if obj.ciphering != "none" and obj.security_setup is None:
            raise OptionError("a ciphered push needs its security_setup")
        return obj

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """objects ([obis, attribute] or [obis, attribute, data_index]; the class is the
        profile's object's), destination ("host:port"), randomisation_start_interval (s),
        number_of_retries, repetition_delay ([min s, exponent %, max s]), push_client_sap."""
        o = entry.options
        try:
            objects = []
            for item in o.get("objects", ()):
                target = Obis.parse(str(item[0]))
                class_id = entry.class_id_of(target)
                if class_id is None:
                    raise OptionError(f"push object {target} is not in the profile")
                objects.append(object_definition(class_id, target, int(item[1]),
                                                 int(item[2]) if len(item) > 2 else 0))
            destination = str(o.get("destination", "")).encode("ascii")
            transport = TRANSPORTS[str(o.get("transport", "tcp"))]
            if destination:
                _check_destination(transport, destination)
            port = o.get("port_reference")
            port_reference = Obis.parse(str(port)).to_bytes() if port is not None else bytes(6)
            low, exponent, high = (int(v) for v in o.get("repetition_delay", (0, 100, 0)))
            values: dict[str, Data] = {
                "push_object_list": Array(tuple(objects)),
                "send_destination_and_method": Structure(
                    (Enum(transport), OctetString(destination), Enum(AXDR))),
                "port_reference": OctetString(port_reference),
                "randomisation_start_interval": LongUnsigned(
                    entry.int_option("randomisation_start_interval", 0)),
                "number_of_retries": Unsigned(entry.int_option("number_of_retries", 0)),
                "repetition_delay": Structure(
                    (LongUnsigned(low), LongUnsigned(exponent), LongUnsigned(high))),
                "push_client_sap": Integer(entry.int_option("push_client_sap",
                                                            DEFAULT_PUSH_CLIENT_SAP)),
            }
        except (KeyError, ValueError, TypeError, IndexError, AttributeError, EncodeError) as exc:
            raise OptionError(f"push setup options: {exc!r}") from None
        return {**super().profile_values(entry), **values}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Set by the device: where methods push and reset go.
        self.queue: PushQueue = _Unwired()
        self.ciphering = "none"
        self.security_setup: Obis | None = None

    # --- what the device reads -----------------------------------------------------------------

    @property
    def transport(self) -> int:
        """transport_service: TCP or HDLC."""
        return integer(self.items("send_destination_and_method")[0], "transport_service")

    @property
    def programmed(self) -> bool:
        """A destination is programmed (else nothing is pushed)."""
        return bool(octets(self.items("send_destination_and_method")[1], "destination"))

    @property
    def destination(self) -> tuple[str, int] | None:
        """(host, port) to push to over TCP; None when none is programmed or the push goes to a
        local port."""
        raw = octets(self.items("send_destination_and_method")[1], "destination")
        return parse_destination(raw) if raw and self.transport == TCP else None

    @property
    def hdlc_destination(self) -> int | None:
        """The client HDLC address a local-port push goes to (None: not a local-port push)."""
        raw = octets(self.items("send_destination_and_method")[1], "destination")
        return parse_hdlc_destination(raw) if raw and self.transport == HDLC else None

    @property
    def port_reference(self) -> Obis | None:
        """The setup object of the port a local-port push goes out on (None: all zeros)."""
        raw = self.octets("port_reference")
        return Obis.from_bytes(raw) if len(raw) == 6 and any(raw) else None

    def retry_delay(self, attempt: int) -> float:
        """Seconds before retry ``attempt`` (1 = the first): repetition_delay_min grown by
        repetition_delay_exponent per cent for each retry before, capped at repetition_delay_max
        (0: no cap) (Blue Book push setup v2, repetition_delay)."""
        low, exponent, high = (integer(v, "repetition_delay") for v in self.items("repetition_delay"))
        delay = low * (exponent / 100) ** (attempt - 1)
        return float(min(delay, high) if high else delay)

    def window_open(self, t: float, clock: LocalTime) -> float | None:
        """``t`` (meter time, UTC s) if a communication window is open then or none is set;
        else when the next one opens (None: no window opens again). Window ends are local date-
        times with wildcards, as execution_time (meter.cosem.local_dates); a window is open from
        a start up to the first end after it."""
        windows = self.items("communication_window")
        if not windows:
            return t
        opens: list[float] = []
        for window in windows:
            start, end = (octets(v, "communication window") for v in items(window, "window"))
            last = None
            for opened in _instants(start, t - _WINDOW_LOOKBACK, clock):
                if opened > t:
                    opens.append(opened)
                    break
                last = opened
            if last is not None:
                closes = next(_instants(end, last, clock), None)
                if closes is None or t < closes:
                    return t
        return min(opens, default=None)

    def objects(self) -> list[tuple[int, Obis, int, int]]:
        """(class_id, logical_name, attribute_index, data_index) of each pushed value."""
        out = []
        for entry in self.items("push_object_list"):
            class_id, name, attribute, data_index = items(entry, "push object definition")[:4]
            out.append((integer(class_id, "class_id"), Obis.from_bytes(octets(name, "logical_name")),
                        integer(attribute, "attribute_index"), integer(data_index, "data_index")))
        return out

    # --- writes --------------------------------------------------------------------------------

    @on_set("push_object_list")
    def write_push_object_list(self, value: Data, ctx: Context) -> None:
        entries = expect(value, Array, "push_object_list").items
        if len(entries) > MAX_OBJECTS:
            raise AccessError(DataAccessResult.OTHER_REASON,
                              f"push_object_list: at most {MAX_OBJECTS} entries")
        for entry in entries:
            _check_object(entry, ctx)
        self.store("push_object_list", value)

    @on_set("send_destination_and_method")
    def write_destination(self, value: Data, ctx: Context) -> None:
        service, destination, message = fields(value, 3, "send_destination_and_method")
        raw = octets(destination, "destination")
        transport = expect(service, Enum, "transport_service").value
        if transport not in (TCP, HDLC):
            raise AccessError(DataAccessResult.OTHER_REASON,
                              "transport_service: TCP (0) or HDLC (5) only")
        if expect(message, Enum, "message").value != AXDR:
            raise AccessError(DataAccessResult.OTHER_REASON, "message: only A-XDR (0)")
        if len(raw) > MAX_DESTINATION:
            raise AccessError(DataAccessResult.OTHER_REASON, "destination too long")
        if raw:
            try:
                _check_destination(transport, raw)
            except (ValueError, UnicodeDecodeError):
                raise AccessError(DataAccessResult.OTHER_REASON, "destination is not "
                                  + ("an HDLC client address" if transport == HDLC
                                     else "host:port")) from None
        self.store("send_destination_and_method", value)

    @on_set("port_reference")
    def write_port_reference(self, value: Data, ctx: Context) -> None:
        if len(octets(value, "port_reference")) != 6:
            raise bad_type("port_reference")
        self.store("port_reference", value)

    @on_set("communication_window")
    def write_communication_window(self, value: Data, ctx: Context) -> None:
        windows = expect(value, Array, "communication_window").items
        if len(windows) > MAX_WINDOWS:
            raise AccessError(DataAccessResult.OTHER_REASON,
                              f"communication_window: at most {MAX_WINDOWS} windows")
        for window in windows:
            for end in fields(window, 2, "communication window"):
                try:
                    CosemDateTime.from_bytes(octets(end, "window end"))
                except DecodeError:
                    raise bad_type("communication window") from None
        self.store("communication_window", value)

    @on_set("repetition_delay")
    def write_repetition_delay(self, value: Data, ctx: Context) -> None:
        for v in fields(value, 3, "repetition_delay"):
            expect(v, LongUnsigned, "repetition_delay")
        self.store("repetition_delay", value)

    @on_set("push_operation_method")
    def write_push_operation_method(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Enum, "push_operation_method").value, 0, 0, "push_operation_method")
        self.store("push_operation_method", value)

    # --- methods -------------------------------------------------------------------------------

    @on_action("push")
    def push(self, parameters: Data | None, ctx: Context) -> None:
        """Push now (after the randomisation interval). With no destination a head end's call
        gets other-reason; the meter's own push script (the interval push of a setup nobody has
        programmed yet) does nothing, quietly: a year of back-fill ran it 35,000 times."""
        expect(parameters, Integer, "push parameter")
        if not self.programmed:
            if ctx.association is None:
                return
            raise AccessError(DataAccessResult.OTHER_REASON, "no destination programmed")
        self.queue.request(self)

    @on_action("reset")
    def reset(self, parameters: Data | None, ctx: Context) -> None:
        """Drop the pushes of this setup still waiting to go (and their retries)."""
        expect(parameters, Integer, "reset parameter")
        self.queue.cancel(self)


def _instants(raw: bytes, after: float, clock: LocalTime) -> Iterator[float]:
    """The UTC instants after ``after`` a local date-time with wildcards names, in order."""
    stamp = CosemDateTime.from_bytes(raw)
    return local_times(dates(stamp.date, start_day(after), clock), stamp.time, after, clock)


def _check_object(entry: Data, ctx: Context) -> None:
    """A push_object_list entry: v0/v1 (4 fields) or v2 (6, restriction none); its object and
    attribute exist in this meter."""
    if not isinstance(entry, Structure) or len(entry.items) not in (4, 6):
        raise bad_type("push object definition")
    class_id, name, attribute, data_index = entry.items[:4]
    expect(class_id, LongUnsigned, "class_id")
    expect(attribute, Integer, "attribute_index")
    expect(data_index, LongUnsigned, "data_index")
    raw = octets(name, "logical_name")
    if len(raw) != 6:
        raise bad_type("logical_name")
    if len(entry.items) == 6:
        restriction, columns = entry.items[4:]
        kind, _ = fields(restriction, 2, "restriction")
        if expect(kind, Enum, "restriction_type").value != 0 or expect(columns, Array, "columns").items:
            raise AccessError(DataAccessResult.OTHER_REASON, "push restrictions are not supported")
    target = ctx.directory.get(Obis.from_bytes(raw))
    if target is None or target.CLASS_ID != class_id.to_python():
        raise AccessError(DataAccessResult.OTHER_REASON,
                          f"push object {Obis.from_bytes(raw)} (class {class_id.to_python()}) "
                          "is not in this meter")
    if not target.has_attribute(integer(attribute, "attribute_index")):
        raise AccessError(DataAccessResult.OTHER_REASON,
                          f"push object {target.logical_name} has no attribute "
                          f"{integer(attribute, 'attribute_index')}")
