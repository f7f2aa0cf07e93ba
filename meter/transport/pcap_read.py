"""Reading back a capture of meter/transport/pcap.py (``acesm-meter decode --pcap FILE``).

The pcapng blocks are walked (either byte order; SHB, IDB and EPB, other blocks skipped); TCP
packets (LINKTYPE_RAW) are put back into connections, each direction a byte stream framed as
the meter's stacks frame it (meter/link: wrapper PDUs, or HDLC frames when the stream starts
with a flag); serial and optical lines (LINKTYPE_USER0) carry HDLC, the mode E text between
frames skipped. HDLC segments are joined into the APDU they carry.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from meter.errors import DecodeError, MeterError
from meter.link.hdlc.frame import Control, Framer, FrameKind, HdlcFrame
from meter.link.wrapper import WrapperConnection
from meter.transport.pcap import (
    BYTE_ORDER_MAGIC,
    EPB,
    IDB,
    INBOUND,
    LINKTYPE_RAW,
    LINKTYPE_USER0,
    OPT_EPB_FLAGS,
    OPT_IF_NAME,
    SHB,
    AssociationKeys,
)

__all__ = ["KeyLog", "Message", "read_messages"]

_HDLC_FLAG = 0x7E
# LLC header in front of an APDU in an HDLC I-frame (IEC 62056-46 / Green Book 8.4.2.4).
_LLC_HEADERS = (b"\xe6\xe6\x00", b"\xe6\xe7\x00")


@dataclass(frozen=True, slots=True)
class Message:
    """One wrapper PDU or HDLC frame, in capture order.

    ``data``: the PDU or frame to show; for the last HDLC segment of an APDU, the whole APDU
    joined from its segments; empty when ``note`` says why (a segment before the last, framing
    lost). ``apdu``: the APDU carried (None for frames without one and segments before the last).
    """

    time: float
    flow: str
    inbound: bool  # towards the meter
    client_sap: int | None
    data: bytes
    apdu: bytes | None
    note: str = ""


@dataclass(slots=True)
class KeyLog:
    """The key log beside a capture: per client SAP, key sets from their time on."""

    entries: dict[int, list[tuple[float, AssociationKeys]]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> KeyLog:
        keys = cls()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                moment, sap, title, ek, ak = line.split()
                entry = AssociationKeys(int(sap), bytes.fromhex(title), bytes.fromhex(ek),
                                        bytes.fromhex(ak))
                keys.entries.setdefault(entry.client_sap, []).append((float(moment), entry))
            except ValueError:
                raise MeterError(f"{path}:{number}: not a key log line") from None
        return keys

    def at(self, client_sap: int | None, moment: float) -> AssociationKeys | None:
        """The keys of ``client_sap`` in force at ``moment``."""
        found = None
        for since, keys in self.entries.get(client_sap if client_sap is not None else -1, []):
            if since <= moment:
                found = keys
        return found


@dataclass(slots=True)
class _Direction:
    """One direction of one flow: its framing (chosen by its first byte) and HDLC segments."""

    wrapper: WrapperConnection | None = None
    hdlc: Framer | None = None
    segments: bytearray | None = None
    failed: bool = False


@dataclass(slots=True)
class _Connection:
    name: str
    client: tuple[str, int]
    sides: dict[bool, _Direction] = field(default_factory=lambda: {True: _Direction(),
                                                                   False: _Direction()})


def read_messages(path: Path) -> Iterator[Message]:
    """Every message of the capture at ``path`` (raises DecodeError on a damaged file)."""
    try:
        yield from _messages(path.read_bytes())
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise DecodeError(f"pcapng: a block or packet cut short or damaged ({exc})") from None


def _messages(capture: bytes) -> Iterator[Message]:
    interfaces: list[tuple[int, str]] = []
    lines: dict[str, dict[bool, _Direction]] = {}
    connections: dict[tuple[tuple[str, int], ...], _Connection] = {}
    for kind, body, order in _blocks(capture):
        if kind == SHB:
            interfaces.clear()
        elif kind == IDB:
            linktype = struct.unpack_from(order + "H", body)[0]
            name = _options(body[8:], order).get(OPT_IF_NAME, b"").decode(errors="replace")
            interfaces.append((linktype, name or f"interface {len(interfaces)}"))
        elif kind == EPB:
            number, high, low, length = struct.unpack_from(order + "IIII", body)
            if number >= len(interfaces) or 20 + length > len(body):
                raise DecodeError("pcapng packet of an unknown interface, or cut short")
            data = body[20:20 + length]
            flags = _options(body[20 + length + (-length % 4):], order).get(OPT_EPB_FLAGS)
            moment = ((high << 32) | low) / 1e6
            linktype, name = interfaces[number]
            if linktype == LINKTYPE_RAW:
                yield from _tcp_packet(data, moment, connections)
            elif linktype == LINKTYPE_USER0 and flags is not None:
                inbound = struct.unpack(order + "I", flags)[0] & 3 == INBOUND
                sides = lines.setdefault(name, {True: _Direction(hdlc=Framer()),
                                                False: _Direction(hdlc=Framer())})
                yield from _stream(sides[inbound], data, moment, name, inbound)


def _blocks(data: bytes) -> Iterator[tuple[int, bytes, str]]:
    pos, order = 0, "<"
    while pos < len(data):
        if len(data) - pos < 12:
            raise DecodeError(f"pcapng: {len(data) - pos} stray byte(s) at the end")
        if struct.unpack_from("<I", data, pos)[0] == SHB:
            magic = data[pos + 8:pos + 12]
            if magic == struct.pack("<I", BYTE_ORDER_MAGIC):
                order = "<"
            elif magic == struct.pack(">I", BYTE_ORDER_MAGIC):
                order = ">"
            else:
                raise DecodeError("pcapng: bad byte-order magic")
        elif pos == 0:
            raise DecodeError("not a pcapng file (no section header block)")
        kind, length = struct.unpack_from(order + "II", data, pos)
        if length < 12 or length % 4 or pos + length > len(data):
            raise DecodeError(f"pcapng: bad block length {length} at offset {pos}")
        yield kind, data[pos + 8:pos + length - 4], order
        pos += length


def _options(data: bytes, order: str) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(data):
        code, length = struct.unpack_from(order + "HH", data, pos)
        if code == 0:
            break
        found.setdefault(code, data[pos + 4:pos + 4 + length])
        pos += 4 + length + (-length % 4)
    return found


def _tcp_packet(packet: bytes, moment: float,
                connections: dict[tuple[tuple[str, int], ...], _Connection]) -> Iterator[Message]:
    version = packet[0] >> 4 if packet else 0
    if version == 4 and len(packet) >= 20 and packet[9] == 6:
        start = (packet[0] & 0x0F) * 4
        src, dst = packet[12:16], packet[16:20]
    elif version == 6 and len(packet) >= 40 and packet[6] == 6:
        start, src, dst = 40, packet[8:24], packet[24:40]
    else:
        return  # not TCP: nothing the meter writes
    tcp = packet[start:]
    if len(tcp) < 20:
        raise DecodeError("TCP header cut short")
    sport, dport = struct.unpack_from("!HH", tcp)
    flags = tcp[13]
    source = (str(ipaddress.ip_address(src)), sport)
    destination = (str(ipaddress.ip_address(dst)), dport)
    key = tuple(sorted((source, destination)))
    connection = connections.get(key)
    if connection is None or flags & 0x12 == 0x02:  # a SYN opens it (anew): its sender is the client
        connection = connections[key] = _Connection(
            f"tcp {source[0]}:{source[1]}-{destination[0]}:{destination[1]}", source)
    payload = tcp[(tcp[12] >> 4) * 4:]
    if payload:
        inbound = source == connection.client
        yield from _stream(connection.sides[inbound], payload, moment, connection.name, inbound)


def _stream(side: _Direction, data: bytes, moment: float, flow: str,
            inbound: bool) -> Iterator[Message]:
    if side.failed:
        return
    if side.wrapper is None and side.hdlc is None:
        if data[0] == _HDLC_FLAG:
            side.hdlc = Framer()
        else:
            side.wrapper = WrapperConnection()
    if side.wrapper is not None:
        try:
            pdus = side.wrapper.receive_data(data)
        except MeterError as exc:  # no framing to resynchronise on: the rest is not shown
            side.failed = True
            yield Message(moment, flow, inbound, None, b"",
                          None, f"wrapper framing lost ({exc}); the rest of this direction is "
                                "not shown")
            return
        for pdu in pdus:
            sap = pdu.source_wport if inbound else pdu.destination_wport
            yield Message(moment, flow, inbound, sap, pdu.to_bytes(), pdu.payload)
        return
    assert side.hdlc is not None
    for frame in side.hdlc.feed(data):
        yield _frame(side, frame, moment, flow, inbound)


def _frame(side: _Direction, frame: HdlcFrame, moment: float, flow: str,
           inbound: bool) -> Message:
    sap = (frame.source if inbound else frame.destination).upper
    raw = frame.to_bytes()
    if Control.from_byte(frame.control).kind is not FrameKind.I:
        return Message(moment, flow, inbound, sap, raw, None)
    info = frame.info
    if side.segments is None and info[:3] in _LLC_HEADERS:
        info = info[3:]
    if frame.segmented:
        side.segments = (side.segments or bytearray()) + info
        return Message(moment, flow, inbound, sap, b"", None,
                       f"HDLC segment of {len(info)} byte(s), the APDU follows with the last")
    if side.segments is None:
        return Message(moment, flow, inbound, sap, raw, info)
    apdu = bytes(side.segments + info)
    side.segments = None
    return Message(moment, flow, inbound, sap, apdu, apdu)
