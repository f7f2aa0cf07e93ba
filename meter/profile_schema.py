"""The schema of a meter profile (profiles/*.toml), as data: every key a profile may hold, its
type, its range and what it means; the per-class keys of ``[[object]]`` entries are the ones
the class's ``from_profile`` (its module in meter/cosem) and meter/device/bindings.py read.

:func:`validate` checks a whole merged profile and returns every problem, each with the table
and key it is about; meter/profile.py turns those into ``FILE:LINE`` messages. Nothing here
reads files or builds objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from meter.apdu.acse import MechanismName

__all__ = ["ASSOCIATION", "CLASS_OPTIONS", "LIMITS", "OBJECT", "Problem", "SECTIONS",
           "VALUE_KINDS", "Field", "validate"]

ROLES = ("public", "reader", "management")
#: A-XDR types a ``value = { TYPE = ... }`` table may name (meter.profile.typed_value).
VALUE_KINDS = ("boolean", "integer", "long", "double_long", "unsigned", "long_unsigned",
               "double_long_unsigned", "long64", "long64_unsigned", "enum", "float32", "float64",
               "octet_string", "octet_string_hex", "visible_string", "utf8_string", "null")
#: Key lengths per security suite (Green Book 9.2.3.4): AES-128 for suites 0 and 1, AES-256
#: for suite 2; the master key (KEK) wraps keys of its own size.
KEY_BYTES = {0: 16, 1: 16, 2: 32}
KEY_NAMES = ("encryption", "authentication", "master", "broadcast")
#: Mechanisms that authenticate with the association's secret.
SECRET_MECHANISMS = (MechanismName.LOW, MechanismName.HIGH_MD5, MechanismName.HIGH_SHA1,
                     MechanismName.HIGH_SHA256)
PROTECTION = ("authenticated_request", "encrypted_request", "signed_request",
              "authenticated_response", "encrypted_response", "signed_response")
#: ``source`` bindings (meter/device/bindings.py): metrology keys, or a Security setup's counters.
METROLOGY_SOURCES = ("energy", "instant", "pq", "demand")
SCRIPT_SERVICES = ("execute", "write")
SECURITY_SOURCES = ("invocation_counter", "decryption_failures", "replays")
_OBIS = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


@dataclass(frozen=True, slots=True)
class Field:
    """One key: ``kind`` int, float, str, bool, hex (bytes in hex), obis (A.B.C.D.E.F), role,
    value (a typed one-key table), list (of ``item``) or table (free-form, checked elsewhere)."""

    kind: str
    doc: str
    lo: float | None = None  # range of an int or float; length of a str; bytes of a hex
    hi: float | None = None
    choices: tuple[str, ...] = ()
    item: Field | None = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """``section`` is ``meter``, ``object[OBIS]``, ``association[SAP]``, ...; ``key`` may be None."""

    section: str
    key: str | None
    message: str


def _int(doc: str, lo: float | None = None, hi: float | None = None, **kw: Any) -> Field:
    return Field("int", doc, lo, hi, **kw)


def _float(doc: str, lo: float | None = None, hi: float | None = None) -> Field:
    return Field("float", doc, lo, hi)


_ROLE = Field("role", "lowest role allowed: public < reader < management, or none",
              choices=(*ROLES, "none"))

METER: dict[str, Field] = {
    "manufacturer": Field("str", "3-letter FLAG id (LDN, mode E identification)", 3, 3, required=True),
    "serial": Field("str", "serial number; LDN = manufacturer + serial (16 bytes at most)", 1, 13,
                    required=True),
    "system_title": Field("hex", "server system title, 8 bytes", 8, 8, required=True),
    "firmware": Field("str", "active firmware identifier (@firmware)"),
    "time_zone": _int("minutes, Blue Book sign (UTC - local)", -720, 840),
    "max_pdu_size": _int("server_max_receive_pdu_size, bytes", 64, 0xFFFF),
    "logical_device": _int("server SAP of the logical device", 1, 0x3FFF),
    "wiring": Field("str", "metrology wiring", choices=("1P2W", "1P3W", "3P4W")),
    "frequency": _float("nominal frequency, Hz", 40, 70),
    "voltage": _float("nominal phase voltage, V rms", 1, 1000),
    "current": _float("default load current per phase, A rms", 0, 1000),
    "power_factor": _float("default load power factor", -1, 1),
    # The virtual LCD (meter/device/display.py), in simulated seconds.
    "display_scroll_s": _int("s each item of the display list shows", 1, 3600),
    "display_message_s": _int("s a consumer message shows from its write (0: until cleared)",
                              0, 0xFFFFFFFF),
}
KEYS: dict[str, Field] = {name: Field("hex", f"{name} key (length per security suite)")
                          for name in KEY_NAMES}
TCP: dict[str, Field] = {
    "port": _int("TCP port of the wrapper (informational: --tcp chooses where to listen)", 0, 0xFFFF),
    "server_wport": _int("wrapper port of the server (IEC 62056-9-7)", 1, 0xFFFF),
    "inactivity_timeout": _int("s without a request before the connection closes", 0, 0xFFFF),
}
HDLC: dict[str, Field] = {
    "logical_address": _int("server upper HDLC address", 1, 0x3FFF),
    "physical_address": _int("server lower HDLC address", 0x10, 0x3FFD),
    "comm_speed": _int("enum of HDLC setup: 0 = 300 ... 9 = 115200 baud", 0, 9),
    "window_size": _int("frames per window, both directions", 1, 7),
    "max_info_field_length": _int("bytes offered before SNRM negotiation", 32, 2030),
    "max_info_field_length_limit": _int("bytes at most after negotiation", 32, 2030),
    "inactivity_timeout": _int("s without a frame before the link drops", 0, 0xFFFF),
    "inter_octet_timeout": _int("ms between the octets of one frame", 0, 0xFFFF),
}
#: [limits]: bounds on what the outside may make the meter hold; the code that enforces a key
#: supplies its default.
LIMITS: dict[str, Field] = {
    "clock_mark_ahead_s": _float("simulated s the durable clock high-water mark is reserved ahead",
                                 0.001, 86400),
    "max_connections": _int("TCP connections at once (wrapper and HDLC); default from RLIMIT_NOFILE",
                            1, 1 << 20),
    "max_unsent_bytes": _int("bytes of unread replies before a connection is no longer read",
                             1024, 1 << 26),
    "max_request_bytes": _int("bytes a SET/ACTION may send in blocks (reassembled)", 1024, 1 << 26),
    "max_response_bytes": _int("bytes one GET may produce before block transfer", 1024, 1 << 28),
    "max_list_items": _int("attributes in one GET/SET/ACTION-with-list", 1, 1024),
    "fraud_log_repeat_window": _float("real s: one fraud-log entry per event code per window",
                                      0, 86400),
    "max_image_bytes": _int("bytes of a firmware image Image transfer accepts (kept in the store)",
                            1024, 1 << 26),
}

ASSOCIATION: dict[str, Field] = {
    "name": Field("str", "association name (logs, README)", 1, 64, required=True),
    "client_sap": _int("client SAP (wrapper wPort, HDLC client address)", 1, 0x7F, required=True),
    "obis": Field("obis", "its Association LN object, 0.0.40.0.E.255", required=True),
    "role": Field("role", "what it may do", choices=ROLES),
    "mechanism": _int("authentication mechanism id: 0 lowest, 1 LLS, 2-7 HLS", 0, 7),
    "context": _int("application context: 1 LN, 2 SN, 3 LN ciphered, 4 SN ciphered", 1, 4),
    "secret": Field("str", "LLS password or HLS secret (latin-1)"),
    "security_setup": Field("obis", "its Security setup object"),
    "protection": Field("list", "protection required on its requests and responses",
                        item=Field("str", "", choices=PROTECTION)),
}
OBJECT: dict[str, Field] = {
    "obis": Field("obis", "logical name", required=True),
    "class": Field("str", "interface class, by profile name", required=True),  # choices below
    "read": _ROLE,
    "write": _ROLE,
    "methods": _ROLE,
    "writable": Field("list", "attribute indexes the write role may write (default: all)",
                      item=_int("attribute index", 1, 127)),
}
_VALUE = Field("value", "initial value, e.g. { unsigned = 3 }")
_SOURCE = Field("str", "live binding: energy|instant|pq|demand:KEY or "
                       "invocation_counter|decryption_failures|replays:SECURITY-SETUP-OBIS")
_SCALER = _int("scaler (power of ten)", -128, 127)
_UNIT = _int("unit enum (Blue Book table 4)", 0, 255)
_SECONDS = _int("s", 0, 0xFFFFFFFF)
#: Keys an [[object]] of each class may hold besides OBJECT's (what from_profile/device.py read).
CLASS_OPTIONS: dict[str, dict[str, Field]] = {
    "data": {"value": _VALUE, "source": _SOURCE},
    "register": {"scaler": _SCALER, "unit": _UNIT, "value": _VALUE, "source": _SOURCE},
    "extended_register": {"scaler": _SCALER, "unit": _UNIT, "value": _VALUE, "source": _SOURCE},
    "demand_register": {"scaler": _SCALER, "unit": _UNIT, "source": _SOURCE,
                        "period": _int("demand period, s", 1, 0xFFFFFFFF),
                        "number_of_periods": _int("periods in the sliding window", 1, 0xFFFF)},
    "clock": {"clock_base": _int("clock_base enum: 1 internal crystal ... 5 GPS", 0, 5),
              "time_zone": _int("minutes, Blue Book sign", -720, 840),
              "drift_ppm": _float("the crystal's drift, ppm (negative: slow)", -10_000, 10_000)},
    "measurement_algorithm": {},  # values from [metrology.algorithms.E]
    "clock_seconds": {"scaler": _SCALER, "unit": _UNIT, "value": _VALUE},
    "clock_sync_method": {"value": _VALUE},
    "profile_generic": {
        "capture_objects": Field("list", "columns: [obis, attribute] or [obis, attribute, "
                                 "data_index]"),
        "capture_period": _int("s between captures, 0 = event driven", 0, 0xFFFFFFFF),
        "profile_entries": _int("rows kept", 1, 1_000_000),
    },
    "script_table": {
        "scripts": Field("list", "scripts: { id, actions = [{ service = execute|write, obis, "
                                 "index, parameter (a value, default integer 0) }], "
                                 "closes_billing (the meter closes the billing period after), "
                                 "local_disconnect / local_reconnect (the supply relay's local "
                                 "triggers, after the actions) }"),
    },
    "schedule": {},  # entries are programmed by the head end (SET 2, insert)
    "single_action_schedule": {
        "script": Field("obis", "script table it executes", required=True),
        "script_selector": _int("script id in that table", 0, 0xFFFF),
        "type": _int("type enum 1..5 (Blue Book 4.5.7)", 1, 5),
        "execution_time": Field("list", "[time (4 bytes hex), date (5 bytes hex)] entries, local "
                                        "time, FF = any", item=Field("list", "[time, date] hex", item=Field(
                                            "hex", "time 4 bytes, date 5", lo=4, hi=5))),
    },
    "security_setup": {
        "security_policy": _int("security_policy bits (Blue Book 4.4.7, v1)", 0, 0xFF),
        "security_suite": _int("security suite: 0 AES-GCM-128, 1 P-256, 2 P-384", 0, 2),
        "keys": Field("table", "its own keys (encryption, authentication, master, broadcast), "
                               "hex; default: [keys]"),
    },
    "port_protection": {
        "port_reference": Field("obis", "setup object of the protected port", required=True),
        "protection_mode": _int("0 locked, 1 locked on failed attempts, 2 unlocked", 0, 2),
        "allowed_failed_attempts": _int("failures before the lock", 0, 0xFFFF),
        "initial_lockout_time": _SECONDS,
        "steepness_factor": _int("lockout growth factor", 1, 0xFF),
        "max_lockout_time": _SECONDS,
    },
    "sap_assignment": {},
    "hdlc_setup": {},
    "tcp_udp_setup": {},
    "local_port_setup": {
        "default_mode": _int("0 IEC 62056-21, 1 DLMS/COSEM (mode E), 2 not specified", 0, 2),
        "default_baud": _int("baud enum the opening starts at (0 = 300)", 0, 9),
        "prop_baud": _int("baud enum proposed in the identification (5 = 9600)", 0, 9),
        "response_time": _int("0 = 20 ms, 1 = 200 ms", 0, 1),
        "device_address": Field("str", "address a sign-on request must name (IEC 62056-21)",
                                0, 32),
    },
    "consumer_message": {"value": _VALUE},
    "disconnect_control": {
        "control_mode": _int("control_mode 0..7 (Blue Book state diagram; default 4)", 0, 7),
        "load": Field("str", "the [metrology.scenario] loads entry this relay switches; "
                             "none: the supply relay (the whole load)"),
    },
    "limiter": {
        "monitored": Field("list", "[obis, attribute] of the monitored value"),
        "threshold_normal": _VALUE,
        "threshold_emergency": _VALUE,
        "min_over": _SECONDS,
        "min_under": _SECONDS,
        "emergency_profile": Field("list", "[id, activation date-time (12 bytes hex), duration s]"),
        "emergency_groups": Field("list", "active emergency profile group ids",
                                  item=_int("group id", 0, 0xFFFF)),
        "action_over": Field("list", "[script table obis, script id] run over the threshold"),
        "action_under": Field("list", "[script table obis, script id] run under the threshold"),
    },
    "image_transfer": {
        "image_block_size": _int("bytes per image block (a block travels in one ACTION)", 16, 65535),
        "image_transfer_enabled": Field("bool", "image_transfer_enabled at first start"),
        "manufacturer_key": Field("hex", "P-256 public key x || y that signs firmware images",
                                  64, 64),
    },
    # prepayment (use case 21; meter/cosem/prepayment.py): amounts in the currency's unit
    "account": {
        "payment_mode": _int("1 credit, 2 prepayment (default)", 1, 2),
        "account_status": _int("1 new, 2 active (default), 3 closed", 1, 3),
        "credits": Field("list", "its Credit objects", item=Field("obis", "credit")),
        "charges": Field("list", "its Charge objects", item=Field("obis", "charge")),
        "token_credits": Field("list", "[credit obis, token proportion %] (default: the first "
                                       "credit, 100)"),
        "currency": Field("str", "currency name", 0, 32),
        "currency_scale": _int("currency scale (power of ten of one amount unit)", -9, 9),
        "low_credit_threshold": _int("low credit below this", -(1 << 31), (1 << 31) - 1),
        "clearance_threshold": _int("clearance threshold", -(1 << 31), (1 << 31) - 1),
        "max_credit": _int("most credit a token may bring (0: no limit)", 0, (1 << 31) - 1),
    },
    "credit": {
        "credit_type": _int("0 token, 2 emergency", 0, 2),
        "priority": _int("1 is used first", 1, 255),
        "preset": _int("emergency credit amount", 0, (1 << 31) - 1),
        "available_threshold": _int("emergency credit selectable below this token credit",
                                    -(1 << 31), (1 << 31) - 1),
        "warning_threshold": _int("warning threshold", -(1 << 31), (1 << 31) - 1),
        "limit": _int("limit", -(1 << 31), (1 << 31) - 1),
    },
    "charge": {
        "charge_type": _int("0 consumption-based, 1 time-based", 0, 1),
        "priority": _int("priority", 1, 255),
        "commodity": Field("list", "[obis, attribute] of a register (consumption-based)"),
        "commodity_scale": _int("power of ten on the commodity's units", -20, 20),
        "price_scale": _int("power of ten on charge_per_unit", -20, 20),
        "charge_per_unit": _int("charge per unit (long)", -32768, 32767),
        "period": _int("collection period, s of meter time", 1, 31 * 86400),
    },
    "token_gateway": {
        "token_key": Field("hex", "the meter's token key (meter/security/prepay_token.py)", 16, 64),
    },
    "function_control": {
        "functions": Field("list", "functions: { name, objects = [obis of profile objects], "
                                   "enabled (default true) }; a disabled one refuses their "
                                   "SET and ACTION"),
    },
    "activity_calendar": {
        "name": Field("str", "calendar_name_active", 0, 32),
        "seasons": Field("list", "{ name, start (date hex, 5 bytes, FFFF = every year), week }"),
        "weeks": Field("list", "{ name, days = [day_id x 7, Monday first] }"),
        "days": Field("list", "{ id, actions = [{ start ('HH:MM', local), script (obis), "
                              "selector }] }"),
    },
    "special_days_table": {
        "entries": Field("list", "{ index, date (hex, 5 bytes, FFFF = every year), day_id }"),
    },
    "register_activation": {
        "registers": Field("list", "register_assignment: registers of the profile",
                           item=Field("obis", "a register")),
        "masks": Field("list", "{ name, registers = [1-based positions in registers] }"),
        "active_mask": Field("str", "the mask in force at first start", 0, 32),
    },
    "active_tariff": {"register_activation": Field("obis", "the Register activation it shows",
                                                   required=True)},
    "push_setup": {
        "objects": Field("list", "pushed values: [obis, attribute] or [obis, attribute, data_index]",
                         item=Field("list", "[obis, attribute(, data_index)]")),
        "destination": Field("str", "host:port the push is sent to over TCP (wrapper)", 0, 255),
        "randomisation_start_interval": _int("s: a push starts up to this long after its trigger",
                                             0, 0xFFFF),
        "number_of_retries": _int("retries after a failed push", 0, 0xFF),
        "repetition_delay": Field("list", "[min s, exponent %, max s (0 none)] between retries",
                                  item=_int("", 0, 0xFFFF)),
        "push_client_sap": _int("client SAP the push goes to (destination wPort)", 0, 0x7F),
        "security_setup": Field("obis", "Security setup whose keys and counter protect the push"),
        "ciphering": Field("str", "none or general-glo (authenticated and encrypted)",
                           choices=("none", "general-glo")),
        "transport": Field("str", "tcp (destination host:port) or hdlc (a local port: "
                                  "destination the client HDLC address)", choices=("tcp", "hdlc")),
        "port_reference": Field("obis", "setup object of the local port an hdlc push goes out "
                                        "on (a local port setup: the optical port)"),
    },
}
# Alarms, counters, QoS thresholds, register monitors (issue 10 items 2 and 3).
CLASS_OPTIONS |= {
    "alarm_register": {
        "value": _VALUE,
        "bits": Field("list", "bit map: [[bit 0..31, EVENT_NAME, ...], ...] (meter/cosem/events.py)"),
        "filter": Field("obis", "alarm filter: only its set bits reach this register"),
        "descriptor": Field("obis", "alarm descriptor latching every bit raised here"),
    },
    "event_counter": {
        "events": Field("list", "EVENT_NAMEs it counts", item=Field("str", "event name")),
        "log": Field("obis", "event log whose every event it counts"),
    },
    "qos_threshold": {"scaler": _SCALER, "unit": _UNIT, "value": _VALUE},
    "register_monitor": {
        "monitored": Field("list", "[obis, attribute] of the monitored value"),
        "thresholds": Field("list", "thresholds, typed values"),
        "actions": Field("list", "[[up script table, selector, down script table, selector], ...]"),
    },
}
METROLOGY: dict[str, Field] = {
    "algorithms": Field("table", "E -> {selected, values = {value -> reference key}}"),
    "scenario": Field("table", "load and supply scenario (meter/metrology/scenario.py)"),
}
#: Top-level tables; ``association`` and ``object`` are arrays of tables (checked by their own
#: tables above). ``extends`` and ``remove`` are taken out while files are merged.
SECTIONS: dict[str, dict[str, Field]] = {
    "meter": METER, "keys": KEYS, "tcp": TCP, "hdlc": HDLC, "limits": LIMITS,
    "metrology": METROLOGY,
}
TOP_LEVEL = (*SECTIONS, "association", "object")


# --- checks ------------------------------------------------------------------------------------


def _range(value: float, field: Field, what: str) -> str | None:
    if (field.lo is not None and value < field.lo) or (field.hi is not None and value > field.hi):
        return f"{what} {value:g} outside {field.lo if field.lo is not None else ''}.." \
               f"{field.hi if field.hi is not None else ''}"
    return None


#: Ranges of the A-XDR integer types (Blue Book 4.1.5), for typed values.
_INTEGER_RANGES = {"integer": (-2**7, 2**7 - 1), "long": (-2**15, 2**15 - 1),
                   "double_long": (-2**31, 2**31 - 1), "long64": (-2**63, 2**63 - 1),
                   "unsigned": (0, 2**8 - 1), "enum": (0, 2**8 - 1), "long_unsigned": (0, 2**16 - 1),
                   "double_long_unsigned": (0, 2**32 - 1), "long64_unsigned": (0, 2**64 - 1)}


def _value_problem(value: object) -> str | None:
    if not isinstance(value, Mapping) or len(value) != 1:
        return "a value is a one-key table naming its type, e.g. { unsigned = 3 }"
    (kind, raw), = value.items()
    if kind not in VALUE_KINDS:
        return f"unknown value type {kind!r} (one of {', '.join(VALUE_KINDS)})"
    if kind in _INTEGER_RANGES:
        lo, hi = _INTEGER_RANGES[kind]
        return check(Field("int", "", lo, hi), raw)
    if kind in ("float32", "float64"):
        return check(Field("float", ""), raw)
    if kind == "boolean":
        return check(Field("bool", ""), raw)
    if kind == "octet_string_hex":
        return check(Field("hex", ""), raw)
    return None if kind == "null" else check(Field("str", ""), raw)


def check(field: Field, value: object) -> str | None:
    """What is wrong with ``value`` for ``field`` (None: nothing)."""
    kind = field.kind
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"an integer, not {value!r}"
        return _range(value, field, "value")
    if kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"a number, not {value!r}"
        return _range(float(value), field, "value")
    if kind in ("str", "role"):
        if not isinstance(value, str):
            return f"a string, not {value!r}"
        if field.choices and value not in field.choices:
            return f"{value!r} is not one of {', '.join(field.choices)}"
        return _range(len(value), field, "length") if kind == "str" else None
    if kind == "bool":
        return None if isinstance(value, bool) else f"true or false, not {value!r}"
    if kind == "hex":
        try:
            data = bytes.fromhex(value) if isinstance(value, str) else None
        except ValueError:
            data = None
        if data is None:
            return f"bytes in hex, not {value!r}"
        if field.lo is not None and field.lo == field.hi and len(data) != field.lo:
            return f"{len(data)} bytes, must be {field.lo:g}"
        return _range(len(data), field, "length in bytes")
    if kind == "obis":
        match = _OBIS.match(value) if isinstance(value, str) else None
        if match is None or any(int(g) > 255 for g in match.groups()):
            return f"an OBIS code A.B.C.D.E.F (six groups 0..255), not {value!r}"
        return None
    if kind == "value":
        return _value_problem(value)
    if kind == "list":
        if not isinstance(value, list):
            return f"a list, not {value!r}"
        if field.item is None:  # items checked by their owner (capture_objects)
            return None
        return next((f"item {i}: {p}" for i, v in enumerate(value)
                     if (p := check(field.item, v)) is not None), None)
    if kind == "table":
        return None if isinstance(value, Mapping) else f"a table, not {value!r}"
    raise AssertionError(f"schema kind {kind!r}")


def _table(section: str, data: object, fields: Mapping[str, Field],
           required: bool = True) -> Iterator[Problem]:
    if not isinstance(data, Mapping):
        yield Problem(section, None, f"a table, not {data!r}")
        return
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            known = ", ".join(fields) or "none yet"
            yield Problem(section, key, f"unknown key (known here: {known})")
        elif (problem := check(field, value)) is not None:
            yield Problem(section, key, problem)
    if required:
        for key, field in fields.items():
            if field.required and key not in data:
                yield Problem(section, key, f"missing ({field.doc})")


def validate(data: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a merged profile (``extends`` and ``remove`` already applied)."""
    problems: list[Problem] = []
    for key in data:
        if key not in TOP_LEVEL:
            problems.append(Problem("", key, f"unknown table (known: {', '.join(TOP_LEVEL)})"))
    if "meter" not in data:
        problems.append(Problem("", "meter", "missing: the [meter] table"))
    for name, fields in SECTIONS.items():
        if name in data:
            problems += _table(name, data[name], fields)
    objects = _entries(data, "object", problems)
    kinds = {str(o.get("obis")): o.get("class") for o in objects}
    for o in objects:
        problems += _object(o, kinds, data)
    for a in _entries(data, "association", problems):
        section = f"association[{a.get('client_sap')}]"
        problems += _table(section, a, ASSOCIATION)
        if a.get("mechanism") in SECRET_MECHANISMS and not a.get("secret"):
            problems.append(Problem(section, "secret", f"mechanism {a.get('mechanism')} needs "
                                                       "a secret"))
        setup = a.get("security_setup")
        if setup is not None and kinds.get(str(setup)) != "security_setup":
            problems.append(Problem(section, "security_setup", f"{setup} is not a security_setup "
                                                               "object of the profile"))
    problems += _suite_keys(data, objects)
    return list(dict.fromkeys(problems))  # a [keys] problem shared by several setups, once


