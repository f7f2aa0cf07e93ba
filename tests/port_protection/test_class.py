"""Communication port protection (class 124) alone, on injected time: counting, lockout growth
and cap, reset, derived status, cumulative count, protection modes, attribute access."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.clock import Clock
from meter.cosem.port_protection import PortProtection, ProtectionStatus
from meter.cosem.registry import ObjectDirectory, class_for, class_named

FRAUD_LOG = Obis.parse("0.0.99.98.1.255")
EVENT_PORT_LOCKED = 46  # IDIS fraud log: n x failed association authentication
from meter.errors import AccessError, DataAccessResult

LN = Obis.parse("0.0.44.2.0.255")
TCP_SETUP = Obis.parse("0.0.25.0.0.255")
T0 = 1_767_225_600.0


def guard(allowed: int = 3, initial: int = 60, steepness: int = 2, maximum: int = 3600,
          mode: int = 1) -> PortProtection:
    return PortProtection(
        LN, protection_mode=axdr.Enum(mode), allowed_failed_attempts=axdr.LongUnsigned(allowed),
        initial_lockout_time=axdr.DoubleLongUnsigned(initial),
        steepness_factor=axdr.Unsigned(steepness), max_lockout_time=axdr.DoubleLongUnsigned(maximum),
        port_reference=axdr.OctetString(TCP_SETUP.to_bytes()))


class World:
    """A directory with a clock on a hand-moved time, and what the object logged and changed."""

    def __init__(self, obj: PortProtection) -> None:
        self.t = T0
        self.obj = obj
        self.events: list[tuple[Obis, int]] = []
        self.changed: list[object] = []
        obj.monotonic = lambda: self.t  # the hooks run on the monotonic clock the device injects
        self.ctx = Context(ObjectDirectory([Clock(Obis.parse("0.0.1.0.0.255"), lambda: self.t), obj]),
                           None, lambda event: self.events.append((event.log, int(event))), self.changed.append)

    def get(self, index: int) -> object:
        return self.obj.get(index, self.ctx).to_python()


def test_registered_under_class_124() -> None:
    assert class_for(124) is PortProtection and class_named("port_protection") is PortProtection
    assert PortProtection.VERSION == 0


def test_defaults_and_types() -> None:
    p = PortProtection(LN)
    w = World(p)
    assert [type(p.get(i, w.ctx)) for i in range(2, 11)] == [
        axdr.Enum, axdr.LongUnsigned, axdr.DoubleLongUnsigned, axdr.Unsigned, axdr.DoubleLongUnsigned,
        axdr.OctetString, axdr.Enum, axdr.DoubleLongUnsigned, axdr.DoubleLongUnsigned]
    assert [w.get(i) for i in (2, 3, 4, 5, 6, 8, 9, 10)] == [1, 3, 60, 2, 3600, 0, 0, 0]


def test_counts_until_allowed_then_locks_for_initial_time() -> None:
    p = guard()
    assert not p.record_failure(T0)
    assert not p.record_failure(T0 + 1)
    assert not p.is_locked(T0 + 1)
    assert p.record_failure(T0 + 2)  # the 3rd failure uses up the allowance: a lock starts
    assert p.status(T0 + 2) == ProtectionStatus.TEMPORARILY_LOCKED
    assert p.is_locked(T0 + 2 + 59.9)
    assert not p.is_locked(T0 + 2 + 60)
    assert p.status(T0 + 62) == ProtectionStatus.UNLOCKED


def test_lockout_grows_by_steepness_up_to_max() -> None:
    p = guard(allowed=3, initial=60, steepness=2, maximum=3600)
    assert [p.lockout_time(n) for n in range(0, 11)] == [
        0, 0, 0, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert p.lockout_time(10**6) == 3600  # no overflow, no slow loop
    assert guard(steepness=1).lockout_time(50) == 60
    assert guard(allowed=0).lockout_time(0) == 0 and guard(allowed=0).lockout_time(1) == 120


def test_each_failure_after_the_lock_lengthens_the_next() -> None:
    p = guard()
    t = T0
    for _ in range(3):
        p.record_failure(t)
    t += 60  # the first lock ran out; failed_attempts stays until a success
    assert not p.is_locked(t)
    assert p.record_failure(t)
    assert p.is_locked(t + 119) and not p.is_locked(t + 120)


def test_success_resets_failed_but_not_cumulative() -> None:
    p = guard()
    w = World(p)
    p.record_failure(T0)
    p.record_failure(T0)
    p.authentication_succeeded(w.ctx)
    assert w.get(9) == 0 and w.get(10) == 2
    assert not p.record_failure(T0) and not p.record_failure(T0)  # a fresh allowance
    assert w.get(9) == 2 and w.get(10) == 4
    assert w.changed == [p]


def test_hook_logs_event_46_once_when_a_lock_starts() -> None:
    p = guard()
    w = World(p)
    for _ in range(5):  # a 4th and 5th failure during the lock (a second connection) re-arm it
        p.authentication_failed(w.ctx)
    assert w.events == [(FRAUD_LOG, EVENT_PORT_LOCKED)]
    assert w.get(8) == ProtectionStatus.TEMPORARILY_LOCKED
    assert p.locked(w.ctx)
    w.t += 240 - 1  # 5 failures: 60 * 2 ** 2 = 240 s from the last one
    assert p.locked(w.ctx)
    w.t += 1
    assert not p.locked(w.ctx) and w.get(8) == ProtectionStatus.UNLOCKED
    p.authentication_failed(w.ctx)  # the 6th failure locks again: a new lock, a new event
    assert w.events == [(FRAUD_LOG, EVENT_PORT_LOCKED)] * 2


def test_reset_method_unlocks_and_zeroes_failed() -> None:
    p = guard()
    w = World(p)
    for _ in range(3):
        p.authentication_failed(w.ctx)
    assert p.locked(w.ctx)
    assert p.action(1, axdr.Integer(0), w.ctx) is None
    assert not p.locked(w.ctx)
    assert (w.get(8), w.get(9), w.get(10)) == (0, 0, 3)
    with pytest.raises(AccessError) as err:
        p.action(1, axdr.OctetString(b""), w.ctx)
    assert err.value.result == DataAccessResult.TYPE_UNMATCHED


def test_protection_modes() -> None:
    locked, never = guard(mode=0), guard(mode=2)
    assert locked.status(T0) == ProtectionStatus.LOCKED and locked.is_locked(T0)
    for _ in range(10):
        never.record_failure(T0)
    assert never.status(T0) == ProtectionStatus.UNLOCKED
    assert never.value("failed_attempts") == axdr.DoubleLongUnsigned(10)
    # Switching mode: a lock earned in mode 1 shows and ends with the mode.
    p = guard()
    w = World(p)
    for _ in range(3):
        p.record_failure(T0)
    p.set(2, axdr.Enum(2), w.ctx)
    assert not p.is_locked(T0)
    p.set(2, axdr.Enum(1), w.ctx)
    assert p.is_locked(T0)


def test_writes_are_checked_and_counters_are_read_only() -> None:
    p = guard()
    w = World(p)
    for index, value in ((2, axdr.Enum(3)), (5, axdr.Unsigned(0)), (7, axdr.OctetString(b"\x00"))):
        with pytest.raises(AccessError) as err:
            p.set(index, value, w.ctx)
        assert err.value.result == DataAccessResult.OTHER_REASON
    with pytest.raises(AccessError) as err:
        p.set(3, axdr.Unsigned(3), w.ctx)
    assert err.value.result == DataAccessResult.TYPE_UNMATCHED
    for index in (8, 9, 10):
        with pytest.raises(AccessError) as err:
            p.set(index, axdr.Enum(0) if index == 8 else axdr.DoubleLongUnsigned(0), w.ctx)
        assert err.value.result == DataAccessResult.READ_WRITE_DENIED
    p.set(3, axdr.LongUnsigned(5), w.ctx)
    p.set(7, axdr.OctetString(Obis.parse("0.0.22.0.0.255").to_bytes()), w.ctx)
    assert p.port == Obis.parse("0.0.22.0.0.255") and p.lockout_time(5) == 60


def test_running_lock_survives_dump_and_load() -> None:
    """The seconds left of a lock are kept: monotonic time starts anew with the next process."""
    p = guard()
    p.monotonic = lambda: T0 + 20
    for _ in range(3):
        p.record_failure(T0)
    q = guard()
    q.monotonic = lambda: 5.0  # the restarted process's monotonic clock
    q.load_state(p.dump_state())
    assert q.is_locked(5.0 + 39) and not q.is_locked(5.0 + 40)
    assert q.value("failed_attempts") == axdr.DoubleLongUnsigned(3)
    p.clear()
    r = guard()
    r.load_state(p.dump_state())
    assert not r.is_locked(5.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 20), st.integers(0, 1000), st.integers(1, 5), st.integers(0, 5000),
       st.lists(st.floats(0, 10_000), max_size=30))
def test_lockout_matches_the_formula_on_any_failure_sequence(
        allowed: int, initial: int, steep: int, maximum: int, gaps: list[float]) -> None:
    p = guard(allowed, initial, steep, maximum)
    t, until = T0, 0.0
    for n, gap in enumerate(gaps, 1):
        t += gap
        p.record_failure(t)
        expected = min(initial * steep ** (n - allowed), maximum) if n >= allowed else 0
        assert p.lockout_time(n) == expected
        if expected:
            until = max(until, t + expected)
        assert p.is_locked(t) == (t < until)
        assert not p.is_locked(t + maximum)  # never past the cap from the latest failure
        assert int(p.value("cumulative_failed_attempts").value) == n  # type: ignore[attr-defined]
