"""``serve --pcap FILE``: every wrapper and HDLC exchange as pcapng, with a key log beside it.

A tap at the edge: each medium hands what it received and what it sent to a :class:`Flow`
before the stack sees it and as it leaves; the sans-IO stacks know nothing of it.

The file (pcapng, https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html) holds:

* interface ``tcp``, link type LINKTYPE_RAW (101, raw IPv4/IPv6): each TCP connection (wrapper
  or HDLC over TCP) as a loopback capture would show it, with its real addresses and ports: a
  synthesised three-way handshake, one segment per chunk the meter received or sent (sequence
  and acknowledgement numbers following the bytes, checksums computed), FINs at the close;
  Wireshark/tshark follow the streams (``tcp.port == 4059``).
* one interface per serial line or optical port (``serial``, ``optical``), link type
  LINKTYPE_USER0 (147): each packet is the bytes of one chunk as they crossed the line (mode E
  sign-on text, then HDLC frames), its direction in the EPB flags option (epb_flags bits 0-1:
  01 inbound = to the meter, 10 outbound = from the meter).

Timestamps are wall-clock microseconds. The key log (``FILE.keys``) is text, one line per key
set as it comes into force (first use, or after a key transfer), for each association that has
a Security setup::

    # acesm-meter key log 1: TIME CLIENT_SAP SERVER_SYSTEM_TITLE EK AK
    1764662400.123456 1 4143450000000001 000102030405060708090a0b0c0d0e0f d0d1...

TIME is seconds since the epoch, as the packets' timestamps: a packet of that client's
connections uses the last line for its SAP at or before the packet's time. The client's system
title is in its AARQ (calling-AP-title), which the trace holds.

Both files are bounded (``max_bytes`` each): at the cap the capture stops, saying so once in the
log. A write error (disk full, a removed file) stops the capture, never the meter.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from meter.transport.optical import OpticalLine

if TYPE_CHECKING:
    from meter.device.device import Device

__all__ = ["DEFAULT_MAX_BYTES", "LINKTYPE_RAW", "LINKTYPE_USER0", "AssociationKeys", "Capture",
           "Flow", "association_keys", "TappedLine", "key_log_path", "tapped"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
LINKTYPE_RAW = 101
LINKTYPE_USER0 = 147
KEY_LOG_HEADER = "# acesm-meter key log 1: TIME CLIENT_SAP SERVER_SYSTEM_TITLE EK AK\n"

# pcapng block types and option codes
SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_IF_NAME, OPT_EPB_FLAGS, OPT_SHB_USERAPPL = 0, 2, 2, 4
INBOUND, OUTBOUND = 1, 2  # epb_flags direction bits

_TCP_SYN, _TCP_ACK, _TCP_PSH, _TCP_FIN = 0x02, 0x10, 0x08, 0x01
_MAX_SEGMENT = 65000  # payload per synthesised segment (an IPv4 packet holds 65535 bytes)


def key_log_path(pcap: Path) -> Path:
    """The key log beside a capture: ``FILE.keys``."""
    return pcap.with_name(pcap.name + ".keys")


@dataclass(frozen=True, slots=True)
class AssociationKeys:
    """The keys a client SAP's association ciphers with (its Security setup's, now)."""

    client_sap: int
    server_system_title: bytes
    encryption_key: bytes
    authentication_key: bytes


def association_keys(device: Device | None) -> list[AssociationKeys]:
    """The keys each ciphered association of ``device`` uses now (none before it is open)."""
    if device is None:
        return []
    contexts = ((a.client_sap, device.security_context(a.security_setup))
                for a in device.profile.associations if a.security_setup is not None)
    return [AssociationKeys(sap, c.server_system_title, c.encryption_key, c.authentication_key)
            for sap, c in contexts]


class Flow(Protocol):
    """One medium's tap."""

    def received(self, data: bytes) -> None: ...

    def sent(self, data: bytes) -> None: ...

    def closed(self) -> None: ...