def _entries(data: Mapping[str, Any], name: str, problems: list[Problem]) -> list[Mapping[str, Any]]:
    entries = data.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        problems.append(Problem("", name, f"[[{name}]] entries are tables"))
        return []
    return entries


def _object(o: Mapping[str, Any], kinds: Mapping[str, object],
            data: Mapping[str, Any]) -> Iterator[Problem]:
    section = f"object[{o.get('obis')}]"
    kind = o.get("class")
    options = CLASS_OPTIONS.get(kind) if isinstance(kind, str) else None
    if options is None:
        if "class" in o:
            yield Problem(section, "class", f"unknown class {kind!r} (one of "
                                            f"{', '.join(sorted(CLASS_OPTIONS))})")
        yield from _table(section, o, OBJECT)
        return
    yield from _table(section, o, {**OBJECT, **options})
    refs: list[tuple[str, object, str]] = []  # (key, OBIS named, its class, "" = any)
    if "port_reference" in o:
        refs.append(("port_reference", o["port_reference"], ""))
    if kind == "push_setup" and "security_setup" in o:
        refs.append(("security_setup", o["security_setup"], "security_setup"))
    if kind == "single_action_schedule" and "script" in o:
        refs.append(("script", o["script"], "script_table"))
    for i, script in enumerate(o.get("scripts", ()) if kind == "script_table" else ()):
        actions = script.get("actions", ()) if isinstance(script, Mapping) else None
        if not isinstance(actions, list) or check(_int("", 0, 0xFFFF), script.get("id")) \
                or not all(isinstance(a, Mapping) and a.get("service") in SCRIPT_SERVICES
                           and check(_int("", -128, 127), a.get("index")) is None
                           and ("parameter" not in a or _value_problem(a["parameter"]) is None)
                           for a in actions):
            yield Problem(section, "scripts", f"script {i}: {options['scripts'].doc}")
        else:
            refs += [("scripts", a.get("obis"), "") for a in actions]
    if kind == "active_tariff" and "register_activation" in o:
        refs.append(("register_activation", o["register_activation"], "register_activation"))
    refs += [("registers", r, "") for r in o.get("registers", ()) if kind == "register_activation"]
    for day in o.get("days", ()) if kind == "activity_calendar" else ():
        actions = day.get("actions", ()) if isinstance(day, Mapping) else ()
        refs += [("days", a.get("script"), "script_table") for a in actions if isinstance(a, Mapping)]
    source = o.get("source")
    if isinstance(source, str):
        prefix, _, target = source.partition(":")
        if prefix in SECURITY_SOURCES:
            refs.append(("source", target, "security_setup"))
        elif prefix not in METROLOGY_SOURCES or not target:
            yield Problem(section, "source", f"{source!r}: not KIND:KEY with KIND one of "
                          f"{', '.join(METROLOGY_SOURCES + SECURITY_SOURCES)}")
    for i, column in enumerate(o.get("capture_objects", ()) if kind == "profile_generic" else ()):
        if not (isinstance(column, list) and 2 <= len(column) <= 3
                and all(isinstance(v, int) and not isinstance(v, bool) for v in column[1:])):
            yield Problem(section, "capture_objects", f"column {i}: [obis, attribute(, data_index)]")
        else:
            refs.append(("capture_objects", column[0], ""))
    for i, item in enumerate(o.get("objects", ()) if kind == "push_setup" else ()):
        if not (isinstance(item, list) and 2 <= len(item) <= 3
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item[1:])):
            yield Problem(section, "objects", f"object {i}: [obis, attribute(, data_index)]")
        else:
            refs.append(("objects", item[0], ""))
    for key, ref, wanted in refs:
        if str(ref) not in kinds or (wanted and kinds[str(ref)] != wanted):
            yield Problem(section, key, f"{ref} is not {'a ' + wanted if wanted else 'an'} "
                                        "object of the profile")
    if kind == "measurement_algorithm":
        yield from _algorithm(section, str(o.get("obis")), data)
    if kind == "disconnect_control" and "load" in o:
        metrology = data.get("metrology", {})
        scenario = metrology.get("scenario", {}) if isinstance(metrology, Mapping) else {}
        loads = scenario.get("loads", {}) if isinstance(scenario, Mapping) else {}
        if not isinstance(loads, Mapping) or o["load"] not in loads:
            yield Problem(section, "load", f"{o['load']!r} is not in [metrology.scenario] loads")


