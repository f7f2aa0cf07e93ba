"""IEC 62056-21 (ed. 1.0, 2002) protocol mode E opening on the optical port, meter side.

At 300 baud, 7E1 (the serial transport's job; input is masked to 7 bits here):

    client: "/" "?" [device address] "!" CR LF                      request, 6.3.1
    meter:  "/" XXX Z "\\" W identification CR LF                   identification, 6.3.2
            XXX manufacturer flag, Z baud character, "\\2" the enhanced identification
            (W = '2': binary mode HDLC is available, 6.3.2 item 24; dlms.com "Enhanced
            identification character")
    client: ACK V Z Y CR LF                                          ack/option select, 6.3.3
            V = '2' HDLC protocol procedure, Y = '2' binary mode, Z the chosen baud character

then both sides switch to Z's baud rate (8N1) and speak HDLC. Baud characters for modes C and
E (Table "Baud rate identification"): '0' 300 ... '6' 19200. The client side of this exchange
as public tools implement it: Gurux ``GXDLMSReader.initializeOpticalHead`` sends "/?!\\r\\n",
reads Z at offset 4 of the reply and answers 06 '2' Z '2' CR LF.

After the ack the transport must first write :meth:`ModeEOpening.data_to_send` (nothing, in
this implementation) at the old rate, then apply :class:`BaudRateChange`, then hand the line to
HDLC on :class:`EnterHdlc`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from meter.errors import EncodeError

__all__ = ["BAUD_RATES", "BaudRateChange", "EnterHdlc", "Failed", "ModeEOpening", "Phase",
           "baud_character"]

log = logging.getLogger(__name__)

BAUD_RATES = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}
ACK = 0x06
CRLF = b"\r\n"
_PROTOCOL_HDLC = ord("2")  # V: HDLC protocol procedure (mode E)
_MODE_BINARY = ord("2")  # Y: binary mode
_MAX_LINE = 64  # "/?" + 32-character address + "!" CR LF fits easily
#: Max time between characters of a message, and for the client's ack (IEC 62056-21 6.3.14:
#: inter-character time out 1 500 ms; reaction time tr up to 1 500 ms).
TIMEOUT = 1.5


def baud_character(baud: int) -> str:
    """The baud character a port running at ``baud`` offers: the fastest the table names that
    is not above it (the table stops at '6', 19200; slower than 300 still offers '0')."""
    return max((c for c, rate in BAUD_RATES.items() if rate <= baud), default="0")


@dataclass(frozen=True, slots=True)
class BaudRateChange:
    """Switch the serial line to ``baud`` (8N1) once pending output is written."""

    baud: int


@dataclass(frozen=True, slots=True)
class EnterHdlc:
    """The opening is done: from now on the line carries HDLC frames at ``baud``."""

    baud: int


@dataclass(frozen=True, slots=True)
class Failed:
    """The opening was abandoned; the meter listens for a new request at 300 baud."""

    reason: str


ModeEEvent = BaudRateChange | EnterHdlc | Failed


class Phase(enum.Enum):
    WAIT_REQUEST = "wait request"
    WAIT_ACK = "wait ack"
    HDLC = "hdlc"


class ModeEOpening:
    """Meter side of the mode E sign-on; sans-IO (bytes and ``now`` in, events and bytes out)."""

    def __init__(self, manufacturer: str = "ACE", identification: str = "ACESM",
                 max_baud_char: str = "5", device_address: str = "", *,
                 sign_on_baud: int = 300, reaction_time: float = 0.0) -> None:
        """``device_address``: the address a request must name (or none); ``sign_on_baud``:
        the rate the line waits for a request at; ``reaction_time``: the minimum time (s)
        before the identification leaves (IEC local port setup response_time)."""
        if len(manufacturer) != 3 or not manufacturer.isascii() or not manufacturer.isalpha():
            raise EncodeError("manufacturer flag must be 3 letters")
        if max_baud_char not in BAUD_RATES:
            raise EncodeError(f"baud character {max_baud_char!r} is not one of 0-6")
        if not 0 < len(identification) <= 16 or not identification.isascii() or any(
                c in "/!" or not c.isprintable() for c in identification):
            raise EncodeError("identification must be 1-16 printable characters, no / or !")
        self.manufacturer = manufacturer
        self.identification = identification
        self.max_baud_char = max_baud_char
        self.device_address = device_address
        self.sign_on_baud = sign_on_baud
        self.reaction_time = reaction_time
        self.phase = Phase.WAIT_REQUEST
        self._line = bytearray()
        self._out = bytearray()
        self._last_byte = 0.0
        self._ack_deadline = 0.0

    @property
    def idle(self) -> bool:
        """Waiting for a request with nothing of one received yet."""
        return self.phase is Phase.WAIT_REQUEST and not self._line

    def receive_data(self, data: bytes, now: float) -> list[ModeEEvent]:
        """Bytes from the line. Bytes after a valid ack are dropped: they were sent at a baud
        rate the line no longer has."""
        events: list[ModeEEvent] = []
        for byte in data:
            if self.phase is Phase.HDLC:
                break
            self._line.append(byte & 0x7F)  # the parity bit, if the port left it in
            if self._line.endswith(CRLF):
                line = bytes(self._line)
                self._line.clear()
                self._on_line(line, now, events)
            elif len(self._line) > _MAX_LINE:
                self._line.clear()
        self._last_byte = now
        return events

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        if self.phase is Phase.WAIT_ACK:
            return self._ack_deadline
        if self._line and self.phase is Phase.WAIT_REQUEST:
            return self._last_byte + TIMEOUT
        return None

    def handle_timer(self, now: float) -> list[ModeEEvent]:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        self._line.clear()
        if self.phase is Phase.WAIT_ACK:
            self.phase = Phase.WAIT_REQUEST
            return [Failed("no acknowledgement/option select message in time")]
        return []

    def _on_line(self, line: bytes, now: float, events: list[ModeEEvent]) -> None:
        start = line.rfind(b"/?")
        if start >= 0 and line.endswith(b"!\r\n"):
            self._on_request(line[start + 2:-3], now)
        elif self.phase is Phase.WAIT_ACK:
            ack = line.rfind(bytes((ACK,)))
            self._on_ack(line[ack:] if ack >= 0 else line, events)
        else:
            log.debug("mode E: ignoring %r while waiting for a request", line)

    def _on_request(self, address: bytes, now: float) -> None:
        if address and address.decode("ascii") != self.device_address:
            log.debug("mode E: request for device %r is not for us", address)
            return
        self._out += (f"/{self.manufacturer}{self.max_baud_char}\\2{self.identification}"
                      .encode("ascii") + CRLF)
        self.phase = Phase.WAIT_ACK
        self._ack_deadline = now + TIMEOUT

    def _on_ack(self, line: bytes, events: list[ModeEEvent]) -> None:
        self.phase = Phase.WAIT_REQUEST
        if len(line) != 6 or line[0] != ACK:
            events.append(Failed(f"not an acknowledgement/option select message: {line!r}"))
            return
        v, z, y = line[1], chr(line[2]), line[3]
        if v != _PROTOCOL_HDLC or y != _MODE_BINARY:
            events.append(Failed(f"protocol {chr(v)!r} mode {chr(y)!r}: only HDLC mode E"))
            return
        if z not in BAUD_RATES or z > self.max_baud_char:
            events.append(Failed(f"baud character {z!r} not offered"))
            return
        self.phase = Phase.HDLC
        baud = BAUD_RATES[z]
        events += [BaudRateChange(baud), EnterHdlc(baud)]
