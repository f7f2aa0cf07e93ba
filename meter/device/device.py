"""The meter: the composition root that wires its parts, each in its own module.

assemble.py (profile -> objects), bindings.py (metrology and live values), scheduler.py (time
given by the caller: boundaries, captures, demand, schedules), event_log.py, environment.py
(what the server asks), stacks.py (one connection's stack), persist.py (one commit per request
of what it changed), startup.py (open, restore, back-fill or resume). Time comes in from the edges: :meth:`Device.at` brings the
meter to a simulated ``now``; the device reads no clock.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import Context
from meter.cosem.clock import Clock
from meter.cosem.disconnect_control import ControlState
from meter.cosem.events import CommunicationEvent, LogEvent, StandardEvent
from meter.cosem.names import DISCONNECT_CONTROL, PUSH_ON_CONNECTIVITY, PUSH_ON_INSTALLATION
from meter.cosem.port_protection import PortProtection
from meter.cosem.prepayment import Account
from meter.cosem.security_setup import SecuritySetup
from meter.device import firmware, prepayment, startup
from meter.device.alarms import Alarms
from meter.device.assemble import assemble
from meter.device.bindings import Bindings, Metrology, bind_sources, make_engine, sources
from meter.device.demand import Demand
from meter.device.display import DISPLAY_STATE, Display
from meter.device.environment import ServerEnvironment
from meter.device.event_log import EventLog
from meter.device.event_throttle import EventThrottle
from meter.device.injections import TAMPER_STATE, Injections
from meter.device.keys import KeyManager
from meter.device.persist import CLOCK_MARK_AHEAD_S, TIME_MARK, Persistence, dump_json
from meter.device.relays import LimiterSupervision, Relays
from meter.device.power_failures import POWER_FAILURE_STATE, PowerFailures
from meter.device.pushes import PUSH_STATE, Pushes, PushWork
from meter.device.qos import QosThresholds
from meter.device.scheduler import MeterTime, Scheduler
from meter.device.stacks import StackFactory
from meter.link.framing import Framing
from meter.metrology.engine import PqEvent
from meter.persistence.lock import StateLock
from meter.persistence.store import Store
from meter.profile import Profile
from meter.server.protection import SecurityContext
from meter.server.services import ServiceLimits
from meter.stack import MeterStack

log = logging.getLogger(__name__)

#: Default [limits] fraud_log_repeat_window (real seconds): one fraud log entry per event code
#: per window (device/event_throttle.py).
FRAUD_LOG_REPEAT_WINDOW = 60.0


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
        self.lock: StateLock | None = None  # the state directory's, held until close()
        limits = profile.limits
        self.persistence = p = Persistence(
            store, float(limits.get("clock_mark_ahead_s", CLOCK_MARK_AHEAD_S)))
        built = assemble(profile, store, int(profile.meter.get("logical_device", 1)),
                         lambda: self.time.t, self._algorithm_written)
        self.directory = built.directory
        firmware.attach(self.directory, store, limits)
        prepayment.attach(self.directory, profile.system_title)
        p.add_buffers(built.buffers)
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
        # Events -> counters, alarm bits, register monitors (alarm push); supply interruptions
        # -> power failures; QoS threshold objects -> the PQ detector; runtime injection.
        self.alarms = Alarms(self.directory, lambda: self.context(None))
        self.events.on_logged = self.alarms.logged
        self.power_failures = PowerFailures(
            self.directory, self.metrology.engine.scenario.phase_names, lambda: self.context(None),
            lambda: self.clock.timestamp() - self.time.t, self.events.log_event, self.alarms.alarm,
            self.alarms.look, store, p.mark_snapshot_due)
        self.metrology.on_onsets = self.power_failures.onsets
        self.qos = QosThresholds(self.directory, self.metrology, lambda: self.time.t)
        self.injections = Injections(self.metrology, store, lambda: self.time.t, self.log_event,
                                     p.mark_snapshot_due)
        self.demand = Demand(self.directory, bound, self.metrology, lambda: self.time.t,
                             p.changed, p.mark_snapshot_due)
        startup.restore(self)
        self.qos.apply()
        self.alarms.start()
        # Demand periods run from the first start (a first boundary minutes later would lose
        # the energy before it).
        self.demand.update(self.clock.timestamp())
        # Key and certificate management on every Security setup (after the restore: a suite
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
            security_event=lambda e, detail: self.events.security_event(e, detail, self.clock.timestamp()),
            session_event=lambda opened, detail: self.events.session_event(opened, detail, self.clock.timestamp()))
        self.pushes = Pushes(self.directory, store, int(profile.tcp.get("server_wport", 1)),
                             lambda: self.time.t, lambda: self.context(None), self.security_context,
                             random, p.mark_snapshot_due,
                             hdlc_logical_address=int(profile.hdlc.get("logical_address", 1)))
        self.display = Display(self.directory, store, lambda: self.context(None),
                               lambda: self.time.t, p.mark_snapshot_due,
                               scroll_s=int(profile.meter.get("display_scroll_s", 10)),
                               message_s=int(profile.meter.get("display_message_s", 0)))
        if store.get("device/t") is None:  # a fresh state: the meter's first start
            self.pushes.trigger(PUSH_ON_INSTALLATION)
        self._stacks = StackFactory(profile, self.directory, self.environment, self.commit, self.at)
        p.saved_now(self.directory)
        if self.clock.start_drift():  # the profile's drift counts from here, stored (device/drift.py)
            p.changed(self.clock)
        self.scheduler = Scheduler(self.time, self.directory, self.metrology, self.demand,
                                   self.events.amr, lambda: self.context(None))
        p.on_persist = self.scheduler.changed
        self.relays = Relays(self.directory, self.metrology, lambda: self.time.t)
        self.relays.apply()
        self.scheduler.supervision = LimiterSupervision(self.directory, self.metrology,
                                                        lambda: self.time.t)
        if any(isinstance(o, Account) for o in self.directory):  # prepayment's collections too
            self.scheduler.supervision = prepayment.Supervisions(
                [self.scheduler.supervision, prepayment.Collections(
                    self.directory, p.mark_snapshot_due, lambda: self.context(None))],
                self.clock.timestamp)
        for obj in self.scheduler.schedules.start(self.clock.timestamp()):
            p.changed(obj)

    @classmethod
    def open(cls, profile: str | Path | Profile, state_dir: str | Path,
             timebase: startup.SimulatedTime, *,
             history: float | None = None, metrology_mode: str | None = None,
             lock: StateLock | None = None,
             stop: Callable[[], bool] = lambda: False, store: Store | None = None,
             progress: Callable[[float], None] | None = None) -> Device:
        """Open (or create) the meter whose state lives in ``state_dir``, at ``timebase.now()``
        (read once: from then on the edges bring it to their now; meter/device/startup.py).

        ``history`` (seconds): the meter has been running for that long. A fresh state
        directory back-fills that much of the past; an existing one back-fills what the meter
        missed since it last ran, as if it had stayed powered (no power-down/up events).
        ``stop`` is polled between back-fill chunks: when it says so the back-fill ends early,
        committed to the end of the last chunk (a later start with ``history`` continues it).
        ``lock``: the directory's lock if the caller took it already (else taken here); the
        device holds it until :meth:`close`. If the open fails, a lock taken here is released
        here and a caller's stays the caller's to release. ``store``: an open store to live in
        instead (a fleet's meter, meter/device/fleet.py): no lock, ``state_dir`` unused, and
        closing the device leaves the store to its owner. ``progress``: told the fraction of
        a back-fill done after each chunk.
        """
        return startup.open_device(cls, profile, state_dir, timebase, history, metrology_mode,
                                   lock, stop, store, progress)

    def _algorithm_written(self, e: int, value: int) -> None:
        self.metrology.to(self.time.t)  # what was measured so far keeps the old algorithm
        self.metrology.engine.set_algorithm(e, value)
        # The selection lives in the metrology snapshot: commit it with the object's new value,
        # or a crash before the next snapshot restores the object and the engine out of step.
        self.persistence.mark_snapshot_due()
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
        if event.kind == "outage":
            self.power_failures.restored(event)

    def context(self, association: AssociationLN | None) -> Context:
        p = self.persistence
        return Context(self.directory, association, self.log_event, p.changed, p.persist)

    def security_context(self, setup: Obis) -> SecurityContext:
        return self.environment.security_context(setup)

    def port_locked(self, port: Obis | None) -> bool:
        return self.environment.port_locked(port)

    # --- driven by the edges ---------------------------------------------------------------

    def press_button(self, relay: Obis = DISCONNECT_CONTROL) -> ControlState:
        """The customer presses the button of ``relay`` (the supply relay by default): a relay
        ready for reconnection closes, a connected one opens where its control_mode allows
        manual disconnection (else AccessError). The move is logged and committed."""
        state = self.relays.press_button(relay, self.context(None))
        self.commit()
        return state

    def new_stack(self, framing: Framing, port: Obis | None = None, *, serial: bool = False,
                  now: Callable[[], float]) -> MeterStack:
        """One connection's stack; ``port`` (a setup object's logical name) defaults to the
        first setup object of the framing's medium (stacks.PORT_SETUP). ``serial``: HDLC on a
        serial line (port, pty, optical probe) rather than over TCP. ``now``: the simulated
        time (the edge's timebase) the meter is brought to before each request."""
        return self._stacks.new_stack(framing, port, serial=serial, now=now)

    def at(self, now: float) -> None:
        """Bring the meter to simulated time ``now`` (before a request is served)."""
        self.scheduler.advance(now)

    def tick(self, now: float) -> None:
        """The edge's turn on the meter's own deadlines. The periodic metrology snapshot is
        taken here, not before a request: a read stays one small write however long the
        meter waited (a fleet's meter is read once a head-end cycle), and what a read showed
        is measured again from the last snapshot to the time mark after a crash."""
        self.at(now)
        self.persistence.time_passed(self.time.t)
        self.metrology.to(self.time.t)
        self.commit()

    def next_deadline(self) -> float | None:
        times = [t for t in (self.scheduler.next_deadline(), self.pushes.next_due(),
                             self.injections.next_deadline()) if t is not None]
        return min(times, default=None)

    # --- runtime injection (meter/device/injections.py; InjectionError for a bad one) -------

    def inject_outage(self, now: float, duration_s: float,
                      phases: tuple[int, ...] | None = None) -> None:
        """The supply of ``phases`` (0 = L1; all by default) is cut from ``now`` for ``duration_s``."""
        self.at(now)
        self.injections.outage(duration_s, phases)
        self.commit()

    def inject_voltage(self, now: float, kind: str, scale: float | None, duration_s: float,
                       phases: tuple[int, ...] | None = None) -> None:
        """A "sag" or "swell" to ``scale`` x the nominal voltage (None: the kind's default)
        from ``now`` for ``duration_s``."""
        self.at(now)
        self.injections.voltage(kind, scale, duration_s, phases)
        self.commit()

    def set_load(self, now: float, current: float | Sequence[float] | None = None,
                 pf: float | None = None,
                 harmonics: Mapping[str, Sequence[Sequence[float]]] | None = None) -> None:
        """From ``now`` the load draws ``current`` A at power factor ``pf`` with ``harmonics``
        (what is not given stays; meter/device/injections.py ``Injections.load``)."""
        self.at(now)
        self.injections.load(current, pf, harmonics)
        self.commit()

    def set_tamper(self, now: float, kind: str, active: bool) -> None:
        """Tamper switch ``kind`` ("terminal_cover", "meter_cover", "magnetic_field") now
        ``active`` (open / field present) or not."""
        self.at(now)
        self.injections.set_tamper(kind, active)
        self.commit()

    def set_drift(self, now: float, ppm: float) -> None:
        """From ``now`` the clock's crystal runs ``ppm`` fast (negative: slow; ValueError beyond
        meter.cosem.clock.MAX_DRIFT_PPM); the scheduler steps it (meter/device/drift.py)."""
        self.at(now)
        self.clock.set_drift(ppm)
        self.persistence.changed(self.clock)
        self.commit()

    # --- the virtual LCD (meter/device/display.py) --------------------------------------------

    def display_text(self, now: float) -> str:
        """What the meter's LCD shows at simulated time ``now`` (the meter is brought there
        first; a ``now`` before the time it has reached reads that time: it does not go back)."""
        self.at(now)
        return self.display.text(self.time.t)

    def display_state(self, now: float) -> dict[str, Any]:
        """The LCD at ``now``: text, index, item, message, list, items, scroll_s."""
        self.at(now)
        return self.display.state(self.time.t)

    # --- pushes (the edge sends them: meter/transport/push.py) --------------------------------

    def connected(self, now: float) -> None:
        """The meter's listener is up: the "on connectivity" push."""
        self.at(now)
        self.pushes.trigger(PUSH_ON_CONNECTIVITY)
        self.commit()

    def push_work(self, now: float) -> list[PushWork]:
        """The pushes due at ``now``, each ready to send; report each with :meth:`push_done`."""
        self.at(now)
        work = self.pushes.work(self.clock.now_cosem().to_bytes())
        self.commit()  # the invocation counters they used, before they leave
        return work

    def push_done(self, job: int, delivered: bool, reason: str, now: float) -> None:
        self.at(now)
        self.pushes.done(job, delivered, reason)
        self.commit()

    def commit(self) -> None:
        """Persist whatever changed; called before every response and after every tick."""
        if not self.persistence.pending(self.time.t):
            return  # a read: nothing changed (a key_transfer changes its Security setup)
        # The stack commits after the server wrapped the response: keys from a key_transfer
        # come into force now, never for the response to the key_transfer itself.
        for manager in self._key_managers:
            manager.apply_pending()
        self.persistence.commit(self.time.t, self._snapshot)

    def _snapshot(self) -> dict[str, bytes]:
        self.metrology.to(self.time.t)  # the snapshot goes with device/t (PQ events dirty objects)
        snap = self.metrology.engine.snapshot()
        snap["origin"] = self.metrology.engine.origin
        return {"metrology": dump_json(snap), "device/demand": dump_json(self.demand.marks),
                "device/amr_status": str(self.events.amr.pending).encode(),
                PUSH_STATE: self.pushes.dump(), TAMPER_STATE: self.injections.dump(),
                POWER_FAILURE_STATE: self.power_failures.dump(), DISPLAY_STATE: self.display.dump(),
                "device/t": repr(self.time.t).encode()}

    def list_session_records(self) -> None:
        """The records every session writes (the communication log's last event code, the
        counters and alarm registers of a session opened) stored now if they are not, at the
        values they hold: a fleet's meter does it when built, so its first session writes a
        record of each, like every session after it, rather than listing new keys."""
        opened = CommunicationEvent.SESSION_OPENED
        self.persistence.list_records(
            [*self.events.written_by(opened), *self.alarms.written_by(opened)])

    def close(self) -> None:
        self.persistence.mark_snapshot_due()
        for guard in self._guards:  # the seconds left of a running lock, as of now
            self.persistence.changed(guard)
        try:
            self.commit()
            # Stopped cleanly: nothing was answered past t, so a restart resumes exactly there.
            self.store.put(TIME_MARK, repr(self.time.t).encode())
        finally:
            self.store.close()
            if self.lock is not None:
                self.lock.release()
