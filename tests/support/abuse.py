"""What abusive clients do to a meter over TCP, for the tests that check it copes."""

from __future__ import annotations

import socket
import time

from meter import apdu as A
from meter.codec.obis import Obis
from meter.link.wrapper import WrapperConnection

__all__ = ["flood_without_reading"]

OBJECT_LIST = A.CosemAttributeDescriptor(15, Obis.parse("0.0.40.0.0.255"), 2)  # ~1 kB a reply


def flood_without_reading(sock: socket.socket, seconds: float, client_sap: int = 16) -> int:
    """GETs of the object list, pipelined for ``seconds`` without reading a reply; returns the
    bytes the meter's side took."""
    request = WrapperConnection.frame(client_sap, 1,
                                      A.GetRequestNormal(0xC1, OBJECT_LIST).to_bytes())
    batch = request * 256
    sock.setblocking(False)
    sent, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sent += sock.send(batch)
        except BlockingIOError:
            time.sleep(0.01)
    return sent
