"""The meter's pushes, decided sans-IO: what is pushed, to where and when (Blue Book 4.4.8).

A trigger (method push, a script run by the push scheduler, the meter's first start, its
listener coming up; alarms will call :meth:`Pushes.trigger` the same way) captures the values of
the Push setup's push_object_list at once and queues a job due after a random part of
randomisation_start_interval, inside the setup's communication_window. The edge asks for the
jobs due (:meth:`Pushes.work`): each comes as one wrapper PDU holding a DATA-NOTIFICATION dated when it is handed out, ciphered under the
setup's Security setup with a fresh invocation counter (a retry is ciphered anew, so no IV is
used twice), sent to the destination, and reported back (:meth:`Pushes.done`): delivered, it is
forgotten; failed, it is retried after repetition_delay until number_of_retries retries failed.

A push to a local port (transport_service HDLC, use case 12) is one HDLC UI frame instead: the
meter may send a DATA-NOTIFICATION unsolicited only in a UI frame (IEC 62056-46 / Green Book 8.4:
the UI frame carries non-solicited data; Gurux frames its pushes the same way, control 0x13, UI
with the P/F bit), LLC header E6 E7 00 before the APDU, from the meter's HDLC address to the
client address the setup's destination names. The edge writes it on the line the setup's
port_reference picks (:attr:`PushWork.line`).

The queue is persisted (``device/pushes``) with the meter's snapshot: a job survives a restart
and is sent once; one that was on its way when the meter stopped goes again (at least once).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from meter import apdu as A
from meter.codec import axdr
from meter.codec.axdr import Data
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.local_port_setup import IecLocalPortSetup
from meter.cosem.push_setup import HDLC, PushSetup
from meter.cosem.registry import ObjectDirectory
from meter.device.persist import dump_json, load_json
from meter.errors import MeterError, StoreError
from meter.link.hdlc.address import HdlcAddress
from meter.link.hdlc.connection import LLC_RESPONSE
from meter.link.hdlc.frame import Control, FrameKind, HdlcFrame
from meter.link.wrapper import WrapperPdu
from meter.persistence.store import Store
from meter.security.gcm import SC_AUTHENTICATION, SC_ENCRYPTION
from meter.server.protection import Envelope, EnvelopeKind, SecurityContext, wrap

__all__ = ["PUSH_STATE", "PushWork", "Pushes"]

log = logging.getLogger(__name__)

#: Store key of the queued jobs.
PUSH_STATE = "device/pushes"
#: Jobs queued at most; a trigger beyond it is dropped (and logged): a head end calling push in
#: a loop against a dead destination must not make the meter hold without bound.
MAX_JOBS = 256
#: long-invoke-id-and-priority: the invoke id is its low 24 bits (Green Book 9.3.8).
_INVOKE_ID_MASK = 0x00FFFFFF


@dataclass(frozen=True, slots=True)
class PushWork:
    """One push for the edge to send: ``data`` (one wrapper PDU) to ``host``:``port``."""

    job: int
    setup: Obis
    host: str
    port: int
    data: bytes
    attempt: int  # 0 the first try, n the n-th retry
    #: "" over TCP to host:port; "optical" or "serial": an HDLC UI frame on that local line
    #: (port is then the client HDLC address).
    line: str = ""


@dataclass(slots=True)
class _Job:
    id: int
    setup: Obis
    due: float  # true simulated time
    attempt: int
    body: bytes  # the captured values, A-XDR


class Pushes:
    """The queue of one meter's pushes, on true simulated time given by the caller."""

    def __init__(self, directory: ObjectDirectory, store: Store, server_wport: int,
                 now: Callable[[], float], context: Callable[[], Context],
                 security: Callable[[Obis], SecurityContext], random: Callable[[int], bytes],
                 changed: Callable[[], None], *, hdlc_logical_address: int = 1) -> None:
        """``now``: the true simulated time the meter has reached (triggers happen then);
        ``context``: the device-internal context values are read in; ``changed``: the queue
        changed (the device persists it with its next commit)."""
        self._now = now
        self._directory = directory
        self._server_wport = server_wport
        self._hdlc_logical_address = hdlc_logical_address
        self._context = context
        self._security = security
        self._random = random
        self._changed = changed
        self._jobs: dict[int, _Job] = {}
        self._in_flight: set[int] = set()
        self._next_id = 1
        self._setups = [o for o in directory if isinstance(o, PushSetup)]
        for setup in self._setups:
            setup.queue = self
        #: Set while a history back-fill lives through the past: what would have been pushed
        #: then is not sent now (the installation push of a first start is).
        self.quiet = False
        self._load(store)

    # --- triggers ------------------------------------------------------------------------------

    def trigger(self, name: Obis) -> None:
        """Push setup ``name`` pushes (if the meter has it): the one call every trigger makes."""
        setup = self._directory.get(name)
        if isinstance(setup, PushSetup):
            self.request(setup)

    def request(self, setup: PushSetup) -> None:
        """Capture ``setup``'s values now and queue them (PushQueue, for method push)."""
        if self.quiet:
            log.debug("push %s during the back-fill: not sent", setup.logical_name)
            return
        if not setup.programmed:
            log.info("push %s: no destination programmed; nothing pushed", setup.logical_name)
            return
        if len(self._jobs) >= MAX_JOBS:
            log.warning("%s: %d pushes queued already; this one is dropped", setup.logical_name,
                        MAX_JOBS)
            return
        delay = setup.int_value("randomisation_start_interval") * self._fraction()
        job = _Job(self._next_id, setup.logical_name, self._now() + delay, 0, self._capture(setup).to_bytes())
        self._next_id += 1
        self._jobs[job.id] = job
        log.info("push %s queued (job %d, due in %.1f s)", setup.logical_name, job.id, delay)
        self._changed()

    def cancel(self, setup: PushSetup) -> None:
        """Method reset: drop ``setup``'s jobs not on their way (PushQueue)."""
        for job in [j for j in self._jobs.values() if j.setup == setup.logical_name]:
            if job.id not in self._in_flight:
                del self._jobs[job.id]
        self._changed()

    def _fraction(self) -> float:
        return int.from_bytes(self._random(4), "big") / 2**32

    def _capture(self, setup: PushSetup) -> Data:
        """The values of push_object_list as a structure (an unreadable one pushes null-data)."""
        ctx = self._context()
        values: list[Data] = []
        for class_id, name, attribute, data_index in setup.objects():
            obj = self._directory.get(name)
            value: Data = axdr.NULL
            if obj is not None and obj.CLASS_ID == class_id:
                try:
                    value = obj.get(attribute, ctx)
                except MeterError as exc:  # the object was removed or its value cannot be read
                    log.warning("push %s: %s attribute %d: %s", setup.logical_name, name, attribute, exc)
            if data_index:  # one element of an array or structure (1-based)
                inner = value.items if isinstance(value, (axdr.Array, axdr.Structure)) else ()
                value = inner[data_index - 1] if data_index <= len(inner) else axdr.NULL
            values.append(value)
        return axdr.Structure(tuple(values))

    # --- driven by the edge --------------------------------------------------------------------

    def next_due(self) -> float | None:
        """The true time the next queued job may go (None: nothing to send)."""
        times = (self._when(j) for j in self._jobs.values() if j.id not in self._in_flight)
        return min((t for t in times if t is not None), default=None)

    def _when(self, job: _Job) -> float | None:
        """The true time ``job`` may go: when due, inside its setup's communication_window
        (None: no window opens again; it waits for a new one to be written)."""
        setup = self._directory.get(job.setup)
        if not isinstance(setup, PushSetup):
            return job.due
        clock = self._directory.clock
        offset = clock.timestamp() - self._now()  # the windows are on the meter clock
        opens = setup.window_open(job.due + offset, clock)
        return None if opens is None else opens - offset

    def work(self, date_time: bytes) -> list[PushWork]:
        """The jobs due now, ready to send (each handed out once until :meth:`done`);
        ``date_time``: the meter clock now (COSEM date-time), the notifications' date."""
        out = []
        for job in sorted(self._jobs.values(), key=lambda j: j.due):
            when = None if job.id in self._in_flight else self._when(job)
            if when is None or when > self._now():
                continue
            setup = self._directory.get(job.setup)
            destination = self._destination(setup) if isinstance(setup, PushSetup) else None
            if not isinstance(setup, PushSetup) or destination is None:
                log.warning("push %s (job %d): no destination; dropped", job.setup, job.id)
                del self._jobs[job.id]
                self._changed()
                continue
            try:
                data = self._seal(setup, job, date_time)
            except MeterError as exc:
                log.warning("push %s (job %d) cannot be protected: %s; dropped", job.setup, job.id, exc)
                del self._jobs[job.id]
                self._changed()
                continue
            self._in_flight.add(job.id)
            host, port, line = destination
            out.append(PushWork(job.id, job.setup, host, port, data, job.attempt, line))
        return out

    def _destination(self, setup: PushSetup) -> tuple[str, int, str] | None:
        """(host, port, "") over TCP; ("", client address, line) to a local port."""
        if setup.transport == HDLC:
            client = setup.hdlc_destination
            if client is None:
                return None
            port = setup.port_reference
            optical = port is not None and isinstance(self._directory.get(port), IecLocalPortSetup)
            return "", client, "optical" if optical else "serial"
        tcp = setup.destination
        return None if tcp is None else (*tcp, "")

    def done(self, job_id: int, delivered: bool, reason: str = "") -> None:
        """The edge's report on job ``job_id``: sent, or failed (retried while retries last)."""
        self._in_flight.discard(job_id)
        job = self._jobs.get(job_id)
        if job is None:
            return
        setup = self._directory.get(job.setup)
        if delivered or not isinstance(setup, PushSetup):
            log.info("push %s (job %d) delivered", job.setup, job_id)
            del self._jobs[job_id]
        elif job.attempt >= setup.int_value("number_of_retries"):
            log.warning("push %s (job %d) failed (%s); gave up after %d retries",
                        job.setup, job_id, reason, job.attempt)
            del self._jobs[job_id]
        else:
            job.attempt += 1
            job.due = self._now() + setup.retry_delay(job.attempt)
            log.info("push %s (job %d) failed (%s); retry %d due in %.1f s, at %s", job.setup,
                     job_id, reason, job.attempt, job.due - self._now(),
                     dt.datetime.fromtimestamp(job.due, dt.UTC).isoformat(timespec="milliseconds"))
        self._changed()

    def _seal(self, setup: PushSetup, job: _Job, date_time: bytes) -> bytes:
        body = axdr.decode(job.body)
        notification = A.DataNotification(job.id & _INVOKE_ID_MASK, date_time, body).to_bytes()
        if setup.ciphering != "none" and setup.security_setup is not None:
            security = self._security(setup.security_setup)
            sc = security.suite | SC_AUTHENTICATION | SC_ENCRYPTION
            notification = wrap(A.DataNotification.TAG, notification,
                                Envelope(EnvelopeKind.GENERAL_GLO, sc), security, None)
        client = setup.hdlc_destination if setup.transport == HDLC else None
        if client is not None:
            return HdlcFrame(HdlcAddress(client), self._hdlc_address(),
                             Control(FrameKind.UI, True).to_byte(),
                             LLC_RESPONSE + notification).to_bytes()
        return WrapperPdu(self._server_wport, setup.int_value("push_client_sap"), notification).to_bytes()

    def _hdlc_address(self) -> HdlcAddress:
        """The meter's own HDLC address: its logical device (upper), the HDLC setup's
        device_address (lower), in the four-byte form that holds any of them."""
        setup = next((o for o in self._directory if isinstance(o, IecHdlcSetup)), None)
        physical = setup.setting("device_address") if setup is not None else 0x10
        return HdlcAddress(self._hdlc_logical_address, physical, 4)

    # --- persistence ---------------------------------------------------------------------------

    def dump(self) -> bytes:
        jobs = [[j.id, str(j.setup), j.due, j.attempt, j.body.hex()] for j in self._jobs.values()]
        return dump_json({"next": self._next_id, "jobs": jobs})

    def _load(self, store: Store) -> None:
        state = load_json(store, PUSH_STATE)
        if state is None:
            return
        try:
            if not isinstance(state, dict):
                raise TypeError("not a table")
            self._next_id = int(state["next"])
            for job_id, setup, due, attempt, body in state["jobs"]:
                self._jobs[int(job_id)] = _Job(int(job_id), Obis.parse(setup), float(due),
                                               int(attempt), bytes.fromhex(body))
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(f"{store.path}: stored pushes unreadable: {exc!r}") from exc
