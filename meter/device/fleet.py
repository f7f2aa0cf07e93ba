"""A fleet of meters in one process (``acesm-meter fleet``, issue 12 items 5 and 6).

Identity. Meter ``i`` of a fleet of ``count`` (0-based, the same numbering on every shard) is the
profile's meter with:

- serial: the profile's serial read as a decimal number, plus ``i``, written with as many digits
  (``0000000000001`` -> ``0000000000001`` ... ``0000000010000``);
- system title: the manufacturer's three FLAG letters in ASCII and the serial's number as five
  big-endian bytes (the profile's own layout, ``"ACE" + 5 bytes``; Green Book 4.3.4: a system
  title is the manufacturer ID and a unique number);
- keys: each key of the profile's ``[keys]`` (encryption, authentication, master, ...) replaced by
  HKDF-SHA256 (RFC 5869, ``cryptography``'s implementation) with input key material the seed
  (UTF-8), salt ``acesm-fleet-v1`` and info ``<serial>/<key name>``, as long as the profile's key.
  Anyone with the seed and a serial gets that meter's keys again (``identities()`` below; the
  CSV printed at start lists them). Security setups that carry their own keys in the profile keep
  them (the same for every meter).
- ports: wrapper ``base_port + i``, HDLC over TCP ``hdlc_base + i`` when asked.

Shards. ``--shard I/K`` serves meters ``count*I//K`` up to (not including) ``count*(I+1)//K``:
K shards cover the numbering once, each a contiguous slice, whatever K divides.

State. One store for the fleet (the state directory's ``meter.sqlite3`` under one lock); each
meter lives in its namespace ``@<serial>/`` of it (meter/persistence/store.py ``namespace``), its
receive-counter files in ``meters/<serial>/``.

Cost. A meter is built (a :class:`~meter.device.device.Device` on its namespace, the profile
parsed once for the fleet) only when something needs it: a connection, a push due, and a
bounded number stays built (least recently used first out; never one with a connection or a
push on the way). A meter that is not built still lives: when it is built again it back-fills
the time since it was last built as if it had been powered all along (meter/device/startup.py:
energy in closed form, profile captures, billing, demand, events at their own times), so its
clock, energy, profiles and logs are what a meter running all along would show. What it cannot
do unbuilt is push: its next push time is kept in the fleet's one deadline heap and the meter is
built then, back-filled to just before it (a back-fill is quiet), so the push goes out live.

The edge reads what it needs of a meter without building it (:meth:`Fleet.stored`: the
object made from the profile with the meter's stored state; its TCP-UDP setup for its listener,
whether its connectivity push has a destination) and brings one up to send its start-up pushes
with :meth:`Fleet.live` (meter/transport/fleet.py).
"""

from __future__ import annotations

import csv
import dataclasses
import heapq
import io
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from meter.codec.obis import Obis
from meter.cosem.base import CosemObject
from meter.cosem.names import PUSH_ON_CONNECTIVITY
from meter.cosem.push_setup import PushSetup
from meter.cosem.tcp_udp_setup import TcpUdpSetup
from meter.device.build import build_object
from meter.device.device import Device
from meter.device.persist import decode_state, object_key
from meter.device.startup import SimulatedTime
from meter.errors import MeterError, StoreError
from meter.link.framing import Framing
from meter.persistence.store import NAMESPACE_MARK, Store
from meter.profile import Profile
from meter.stack import MeterStack, StackDelegate

__all__ = ["FLEET_SALT", "MAX_COUNT", "Fleet", "Identity", "csv_text", "derive_key", "identities",
           "meter_profile", "parse_shard", "shard_range"]

log = logging.getLogger(__name__)

FLEET_SALT = b"acesm-fleet-v1"
#: The most meters one fleet numbers (five bytes of system title hold far more; ports do not).
MAX_COUNT = 1_000_000
#: The fleet's first start minus its --history: every meter's origin (root store key).
ORIGIN_KEY = "fleet/origin"
#: Meters built for their pushes per call of Fleet.due (~10 ms each): the loop serves
#: connections between.
BUILDS_PER_TURN = 8
#: Built meters ticked per call of Fleet.due: a quarter-hour boundary comes for every meter at
#: once (~1 ms each); the loop serves connections between.
TICKS_PER_TURN = 64
#: Real seconds between re-plannings of every built meter's deadline (Fleet._replan).
_REPLAN_ALL_EVERY = 60.0
#: The --history a known meter is built with: "as if powered since it was last built".
_SINCE_LAST_BUILT = 1e-6


