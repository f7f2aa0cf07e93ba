"""The logical names (OBIS codes) the meter's code refers to, each defined once.

Objects a profile merely lists need no name here; these are the ones code looks up or stamps.
Source: Blue Book OBIS list [GX-PY OBISCodes.txt], IDIS logbooks [CNX] (shared/design/cosem-reference.md).
"""

from __future__ import annotations

from meter.codec.obis import Obis

CLOCK = Obis(0, 0, 1, 0, 0, 255)
CURRENT_ASSOCIATION = Obis(0, 0, 40, 0, 0, 255)
LAST_CLOCK_SETTING = Obis(0, 0, 96, 2, 12, 255)
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


def last_event_code(log: Obis) -> Obis:
    """The "last event code" data object that shadows event log ``log``."""
    return Obis(0, 0, 96, 11, log.e, 255)


#: Active firmware identifier and signature (Blue Book OBIS 1.0.0.2.0/8.255): Image transfer
#: writes them when it activates an image.
ACTIVE_FIRMWARE_ID = Obis(1, 0, 0, 2, 0, 255)
ACTIVE_FIRMWARE_SIGNATURE = Obis(1, 0, 0, 2, 8, 255)

# Push setups the meter triggers itself (IDIS naming, cosem-reference.md use cases 1 and 6).
PUSH_ON_CONNECTIVITY = Obis(0, 0, 25, 9, 0, 255)
PUSH_ON_INSTALLATION = Obis(0, 7, 25, 9, 0, 255)

# Alarm registers 1..3 (class 1, double-long-unsigned bit fields; cosem-reference.md use case 17
# and §4.3), in order: the meter face lights their set bits.
ALARM_REGISTERS = (Obis(0, 0, 97, 98, 0, 255), Obis(0, 0, 97, 98, 1, 255),
                   Obis(0, 0, 97, 98, 2, 255))
