"""The meter: the composition root that wires its parts, each in its own module.

assemble.py (profile -> objects), bindings.py (metrology and live values), scheduler.py (time
given by the caller: boundaries, captures, demand, schedules), event_log.py, environment.py
(what the server asks), stacks.py (one connection's stack), persist.py (restore, and one commit
per request of what it changed). Time comes in from the edges: :meth:`Device.at` brings the
meter to a simulated ``now``; the device reads no clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import Context
from meter.cosem.clock import Clock
from meter.cosem.demand_register import DemandRegister
from meter.cosem.events import LogEvent, StandardEvent
from meter.cosem.names import AMR_PROFILE_STATUS
from meter.cosem.port_protection import PortProtection
from meter.cosem.profile_generic import ProfileGeneric
from meter.cosem.security_setup import SecuritySetup
from meter.device.assemble import assemble
from meter.device.bindings import (
    Bindings,
    Metrology,
    SourceKind,
    bind_sources,
    make_engine,
    sources,
)
from meter.device.demand import Demand
from meter.device.environment import ServerEnvironment
from meter.device.event_log import EventLog
from meter.device.event_throttle import EventThrottle
from meter.device.keys import KeyManager
from meter.device.persist import (
    CLOCK_MARK_AHEAD_S,
    TIME_MARK,
    Persistence,
    dump_json,
    load_json,
    restore_object,
)
from meter.device.scheduler import MeterTime, Scheduler
from meter.device.stacks import StackFactory
from meter.metrology.engine import PqEvent
from meter.persistence.lock import StateLock
from meter.persistence.store import Store
from meter.profile import Profile
from meter.profile import load as load_profile
from meter.server.protection import SecurityContext
from meter.server.services import ServiceLimits
from meter.stack import MeterStack

log = logging.getLogger(__name__)

#: Default [limits] fraud_log_repeat_window (real seconds): one fraud log entry per event code
#: per window (device/event_throttle.py).
FRAUD_LOG_REPEAT_WINDOW = 60.0
#: A history back-fill commits, and looks whether it should stop, every this many simulated
#: seconds (a day: ~40 ms of work, so a signal is answered well within a second).
BACKFILL_CHUNK = 86400.0


class Device:
    """One simulated meter. Build it with :meth:`open`."""

    def __init__(self, profile: Profile, store: Store, start: float, *, metrology_mode: str,
                 monotonic: Callable[[], float], random: Callable[[int], bytes] = os.urandom) -> None:
        """``start``: true simulated time the meter starts at (its stored time, if later).
        ``monotonic``: real seconds, for what runs in real time whatever the time scale (port
        lockout, fraud log throttle)."""
        self.profile = profile
        self.store = store
        self.time = MeterTime(start)
        self._lock: StateLock | None = None  # the state directory's, held until close()
        limits = profile.limits
        self._persistence = p = Persistence(
            store, float(limits.get("clock_mark_ahead_s", CLOCK_MARK_AHEAD_S)))
        built = assemble(profile, store, int(profile.meter.get("logical_device", 1)),
                         lambda: self.time.t, self._algorithm_written)
        self.directory = built.directory
        p.buffers = built.buffers
        self.events = EventLog(self.directory, lambda: self.context(None), EventThrottle(
            float(limits.get("fraud_log_repeat_window", FRAUD_LOG_REPEAT_WINDOW)), monotonic),
            p.mark_snapshot_due)
        # Port protection runs on real time (cosem/port_protection.py says why).
        guards = [o for o in self.directory if isinstance(o, PortProtection)]
        for guard in guards:
            guard.monotonic = monotonic
        self._guards = guards
        bound = sources(profile)
        self.metrology = Metrology(make_engine(profile, self.directory, start, metrology_mode),
                                   self._pq_event)
        bind_sources(self.directory, bound, Bindings(self.metrology, lambda: self.time.t, built.security))
        amr = self.directory.get(AMR_PROFILE_STATUS)
        if amr is not None:
            amr.bind(2, lambda: self.events.amr_status(self.clock.status_at(self.clock.timestamp())))
        demand = [(dr, s.key) for obis, s in bound.items() if s.kind is SourceKind.DEMAND
                  if isinstance(dr := self.directory[obis], DemandRegister)]
        self._demand = Demand(demand, self.metrology, self.clock, lambda: self.time.t,
                              p.changed, p.mark_snapshot_due)
        self._restore()
        # Demand periods run from the first start (a first boundary minutes later would lose
        # the energy before it).
        self._demand.update(self.clock.timestamp())
        # Key and certificate management on every Security setup (after _restore: a suite
        # written by a client decides which key pairs a first start makes).
        self._key_managers = [KeyManager(o, built.security.get(o.logical_name), store,
                                         now=lambda: self.time.t, random_bytes=random)
                              for o in self.directory if isinstance(o, SecuritySetup)]
        self.environment = ServerEnvironment(
            self.directory, server_sap=int(profile.meter.get("logical_device", 1)),
            max_receive_pdu=int(profile.meter.get("max_pdu_size", 1024)),
            service_limits=ServiceLimits.from_profile(limits), policies=built.policies,
            templates=built.templates, security=built.security, key_managers=self._key_managers,
            guards=guards, context=self.context, random_bytes=random,
            security_event=lambda e, detail: self.events.security_event(e, detail, self.clock.timestamp()))
        self._stacks = StackFactory(profile, self.directory, self.environment, self.commit, self.at)
        p.saved_now(self.directory)
        self.scheduler = Scheduler(self.time, self.directory, self.metrology, self._demand,
                                   self.events.amr, lambda: self.context(None))
        p.on_persist = self.scheduler.schedules.changed
        for obj in self.scheduler.schedules.start(self.clock.timestamp()):
            p.changed(obj)

    # --- construction --------------------------------------------------------------------

    @classmethod
    def open(cls, profile: str | Path, state_dir: str | Path, timebase: Any, *,
             history: float | None = None, metrology_mode: str | None = None,
             lock: StateLock | None = None,
             stop: Callable[[], bool] = lambda: False) -> Device:
        """Open (or create) the meter whose state lives in ``state_dir``, at ``timebase.now()``.

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
        device = cls(prof, store, start, metrology_mode=mode, monotonic=timebase.monotonic)
        device._persistence.time_mark = mark
        engine = device.metrology.engine
        if history and not fresh and now - history < engine.origin:
            # Its past cannot be rewritten: the meter's time never runs back.
            log.warning("this state directory holds a meter first started %.0f s ago: "
                        "--history back-fills only what it missed since it last ran; "
                        "use a new --state for a longer history", now - engine.origin)
        if history:
            device._backfill(now, stop)
        elif not fresh:
            device._resume(mark, now)
        device.commit()
        return device

    def _backfill(self, until: float, stop: Callable[[], bool]) -> None:
        """Live through the simulated time up to ``until`` in fast-forward, one chunk at a time:
        captures, demand, billing and the PQ events of the scenario land in their logs as they
        would live, and each chunk is committed, so an interrupted back-fill leaves a meter that
        simply has lived less far."""
        if until <= self.time.t:
            return
        log.info("back-filling %.0f s of history", until - self.time.t)
        engine = self.metrology.engine
        mode, engine.mode = engine.mode, "fast"
        try:
            while self.time.t < until:
                if stop():
                    log.info("back-fill stopped %.0f s short", until - self.time.t)
                    return
                self.at(min(until, self.time.t + BACKFILL_CHUNK))
                self._persistence.mark_snapshot_due()
                self.commit()
        finally:
            engine.mode = mode

    def _restore(self) -> None:
        for obj in self.directory:
            if not isinstance(obj, ProfileGeneric):
                restore_object(self.store, obj)
        engine = self.metrology.engine
        snap = load_json(self.store, "metrology")
        if isinstance(snap, dict):
            engine.restore(snap)
            engine.origin = float(snap.get("origin", engine.origin))
        marks = load_json(self.store, "device/demand")
        self._demand.marks = dict(marks) if isinstance(marks, dict) else {}
        self.events.amr.pending = int(self.store.get("device/amr_status") or b"0")
        t = self.store.get("device/t")
        if t is not None:
            self.time.t = float(t)

    def _resume(self, mark: float, now: float) -> None:
        """After a restart: the meter ran until its time mark ``mark`` (after a crash, later
        than its last metrology snapshot: what it measured up to there is measured again, so no
        value a response showed goes back, though reads wrote nothing) and was off from then
        until ``now``."""
        if now <= self.time.t:
            return
        lived = min(mark, now)
        self.metrology.to(lived)
        self.time.t = max(self.time.t, lived)
        self.log_event(StandardEvent.POWER_DOWN)
        # No energy accrues while the meter is off: move the engine across the gap.
        engine = self.metrology.engine
        snap = engine.snapshot()
        snap["u"] = (now - engine.origin) * engine.fs
        snap["period_start"] = now
        engine.restore(snap)
        self.time.t = now
        self.log_event(StandardEvent.POWER_UP)

    def _algorithm_written(self, e: int, value: int) -> None:
        self.metrology.to(self.time.t)  # what was measured so far keeps the old algorithm
        self.metrology.engine.set_algorithm(e, value)
        # The selection lives in the metrology snapshot: commit it with the object's new value,
        # or a crash before the next snapshot restores the object and the engine out of step.
        self._persistence.mark_snapshot_due()
        self.log_event(StandardEvent.PARAMETERS_CHANGED)
        log.info("measurement algorithm E=%d set to %d", e, value)

    # --- parts' glue -----------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self.directory.clock

    @property
    def t(self) -> float:
        """The true simulated time the meter has reached."""
        return self.time.t

    def log_event(self, event: LogEvent) -> None:
        """Record ``event`` in its log at the meter clock's now."""
        self.events.log_event(event, self.clock.timestamp())

    def _pq_event(self, event: PqEvent) -> None:
        offset = self.clock.timestamp() - self.time.t
        self.events.pq_event(event, self.metrology.engine.scenario.phase_names, offset)

    def context(self, association: AssociationLN | None) -> Context:
        p = self._persistence
        return Context(self.directory, association, self.log_event, p.changed, p.persist)

    def security_context(self, setup: Obis) -> SecurityContext:
        return self.environment.security_context(setup)

    def port_locked(self, port: Obis | None) -> bool:
        return self.environment.port_locked(port)

    # --- driven by the edges ---------------------------------------------------------------

    def new_stack(self, framing: str, port: Obis | None = None, *, serial: bool = False,
                  now: Callable[[], float]) -> MeterStack:
        """One connection's stack; ``port`` (a setup object's logical name) defaults to the
        first setup object of the framing's medium (stacks.PORT_SETUP). ``serial``: HDLC on a
        serial line (port, pty, optical probe) rather than over TCP. ``now``: the simulated
        time (the edge's timebase) the meter is brought to before each request."""
        return self._stacks.new_stack(framing, port, serial=serial, now=now)

    def at(self, now: float) -> None:
        """Bring the meter to simulated time ``now`` (before a request is served)."""
        self.scheduler.advance(now)
        self._persistence.time_passed(self.time.t)

    def tick(self, now: float) -> None:
        self.at(now)
        self.metrology.to(self.time.t)
        self.commit()

    def next_deadline(self) -> float | None:
        return self.scheduler.next_deadline()

    def commit(self) -> None:
        """Persist whatever changed; called before every response and after every tick."""
        # The stack commits after the server wrapped the response: keys from a key_transfer
        # come into force now, never for the response to the key_transfer itself.
        for manager in self._key_managers:
            manager.apply_pending()
        self._persistence.commit(self.time.t, self._snapshot)

    def _snapshot(self) -> dict[str, bytes]:
        self.metrology.to(self.time.t)  # the snapshot goes with device/t (PQ events dirty objects)
        snap = self.metrology.engine.snapshot()
        snap["origin"] = self.metrology.engine.origin
        return {"metrology": dump_json(snap), "device/demand": dump_json(self._demand.marks),
                "device/amr_status": str(self.events.amr.pending).encode(),
                "device/t": repr(self.time.t).encode()}

    def close(self) -> None:
        self._persistence.mark_snapshot_due()
        for guard in self._guards:  # the seconds left of a running lock, as of now
            self._persistence.changed(guard)
        try:
            self.commit()
            # Stopped cleanly: nothing was answered past t, so a restart resumes exactly there.
            self.store.put(TIME_MARK, repr(self.time.t).encode())
        finally:
            self.store.close()
            if self._lock is not None:
                self._lock.release()


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
