"""Event codes, one enum per event log; a member knows the log it is written to.

Codes are the IDIS logbook codes [CNX IDIS logbook parsers] (shared/design/cosem-reference.md §4.1).
"""

from __future__ import annotations

import enum

from meter.codec.obis import Obis
from meter.cosem.names import (
    COMMUNICATION_LOG, DISCONNECTOR_LOG, FRAUD_LOG, POWER_QUALITY_LOG, STANDARD_LOG)


class LogEvent(enum.IntEnum):
    """Base of the per-log enums (no members of its own)."""

    @property
    def log(self) -> Obis:
        return _LOGS[type(self)]


class StandardEvent(LogEvent):
    POWER_DOWN = 1
    POWER_UP = 2
    DST_CHANGED = 3
    CLOCK_ADJUSTED_OLD_TIME = 4
    CLOCK_ADJUSTED_NEW_TIME = 5
    TOU_ACTIVATED = 9
    PASSIVE_TOU_PROGRAMMED = 19
    PARAMETERS_CHANGED = 47
    GLOBAL_KEYS_CHANGED = 48
    FIRMWARE_READY_FOR_ACTIVATION = 17
    FIRMWARE_ACTIVATED = 18
    FIRMWARE_VERIFICATION_FAILED = 51
    #: A clock setting moved the time further than the clock time-shift limit 1.0.0.9.11.255.
    #: No IDIS standard-log code; from the manufacturer-specific range (230-249,
    #: cosem-reference.md §4.2).
    CLOCK_SHIFT_LIMIT_EXCEEDED = 230


class FraudEvent(LogEvent):
    TERMINAL_COVER_REMOVED = 40
    TERMINAL_COVER_CLOSED = 41
    STRONG_DC_FIELD = 42
    STRONG_DC_FIELD_GONE = 43
    METER_COVER_REMOVED = 44
    METER_COVER_CLOSED = 45
    FAILED_AUTHENTICATION = 46
    DECRYPTION_FAILED = 49
    REPLAY = 50


class DisconnectorEvent(LogEvent):
    READY_FOR_MANUAL_RECONNECTION = 59
    MANUAL_DISCONNECTION = 60
    MANUAL_CONNECTION = 61
    REMOTE_DISCONNECTION = 62
    REMOTE_CONNECTION = 63
    LOCAL_DISCONNECTION = 64
    LIMITER_THRESHOLD_EXCEEDED = 65
    LIMITER_THRESHOLD_OK = 66
    LIMITER_THRESHOLD_CHANGED = 67
    DISCONNECT_RECONNECT_FAILURE = 68
    LOCAL_RECONNECTION = 69


class PrepaymentEvent(LogEvent):
    """Prepayment events, in the standard log. IDIS names no prepayment codes; these are ours,
    in the range DSMR leaves to the manufacturer (230-249, cosem-reference.md §4.2)."""

    LOW_CREDIT = 240
    CREDIT_EXHAUSTED = 241
    TOKEN_ACCEPTED = 242
    TOKEN_REFUSED = 243
    EMERGENCY_CREDIT_INVOKED = 244
    CREDIT_RESTORED = 245


class PowerQualityEvent(LogEvent):
    SAG_L1, SAG_L2, SAG_L3 = 76, 77, 78
    SWELL_L1, SWELL_L2, SWELL_L3 = 79, 80, 81
    MISSING_VOLTAGE_L1, MISSING_VOLTAGE_L2, MISSING_VOLTAGE_L3 = 82, 83, 84
    VOLTAGE_NORMAL_L1, VOLTAGE_NORMAL_L2, VOLTAGE_NORMAL_L3 = 85, 86, 87

    def on_phase(self, phase: int) -> PowerQualityEvent:
        """This L1 event's counterpart on phase ``phase`` (0 = L1)."""
        return PowerQualityEvent(self + phase)


class CommunicationEvent(LogEvent):
    """Sessions (associations) opened and refused. No public code list has them: DSMR/SMR5
    reserves 230-249 for manufacturer-specific events (cosem-reference.md §4.2), so they are ours."""

    SESSION_OPENED = 231
    SESSION_FAILED = 232


_LOGS: dict[type[LogEvent], Obis] = {
    StandardEvent: STANDARD_LOG, FraudEvent: FRAUD_LOG,
    DisconnectorEvent: DISCONNECTOR_LOG, PowerQualityEvent: POWER_QUALITY_LOG,
    CommunicationEvent: COMMUNICATION_LOG,
    PrepaymentEvent: STANDARD_LOG,
}


def _by_name() -> dict[str, list[LogEvent]]:
    out: dict[str, list[LogEvent]] = {}
    for kind in _LOGS:
        for e in kind:
            out.setdefault(e.name, []).append(e)
    return out


_BY_NAME = _by_name()


def event_named(name: str) -> LogEvent:
    """The event called ``name`` (an enum member name, any case) in any log; KeyError if none."""
    found = _BY_NAME.get(name.upper(), [])
    if len(found) != 1:
        raise KeyError(f"{'no' if not found else 'more than one'} event named {name!r}")
    return found[0]

