"""Link faults: a meter's links misbehaving the way field networks do, settable while it serves.

One :class:`LinkFaults` per meter (or one shared by a whole fleet) holds the settings, a seeded
random generator (the same seed and the same traffic give the same faults) and the counters.
Every medium puts a :class:`FaultyLink` between the wire and its stack: the TCP listeners
(wrapper and HDLC over TCP), the serial line and the optical port. Faults and their settings:

============  =================================================================================
delay         seconds added before every reply leaves (``jitter``: up to that many more, drawn
              uniformly); replies keep their order
byte_time     seconds per byte on the way out: a slow meter (a reply of n bytes takes n times it)
drop          a reply is lost (probability; ``drop_every=N``: every Nth reply)
drop_in       a received frame is lost before the stack sees it (``drop_in_every``)
duplicate     a reply is sent twice (``duplicate_every``)
corrupt       one byte of a reply is changed (``corrupt_every``); on HDLC a byte between the
              flags, so the client's HCS/FCS check fails; on the wrapper a byte of the APDU
corrupt_in    one byte of a received frame is changed (``corrupt_in_every``)
cut_block     the link is cut right after the reply carrying block ``cut_block`` of a GET
              with data blocks (not its last block) leaves, ``cut_times`` times (default once);
              plain or ciphered (the stack tells which block it sent)
refuse        a TCP connection is accepted and closed at once (``refuse_every``)
seed          restarts the random generator
============  =================================================================================

Probabilities are in [0, 1]; ``*_every`` counts from the moment it is set (0: off). The reply
counts are the meter's (all its links together), so ``drop_every=3`` drops every third reply
whichever connection it is for. The block a reply carries comes from the stack
(``get_block_sent``), so a ciphered block transfer is cut as a plain one; with a stack that does
not tell, from a plain reply's own bytes. On a serial line or the optical port a cut ends the link (the stack
starts afresh, as on a line drop); ``refuse`` has no meaning there (use ``drop_in=1``).

Received frames are cut out of the stream (wrapper header length, HDLC frame length) only while
an incoming fault is on, so a lost or corrupted frame is a whole frame; a stack's write is cut
into its frames likewise while a reply fault is on (pipelined requests are answered in one).
With no fault on, bytes pass with one call each way.

Counters (:data:`COUNTERS`): ``replies`` and ``received``, the frames looked at while a fault
was on; then one per fault: ``delayed``, ``slowed``, ``dropped``, ``dropped_in``,
``duplicated``, ``corrupted``, ``corrupted_in``, ``cuts``, ``refused``, ``overflow``.

Bounds: settings are range-checked; replies held back by delay and byte_time are bounded by the
medium (``max_held`` bytes: a TCP connection stops being read at it, as with its unsent-bytes
limit; on a line a reply beyond it is lost and counted as ``overflow``). A partial received
frame held for splitting is bounded by the framing's largest frame.

Runs on the event loop's thread, like the stacks; delays are loop timers, never sleeps.
``update`` and ``snapshot`` are what the control API calls; ``tally`` (a fleet's, settable) is
told of every count as it is made; ``on`` says whether a new connection needs a FaultyLink at all
(a fleet's listeners give one only then, meter/transport/fleet_faults.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from meter.link.framing import Framing
from meter.link.hdlc.connection import LLC_RESPONSE

__all__ = ["COUNTERS", "LINE_MAX_HELD", "FaultSettings", "FaultyLink", "LinkFaults", "discard",
           "parse_faults"]

log = logging.getLogger(__name__)

MAX_DELAY = 60.0  # s, for delay and jitter each
MAX_BYTE_TIME = 1.0  # s per byte (300 baud is ~0.033)
MAX_EVERY = 1_000_000_000
#: Reply bytes a line (serial, optical) may hold back for delay/byte_time; beyond, lost.
LINE_MAX_HELD = 64 * 1024
MAX_BLOCK = 0xFFFFFFFF  # the block-number field is Unsigned32
# The smallest pause between two pieces of a slow reply: below it, bytes go out in pieces
# of as many bytes as fall due in it (a timer per byte would cost more than the link).
_SLOW_TICK = 0.01
# Largest frames the incoming splitter holds while a frame is incomplete.
_WRAPPER_HEADER = 8
_WRAPPER_VERSION = b"\x00\x01"  # IEC 62056-47: version 1
_HDLC_FLAG = 0x7E
# GET-Response-With-Datablock (Green Book: get-response [196], choice 2): tag, choice, then
# invoke-id-and-priority, last-block (boolean), block-number (Unsigned32).
_GET_RESPONSE_BLOCK = b"\xc4\x02"

#: The counters a snapshot reports, each fault's own.
COUNTERS = ("replies", "received", "delayed", "slowed", "dropped", "dropped_in",
            "duplicated", "corrupted", "corrupted_in", "cuts", "refused", "overflow")


@dataclass(slots=True)
class FaultSettings:
    """The faults in force (all off by default); see the module docstring."""

    delay: float = 0.0
    jitter: float = 0.0
    byte_time: float = 0.0
    drop: float = 0.0
    drop_every: int = 0
    drop_in: float = 0.0
    drop_in_every: int = 0
    duplicate: float = 0.0
    duplicate_every: int = 0
    corrupt: float = 0.0
    corrupt_every: int = 0
    corrupt_in: float = 0.0
    corrupt_in_every: int = 0
    cut_block: int = 0
    cut_times: int = 1
    refuse: float = 0.0
    refuse_every: int = 0
    seed: int = 0


_FIELDS = {f.name: f.type for f in fields(FaultSettings)}
_PROBABILITIES = ("drop", "drop_in", "duplicate", "corrupt", "corrupt_in", "refuse")
_SECONDS = {"delay": MAX_DELAY, "jitter": MAX_DELAY, "byte_time": MAX_BYTE_TIME}
_COUNTS = {"drop_every": MAX_EVERY, "drop_in_every": MAX_EVERY,
           "duplicate_every": MAX_EVERY, "corrupt_every": MAX_EVERY,
           "corrupt_in_every": MAX_EVERY, "refuse_every": MAX_EVERY,
           "cut_block": MAX_BLOCK, "cut_times": MAX_EVERY, "seed": 2**63 - 1}


def _checked(name: str, value: Any) -> float | int:
    """``value`` for setting ``name`` as its type, within its bounds; ValueError otherwise."""
    if name not in _FIELDS:
        raise ValueError(f"unknown link fault {name!r} (known: {', '.join(_FIELDS)})")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        # One error type for every bad setting (the control API answers it as a bad request).
        raise ValueError(f"{name}: a number is needed, not {value!r}")  # noqa: TRY004
    try:
        number = float(value) if name in _SECONDS or name in _PROBABILITIES else int(value)
    except ValueError:
        raise ValueError(f"{name}: not a number: {value!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"{name}: not a finite number: {value!r}")
    if isinstance(number, int) and isinstance(value, float) and value != number:
        raise ValueError(f"{name}: a whole number is needed, not {value!r}")
    if name in _PROBABILITIES:
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{name}: a probability in [0, 1], not {value!r}")
    elif name in _SECONDS:
        if not 0.0 <= number <= _SECONDS[name]:
            raise ValueError(f"{name}: seconds in [0, {_SECONDS[name]:g}], not {value!r}")
    elif not 0 <= number <= _COUNTS[name]:
        raise ValueError(f"{name}: in [0, {_COUNTS[name]}], not {value!r}")
    return number


def parse_faults(spec: str) -> dict[str, float | int]:
    """``"delay=0.2,jitter=0.1,drop=0.05,seed=7"`` -> checked settings; ValueError if bad."""
    settings: dict[str, float | int] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"link fault {item!r}: NAME=VALUE expected")
        name = name.strip().replace("-", "_")
        settings[name] = _checked(name, value.strip())
    return settings


class LinkFaults:
    """The settings, the random generator and the counters of one meter's (or fleet's) links.

    Call it on the event loop's thread (from another thread, through
    ``loop.call_soon_threadsafe``).
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = FaultSettings()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._rng = random.Random(0)
        # Events seen since each ``*_every`` setting was set: "replies" for drop, ...
        self._seen: dict[str, int] = {}
        self.active = False  # any reply fault on: the fast path checks only this
        self.incoming = False  # any received-frame fault on
        # Told the name of every count as it is made (a fleet's totals for its /metrics).
        self.tally: Callable[[str], None] | None = None
        self.update(**settings)

    def update(self, **settings: Any) -> dict[str, Any]:
        """Change the given settings (all checked first: a bad one changes nothing) and return
        :meth:`snapshot`. ``seed`` restarts the generator; ``cut_block`` without ``cut_times``
        arms one cut."""
        checked = {name: _checked(name, value) for name, value in settings.items()}
        if "cut_block" in checked and "cut_times" not in checked:
            checked["cut_times"] = 1
        for name, value in checked.items():
            setattr(self.settings, name, value)
            if name.endswith("_every"):
                self._seen[name] = 0
        if "seed" in checked:
            self._rng.seed(int(checked["seed"]))
        self._refresh()
        if checked:
            log.info("link faults: %s", ", ".join(f"{k}={v}" for k, v in checked.items()))
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """``{"settings": {...}, "counters": {...}}``, plain data (JSON as it is)."""
        s = self.settings
        return {"settings": {name: getattr(s, name) for name in _FIELDS},
                "counters": dict(self.counters)}

    @property
    def on(self) -> bool:
        """Any fault on, a refusal included (a new connection needs a FaultyLink)."""
        s = self.settings
        return self.active or self.incoming or bool(s.refuse or s.refuse_every)

    def count(self, name: str) -> None:
        """One more of counter ``name`` (and the tally told)."""
        self.counters[name] += 1
        if self.tally is not None:
            self.tally(name)

    def reset_counters(self) -> dict[str, Any]:
        """All counters back to 0; the snapshot."""
        self.counters = dict.fromkeys(COUNTERS, 0)
        return self.snapshot()

    # --- decisions (each counts what it decides) ---------------------------------------------

    def hits(self, probability: float, every: str) -> bool:
        """Whether the fault with ``probability`` and the every-Nth setting ``every`` strikes
        this event."""
        n = getattr(self.settings, every)
        if n:
            seen = self._seen.get(every, 0) + 1
            self._seen[every] = seen
            if seen % n == 0:
                return True
        return probability > 0.0 and self._rng.random() < probability

    def refuses(self) -> bool:
        """A new TCP connection: refuse it?"""
        s = self.settings
        if (s.refuse or s.refuse_every) and self.hits(s.refuse, "refuse_every"):
            self.count("refused")
            return True
        return False

    def delay(self) -> float:
        s = self.settings
        return s.delay + (self._rng.uniform(0.0, s.jitter) if s.jitter else 0.0)

    def randint(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def cut_due(self, block: int) -> bool:
        """A reply with block ``block`` (not the last) leaves: cut the link after it?"""
        s = self.settings
        if s.cut_block and s.cut_times and block >= s.cut_block:
            s.cut_times -= 1
            self.count("cuts")
            self._refresh()
            return True
        return False

    def _refresh(self) -> None:
        s = self.settings
        self.incoming = bool(s.drop_in or s.drop_in_every or s.corrupt_in or s.corrupt_in_every)
        self.active = bool(s.delay or s.jitter or s.byte_time or s.drop or s.drop_every
                           or s.duplicate or s.duplicate_every or s.corrupt or s.corrupt_every
                           or (s.cut_block and s.cut_times))


class FaultyLink:
    """One connection's (or line's) faults between the wire and its stack.

    ``write`` puts bytes on the wire; the medium sets ``feed`` (its stack's input: ``receive``
    hands on what survives) and ``on_cut`` (ends the link: a TCP close, a line's fresh start,
    called from the loop after the current call returns, with the link closed; a line calls
    :meth:`reopen`). :meth:`send` is the stack's writer. ``full``/``drained`` (TCP) are told
    when held replies reach ``max_held`` bytes and when they are down to half; without them a
    reply beyond ``max_held`` is lost.
    """

    __slots__ = ("_drained", "_faults", "_framing", "_full", "_handle", "_held", "_inbuf",
                 "_is_full", "_last_block", "_loop", "_max_held", "_queue", "_ready_at",
                 "_write", "block_sent", "closed", "feed", "on_cut")

    def __init__(self, faults: LinkFaults, loop: asyncio.AbstractEventLoop, framing: Framing,
                 write: Callable[[bytes], None], max_held: int = LINE_MAX_HELD,
                 full: Callable[[], None] | None = None,
                 drained: Callable[[], None] | None = None) -> None:
        self._faults = faults
        self._loop = loop
        self._framing = framing
        self._write = write
        self._max_held = max(1, max_held)
        self._full = full
        self._drained = drained
        self.feed: Callable[[bytes], None] = discard  # the stack's input, set by the medium
        self.on_cut: Callable[[], None] = _none
        # The stack's GET block transfer under way (StackSession.get_block_sent), set by the
        # medium: it sees blocks of ciphered replies too. Without it, plain replies are read.
        self.block_sent: Callable[[], int | None] | None = None
        self._last_block = 0  # the block a reply was last seen to carry
        self._queue: deque[tuple[float, bytes, bool]] = deque()  # (due, bytes, cut after)
        self._held = 0  # bytes in _queue
        self._ready_at = 0.0  # when the last queued reply is due (order is kept)
        self._handle: asyncio.TimerHandle | None = None
        self._inbuf = bytearray()  # a received frame not complete yet (incoming faults on)
        self._is_full = False
        self.closed = False

    # --- received bytes ----------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the wire: on to the stack, less what the incoming faults take."""
        if self.closed:
            return
        if not self._faults.incoming and not self._inbuf:
            self.feed(data)
            return
        self._inbuf += data
        out = bytearray()
        for frame in self._frames():
            out += self._incoming(frame)
        if out:
            self.feed(bytes(out))

    def _frames(self) -> list[bytes]:
        """Complete frames (and stray bytes) cut off the front of the received buffer."""
        buf = self._inbuf
        frames: list[bytes] = []
        while buf:
            size = _frame_size(self._framing, buf)
            if size is None:
                break
            frames.append(bytes(buf[:size]))
            del buf[:size]
            if (self._framing == Framing.HDLC and buf and buf[0] & 0xF0 == 0xA0
                    and frames[-1][-1] == _HDLC_FLAG):
                buf[:0] = b"\x7e"  # the closing flag opens the next frame too (shared flag)
        return frames

    def _incoming(self, frame: bytes) -> bytes:
        faults = self._faults
        faults.count("received")
        s = faults.settings
        if faults.incoming:
            if faults.hits(s.drop_in, "drop_in_every"):
                faults.count("dropped_in")
                return b""
            if faults.hits(s.corrupt_in, "corrupt_in_every"):
                faults.count("corrupted_in")
                return self._corrupted(frame)
        return frame

    # --- replies -----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """A reply from the stack (the stack's writer)."""
        if self.closed:
            return
        if not self._faults.active and not self._queue:
            self._write(data)
            return
        for frame in _split(self._framing, data):
            self._reply(frame)
            if self.closed:
                return  # cut

    def _reply(self, data: bytes) -> None:
        """One reply frame through the reply faults."""
        faults = self._faults
        faults.count("replies")
        s = faults.settings
        if faults.hits(s.drop, "drop_every"):
            faults.count("dropped")
            return
        if faults.hits(s.corrupt, "corrupt_every"):
            faults.count("corrupted")
            data = self._corrupted(data)
        if faults.hits(s.duplicate, "duplicate_every"):
            faults.count("duplicated")
            data += data
        block = self._block(data) if s.cut_block and s.cut_times else None
        cut = block is not None and faults.cut_due(block)
        pause = faults.delay()
        if pause <= 0.0 and not s.byte_time and not self._queue:
            self._write(data)
            if cut:
                self._cut_link()
            return
        if self._held + len(data) > self._max_held and self._full is None:
            faults.count("overflow")
            return
        if pause > 0.0:
            faults.count("delayed")
        if s.byte_time:
            faults.count("slowed")
        now = self._loop.time()
        due = max(now + pause, self._ready_at)
        self._ready_at = due
        self._queue.append((due, data, cut))
        self._held += len(data)
        if self._held >= self._max_held and self._full is not None and not self._is_full:
            self._is_full = True
            self._full()
        self._arm(due)

    def _block(self, data: bytes) -> int | None:
        """The block number ``data`` carries as a GET with blocks goes on, or None. From the
        stack when it tells (the first reply frame after the block was made: an HDLC reply's
        later segments are the same block), else from the plain reply itself."""
        sent = None if self.block_sent is None else self.block_sent()
        if sent is None:  # none under way, or a stack that does not tell
            self._last_block = 0
            return _block_number(data, self._framing)
        if sent == self._last_block:
            return None
        self._last_block = sent
        return sent

    def _arm(self, when: float) -> None:
        if self._handle is None:
            self._handle = self._loop.call_at(when, self._release)

    def _release(self) -> None:
        """The timer: send what is due (a slow link: the bytes due so far), re-arm."""
        self._handle = None
        if self.closed:
            return
        now = self._loop.time()
        byte_time = self._faults.settings.byte_time
        while self._queue and not self.closed:
            due, data, cut = self._queue[0]
            if due > now:
                self._arm(due)
                return
            if byte_time > 0.0:
                # As many bytes as the line carries until the next tick; the rest later.
                count = max(1, int(_SLOW_TICK / byte_time))
                piece, rest = data[:count], data[count:]
                if rest:
                    self._queue[0] = (now + len(piece) * byte_time, rest, cut)
                    self._held -= len(piece)
                    self._write(piece)
                    self._arm(now + len(piece) * byte_time)
                    self._check_drained()
                    return
                data = piece
            self._queue.popleft()
            self._held -= len(data)
            self._write(data)
            if cut:
                self._cut_link()
                return
        if not self._queue:
            self._ready_at = 0.0
        self._check_drained()

    def _check_drained(self) -> None:
        if self._is_full and self._held <= self._max_held // 2:
            self._is_full = False
            if self._drained is not None:
                self._drained()

    def _cut_link(self) -> None:
        log.info("link fault: the link is cut after a block of a GET reply")
        self.close()
        self._loop.call_soon(self.on_cut)

    def _drop_queue(self) -> None:
        self._queue.clear()
        self._held = 0
        self._ready_at = 0.0
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        """The link is gone: held replies and partial frames go with it."""
        self.closed = True
        self._drop_queue()
        self._inbuf.clear()

    def reopen(self) -> None:
        """A line starts a new session after a cut: serve it again (nothing held)."""
        self._drop_queue()
        self._inbuf.clear()
        self._last_block = 0
        self.closed = False

    @property
    def held(self) -> int:
        """Reply bytes held back by delay or byte_time."""
        return self._held

    def _corrupted(self, data: bytes) -> bytes:
        """``data`` with one byte changed: within an HDLC frame's flags, within the wrapper's
        APDU (a broken header would desynchronise the stream, not corrupt a frame)."""
        low, high = 0, len(data) - 1
        if self._framing == Framing.WRAPPER and len(data) > _WRAPPER_HEADER:
            low = _WRAPPER_HEADER
        elif self._framing == Framing.HDLC and len(data) > 2 and data[0] == _HDLC_FLAG:
            low, high = 1, len(data) - 2
        if high < low:
            return data
        at = self._faults.randint(low, high)
        changed = data[at] ^ self._faults.randint(1, 255)
        if changed == _HDLC_FLAG and self._framing == Framing.HDLC:
            changed ^= 0x01  # a flag would split the frame instead of corrupting it
        return data[:at] + bytes((changed,)) + data[at + 1:]


def _frame_size(framing: Framing, buf: bytes | bytearray) -> int | None:
    """Length of the frame at the front of ``buf``; None while it is incomplete. What is
    no frame start goes on as it is (the stack judges it)."""
    if framing == Framing.WRAPPER:
        if buf[:2] != _WRAPPER_VERSION[:len(buf)]:
            return len(buf)  # not a wrapper header: the stack closes the connection
        if len(buf) < _WRAPPER_HEADER:
            return None
        size = _WRAPPER_HEADER + int.from_bytes(buf[6:8], "big")
        return size if size <= len(buf) else None
    if buf[0] != _HDLC_FLAG:
        flag = buf.find(_HDLC_FLAG)
        return len(buf) if flag < 0 else flag  # stray bytes, up to the next flag
    if len(buf) < 3:
        return None
    if buf[1] & 0xF0 != 0xA0:
        return 1  # a flag that opens no frame (a closing one, or fill)
    size = 2 + ((buf[1] & 0x07) << 8 | buf[2])  # the flags and the 11-bit frame length
    return size if size <= len(buf) else None


def _split(framing: Framing, data: bytes) -> list[bytes]:
    """The frames one write of a stack holds (pipelined requests are answered in one)."""
    frames: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = _frame_size(framing, data[pos:]) or len(data) - pos
        frames.append(data[pos:pos + size])
        pos += size
    return frames


def _block_number(data: bytes, framing: Framing) -> int | None:
    """The block number of a plain GET-Response-With-Datablock that is not the last block, or
    None (another reply, a last block, a ciphered one)."""
    if framing == Framing.WRAPPER:
        apdu = data[_WRAPPER_HEADER:_WRAPPER_HEADER + 8]
    else:
        info = _hdlc_info(data)
        if info is None or info[:3] != LLC_RESPONSE:
            return None
        apdu = info[3:11]
    if len(apdu) < 8 or apdu[:2] != _GET_RESPONSE_BLOCK or apdu[3]:
        return None
    return int.from_bytes(apdu[4:8], "big")


def _hdlc_info(frame: bytes) -> bytes | None:
    """The information field of one HDLC frame (7E format dst src control HCS info FCS 7E)."""
    if len(frame) < 9 or frame[0] != _HDLC_FLAG:
        return None
    i = 3
    for _ in range(2):  # destination, then source: the last address byte has bit 0 set
        while i < len(frame) and not frame[i] & 1:
            i += 1
        i += 1
    start = i + 1 + 2  # control, HCS
    end = len(frame) - 3  # FCS, flag
    return frame[start:end] if start < end else None


def discard(_data: bytes) -> None:
    """Bytes with nowhere to go (a medium's input before its stack exists, after a cut)."""


def _none() -> None:
    pass
