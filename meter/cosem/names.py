"""The logical names (OBIS codes) the meter's code refers to, each defined once.

Objects a profile merely lists need no name here; these are the ones code looks up or stamps.
Source: Blue Book OBIS list [GX-PY OBISCodes.txt], IDIS logbooks [CNX] (shared/design/cosem-reference.md).
"""

from __future__ import annotations

import functools

from meter.codec.obis import Obis

CLOCK = Obis(0, 0, 1, 0, 0, 255)
CURRENT_ASSOCIATION = Obis(0, 0, 40, 0, 0, 255)
LAST_CLOCK_SETTING = Obis(0, 0, 96, 2, 12, 255)
#: Clock time-shift limit (use case 7): a setting moving the clock further is logged as such.
CLOCK_TIME_SHIFT_LIMIT = Obis(1, 0, 0, 9, 11, 255)
AMR_PROFILE_STATUS = Obis(0, 0, 96, 10, 1, 255)
BILLING_COUNTER = Obis(1, 0, 0, 1, 0, 255)
LAST_BILLING_TIME = Obis(1, 0, 0, 1, 2, 255)
#: SAP assignment: the logical devices and their names.
SAP_ASSIGNMENT = Obis(0, 0, 41, 0, 0, 255)
#: The supply relay (disconnect control, class 70) and its limiter (class 71).
DISCONNECT_CONTROL = Obis(0, 0, 96, 3, 10, 255)
LIMITER = Obis(0, 0, 17, 0, 0, 255)

# Event logs (profile generic, class 7) and the last-event-code object of each (0.0.96.11.E.255).
STANDARD_LOG = Obis(0, 0, 99, 98, 0, 255)
FRAUD_LOG = Obis(0, 0, 99, 98, 1, 255)
DISCONNECTOR_LOG = Obis(0, 0, 99, 98, 2, 255)
POWER_QUALITY_LOG = Obis(0, 0, 99, 98, 4, 255)
#: Communication log. DSMR's is 0.0.99.98.4.255, which the IDIS map (ours) gives the PQ log;
#: SMR5's PQ log 0.0.99.98.5.255 is free in the IDIS map (cosem-reference.md §1 note).
COMMUNICATION_LOG = Obis(0, 0, 99, 98, 5, 255)


@functools.lru_cache(maxsize=16)  # asked at every logged event; a profile has a few logs
def last_event_code(log: Obis) -> Obis:
    """The "last event code" data object that shadows event log ``log``."""
    return Obis.from_bytes(bytes((0, 0, 96, 11, log.e, 255)))  # the profile's own instance


#: Active firmware identifier and signature (Blue Book OBIS 1.0.0.2.0/8.255): Image transfer
#: writes them when it activates an image.
ACTIVE_FIRMWARE_ID = Obis(1, 0, 0, 2, 0, 255)
ACTIVE_FIRMWARE_SIGNATURE = Obis(1, 0, 0, 2, 8, 255)

# Push setups the meter triggers itself (IDIS naming, cosem-reference.md use cases 1 and 6).
PUSH_ON_CONNECTIVITY = Obis(0, 0, 25, 9, 0, 255)
PUSH_ON_INSTALLATION = Obis(0, 7, 25, 9, 0, 255)

# Alarms (use case 17, cosem-reference.md §1 and §4.3): the alarm push setup (IDIS name).
PUSH_ON_ALARM = Obis(0, 4, 25, 9, 0, 255)

# Power failures (use case 8): counts (any phase, long), the long-failure threshold (s), the
# power failure event log {end time, duration} and the duration it captures (DSMR P1 names
# 0-0:96.7.19 as the log's duration column).
POWER_FAILURES = Obis(0, 0, 96, 7, 21, 255)
LONG_POWER_FAILURES = Obis(0, 0, 96, 7, 9, 255)
LONG_POWER_FAILURE_THRESHOLD = Obis(0, 0, 96, 7, 20, 255)
POWER_FAILURE_DURATION = Obis(0, 0, 96, 7, 19, 255)
POWER_FAILURE_LOG = Obis(1, 0, 99, 97, 0, 255)

# Quality of supply thresholds (C = 12, any phase voltage; Blue Book D = 31 under-limit
# threshold, 35 over-limit threshold, 39 missing-voltage threshold, 43/44 time thresholds of
# under/over limit).
SAG_THRESHOLD = Obis(1, 0, 12, 31, 0, 255)
SWELL_THRESHOLD = Obis(1, 0, 12, 35, 0, 255)
MISSING_VOLTAGE_THRESHOLD = Obis(1, 0, 12, 39, 0, 255)
SAG_TIME_THRESHOLD = Obis(1, 0, 12, 43, 0, 255)
SWELL_TIME_THRESHOLD = Obis(1, 0, 12, 44, 0, 255)
# Prepayment (use case 21; cosem-reference.md: Blue Book OBIS [GX-PY OBISCodes]): the account,
# the token gateway, and the charge-collection and token-credit histories (class 7).
ACCOUNT = Obis(0, 0, 19, 0, 0, 255)
TOKEN_GATEWAY = Obis(0, 0, 19, 40, 0, 255)
CHARGE_HISTORY = Obis(0, 0, 99, 14, 0, 255)
TOKEN_CREDIT_HISTORY = Obis(0, 0, 99, 15, 0, 255)
# Local port and display (issue 10 item 4; Blue Book OBIS [GX-PY OBISCodes.txt],
# cosem-reference.md use cases 12, 18, 19).
LOCAL_PORT_SETUP = Obis(0, 0, 20, 0, 0, 255)  # IEC optical port setup (class 19)
CONSUMER_MESSAGE_LOCAL_PORT = Obis(0, 0, 96, 13, 0, 255)
CONSUMER_MESSAGE_DISPLAY = Obis(0, 0, 96, 13, 1, 255)
DISPLAY_LIST = Obis(0, 0, 21, 0, 1, 255)  # the list the LCD scrolls through
DISPLAY_LIST_ALTERNATE = Obis(0, 0, 21, 0, 2, 255)  # the list a button press steps through
# Alarm registers 1..3 (class 1, double-long-unsigned bit fields; cosem-reference.md use case 17
# and §4.3), in order: the meter face lights their set bits.
ALARM_REGISTERS = (Obis(0, 0, 97, 98, 0, 255), Obis(0, 0, 97, 98, 1, 255),
                   Obis(0, 0, 97, 98, 2, 255))
