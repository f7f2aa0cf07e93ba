"""HDLC secondary station in normal response mode (Green Book 8.4.3-8.4.5, IEC 62056-46 6.4).

Sans-IO: bytes and ``now`` in (``receive_data``), events out one at a time (``next_event``),
bytes out (``data_to_send``); timers through ``next_deadline`` and ``handle_timer``. Rules the
state machine keeps:

1. The server only transmits when polled (P=1). Unnumbered responses (UA, DM, FRMR) answer
   their command at once; the answer to a poll in an I or RR frame is produced when the next
   frame is taken up or by :meth:`HdlcServer.data_to_send`, so the layer above can
   ``send_apdu`` for the ``ApduReceived`` it just got and have the response go out as the
   reply to that poll. Frames are taken up one at a time, however they were chunked: a reply
   goes out on the link its request came in on, before a DISC or SNRM behind it is looked at.
2. A poll is answered with the I frames that are not yet acknowledged (go-back-N), else with up
   to ``window_tx`` new I frames, the last with F=1, else with RR. Segments of one APDU carry the
   S bit in the format field, all but the last.
3. SNRM (re)opens the link from any state; DISC closes it (UA, or DM when not connected).
   Frames not addressed to this station are ignored; frames with a bad HCS/FCS never reach
   here (the framer drops them). UI frames are ignored.
4. A frame the connected station cannot accept (unknown control field, information field where
   none is allowed or too long, N(R) or N(S) out of sequence, missing LLC header) puts the
   link in the frame-reject condition: FRMR answers every poll until SNRM or DISC. The one
   exception is the repeat of the last received I frame (its answer was lost): that is a poll
   to retransmit, not an error.
5. A frame from another client while connected, or any numbered or DISC frame while
   disconnected, is answered DM when it polls.
6. No valid frame from the connected client for ``inactivity_timeout`` seconds disconnects.
   A partial frame older than ``inter_octet_timeout`` is discarded (frames behind it are not).
7. One reply at a time: while segments of a reply are not yet sent and acknowledged, the
   station is busy for new I frames (ISO/IEC 13239 receive-busy): it does not take them in
   (V(R) stays), answers their poll with RNR and sends the pending segments when polled with
   RR; the client sends its request again once the reply is through. A client that never
   polls therefore holds one reply, not one per request. Likewise polls piled up behind each
   other in one chunk do not repeat I frames that have not even left yet.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from meter.errors import DecodeError, LocalProtocolError
from meter.link.hdlc.address import HdlcAddress, is_all_station
from meter.link.hdlc.events import ApduReceived, Connected, Disconnected, HdlcEvent
from meter.link.hdlc.frame import Control, FrameKind, Framer, HdlcFrame
from meter.link.hdlc.params import HdlcParameters, negotiate

__all__ = ["LLC_REQUEST", "LLC_RESPONSE", "HdlcConfig", "HdlcServer", "State"]

log = logging.getLogger(__name__)

#: LLC headers (Green Book 8.2: destination LSAP E6, source LSAP E6/E7, quality 00).
LLC_REQUEST = b"\xe6\xe6\x00"
LLC_RESPONSE = b"\xe6\xe7\x00"

# FRMR information field, third octet (ISO/IEC 13239 5.5.3.4.2): W invalid control field,
# X information field not permitted, Y information field too long, Z invalid N(R), and
# V invalid N(S) (the ISO 13239 addition; HDLC classic has no bit for it).
_FRMR_W, _FRMR_X, _FRMR_Y, _FRMR_Z, _FRMR_V = 0x01, 0x02, 0x04, 0x08, 0x10


class State(enum.Enum):
    DISCONNECTED = "NDM"
    CONNECTED = "NRM"
    FRAME_REJECT = "FRMR"


@dataclass(frozen=True, slots=True)
class HdlcConfig:
    """Server HDLC settings; defaults follow the HDLC setup object (IC 23) defaults."""

    physical_address: int = 17
    logical_addresses: tuple[int, ...] = (1,)
    max_info_tx: int = 128
    max_info_rx: int = 128
    window_tx: int = 1
    window_rx: int = 1
    #: Seconds without a valid frame before the link drops (0 disables).
    inactivity_timeout: float = 120.0
    #: Seconds a partial frame may wait for its next byte. IC 23 defaults to 25 ms for serial
    #: lines; over TCP a frame can be split by more than that, hence a looser default here.
    inter_octet_timeout: float = 1.0
    #: Largest reassembled APDU accepted from segmented I frames.
    max_apdu_size: int = 0xFFFF


_Handler = Callable[["HdlcServer", HdlcFrame, Control, list[HdlcEvent]], None]


class HdlcServer:
    """One HDLC secondary station: one physical address, one or more logical devices."""

    def __init__(self, config: HdlcConfig | None = None) -> None:
        self.config = config or HdlcConfig()
        c = self.config
        self._own = HdlcParameters(c.max_info_tx, c.max_info_rx, c.window_tx, c.window_rx)
        self._framer = Framer()
        self._out = bytearray()
        self.state = State.DISCONNECTED
        self.client_address: int | None = None
        self._local = HdlcAddress(0)  # our address in the form the client used
        self.params = HdlcParameters()
        self._vs = self._vr = self._va = 0
        self._unacked: list[tuple[int, bytes, bool]] = []  # (N(S), info, segmented)
        self._queue: deque[tuple[bytes, bool]] = deque()
        self._rx: bytearray | None = None  # reassembly of a segmented APDU
        self._frames: deque[HdlcFrame] = deque()  # received, not yet taken up
        self._events: deque[HdlcEvent] = deque()
        self._poll = False
        self._peer_busy = False
        self._refused = False  # an I frame was refused: answer the poll with RNR
        self._unsent: set[int] = set()  # N(S) of the I frames in _out
        self._frmr = b""
        self._last_frame = 0.0
        self._last_byte = 0.0

    # -- public API --------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Take bytes from the line; the frames they complete are taken up by next_event."""
        if data:
            self._last_byte = now
        self._frames += self._framer.feed(data)

    def next_event(self, now: float) -> HdlcEvent | None:
        """The next event of the received frames, or None when they are all taken up.

        The layer above answers an ApduReceived (``send_apdu``) before asking for the next
        event, so the reply answers its own poll, on its own link (rule 1).
        """
        while not self._events and self._frames:
            if self._poll:
                self._answer_poll()
            events: list[HdlcEvent] = []
            self._on_frame(self._frames.popleft(), now, events)
            self._events += events
        return self._events.popleft() if self._events else None

    def send_apdu(self, client_address: int, apdu: bytes) -> None:
        """Queue an APDU for the connected client; it goes out as the client polls."""
        if self.state is not State.CONNECTED or client_address != self.client_address:
            raise LocalProtocolError(f"no HDLC connection with client {client_address}")
        data = LLC_RESPONSE + apdu
        size = self.params.max_info_tx
        last = (len(data) - 1) // size
        for i in range(last + 1):
            self._queue.append((data[i * size:(i + 1) * size], i < last))

    def data_to_send(self) -> bytes:
        if self._poll:
            self._answer_poll()
        out = bytes(self._out)
        self._out.clear()
        self._unsent.clear()
        return out

    def next_deadline(self) -> float | None:
        deadlines = []
        if self.state is not State.DISCONNECTED and self.config.inactivity_timeout > 0:
            deadlines.append(self._last_frame + self.config.inactivity_timeout)
        if self._framer.pending():
            deadlines.append(self._last_byte + self.config.inter_octet_timeout)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        """Run the timers that are due; what they cause comes out of next_event."""
        if self._framer.pending() and now >= self._last_byte + self.config.inter_octet_timeout:
            log.debug("inter-octet timeout: discarding partial HDLC frame")
            self._frames += self._framer.expire()
        timeout = self.config.inactivity_timeout
        if self.state is not State.DISCONNECTED and timeout > 0 \
                and now >= self._last_frame + timeout:
            events: list[HdlcEvent] = []
            self._disconnect("inactivity timeout", events)
            self._events += events

    # -- frame dispatch ----------------------------------------------------------------------

    def _is_for_us(self, address: HdlcAddress) -> bool:
        if address.upper not in self.config.logical_addresses:
            return False  # includes the all-station logical address: broadcasts get no answer
        return address.lower is None or address.lower == self.config.physical_address \
            or is_all_station(address.lower, address.size)

    def _on_frame(self, frame: HdlcFrame, now: float, events: list[HdlcEvent]) -> None:
        if not self._is_for_us(frame.destination) or frame.source.size != 1:
            return  # not ours; client addresses are always one byte
        client = frame.source.upper
        poll = bool(frame.control & 0x10)
        if self.state is not State.DISCONNECTED and client != self.client_address:
            if poll:
                self._send_u(FrameKind.DM, frame.source, frame.destination)
            return
        try:
            control = Control.from_byte(frame.control)
        except DecodeError:
            control = None
        if control is None:
            if self.state is State.DISCONNECTED:
                if poll:
                    self._send_u(FrameKind.DM, frame.source, frame.destination)
            else:
                self._reject(frame, _FRMR_W)
                self._last_frame = now
            return
        _TRANSITIONS[self.state][control.kind](self, frame, control, events)
        if self.state is not State.DISCONNECTED:
            self._last_frame = now

    # -- handlers (see _TRANSITIONS) ---------------------------------------------------------

    def _on_snrm(self, frame: HdlcFrame, control: Control, events: list[HdlcEvent]) -> None:
        try:
            proposed = HdlcParameters.from_bytes(frame.info)
        except DecodeError as exc:
            log.info("SNRM with unacceptable parameters (%s): DM", exc)
            if self.state is not State.DISCONNECTED:
                self._disconnect("invalid SNRM", events)
            self._send_u(FrameKind.DM, frame.source, frame.destination)
            return
        if self.state is not State.DISCONNECTED:
            self._disconnect("reset by SNRM", events)
        self.params = negotiate(self._own, proposed)
        self.state = State.CONNECTED
        self.client_address = frame.source.upper
        self._local = frame.destination
        self._send_u(FrameKind.UA, frame.source, frame.destination, self.params.to_bytes())
        events.append(Connected(frame.source.upper, frame.destination.upper))

    def _on_disc(self, frame: HdlcFrame, control: Control, events: list[HdlcEvent]) -> None:
        if self.state is State.DISCONNECTED:
            self._send_u(FrameKind.DM, frame.source, frame.destination)
            return
        self._disconnect("DISC", events)
        self._send_u(FrameKind.UA, frame.source, frame.destination)

    def _on_disconnected_poll(self, frame: HdlcFrame, control: Control,
                              events: list[HdlcEvent]) -> None:
        if control.pf:
            self._send_u(FrameKind.DM, frame.source, frame.destination)

    def _ignore(self, frame: HdlcFrame, control: Control, events: list[HdlcEvent]) -> None:
        return

    def _on_unexpected(self, frame: HdlcFrame, control: Control, events: list[HdlcEvent]) -> None:
        self._reject(frame, _FRMR_W)  # a response frame sent to a secondary station

    def _on_rejected(self, frame: HdlcFrame, control: Control, events: list[HdlcEvent]) -> None:
        self._poll = self._poll or control.pf

    def _on_i(self, frame: HdlcFrame, control: Control, events: list[HdlcEvent]) -> None:
        if len(frame.info) > self.params.max_info_rx:
            self._reject(frame, _FRMR_Y)
            return
        if not self._acknowledge(control.nr):
            self._reject(frame, _FRMR_Z)
            return
        if control.ns != self._vr:
            if (control.ns + 1) & 7 == self._vr:
                self._poll = self._poll or control.pf  # a repeat: answer again, drop the data
            else:
                self._reject(frame, _FRMR_V)
            return
        if self._queue or self._unacked:
            log.info("I frame while a reply is pending: not taken in")
            if control.pf:
                self._refused = self._poll = True
            return
        if self._rx is None:
            if frame.info[:3] != LLC_REQUEST:
                log.info("I frame without LLC request header: FRMR")
                self._reject(frame, _FRMR_W)
                return
            self._rx = bytearray(frame.info[3:])
        else:
            self._rx += frame.info
        if len(self._rx) > self.config.max_apdu_size:
            self._rx = None
            self._reject(frame, _FRMR_Y)
            return
        self._vr = (self._vr + 1) & 7
        if not frame.segmented:
            events.append(ApduReceived(frame.source.upper, frame.destination.upper,
                                       bytes(self._rx)))
            self._rx = None
        self._poll = self._poll or control.pf

    def _on_supervisory(self, frame: HdlcFrame, control: Control,
                        events: list[HdlcEvent]) -> None:
        if frame.info:
            self._reject(frame, _FRMR_W | _FRMR_X)
            return
        if not self._acknowledge(control.nr):
            self._reject(frame, _FRMR_Z)
            return
        self._peer_busy = control.kind is FrameKind.RNR
        self._poll = self._poll or control.pf

    # -- helpers -----------------------------------------------------------------------------

    def _acknowledge(self, nr: int) -> bool:
        """Release our I frames up to N(R); False when N(R) is outside V(A)..V(S)."""
        acked = (nr - self._va) & 7
        if acked > (self._vs - self._va) & 7:
            return False
        del self._unacked[:acked]
        self._va = nr
        return True

    def _answer_poll(self) -> None:
        self._poll = False
        if self.state is State.FRAME_REJECT:
            self._send_u(FrameKind.FRMR, self._peer(), self._local, self._frmr)
            return
        if self.state is not State.CONNECTED:
            return
        if self._refused:
            self._refused = False
            self._send_s(FrameKind.RNR)
            return
        if not self._peer_busy:
            if not self._unacked:
                while self._queue and len(self._unacked) < self.params.window_tx:
                    info, segmented = self._queue.popleft()
                    self._unacked.append((self._vs, info, segmented))
                    self._vs = (self._vs + 1) & 7
            # Sending the whole outstanding list also retransmits what the client missed, but
            # not what has not even left yet: polls piled up in one chunk cannot multiply it.
            frames = [u for u in self._unacked if u[0] not in self._unsent]
            for i, (ns, info, segmented) in enumerate(frames):
                control = Control(FrameKind.I, i == len(frames) - 1, ns, self._vr).to_byte()
                self._out += HdlcFrame(self._peer(), self._local, control, info,
                                       segmented).to_bytes()
                self._unsent.add(ns)
            if self._unacked:
                return
        self._send_s(FrameKind.RR)

    def _reject(self, frame: HdlcFrame, flags: int) -> None:
        log.info("HDLC frame reject: control 0x%02X flags 0x%02X", frame.control, flags)
        self.state = State.FRAME_REJECT
        self._frmr = bytes((frame.control, self._vr << 5 | self._vs << 1, flags))
        self._poll = self._poll or bool(frame.control & 0x10)

    def _disconnect(self, reason: str, events: list[HdlcEvent]) -> None:
        if self.client_address is not None:
            events.append(Disconnected(self.client_address, reason))
        self.state = State.DISCONNECTED
        self.client_address = None
        self._vs = self._vr = self._va = 0
        self._unacked.clear()
        self._unsent.clear()
        self._queue.clear()
        self._rx = None
        self._poll = self._peer_busy = self._refused = False

    def _peer(self) -> HdlcAddress:
        return HdlcAddress(self.client_address or 0)

    def _send_s(self, kind: FrameKind) -> None:
        self._out += HdlcFrame(self._peer(), self._local,
                               Control(kind, True, 0, self._vr).to_byte()).to_bytes()

    def _send_u(self, kind: FrameKind, destination: HdlcAddress, source: HdlcAddress,
                info: bytes = b"") -> None:
        self._out += HdlcFrame(destination, source, Control(kind, True).to_byte(),
                               info).to_bytes()


