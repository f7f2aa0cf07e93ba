"""IEC 62056-47 (Green Book 7.3.3) TCP/UDP wrapper: an 8-byte header in front of each APDU.

Header: version (2 bytes, always 1), source wPort (2), destination wPort (2), length of the APDU
(2), all big-endian. The wrapper has no checksum and no flag, so a bad header cannot be skipped:
the connection is unusable and the transport closes it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from meter.errors import DecodeError, EncodeError, RemoteProtocolError

__all__ = ["HEADER_SIZE", "VERSION", "WrapperConnection", "WrapperPdu"]

VERSION = 1
_HEADER = struct.Struct(">HHHH")
HEADER_SIZE = _HEADER.size


@dataclass(frozen=True, slots=True)
class WrapperPdu:
    """One wrapper PDU: the APDU and the wPorts (client and server SAPs) it travels between."""

    source_wport: int
    destination_wport: int
    payload: bytes
    version: int = VERSION

    def to_bytes(self) -> bytes:
        try:
            header = _HEADER.pack(self.version, self.source_wport, self.destination_wport,
                                  len(self.payload))
        except struct.error:  # the one check per reply is the pack's own range check
            for name, v in (("source_wport", self.source_wport),
                            ("destination_wport", self.destination_wport),
                            ("version", self.version), ("length", len(self.payload))):
                if not 0 <= v <= 0xFFFF:
                    raise EncodeError(f"wrapper {name} {v} does not fit in two bytes") from None
            raise
        return header + self.payload

    @classmethod
    def from_bytes(cls, data: bytes) -> WrapperPdu:
        """Exactly one PDU; any version is kept (the connection, not the codec, insists on 1)."""
        if len(data) < HEADER_SIZE:
            raise DecodeError(f"wrapper header needs {HEADER_SIZE} bytes, have {len(data)}")
        version, source, destination, length = _HEADER.unpack_from(data)
        if len(data) != HEADER_SIZE + length:
            raise DecodeError(
                f"wrapper length {length} but {len(data) - HEADER_SIZE} byte(s) follow")
        return cls(source, destination, bytes(data[HEADER_SIZE:]), version)


class WrapperConnection:
    """Splits a TCP byte stream into wrapper PDUs; buffers partial input between calls.

    After a header it cannot accept (version other than 1, or a length above ``max_payload``),
    :meth:`receive_data` raises :class:`RemoteProtocolError` now and on every later call: with no
    framing to resynchronise on, the transport must close the connection.
    """

    __slots__ = ("_buffer", "_error", "max_payload")

    def __init__(self, max_payload: int = 0xFFFF) -> None:
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._error: str | None = None

    def receive_data(self, data: bytes) -> list[WrapperPdu]:
        if self._error is not None:
            raise RemoteProtocolError(self._error)
        buf = self._buffer
        if not buf and len(data) >= HEADER_SIZE:
            # Nothing held back and exactly one whole PDU: a request as a client sends it.
            version, source, destination, length = _HEADER.unpack_from(data)
            if (len(data) == HEADER_SIZE + length and version == VERSION
                    and length <= self.max_payload):
                return [WrapperPdu(source, destination, bytes(data[HEADER_SIZE:]))]
        buf += data
        pdus: list[WrapperPdu] = []
        pos = 0
        end = len(buf)
        # One pass over the buffer and a single deletion at the end: this is the hot path.
        while end - pos >= HEADER_SIZE:
            version, source, destination, length = _HEADER.unpack_from(buf, pos)
            if version != VERSION:
                self._error = f"wrapper version {version}, expected {VERSION}"
            elif length > self.max_payload:
                self._error = f"wrapper length {length} exceeds {self.max_payload}"
            if self._error is not None:
                buf.clear()
                raise RemoteProtocolError(self._error)
            stop = pos + HEADER_SIZE + length
            if stop > end:
                break
            pdus.append(WrapperPdu(source, destination, bytes(buf[pos + HEADER_SIZE:stop])))
            pos = stop
        if pos:
            del buf[:pos]
        return pdus

    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a PDU."""
        return len(self._buffer)

    @staticmethod
    def frame(source: int, destination: int, payload: bytes) -> bytes:
        """Wrap one APDU for sending from wPort ``source`` to wPort ``destination``."""
        if len(payload) > 0xFFFF or not (0 <= source <= 0xFFFF and 0 <= destination <= 0xFFFF):
            raise EncodeError("wrapper field out of range")
        return _HEADER.pack(VERSION, source, destination, len(payload)) + payload