@dataclass(frozen=True, slots=True)
class Identity:
    index: int  # in the whole fleet's numbering
    serial: str
    system_title: bytes
    keys: dict[str, bytes]
    port: int  # wrapper
    hdlc_port: int | None


def parse_shard(text: str) -> tuple[int, int]:
    """``I/K`` -> (I, K), 0 <= I < K."""
    left, sep, right = text.partition("/")
    try:
        shard, shards = int(left), int(right)
    except ValueError:
        shard, shards = -1, 0
    if not sep or not 0 <= shard < shards:
        raise ValueError(f"bad shard {text!r}: I/K with 0 <= I < K (e.g. 0/4)")
    return shard, shards


def shard_range(count: int, shard: tuple[int, int] = (0, 1)) -> range:
    """The meters shard ``I`` of ``K`` serves: a contiguous slice; the K slices partition
    ``range(count)``."""
    i, k = shard
    return range(count * i // k, count * (i + 1) // k)


def derive_key(seed: str, serial: str, name: str, length: int) -> bytes:
    """HKDF-SHA256(ikm=seed, salt=FLEET_SALT, info="<serial>/<name>") of ``length`` bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=FLEET_SALT,
                info=f"{serial}/{name}".encode()).derive(seed.encode())


def identities(profile: Profile, count: int, seed: str, base_port: int,
               hdlc_base: int | None = None, shard: tuple[int, int] = (0, 1)) -> list[Identity]:
    """The identities of the meters shard ``shard`` serves (module docstring)."""
    if not 0 < count <= MAX_COUNT:
        raise MeterError(f"a fleet has 1 to {MAX_COUNT} meters, not {count}")
    first = str(profile.meter["serial"])
    if not first.isdigit():
        raise MeterError(f"the profile's serial {first!r} is not a number: a fleet counts from it")
    number = int(first)
    width = len(first)
    if len(str(number + count - 1)) > width or number + count > 1 << 40:
        raise MeterError(f"{count} meters from serial {first} do not fit its {width} digits")
    top = max(base_port, hdlc_base or 0) + count - 1
    if top > 65535:
        raise MeterError(f"ports up to {top} needed: lower --base-port or --count")
    maker = str(profile.meter["manufacturer"]).encode("ascii")
    out = []
    for i in shard_range(count, shard):
        serial = f"{number + i:0{width}d}"
        keys = {name: derive_key(seed, serial, name, len(value))
                for name, value in profile.keys.items()}
        out.append(Identity(i, serial, maker + (number + i).to_bytes(5, "big"), keys,
                            base_port + i, None if hdlc_base is None else hdlc_base + i))
    return out


def meter_profile(profile: Profile, ident: Identity) -> Profile:
    """``profile`` as meter ``ident``: its serial, system title and keys (the objects, their
    definitions and everything else shared)."""
    meter = {**profile.meter, "serial": ident.serial, "system_title": ident.system_title.hex()}
    return dataclasses.replace(profile, meter=meter, keys=dict(ident.keys))


CSV_COLUMNS = ("serial", "logical_device_name", "system_title", "host", "wrapper_port",
               "hdlc_port", "server_sap", "encryption_key", "authentication_key", "master_key")


def csv_text(profile: Profile, ids: list[Identity], host: str) -> str:
    """One line per meter for a head end to import (keys in hex; ``hdlc_port`` empty when not
    served)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    maker = str(profile.meter["manufacturer"])
    sap = int(profile.meter.get("logical_device", 1))
    for m in ids:
        writer.writerow((m.serial, maker + m.serial, m.system_title.hex().upper(), host, m.port,
                         "" if m.hdlc_port is None else m.hdlc_port, sap,
                         *(m.keys.get(k, b"").hex().upper()
                           for k in ("encryption", "authentication", "master"))))
    return buf.getvalue()


class _Member:
    """One meter of the fleet: built or not."""

    __slots__ = ("connections", "device", "ident", "wake")

    def __init__(self, ident: Identity) -> None:
        self.ident = ident
        self.device: Device | None = None
        self.connections = 0
        self.wake: float | None = None  # when an unbuilt meter must be built (a push due)


class _CountedStack(StackDelegate):
    """A connection's stack that tells the fleet when the connection ends (a meter with a
    connection stays built) and when it served something (its deadlines may have moved)."""

    __slots__ = ("_done", "_touched")

    def __init__(self, stack: MeterStack, touched: Callable[[], None],
                 done: Callable[[], None]) -> None:
        super().__init__(stack)
        self._touched, self._done = touched, done

    def receive_data(self, data: bytes, now: float) -> bytes:
        self._touched()
        return self._stack.receive_data(data, now)

    def handle_timer(self, now: float) -> bytes:
        self._touched()
        return self._stack.handle_timer(now)

    def connection_lost(self) -> None:
        done, self._done = self._done, _nothing
        self._stack.connection_lost()
        self._touched()
        done()


def _nothing() -> None:
    pass


class Fleet:
    """The meters of one shard on one store, built on demand (module docstring).

    ``resident``: how many stay built at most (beyond those with a connection or a push on the
    way). ``busy(index)``: whether the edge still has work of that meter (a push being sent).
    ``metrology_mode``: "fast" (closed-form energy between changes, the steady state costing
    nothing) unless the sampled path is wanted ("realtime", a single meter's at time scale 1).
    """

    def __init__(self, profile: Profile, store: Store, state_dir: Path, timebase: SimulatedTime,
                 ids: list[Identity], *, history: float | None = None, resident: int = 200,
                 metrology_mode: str = "fast",
                 on_built: Callable[[int, Device], None] = lambda i, d: None,
                 on_released: Callable[[int], None] = lambda i: None,
                 busy: Callable[[int], bool] = lambda i: False) -> None:
        self.profile = profile
        self.store = store
        self._dir = state_dir
        self._timebase = timebase
        self.members = {m.index: _Member(m) for m in ids}
        self._resident = max(1, resident)
        self._mode = metrology_mode
        self._built: OrderedDict[int, None] = OrderedDict()  # least recently used first
        self._heap: list[tuple[float, int]] = []  # (wake, index) of unbuilt meters, lazily
        # The built meters' own deadlines: a heap of (deadline, index), an entry valid while it
        # is the meter's entry in _planned; meters served since (their deadlines may have
        # moved) are re-planned first. Idle, a fleet's turn costs O(log n), not O(built).
        self._deadlines: list[tuple[float, int]] = []
        self._planned: dict[int, float | None] = {}
        self._touched: set[int] = set()
        self._replan_all_at = -math.inf
        self.on_built = on_built
        self.on_released = on_released  # the edge lets go of what it held of the meter
        self.is_busy = busy
        self.builds = 0
        #: The TCP-UDP setup each meter's wrapper listener follows (port_setup).
        self._tcp_setup = next((s.obis for s in profile.objects
                                if s.kind == TcpUdpSetup.NAME), None)
        saved = store.get(ORIGIN_KEY)
        if saved is None:
            origin = timebase.now() - (history or 0.0)
            store.put(ORIGIN_KEY, repr(origin).encode())
        else:
            origin = float(saved)
        self.origin = origin
        if any(spec.kind == "push_setup" and spec.options.get("destination")
               for spec in profile.objects):
            # The profile pushes somewhere: every meter is built once, a few per turn of the
            # loop, to learn when its pushes come (then it waits unbuilt for them).
            now = timebase.now()
            for member in self.members.values():
                member.wake = now
                self._heap.append((now, member.ident.index))
            heapq.heapify(self._heap)

    # --- building and evicting -------------------------------------------------------------

    def device(self, index: int, until: float | None = None) -> Device:
        """Meter ``index``, built if it is not (and the least recently used one evicted when
        too many are); ``until``: a build back-fills no further than that (a push due then
        must come from the live tick, not from the quiet back-fill)."""
        member = self.members[index]
        if member.device is not None:
            self._built.move_to_end(index)
            return member.device
        view = self.store.namespace(member.ident.serial, self._dir / "meters" / member.ident.serial)
        view.path.parent.mkdir(parents=True, exist_ok=True)
        # A new meter back-fills from the fleet's origin (as if installed with the fleet); a
        # known one what it missed since it was last built: any history back-fills that (and
        # one this short never reaches before its origin, meter/device/startup.py).
        fresh = view.get("device/t") is None
        history = max(self._timebase.now() - self.origin, 0.0) if fresh else _SINCE_LAST_BUILT
        timebase = self._timebase if until is None else _Until(self._timebase, until)
        with view.durable_at_end():  # nothing leaves the meter before its build ends
            device = Device.open(meter_profile(self.profile, member.ident), self._dir, timebase,
                                 history=history or None, metrology_mode=self._mode, store=view)
            device.list_session_records()  # a head end's first read of it lists no new key
        member.device, member.wake = device, None
        self._built[index] = None
        self._plan(index)
        self.builds += 1
        self.on_built(index, device)
        self._evict(keep=index)
        return device

    def warming(self) -> Iterator[tuple[int, int]]:
        """Build the first ``resident`` meters that are not (lowest numbers first; the fleet
        does it after READY), yielding (built so far, to build) after each; a build that fails
        stops it (the rest are built when they are wanted)."""
        first = sorted(self.members)[:self._resident]
        for n, index in enumerate(first, 1):
            try:
                self.device(index)
            except MeterError as exc:
                log.error("fleet: warming stopped at meter %s: %s",
                          self.members[index].ident.serial, exc)
                return
            yield n, len(first)

    def built(self) -> list[int]:
        return list(self._built)

    def _evict(self, keep: int) -> None:
        """Close the least recently used meters beyond ``resident`` (never ``keep``, the one
        just built for its caller)."""
        spare = len(self._built) - self._resident
        if spare <= 0:
            return
        for index in list(self._built):
            if spare <= 0:
                break
            member = self.members[index]
            if (index == keep or member.connections or self.is_busy(index)
                    or self._pushes_soon(member)):
                continue
            self.release(index)
            spare -= 1

    def _pushes_soon(self, member: _Member) -> bool:
        """Whether the meter has a push due within two real seconds: closed now it would be
        built again at once (the bound on built meters gives way to the pushes due)."""
        wake = None if member.device is None else _push_wake(member.device)
        soon = self._timebase.now() + 2.0 * getattr(self._timebase, "scale", 1.0)
        return wake is not None and wake <= soon

    def release(self, index: int) -> None:
        """Close meter ``index``'s device (state committed); it goes on living unbuilt."""
        member = self.members[index]
        device = member.device
        if device is None:
            return
        member.device = None
        self._built.pop(index, None)
        self._planned.pop(index, None)
        self._touched.discard(index)
        member.wake = _push_wake(device)
        self.on_released(index)
        device.close()
        if member.wake is not None:
            heapq.heappush(self._heap, (member.wake, index))

    def new_stack(self, index: int, framing: Framing, *, serial: bool = False,
                  now: Callable[[], float]) -> _CountedStack:
        """A connection's stack on meter ``index`` (built now if it is not)."""
        member = self.members[index]
        device = self.device(index)
        member.connections += 1

        def done() -> None:
            member.connections -= 1

        return _CountedStack(device.new_stack(framing, serial=serial, now=now),
                             lambda: self.touch(index), done)

    # --- a meter's settings unbuilt, and a meter brought up live (the edge's listeners and
    # start-up pushes; meter/transport/fleet.py) ----------------------------------------------

    def stored(self, index: int, name: Obis) -> CosemObject | None:
        """Object ``name`` of meter ``index`` as it stands: the built meter's own, else one made
        from the profile with the state the meter stored loaded into it (what a build would
        restore), without building the meter; None when the profile has no such object.

        A stored state that does not load raises StoreError (the build would refuse it too)."""
        member = self.members[index]
        if member.device is not None:
            return member.device.directory.get(name)
        spec = next((s for s in self.profile.objects if s.obis == name), None)
        if spec is None:
            return None
        obj = build_object(spec, self.profile, {}, self._timebase.now, lambda group, algo: None)
        # The meter's record read through the fleet's store (a namespace view would verify
        # every record of the meter: a build's cost, not a look-up's).
        raw = self.store.get(f"{NAMESPACE_MARK}{member.ident.serial}/{object_key(obj)}")
        if raw is not None:
            try:
                obj.load_state(decode_state(raw))
            except (MeterError, ValueError, TypeError, AttributeError) as exc:
                raise StoreError(f"meter {member.ident.serial}: stored state of {name} "
                                 f"unreadable: {exc}") from exc
        return obj

    def pushes_to(self, index: int, name: Obis = PUSH_ON_CONNECTIVITY) -> bool:
        """Whether meter ``index``'s push setup ``name`` has a destination programmed (the
        profile's, or the one a head end wrote into that meter)."""
        obj = self.stored(index, name)
        return isinstance(obj, PushSetup) and obj.programmed

    def port_setup(self, index: int) -> TcpUdpSetup | None:
        """Meter ``index``'s TCP-UDP setup, which its wrapper listener follows
        (meter/transport/tcp_setup.py), built or not."""
        obj = None if self._tcp_setup is None else self.stored(index, self._tcp_setup)
        return obj if isinstance(obj, TcpUdpSetup) else None

    def live(self, index: int, now: float) -> Device:
        """Meter ``index`` built (if it is not) and ticked to ``now``, for the caller to use at
        once (it is not evicted by its own build; it may be by the next build once the caller
        is done with it); an unbuilt meter with a push due is back-filled only to just before
        it, so that push goes out live (as :meth:`due` builds one)."""
        member = self.members[index]
        wake = member.wake
        until = None if member.device is not None or wake is None or wake > now else wake - _BEFORE
        member.connections += 1  # held through its build like a meter in use
        try:
            device = self.device(index, until)
            device.tick(now)
        finally:
            member.connections -= 1
        return device

    # --- time -------------------------------------------------------------------------------

    def touch(self, index: int) -> None:
        """Meter ``index`` did something outside the fleet's ticks (served a request, sent a
        push): its deadline is looked at again before the next."""
        if index in self._planned:
            self._touched.add(index)

    def _plan(self, index: int) -> None:
        device = self.members[index].device
        deadline = None if device is None else device.next_deadline()
        self._planned[index] = deadline
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, index))

    def _replan(self) -> None:
        """The touched meters' deadlines; every built meter's once a real minute as a safety
        net (a deadline moved by something that did not touch its meter)."""
        real = self._timebase.monotonic()
        if real >= self._replan_all_at:
            self._replan_all_at = real + _REPLAN_ALL_EVERY
            self._touched.update(self._planned)
        touched, self._touched = self._touched, set()
        for index in touched:
            if index in self._planned:
                old = self._planned[index]
                device = self.members[index].device
                if device is not None and device.next_deadline() != old:
                    self._plan(index)
        if len(self._deadlines) > 4 * len(self._planned) + 64:  # stale entries piled up
            self._deadlines = [(t, i) for t, i in self._deadlines if self._planned.get(i) == t]
            heapq.heapify(self._deadlines)

    def _first_built(self) -> tuple[float, int] | None:
        while self._deadlines:
            t, index = self._deadlines[0]
            if index in self._planned and self._planned[index] == t:
                return t, index
            heapq.heappop(self._deadlines)  # stale: re-planned or released since
        return None

    def next_deadline(self) -> float | None:
        """The earliest deadline of the fleet: the built meters' own, the unbuilt ones' next
        push."""
        self._replan()
        times = []
        first = self._first_built()
        if first is not None:
            times.append(first[0])
        while self._heap and self.members[self._heap[0][1]].wake != self._heap[0][0]:
            heapq.heappop(self._heap)  # a stale entry (the meter was built since)
        if self._heap:
            times.append(self._heap[0][0])
        return min(times, default=None)

    def due(self, now: float) -> Iterator[int]:
        """Tick every built meter whose deadline has come and build every unbuilt one whose
        push is due; yields the meters ticked (their pushes to poll)."""
        builds = 0
        while self._heap and self._heap[0][0] <= now and builds < BUILDS_PER_TURN:
            wake, index = heapq.heappop(self._heap)
            if self.members[index].wake == wake:
                # Back-filled to just before its push, then live to now: the push goes out
                # (yielded: the edge sends it at once, which keeps the meter built till sent).
                self.device(index, until=wake - _BEFORE).tick(now)
                self._plan(index)
                builds += 1  # the rest next turn: connections are served in between
                yield index
        self._replan()
        ticked: list[int] = []
        while (len(ticked) < TICKS_PER_TURN and (first := self._first_built()) is not None
               and first[0] <= now):
            heapq.heappop(self._deadlines)
            index = first[1]
            self._planned[index] = None  # off the heap until re-planned below
            device = self.members[index].device
            if device is not None:
                device.tick(now)
                ticked.append(index)
        for index in ticked:
            if index in self._planned:
                self._plan(index)
            yield index

    def close(self) -> None:
        """Close every built meter (each commits), then the store."""
        try:
            for index in list(self._built):
                try:
                    self.release(index)
                except Exception:  # one meter's failure must not lose the others' state
                    log.exception("meter %s: closing failed", self.members[index].ident.serial)
        finally:
            self.store.close()


def _push_wake(device: Device) -> float | None:
    """When an unbuilt meter must be built again to push: a push queued, or, when a push setup
    has a destination, the next time a schedule runs a script (captures are back-filled,
    pushes are not)."""
    times = [device.pushes.next_due()]
    if any(isinstance(o, PushSetup) and o.destination is not None for o in device.directory):
        scheduled = device.scheduler.schedules.next_due()  # meter time: to true time
        if scheduled is not None:
            times.append(scheduled - (device.clock.timestamp() - device.t))
    return min((t for t in times if t is not None), default=None)


#: How far before its push a meter built for it is back-filled (simulated seconds).
_BEFORE = 1e-3


class _Until:
    """A timebase that reads no later than ``until`` (a build's back-fill stops there)."""

    def __init__(self, timebase: SimulatedTime, until: float) -> None:
        self._timebase, self._until = timebase, until
        self.scale = getattr(timebase, "scale", 1.0)

    def now(self) -> float:
        return min(self._timebase.now(), self._until)

    def resume_at(self, t: float) -> None:
        self._timebase.resume_at(t)

    def monotonic(self) -> float:
        return self._timebase.monotonic()
