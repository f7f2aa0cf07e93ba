"""Events the HDLC secondary station reports to the layer above (Green Book 8.4.4 DL services)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ApduReceived", "Connected", "Disconnected", "HdlcEvent"]


@dataclass(frozen=True, slots=True)
class Connected:
    """DL-CONNECT.indication: a client opened the link with SNRM (and got UA)."""

    client_address: int
    server_address: int


@dataclass(frozen=True, slots=True)
class ApduReceived:
    """DL-DATA.indication: a complete (reassembled) APDU, LLC header removed."""

    client_address: int
    server_address: int
    apdu: bytes


@dataclass(frozen=True, slots=True)
class Disconnected:
    """DL-DISCONNECT.indication: DISC, a new SNRM, or the inactivity timeout ended the link."""

    client_address: int
    reason: str


HdlcEvent = Connected | ApduReceived | Disconnected
