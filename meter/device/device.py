"""The meter: profile -> objects, metrology, clock, storage and event logs, wired together.

Time: ``self.t`` is the true simulated time the meter has reached (UTC seconds). The transport
moves it forward from the injected timebase before each request and on a timer; a history
back-fill moves it through months in a loop. The COSEM clock is ``t`` plus the meter's own
offset (set by clock synchronisation); captures, demand periods and the single action schedules
(billing among them: device/scheduler.py) run on the meter clock, the metrology engine on true
time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import Context, CosemObject
from meter.cosem.clock import Clock
from meter.cosem.demand_register import DemandRegister
from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.port_protection import PortProtection
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.events import FraudEvent, LogEvent, PowerQualityEvent, StandardEvent
from meter.cosem.names import AMR_PROFILE_STATUS, CURRENT_ASSOCIATION, last_event_code
from meter.cosem.registry import ObjectDirectory
from meter.cosem.security_setup import SecuritySetup
from meter.cosem.tcp_udp_setup import TcpUdpSetup
from meter.device import build
from meter.device.amr_status import AmrStatus
from meter.device.event_throttle import EventThrottle
from meter.device.keys import KeyManager, stored_keys
from meter.device.scheduler import Scheduler
from meter.device.persist import StoredProfileBuffer, decode_state, dump_json, encode_state, \
    load_json, object_key, restore_object
from meter.metrology.engine import Engine, PqEvent
from meter.persistence.counters import InvocationCounter, ReceivedCounter
from meter.persistence.lock import StateLock
from meter.persistence.store import Store, StoreError
from meter.profile import ObjectSpec, Profile
from meter.profile import load as load_profile
from meter.server.association import ClientPolicy
from meter.server.protection import SecurityContext
from meter.server.services import ServiceLimits
from meter.link.framing import Framing
from meter.link.hdlc.connection import HdlcConfig
from meter.stack import MeterStack

log = logging.getLogger(__name__)

# The engine's disturbance kinds -> their L1 event (the phase index is added).
PQ_EVENTS = {"sag": PowerQualityEvent.SAG_L1, "swell": PowerQualityEvent.SWELL_L1,
             "outage": PowerQualityEvent.MISSING_VOLTAGE_L1}
#: Default [limits] fraud_log_repeat_window (real seconds): one fraud log entry per event code
#: per window (device/event_throttle.py).
FRAUD_LOG_REPEAT_WINDOW = 60.0
#: The setup object (profile class) that names the port a framing comes in on, for
#: Communication port protection: the wrapper runs on TCP, HDLC on serial, optical or TCP.
PORT_SETUP = {Framing.WRAPPER: "tcp_udp_setup", Framing.HDLC: "hdlc_setup"}
#: Profile ``source`` kinds bound to a SecurityContext counter (field name).
_SECURITY_COUNTERS = {"decryption_failures": "failures", "replays": "replays"}
#: The metrology snapshot is written at least this often (simulated seconds) while running.
SNAPSHOT_EVERY = 60.0
#: Before a request the metrology engine is moved on only once it lags this much (simulated
#: seconds); the tick (at least every real second) always brings it up to date. It synthesises
#: whole blocks: a few cycles per request cost ~1 ms each, a second in one call ~5 ms, and off
#: the request path that stall does not add to request latency. Metrology values (the
#: providers), captures and snapshots still bring it exactly to ``t``; only PQ events may
#: surface this much later.
ENGINE_LAG = 2.0
#: The clock's high-water mark: a time the meter has not answered past yet. It is reserved
#: ahead the way the invocation counters are (meter/persistence/counters.py): committed before
#: any response showing a later time leaves, ``clock_mark_ahead_s`` ahead ([limits]), so a
#: crash never sets the clock back and costs one small write per that much simulated time.
TIME_MARK = "device/t_mark"
CLOCK_MARK_AHEAD_S = 10.0
#: A history back-fill commits, and looks whether it should stop, every this many simulated
#: seconds (a day: ~40 ms of work, so a signal is answered well within a second).
BACKFILL_CHUNK = 86400.0



def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()


def _last_accepted_ic(ctx: SecurityContext) -> Callable[[], axdr.Data]:
    def value() -> axdr.Data:
        return axdr.DoubleLongUnsigned(max(ctx.rx.last, 0))
    return value


def _security_count(ctx: SecurityContext, counter: str) -> Callable[[], axdr.Data]:
    """``counter`` ("failures" or "replays") of the context, capped to double-long-unsigned."""
    def value() -> axdr.Data:
        return axdr.DoubleLongUnsigned(min(int(getattr(ctx, counter)), 0xFFFFFFFF))
    return value

class Device:
    """One simulated meter. Build it with :meth:`open`."""

    def __init__(self, profile: Profile, store: Store, time_source: Callable[[], float], *,
                 metrology_mode: str = "realtime", random: Callable[[int], bytes] = os.urandom,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.profile = profile
        self.store = store
        self._time_source = time_source
        self.random_bytes = random
        self.t = time_source()
        self.directory = ObjectDirectory()
        self.server_sap = int(profile.meter.get("logical_device", 1))
        self.max_receive_pdu = int(profile.meter.get("max_pdu_size", 1024))
        self.service_limits = ServiceLimits.from_profile(profile.limits)
        self._specs: dict[Obis, ObjectSpec] = {}
        self._dirty: set[CosemObject] = set()
        # Object states as last written: an object marked changed whose state is the same
        # (a successful login resetting a zero failure count) costs no SQLite transaction.
        self._saved: dict[str, bytes] = {}  # filled at the end of __init__
        self._buffers: list[StoredProfileBuffer] = []
        self._policies: dict[int, ClientPolicy] = {}
        self._templates: dict[int, AssociationLN] = {}
        self._security: dict[Obis, SecurityContext] = {}
        self._metrology_read = False
        self._last_snapshot = -math.inf
        self._demand_marks: dict[str, float] = {}
        self._amr = AmrStatus()
        self.security_failures = 0
        self._lock: StateLock | None = None  # the state directory's, held until close()
        self._time_mark = -math.inf  # as persisted under TIME_MARK
        self._mark_ahead = float(profile.limits.get("clock_mark_ahead_s", CLOCK_MARK_AHEAD_S))
        self._build()
        # Port protection runs on real time (cosem/port_protection.py says why).
        self._guards = [o for o in self.directory if isinstance(o, PortProtection)]
        for guard in self._guards:
            guard.monotonic = monotonic
        self._fraud_throttle = EventThrottle(
            float(profile.limits.get("fraud_log_repeat_window", FRAUD_LOG_REPEAT_WINDOW)), monotonic)
        # The directory is fixed once built; its profiles are looked at before every request
        # (next capture boundary), so found once here rather than by a scan each time.
        self._profiles = [o for o in self.directory if isinstance(o, ProfileGeneric)]
        self._demand_registers = self._find_demand_registers()
        self._engine = self._make_engine(metrology_mode)
        self._bind_sources()
        self._restore()
        # Demand periods run from the first start (a first boundary minutes later would lose
        # the energy before it).
        self._update_demand(self.clock.timestamp())
        self._key_managers = self._install_key_managers()
        # What the store holds (or the profile's values, for objects it has none of yet): a
        # change the store refuses is undone to this (persist).
        self._saved = {object_key(o): encode_state(o.dump_state()) for o in self.directory}
        self._scheduler = Scheduler(self.directory)
        self._dirty.update(self._scheduler.start(self.clock.timestamp()))

    # --- construction --------------------------------------------------------------------

    @classmethod
    def open(cls, profile: str | Path, state_dir: str | Path, timebase: Any, *,
             history: float | None = None, metrology_mode: str | None = None,
             lock: StateLock | None = None,
             stop: Callable[[], bool] = lambda: False) -> Device:
        """Open (or create) the meter whose state lives in ``state_dir``.

        ``history`` (seconds): the meter has been running for that long. A fresh state
        directory back-fills that much of the past; an existing one back-fills what the meter
        missed since it last ran, as if it had stayed powered (no power-down/up events).
        ``stop`` is polled between back-fill chunks: when it says so the back-fill ends early,
        committed to the end of the last chunk (a later start with ``history`` continues it).
        ``lock``: the directory's lock if the caller took it already (else taken here); the
        device holds it until :meth:`close`. If the open fails, a lock taken here is released
        here and a caller's stays the caller's to release.
        """
        prof = load_profile(profile)
        own_lock = lock is None
        lock = lock or StateLock.acquire(state_dir)
        store: Store | None = None
        try:
            store = Store.open(state_dir)
            device = cls._open(prof, store, timebase, history, metrology_mode, stop)
        except BaseException:
            if store is not None:
                store.close()
            if own_lock:
                lock.release()
            raise
        device._lock = lock
        return device

    @classmethod
    def _open(cls, prof: Profile, store: Store, timebase: Any, history: float | None,
              metrology_mode: str | None, stop: Callable[[], bool]) -> Device:
        saved = store.get("device/t")
        fresh = saved is None
        mark = -math.inf if saved is None else max(float(saved), float(store.get(TIME_MARK) or 0))
        if mark > timebase.now():
            # A --start behind what the meter lived through, or a restart right after a crash:
            # the clock never reads earlier than a time it may have answered.
            log.info("continuing from the saved time %s", _iso(mark))
            timebase.resume_at(mark)
        mode = metrology_mode or ("realtime" if getattr(timebase, "scale", 1.0) <= 10 else "fast")
        now = timebase.now()
        start = now - history if (fresh and history) else now
        device = cls(prof, store, lambda: start, metrology_mode=mode, monotonic=timebase.monotonic)
        device._time_source = timebase.now
        device._time_mark = mark
        if history and not fresh and now - history < device._engine.origin:
            # Its past cannot be rewritten: the meter's time never runs back.
            log.warning("this state directory holds a meter first started %.0f s ago: "
                        "--history back-fills only what it missed since it last ran; "
                        "use a new --state for a longer history", now - device._engine.origin)
        if history:
            device._backfill(now, stop)
        elif not fresh:
            device._resume(now)
        device.commit()
        return device

    def _backfill(self, until: float, stop: Callable[[], bool]) -> None:
        """Live through the simulated time up to ``until`` in fast-forward, one chunk at a time:
        captures, demand, billing and the PQ events of the scenario land in their logs as they
        would live, and each chunk is committed, so an interrupted back-fill leaves a meter that
        simply has lived less far."""
        if until <= self.t:
            return
        log.info("back-filling %.0f s of history", until - self.t)
        mode, self._engine.mode = self._engine.mode, "fast"
        try:
            while self.t < until:
                if stop():
                    log.info("back-fill stopped %.0f s short", until - self.t)
                    return
                self.advance(min(until, self.t + BACKFILL_CHUNK))
                self._metrology_read = True
                self.commit()
        finally:
            self._engine.mode = mode

    def _build(self) -> None:
        p = self.profile
        built: dict[Obis, tuple[ObjectSpec, CosemObject]] = {}
        # Profiles capture other objects, so they are built last.
        for spec in sorted(p.objects, key=lambda s: s.kind == "profile_generic"):
            obj = build.build_object(spec, p, {o: b for o, (_, b) in built.items()},
                                     lambda: self.t, self._algorithm_written)
            if isinstance(obj, ProfileGeneric):
                buf = StoredProfileBuffer(self.store, f"profile/{spec.obis}", len(self.store.rows(f"profile/{spec.obis}")) or 1)
                obj.buffer = buf
                restore_object(self.store, obj)  # capacity and columns before rows are trusted
                buf.set_capacity(int(obj.value("profile_entries").value))  # type: ignore[attr-defined]
                self._buffers.append(buf)
            built[spec.obis] = (spec, obj)
            self._specs[spec.obis] = spec
        for a in p.associations:
            obj = build.association_object(a, p)
            # Management may write every association's secret (attribute 7): the Blue Book sets
            # the LLS secret with SET attribute 7 (4.4.3 Association LN, secret).
            built[a.obis] = (ObjectSpec(a.obis, "association_ln", "management", "management", "none",
                                        {"writable": (7,)}), obj)
        for spec in p.objects:  # directory order = profile order
            self.directory.add(built[spec.obis][1])
        for a in p.associations:
            assoc = built[a.obis][1]
            assert isinstance(assoc, AssociationLN)
            self.directory.add(assoc)
            rights = build.rights_for(a, built)
            rights[a.obis] = rights[CURRENT_ASSOCIATION] = build.own_association_rights(a, assoc)
            assoc.rights = rights
            self._templates[a.client_sap] = assoc
            self._policies[a.client_sap] = ClientPolicy(
                client_sap=a.client_sap, name=a.name, association=a.obis, mechanism=a.mechanism,
                context=a.context, secret=a.secret, security_setup=a.security_setup,
                required_protection=build.protection_bits(a) & 0x1C)
            if a.security_setup is not None and a.security_setup not in self._security:
                self._security[a.security_setup] = self._security_context(a.security_setup)
        sap = self.directory.get(Obis(0, 0, 41, 0, 0, 255))
        if sap is not None:
            sap.store("sap_assignment_list", axdr.Array((axdr.Structure((
                axdr.LongUnsigned(self.server_sap), axdr.OctetString(p.ldn))),)))

    def _security_context(self, setup: Obis) -> SecurityContext:
        p = self.profile
        # A Security setup may carry its own profile keys (suite 2 needs 32-byte ones).
        spec = self._specs.get(setup)
        own = spec.options.get("keys", {}) if spec is not None else {}
        keys = stored_keys(self.store, setup, {**p.keys, **{k: bytes.fromhex(v) for k, v in own.items()}})
        setup_obj = self.directory.get(setup) or None
        suite = int(setup_obj.value("security_suite").value) if setup_obj is not None else 0  # type: ignore[attr-defined]
        return SecurityContext(
            suite=suite,
            server_system_title=p.system_title,
            encryption_key=keys["encryption"],
            authentication_key=keys["authentication"],
            master_key=keys["master"],
            broadcast_key=keys.get("broadcast"),
            tx=InvocationCounter(self.store, f"ic/tx/{setup}", start=1),  # 0 looks unused to clients
            rx=ReceivedCounter(self.store, f"ic/rx/{setup}"),
        )

    def _install_key_managers(self) -> list[KeyManager]:
        """Key and certificate management on every Security setup (after _restore: a suite
        written by a client decides which key pairs a first start makes)."""
        return [KeyManager(obj, self._security.get(obj.logical_name), self.store,
                           now=lambda: self.t, random_bytes=self.random_bytes)
                for obj in self.directory if isinstance(obj, SecuritySetup)]

    def _make_engine(self, mode: str) -> Engine:
        m = self.profile.meter
        scenario = dict(self.profile.metrology.get("scenario", {}))
        scenario.setdefault("wiring", m.get("wiring", "3P4W"))
        scenario.setdefault("f", float(m.get("frequency", 50.0)))
        scenario.setdefault("voltage", float(m.get("voltage", 230.0)))
        scenario.setdefault("current", float(m.get("current", 5.0)))
        scenario.setdefault("pf", float(m.get("power_factor", 1.0)))
        selection = {o.logical_name.e: int(o.value("value").value)  # type: ignore[attr-defined]
                     for o in self.directory if o.NAME == "measurement_algorithm"}
        return Engine(scenario, self.profile.metrology.get("algorithms", {}), selection,
                      start_time=self.t, mode=mode, period_s=900.0)

    def _algorithm_written(self, e: int, value: int) -> None:
        self._engine_to(self.t)  # what was measured so far keeps the old algorithm
        self._engine.set_algorithm(e, value)
        # The selection lives in the metrology snapshot: commit it with the object's new value,
        # or a crash before the next snapshot restores the object and the engine out of step.
        self._metrology_read = True
        self.log_event(StandardEvent.PARAMETERS_CHANGED)
        log.info("measurement algorithm E=%d set to %d", e, value)

    # --- live values ---------------------------------------------------------------------

    def _engine_to(self, t: float) -> None:
        if t > self._engine.now:
            self._engine.advance_to(t)
            for event in self._engine.pop_pq_events():
                self._pq_event(event)

    def _bind_sources(self) -> None:
        for spec in self.profile.objects:
            source = spec.options.get("source")
            if not source:
                continue
            kind, _, key = str(source).partition(":")
            obj = self.directory[spec.obis]
            if kind == "energy":
                obj.bind(2, self._energy_provider(obj, key))
            elif kind == "instant":
                obj.bind(2, self._instant_provider(obj, key))
            elif kind == "pq":
                obj.bind(2, self._pq_provider(obj, key))
            elif kind == "invocation_counter":
                obj.bind(2, _last_accepted_ic(self._security[Obis.parse(key)]))
            elif kind in _SECURITY_COUNTERS:  # failed decryptions / replays since the start
                obj.bind(2, _security_count(self._security[Obis.parse(key)], _SECURITY_COUNTERS[kind]))
        amr = self.directory.get(AMR_PROFILE_STATUS)
        if amr is not None:
            amr.bind(2, lambda: axdr.Unsigned(self._amr.value(self.clock.status_at(self.clock.timestamp()))))

    def _scaler(self, obj: CosemObject) -> int:
        return int(obj.value("scaler_unit").items[0].value)  # type: ignore[attr-defined]

    def _energy_provider(self, obj: CosemObject, key: str) -> Callable[[], axdr.Data]:
        factor = 10.0 ** -self._scaler(obj)

        def value() -> axdr.Data:
            self._engine_to(self.t)
            self._metrology_read = True
            return axdr.DoubleLongUnsigned(min(int(self._engine.registers.get(key, 0.0) * factor), 0xFFFFFFFF))
        return value

    def _pq_provider(self, obj: CosemObject, key: str) -> Callable[[], axdr.Data]:
        # Counts, and durations in seconds to the resolution the register's scaler gives them
        # (the engine measures whole cycles).
        factor = 10.0 ** -self._scaler(obj)

        def value() -> axdr.Data:
            self._engine_to(self.t)
            return axdr.DoubleLongUnsigned(min(round(self._engine.pq.get(key, 0.0) * factor), 0xFFFFFFFF))
        return value

    def _instant_provider(self, obj: CosemObject, key: str) -> Callable[[], axdr.Data]:
        factor = 10.0 ** -self._scaler(obj)

        def value() -> axdr.Data:
            self._engine_to(self.t)
            v = round(self._engine.instantaneous.get(key, 0.0) * factor)
            return axdr.DoubleLong(max(min(v, 0x7FFFFFFF), -0x80000000))
        return value

    # --- time ----------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self.directory.clock

    def sync(self) -> None:
        """Bring the meter to the timebase's now (before a request is served)."""
        self.advance(self._time_source())

    def advance(self, now: float) -> None:
        """Run captures, demand and the schedules up to true time ``now``."""
        while True:
            meter_t = self.clock.timestamp()
            offset = meter_t - self.t
            periodic = self._next_boundary(meter_t)
            due = self._scheduler.next_due()  # overdue (before meter_t) after a clock jump
            boundary = min((b for b in (periodic, due) if b is not None), default=None)
            if boundary is None or boundary - offset > now:
                break
            at = max(boundary, meter_t)
            self.t = at - offset
            self._engine_to(self.t)
            self._at_boundary(at, periodic == at, due is not None and due <= at)
        self.t = max(self.t, now)
        if self.t - self._engine.now >= ENGINE_LAG:
            self._engine_to(self.t)
        if self.t - self._last_snapshot >= SNAPSHOT_EVERY:
            self._metrology_read = True

    def _periodic(self) -> list[tuple[ProfileGeneric, int]]:
        """Profiles capturing on a period, with it (read each time: capture_period is writable)."""
        out = []
        for o in self._profiles:
            period = int(o.value("capture_period").value)  # type: ignore[attr-defined]
            if period > 0:
                out.append((o, period))
        return out

    def _next_boundary(self, meter_t: float) -> float | None:
        periods = self._periodic()
        if not periods:
            return None
        return min((math.floor(meter_t / p) + 1) * p for _, p in periods)

    def _at_boundary(self, meter_t: float, periodic: bool, scheduled: bool) -> None:
        ctx = self.context(None)
        # Demand first and captures last: a billing capture at a period's end holds the
        # period just closed, and the load profile row the state after the scripts.
        if periodic:
            self._update_demand(meter_t)
        if scheduled:
            self._scheduler.run(meter_t, ctx)
        if periodic:
            captured = False
            for p, period in self._periodic():
                if round(meter_t) % period == 0:
                    p.capture_now(ctx)
                    captured = True
            if captured:
                self._amr.interval_closed()

    def _find_demand_registers(self) -> list[tuple[DemandRegister, str]]:
        """(register, metrology key) of each ``source = "demand:KEY"`` object (once: a year of
        back-fill passes 35,040 period boundaries)."""
        found = []
        for spec in self.profile.objects:
            source = str(spec.options.get("source", ""))
            if source.startswith("demand:"):
                dr = self.directory[spec.obis]
                assert isinstance(dr, DemandRegister)
                key = source.partition(":")[2]
                dr.refresh = self._demand_refresher(dr, key)
                found.append((dr, key))
        return found

    def _demand_refresher(self, dr: DemandRegister, key: str) -> Callable[[], None]:
        """Before a read: what was measured up to now goes into the running demand period."""
        def refresh() -> None:
            self._engine_to(self.t)
            self._metrology_read = True  # the marks are saved with the register's new state
            self._feed_demand(dr, key, self.clock.timestamp())
        return refresh

    def _update_demand(self, meter_t: float) -> None:
        for dr, key in self._demand_registers:
            self._feed_demand(dr, key, meter_t)

    def _feed_demand(self, dr: DemandRegister, key: str, meter_t: float) -> None:
        last_key = f"demand.{key}"
        total = self._engine.registers.get(key, 0.0)
        prev = self._demand_marks.get(last_key, total)
        self._demand_marks[last_key] = total
        dr.update(meter_t, total - prev)
        self._dirty.add(dr)

    # --- events --------------------------------------------------------------------------

    def log_event(self, event: LogEvent) -> None:
        """Record ``event`` in its event log (and the log's last-event-code object)."""
        last = self.directory.get(last_event_code(event.log))
        if last is not None:
            last.store("value", axdr.Unsigned(event & 0xFF))
            self._dirty.add(last)
        profile = self.directory.get(event.log)
        if isinstance(profile, ProfileGeneric):
            profile.capture_now(self.context(None))
        pending = self._amr.pending
        self._amr.event(event)
        if self._amr.pending != pending:
            self._metrology_read = True  # saved with the next commit
        log.info("event %d (%s) in %s", event, event.name, event.log)

    def _pq_event(self, event: PqEvent) -> None:
        """A finished sag/swell/outage: the engine reports it when the phase is back to normal.

        The log entries carry the meter clock at the disturbance's start and end, not at the
        moment a request or tick brought the engine past it (minutes later in fast-forward).
        """
        names = self._engine.scenario.phase_names
        k = names.index(event.phase) if event.phase in names else 0
        if event.kind not in PQ_EVENTS:
            return
        now = self.t
        try:  # the clock object reads self.t: wind it back for the two captures
            self.t = event.start
            self.log_event(PQ_EVENTS[event.kind].on_phase(k))
            self.t = event.end
            self.log_event(PowerQualityEvent.VOLTAGE_NORMAL_L1.on_phase(k))
        finally:
            self.t = now

    def security_event(self, event: FraudEvent, detail: str) -> None:
        self.security_failures += 1
        folded = self._fraud_throttle.admit(event)
        if folded is None:
            log.debug("security event %s: %s (folded into the last entry)", event.name, detail)
            return
        log.warning("security event %s: %s%s", event.name, detail,
                    f" ({folded} more since the last entry of this code)" if folded else "")
        self.log_event(event)

    # --- the server's environment ----------------------------------------------------------

    def policy(self, client_sap: int) -> ClientPolicy | None:
        return self._policies.get(client_sap)

    def association_for(self, policy: ClientPolicy) -> AssociationLN:
        return self._templates[policy.client_sap].copy_for_connection()

    def security_context(self, setup: Obis) -> SecurityContext:
        return self._security[setup]

    def context(self, association: AssociationLN | None) -> Context:
        return Context(self.directory, association, self.log_event, self._dirty.add, self.persist)

    def make_context(self, association: AssociationLN) -> Context:
        return self.context(association)

    def _port_guard(self, port: Obis | None) -> PortProtection | None:
        return next((g for g in self._guards if port is not None and g.port == port), None)

    def port_locked(self, port: Obis | None) -> bool:
        guard = self._port_guard(port)
        return guard is not None and guard.locked(self.context(None))

    def authentication_failed(self, port: Obis | None) -> None:
        guard = self._port_guard(port)
        if guard is not None:
            guard.authentication_failed(self.context(None))

    def authentication_succeeded(self, port: Obis | None) -> None:
        guard = self._port_guard(port)
        if guard is not None:
            guard.authentication_succeeded(self.context(None))

    def _key_manager(self, setup: Obis) -> KeyManager | None:
        return next((m for m in self._key_managers if m.logical_name == setup), None)

    def signing_key(self, setup: Obis) -> ec.EllipticCurvePrivateKey | None:
        manager = self._key_manager(setup)
        return None if manager is None else manager.signing_key()

    def client_signing_key(self, setup: Obis, system_title: bytes) -> ec.EllipticCurvePublicKey | None:
        manager = self._key_manager(setup)
        return None if manager is None else manager.client_signing_key(system_title)

    def new_stack(self, framing: Framing, port: Obis | None = None, *,
                  serial: bool = False) -> MeterStack:
        """One connection's stack; ``port`` (a setup object's logical name) defaults to the
        first setup object of the framing's medium (PORT_SETUP). ``serial``: HDLC on a serial
        line (port, pty, optical probe) rather than over TCP."""
        if port is None:
            port = next((o.logical_name for o in self.directory
                         if o.NAME == PORT_SETUP.get(framing)), None)
        return MeterStack(framing, self, self.commit, before=self.sync,
                          server_wport=int(self.profile.tcp.get("server_wport", 1)),
                          hdlc_config=self._hdlc_config(port, serial) if framing == Framing.HDLC else None,
                          port=port,
                          idle_timeout=self._inactivity_time_out(port))

    def _hdlc_config(self, port: Obis | None, serial: bool) -> HdlcConfig:
        """The HDLC link settings of the port's HDLC setup as the meter holds them now (a SET
        applies to the next connection); [hdlc] for ports without one. The inter-octet
        time-out is the serial line's: over TCP a frame may be split by more (HdlcConfig)."""
        setup = self.directory.get(port) if port is not None else None
        if not isinstance(setup, IecHdlcSetup):
            setup = IecHdlcSetup(Obis(0, 0, 22, 0, 0, 255), **build.hdlc_setup_values(self.profile))
        v = setup.setting
        config = HdlcConfig(
            physical_address=v("device_address"),
            logical_addresses=(int(self.profile.hdlc.get("logical_address", 1)),),
            max_info_tx=v("max_info_field_length_transmit"),
            max_info_rx=v("max_info_field_length_receive"),
            window_tx=v("window_size_transmit"), window_rx=v("window_size_receive"),
            inactivity_timeout=float(v("inactivity_time_out")),
        )
        if serial:
            return dataclasses.replace(config, inter_octet_timeout=v("inter_octet_time_out") / 1000)
        return config

    def _inactivity_time_out(self, port: Obis | None) -> float:
        """The port's TCP-UDP setup inactivity_time_out as the meter holds it now (a SET applies
        to the next connection); 0 (none) for ports without one."""
        setup = self.directory.get(port) if port is not None else None
        if not isinstance(setup, TcpUdpSetup):
            return 0.0
        value = setup.value("inactivity_time_out")
        return float(value.value) if isinstance(value, axdr.LongUnsigned) else 0.0

    # --- persistence ---------------------------------------------------------------------

    def _restore(self) -> None:
        for obj in self.directory:
            if not isinstance(obj, ProfileGeneric):
                restore_object(self.store, obj)
        snap = load_json(self.store, "metrology")
        if isinstance(snap, dict):
            self._engine.restore(snap)
            self._engine.origin = float(snap.get("origin", self._engine.origin))
        marks = load_json(self.store, "device/demand")
        self._demand_marks = dict(marks) if isinstance(marks, dict) else {}
        self._amr.pending = int(self.store.get("device/amr_status") or b"0")
        t = self.store.get("device/t")
        if t is not None:
            self.t = float(t)

    def _resume(self, now: float) -> None:
        """After a restart: the meter was off from its last saved time until ``now``."""
        if now > self.t:
            self.log_event(StandardEvent.POWER_DOWN)
            # No energy accrues while the meter is off: move the engine across the gap.
            snap = self._engine.snapshot()
            snap["u"] = (now - self._engine.origin) * self._engine.fs
            snap["period_start"] = now
            self._engine.restore(snap)
            self.t = now
            self.log_event(StandardEvent.POWER_UP)

    def commit(self) -> None:
        """Persist whatever changed; called before every response and after every tick."""
        # The stack commits after the server wrapped the response: keys from a key_transfer
        # come into force now, never for the response to the key_transfer itself.
        for manager in self._key_managers:
            manager.apply_pending()
        snapshot = self._metrology_read
        if snapshot:
            self._engine_to(self.t)  # the snapshot goes with device/t (PQ events dirty objects)
        items: dict[str, bytes] = {}
        if snapshot:
            snap = self._engine.snapshot()
            snap["origin"] = self._engine.origin
            items["metrology"] = dump_json(snap)
            items["device/demand"] = dump_json(self._demand_marks)
            items["device/amr_status"] = str(self._amr.pending).encode()
            items["device/t"] = repr(self.t).encode()
        mark = self.t + self._mark_ahead if self.t > self._time_mark else None
        if mark is not None:
            items[TIME_MARK] = repr(mark).encode()
        self.persist(items)
        if snapshot:
            self._metrology_read = False
            self._last_snapshot = self.t
        if mark is not None:
            self._time_mark = mark
        for buf in self._buffers:
            buf.flush()

    def persist(self, items: dict[str, bytes] | None = None) -> None:
        """Write the changed objects' states (and ``items``) in one transaction. If the store
        refuses (disk full), the objects go back to their stored states and StoreError is
        raised: a change the store does not hold must not take effect, now or after a restart."""
        dirty = set(self._dirty)
        self._dirty.clear()
        self._scheduler.changed(dirty)  # before a refusal restores them: changed either way
        states = {}
        for obj in dirty:
            key, state = object_key(obj), encode_state(obj.dump_state())
            if self._saved.get(key) != state:
                states[key] = state
        if not (states or items):
            return
        try:
            self.store.put_many({**states, **(items or {})})
        except StoreError:
            for obj in dirty:
                saved = self._saved.get(object_key(obj))
                if saved is not None:
                    obj.load_state(decode_state(saved))
            raise
        self._saved.update(states)

    def tick(self, now: float) -> None:
        self.advance(now)
        self._engine_to(self.t)
        self.commit()

    def next_deadline(self) -> float | None:
        meter_t = self.clock.timestamp()
        times = [b for b in (self._next_boundary(meter_t), self._scheduler.next_due()) if b is not None]
        return min(times) - (meter_t - self.t) if times else None

    def close(self) -> None:
        self._metrology_read = True
        self._dirty.update(self._guards)  # the seconds left of a running lock, as of now
        try:
            self.commit()
            # Stopped cleanly: nothing was answered past t, so a restart resumes exactly there.
            self.store.put(TIME_MARK, repr(self.t).encode())
        finally:
            self.store.close()
            if self._lock is not None:
                self._lock.release()