_H = HdlcServer
_CONNECTED: dict[FrameKind, _Handler] = {
    FrameKind.SNRM: _H._on_snrm,
    FrameKind.DISC: _H._on_disc,
    FrameKind.I: _H._on_i,
    FrameKind.RR: _H._on_supervisory,
    FrameKind.RNR: _H._on_supervisory,
    FrameKind.UI: _H._ignore,
    FrameKind.UA: _H._on_unexpected,
    FrameKind.DM: _H._on_unexpected,
    FrameKind.FRMR: _H._on_unexpected,
}
#: (state, frame kind) -> handler: the whole state machine at a glance.
_TRANSITIONS: dict[State, dict[FrameKind, _Handler]] = {
    State.DISCONNECTED: {
        FrameKind.SNRM: _H._on_snrm,
        FrameKind.DISC: _H._on_disc,
        FrameKind.I: _H._on_disconnected_poll,
        FrameKind.RR: _H._on_disconnected_poll,
        FrameKind.RNR: _H._on_disconnected_poll,
        FrameKind.UI: _H._ignore,
        FrameKind.UA: _H._on_disconnected_poll,
        FrameKind.DM: _H._ignore,
        FrameKind.FRMR: _H._ignore,
    },
    State.CONNECTED: _CONNECTED,
    State.FRAME_REJECT: {
        **{kind: _H._on_rejected for kind in FrameKind},
        FrameKind.SNRM: _H._on_snrm,
        FrameKind.DISC: _H._on_disc,
        FrameKind.UI: _H._ignore,
    },
}
