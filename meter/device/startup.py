"""A meter opened on its state directory: the lock and the store, what it restores, and how it
catches up on the time since it last ran: a history back-fill (as if powered all along) or a
power failure from its time mark to now (after a crash the mark is later than the last
metrology snapshot: what it measured up to there is measured again, so no value a response
showed goes back, though reads write nothing)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from meter.cosem.events import StandardEvent
from meter.cosem.profile_generic import ProfileGeneric
from meter.device.persist import TIME_MARK, load_json, restore_object
from meter.persistence.lock import StateLock
from meter.persistence.store import Store
from meter.profile import Profile
from meter.profile import load as load_profile

if TYPE_CHECKING:
    from meter.device.device import Device

__all__ = ["BACKFILL_CHUNK", "SimulatedTime", "open_device", "restore"]

log = logging.getLogger(__name__)

#: A history back-fill commits, and looks whether it should stop, every this many simulated
#: seconds (a day: ~40 ms of work, so a signal is answered well within a second).
BACKFILL_CHUNK = 86400.0


class SimulatedTime(Protocol):
    """What opening reads of the edge's meter/timebase.py Timebase (the device keeps none of
    it but ``monotonic``, real seconds for the port lockout and the fraud log throttle)."""

    def now(self) -> float: ...

    def resume_at(self, t: float) -> None: ...

    def monotonic(self) -> float: ...


def open_device(cls: type[Device], profile: str | Path | Profile, state_dir: str | Path,
                timebase: SimulatedTime,
                history: float | None, metrology_mode: str | None, lock: StateLock | None,
                stop: Callable[[], bool], given: Store | None = None,
                progress: Callable[[float], None] | None = None) -> Device:
    """Device.open (documented there)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if given is not None:  # a fleet's meter: the fleet holds the lock and owns the store
        return _open_on(cls, prof, given, timebase, history, metrology_mode, stop, progress)
    own_lock = lock is None
    lock = lock or StateLock.acquire(state_dir)
    store: Store | None = None
    try:
        store = Store.open(state_dir)
        device = _open_on(cls, prof, store, timebase, history, metrology_mode, stop, progress)
    except BaseException:
        if store is not None:
            store.close()
        if own_lock:
            lock.release()
        raise
    device.lock = lock
    return device


def _open_on(cls: type[Device], prof: Profile, store: Store, timebase: SimulatedTime,
             history: float | None, metrology_mode: str | None,
             stop: Callable[[], bool],
             progress: Callable[[float], None] | None = None) -> Device:
    """The device on an open store: restored, then caught up to ``timebase.now()``."""
    saved = store.get("device/t")
    fresh = saved is None
    mark = -math.inf if saved is None else max(float(saved), float(store.get(TIME_MARK) or 0))
    if mark > timebase.now():
        # A --start behind what the meter lived through, or a restart right after a crash:
        # the clock never reads earlier than a time it may have answered.
        log.info("continuing from the saved time %s", _iso(mark))
        timebase.resume_at(mark)
    mode = metrology_mode or metrology_mode_for(getattr(timebase, "scale", 1.0))
    now = timebase.now()
    start = now - history if (fresh and history) else now
    device = cls(prof, store, start, metrology_mode=mode, monotonic=timebase.monotonic)
    device.persistence.time_mark = mark
    origin = device.metrology.engine.origin
    if history and not fresh and now - history < origin:
        # Its past cannot be rewritten: the meter's time never runs back.
        log.warning("this state directory holds a meter first started %.0f s ago: "
                    "--history back-fills only what it missed since it last ran; "
                    "use a new --state for a longer history", now - origin)
    if history:
        _backfill(device, now, stop, progress)
    elif not fresh:
        _resume(device, mark, now)
    device.power_failures.settle(device.time.t)
    device.commit()
    return device


def restore(device: Device) -> None:
    """The stored state into the device's objects and parts (the profile's values stay where
    the store has none)."""
    store = device.store
    for obj in device.directory:
        if not isinstance(obj, ProfileGeneric):  # their buffers restore as they are built
            restore_object(store, obj)
    engine = device.metrology.engine
    snap = load_json(store, "metrology")
    if isinstance(snap, dict):
        engine.restore(snap)
        engine.origin = float(snap.get("origin", engine.origin))
    marks = load_json(store, "device/demand")
    device.demand.marks = dict(marks) if isinstance(marks, dict) else {}
    device.events.amr.pending = int(store.get("device/amr_status") or b"0")
    t = store.get("device/t")
    if t is not None:
        device.time.t = float(t)


def metrology_mode_for(scale: float) -> str:
    """The engine's mode for a time scale: sampled waveforms up to 10x real time, faster the
    steady stretches in closed form (the sampled path cannot keep up)."""
    return "realtime" if scale <= 10 else "fast"


def _backfill(device: Device, until: float, stop: Callable[[], bool],
              progress: Callable[[float], None] | None = None) -> None:
    """Live through the simulated time up to ``until`` in fast-forward, one chunk at a time:
    captures, demand, billing and the PQ events of the scenario land in their logs as they
    would live, and each chunk is committed, so an interrupted back-fill leaves a meter that
    simply has lived less far."""
    time = device.time
    if until <= time.t:
        return
    log.info("back-filling %.0f s of history", until - time.t)
    begin = time.t
    engine = device.metrology.engine
    mode, engine.mode = engine.mode, "fast"
    device.pushes.quiet = True
    try:
        while time.t < until:
            if stop():
                log.info("back-fill stopped %.0f s short", until - time.t)
                return
            device.at(min(until, time.t + BACKFILL_CHUNK))
            device.persistence.mark_snapshot_due()
            device.commit()
            if progress is not None:  # the fraction done (serve --history on a terminal)
                progress((time.t - begin) / (until - begin))
    finally:
        engine.mode = mode
        device.pushes.quiet = False


def _resume(device: Device, mark: float, now: float) -> None:
    """After a restart: the meter ran until its time mark ``mark`` and was off from then until
    ``now`` (no power failure when it stopped cleanly at ``now``)."""
    time = device.time
    if now <= time.t:
        return
    lived = min(mark, now)
    device.metrology.to(lived)
    time.t = max(time.t, lived)
    device.log_event(StandardEvent.POWER_DOWN)
    # No energy accrues while the meter is off: move the engine across the gap.
    engine = device.metrology.engine
    snap = engine.snapshot()
    snap["u"] = (now - engine.origin) * engine.fs
    snap["period_start"] = now
    engine.restore(snap)
    time.t = now
    device.log_event(StandardEvent.POWER_UP)
    device.power_failures.resumed(lived, now)  # counted (and logged if long) like a measured one


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
