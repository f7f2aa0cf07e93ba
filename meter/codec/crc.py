"""CRC-16/X.25 (HDLC FCS, ISO/IEC 13239), used for the HDLC HCS and FCS.

On the wire the FCS is sent least significant byte first (Green Book 8.4.1.3).
"""

from __future__ import annotations

from collections.abc import Callable

import crcmod.predefined

crc16_x25: Callable[[bytes], int] = crcmod.predefined.mkPredefinedCrcFun("x-25")


def fcs_bytes(data: bytes) -> bytes:
    """The two FCS octets to append after ``data``."""
    return crc16_x25(data).to_bytes(2, "little")
