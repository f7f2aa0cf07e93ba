"""The framings that carry APDUs to the meter: the IEC 62056-47 wrapper (TCP/UDP) and HDLC
(IEC 62056-46, over a serial line or TCP)."""

from __future__ import annotations

import enum


class Framing(enum.StrEnum):
    WRAPPER = "wrapper"
    HDLC = "hdlc"