def _algorithm(section: str, obis: str, data: Mapping[str, Any]) -> Iterator[Problem]:
    match = _OBIS.match(obis)
    e = match.group(5) if match else "?"
    metrology = data.get("metrology", {})
    algorithms = metrology.get("algorithms", {}) if isinstance(metrology, Mapping) else {}
    table = algorithms.get(e) if isinstance(algorithms, Mapping) else None
    if not isinstance(table, Mapping):
        yield Problem(section, "class", f"needs a [metrology.algorithms.{e}] table")
        return
    where = f"metrology.algorithms.{e}"
    yield from _table(where, table, {"selected": _int("value in force at first start", 1, 255,
                                                      required=True),
                                     "values": Field("table", "value -> reference key",
                                                     required=True)})
    values = table.get("values")
    if isinstance(values, Mapping) and str(table.get("selected")) not in values:
        yield Problem(where, "selected", f"{table.get('selected')!r} is not one of its values")


def _suite_keys(data: Mapping[str, Any], objects: list[Mapping[str, Any]]) -> Iterator[Problem]:
    """Every Security setup's keys (its own over [keys]) have the length its suite needs."""
    common = data.get("keys", {})
    if not isinstance(common, Mapping):
        return
    for o in objects:
        if o.get("class") != "security_setup":
            continue
        suite = o.get("security_suite", 0)
        own = o.get("keys", {})
        if suite not in KEY_BYTES or not isinstance(own, Mapping):
            continue  # reported by the table checks
        section = f"object[{o.get('obis')}]"
        size = KEY_BYTES[suite]
        for name, is_own, value in _effective(common, own):
            if is_own and name not in KEY_NAMES:
                yield Problem(section, "keys", f"unknown key {name!r} (one of {', '.join(KEY_NAMES)})")
            elif (problem := check(Field("hex", "", size, size), value)) is not None:
                yield Problem(section if is_own else "keys", "keys" if is_own else name,
                              f"{name} key of {o.get('obis')} (suite {suite}): {problem}")


def _effective(common: Mapping[str, Any],
               own: Mapping[str, Any]) -> Iterator[tuple[str, bool, object]]:
    """(name, from the object's own keys?, value) of the keys a Security setup uses."""
    for name in KEY_NAMES:
        if name in common and name not in own:
            yield name, False, common[name]
    for name, value in own.items():
        yield name, True, value