def tapped(tap: Callable[[bytes], None], then: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """``then`` with ``tap`` seeing each chunk first."""

    def both(data: bytes) -> None:
        tap(data)
        then(data)

    return both


class TappedLine:
    """A pty or RFC 2217 line (a serial pty, the optical port) with its chunks captured."""

    def __init__(self, line: OpticalLine, flow: Flow) -> None:
        self._line = line
        self._flow = flow

    @property
    def path(self) -> str:
        return self._line.path

    @property
    def baud(self) -> int:
        return self._line.baud

    def start(self, on_data: Callable[[bytes], None], baud: int) -> None:
        self._line.start(tapped(self._flow.received, on_data), baud)

    def write(self, data: bytes) -> None:
        self._flow.sent(data)
        self._line.write(data)

    def set_baud(self, baud: int) -> None:
        self._line.set_baud(baud)

    def close(self) -> None:
        self._line.close()


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


class Capture:
    """The pcapng file and its key log; flows write through it on the event-loop thread.

    ``keys()`` tells the keys in force now (checked as each chunk arrives: a key transfer takes
    effect after its response, before the next request).
    """

    def __init__(self, pcap: BinaryIO, key_log: BinaryIO, max_bytes: int,
                 keys: Callable[[], Iterable[AssociationKeys]] = tuple,
                 clock: Callable[[], float] = time.time) -> None:
        self._pcap = pcap
        self._key_log = key_log
        self._max_bytes = max_bytes
        self.keys = keys
        self._clock = clock
        self._interfaces: dict[str, int] = {}
        self._logged: dict[int, AssociationKeys] = {}
        self._sizes = {id(pcap): 0, id(key_log): 0}
        self.stopped = False
        self._write(pcap, _block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
                                 + _option(OPT_SHB_USERAPPL, b"acesm-meter")
                                 + _option(OPT_END, b"")))
        self._write(key_log, KEY_LOG_HEADER.encode())

    @classmethod
    def open(cls, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Capture:
        """Create (or truncate) FILE and FILE.keys; an OSError here is the operator's to see."""
        pcap = path.open("wb")
        try:
            key_log = key_log_path(path).open("wb")
        except OSError:
            pcap.close()
            raise
        log.info("capturing to %s (keys in %s), at most %d bytes each", path,
                 key_log_path(path), max_bytes)
        return cls(pcap, key_log, max_bytes)

    def close(self) -> None:
        self.stopped = True  # connections closing after this have nothing to write to
        for stream in (self._pcap, self._key_log):
            try:
                stream.close()
            except OSError as exc:
                log.warning("capture: closing failed: %s", exc)

    def tcp_flow(self, client: tuple[str, int], server: tuple[str, int]) -> Flow:
        return _TcpFlow(self, self._interface("tcp", LINKTYPE_RAW), client, server)

    def line_flow(self, name: str) -> Flow:
        return _LineFlow(self, self._interface(name, LINKTYPE_USER0))

    def packet(self, interface: int, data: bytes, direction: int) -> None:
        if self.stopped:
            return
        if direction == INBOUND:
            self._log_keys()
        micros = int(self._clock() * 1_000_000)
        body = (struct.pack("<IIIII", interface, micros >> 32, micros & 0xFFFFFFFF, len(data),
                            len(data))
                + data + bytes(-len(data) % 4)
                + _option(OPT_EPB_FLAGS, struct.pack("<I", direction)) + _option(OPT_END, b""))
        self._write(self._pcap, _block(EPB, body))

    def _interface(self, name: str, linktype: int) -> int:
        number = self._interfaces.get(name)
        if number is None:
            number = self._interfaces[name] = len(self._interfaces)
            self._write(self._pcap, _block(IDB, struct.pack("<HHI", linktype, 0, 0)
                                           + _option(OPT_IF_NAME, name.encode())
                                           + _option(OPT_END, b"")))
        return number

    def _log_keys(self) -> None:
        try:
            current = list(self.keys())
        except Exception:  # a bug behind the provider must not reach the medium's pump
            log.exception("capture: the associations' keys could not be read")
            self._stop("capture: stopped (no key log without keys)")
            return
        for keys in current:
            if self._logged.get(keys.client_sap) != keys:
                self._logged[keys.client_sap] = keys
                self._write(self._key_log, (
                    f"{self._clock():.6f} {keys.client_sap} {keys.server_system_title.hex()} "
                    f"{keys.encryption_key.hex()} {keys.authentication_key.hex()}\n").encode())

    def _write(self, stream: BinaryIO, data: bytes) -> None:
        if self.stopped:
            return
        size = self._sizes[id(stream)] + len(data)
        if size > self._max_bytes:
            self._stop("capture: %d-byte cap reached; nothing more is captured", self._max_bytes)
            return
        try:
            stream.write(data)
            stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: written after a close
            self._stop("capture: write failed, nothing more is captured: %s", exc)
            return
        self._sizes[id(stream)] = size

    def _stop(self, message: str, *args: object) -> None:
        self.stopped = True
        log.error(message, *args)


class _LineFlow:
    """A serial line or the optical port: the bytes themselves, direction in epb_flags."""

    def __init__(self, capture: Capture, interface: int) -> None:
        self._capture = capture
        self._interface = interface

    def received(self, data: bytes) -> None:
        if data:
            self._capture.packet(self._interface, data, INBOUND)

    def sent(self, data: bytes) -> None:
        if data:  # the optical opening writes what it has, often nothing
            self._capture.packet(self._interface, data, OUTBOUND)

    def closed(self) -> None:
        """A line has no connection to close."""


class _TcpFlow:
    """One TCP connection as IP packets: client -> meter is inbound."""

    def __init__(self, capture: Capture, interface: int, client: tuple[str, int],
                 server: tuple[str, int]) -> None:
        self._capture = capture
        self._interface = interface
        self._client = (ipaddress.ip_address(client[0]), client[1])
        self._server = (ipaddress.ip_address(server[0]), server[1])
        self._seq = {INBOUND: 0, OUTBOUND: 0}  # next sequence number each way (ISN 0)
        self._segment(INBOUND, _TCP_SYN, b"")
        self._segment(OUTBOUND, _TCP_SYN | _TCP_ACK, b"")
        self._segment(INBOUND, _TCP_ACK, b"")

    def received(self, data: bytes) -> None:
        self._data(INBOUND, data)

    def sent(self, data: bytes) -> None:
        self._data(OUTBOUND, data)

    def closed(self) -> None:
        self._segment(OUTBOUND, _TCP_FIN | _TCP_ACK, b"")
        self._segment(INBOUND, _TCP_FIN | _TCP_ACK, b"")
        self._segment(OUTBOUND, _TCP_ACK, b"")

    def _data(self, direction: int, data: bytes) -> None:
        for pos in range(0, len(data), _MAX_SEGMENT):
            self._segment(direction, _TCP_PSH | _TCP_ACK, data[pos:pos + _MAX_SEGMENT])

    def _segment(self, direction: int, flags: int, payload: bytes) -> None:
        if self._capture.stopped:
            return
        other = OUTBOUND if direction == INBOUND else INBOUND
        (src, sport), (dst, dport) = ((self._client, self._server) if direction == INBOUND
                                      else (self._server, self._client))
        seq, ack = self._seq[direction], self._seq[other]
        self._seq[direction] = (seq + len(payload) + (1 if flags & (_TCP_SYN | _TCP_FIN) else 0)
                                ) & 0xFFFFFFFF
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack if flags & _TCP_ACK else 0,
                          5 << 4, flags, 0xFFFF, 0, 0) + payload
        if src.version == 4:
            pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(tcp))
        else:
            pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(tcp), 6)
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
        if src.version == 4:
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                                 src.packed, dst.packed)
            header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        else:
            header = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, src.packed, dst.packed)
        self._capture.packet(self._interface, header + tcp, direction)


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
