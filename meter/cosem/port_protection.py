"""Communication port protection (class_id 124, version 0; Blue Book "Communication port
protection", cosem-reference.md §2.2, attribute types as [GX-PY GXDLMSCommunicationPortProtection]).

One object guards one communication port (``port_reference`` = the logical name of its setup
object, e.g. TCP-UDP setup 0.0.25.0.0.255 or HDLC setup 0.0.22.0.0.255) against password
guessing. The lockout rules, a pure state machine on injected time (``now`` = seconds of the
injected ``monotonic`` clock: real time, see below):

* every failed authentication on the port adds one to failed_attempts and
  cumulative_failed_attempts; a successful one resets failed_attempts (cumulative stays);
* once failed_attempts n reaches allowed_failed_attempts a the port locks for
  ``min(initial_lockout_time * steepness_factor ** (n - a), max_lockout_time)`` seconds, so the
  first lock lasts initial_lockout_time ("initial") and each further failure after it
  lengthens the next one; the lock is counted from the failure that caused it;
* protection_status is derived, never stored: protection_mode 0 -> locked (2), mode 2 ->
  unlocked (0), mode 1 -> temporarily locked (1) while a lock runs, else unlocked (0);
* method 1 reset(integer 0) zeroes failed_attempts and ends a running lock
  ([GX-PY] doc of ``reset``: "Resets failed attempts and current lockout time to zero").

Time base: the lockout runs on real (monotonic) time, not on the meter's simulated clock. It
protects against someone guessing at real speed: at ``--time-scale 600`` a 60 s lock on the
meter clock would last 0.1 s of the guesser's time, and setting the meter clock would end it.
A HES test that wants to see a lock run out shortens initial_lockout_time (attribute 4) or calls
reset. A lock still running at shutdown runs its remaining seconds again after the restart.

What a locked port refuses is the server's business (server/association.py): every association
that needs authentication, answered like a wrong password and counted as a failed one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import cast

from meter.codec.axdr import (
    Data,
    DoubleLongUnsigned,
    Enum,
    Float64,
    LongUnsigned,
    OctetString,
    Unsigned,
)
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, expect, in_range, integer, on_action, on_get, on_set)
from meter.cosem.events import FraudEvent
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult

_U32 = 0xFFFFFFFF


def _no_clock() -> float:
    raise RuntimeError("port protection needs the monotonic clock the device injects")


class ProtectionMode(enum.IntEnum):
    LOCKED = 0
    LOCKED_ON_FAILED_ATTEMPTS = 1
    UNLOCKED = 2


class ProtectionStatus(enum.IntEnum):
    UNLOCKED = 0
    TEMPORARILY_LOCKED = 1
    LOCKED = 2


class PortProtection(CosemObject):
    CLASS_ID = 124
    VERSION = 0
    NAME = "port_protection"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "protection_mode", Enum, default=Enum(int(ProtectionMode.LOCKED_ON_FAILED_ATTEMPTS))),
        Attr(3, "allowed_failed_attempts", LongUnsigned, default=LongUnsigned(3)),
        Attr(4, "initial_lockout_time", DoubleLongUnsigned, default=DoubleLongUnsigned(60)),
        Attr(5, "steepness_factor", Unsigned, default=Unsigned(2)),
        Attr(6, "max_lockout_time", DoubleLongUnsigned, default=DoubleLongUnsigned(3600)),
        Attr(7, "port_reference", OctetString, default=OctetString(bytes(6))),
        Attr(8, "protection_status", Enum, static=False),
        Attr(9, "failed_attempts", DoubleLongUnsigned, static=False, default=DoubleLongUnsigned(0)),
        Attr(10, "cumulative_failed_attempts", DoubleLongUnsigned, static=False,
             default=DoubleLongUnsigned(0)),
    )
    METHODS = (Method(1, "reset"),)
    #: The lockout settings a profile may give (integers, typed by their rows).
    SETTINGS = ("protection_mode", "allowed_failed_attempts", "initial_lockout_time",
                "steepness_factor", "max_lockout_time")

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """port_reference (required: the setup object of the guarded port) and settings."""
        if "port_reference" not in entry.options:
            raise OptionError("port_protection needs a port_reference (a setup object)")
        values = super().profile_values(entry)
        values["port_reference"] = OctetString(
            Obis.parse(str(entry.options["port_reference"])).to_bytes())
        for name in cls.SETTINGS:
            if name in entry.options:
                # Every integer type takes its int value as the one constructor argument.
                make = cast(Callable[[int], Data], cls._ATTR_BY_NAME[name].type)
                values[name] = make(int(entry.options[name]))
        return values

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Real time the lockout runs on: the device injects its monotonic clock (this layer
        #: reads no clock of its own).
        self.monotonic: Callable[[], float] = _no_clock
        #: ``monotonic()`` time at which the running lock ends (-inf: no lock has run).
        self._locked_until = -math.inf

    # --- the state machine (pure: ``now`` in, no context) -------------------------------------

    @property
    def port(self) -> Obis | None:
        """The logical name of the guarded port's setup object (None if not a valid name)."""
        ref = self.value("port_reference")
        if isinstance(ref, OctetString) and len(ref.value) == 6:
            return Obis.from_bytes(ref.value)
        return None

    def lockout_time(self, failed: int) -> int:
        """Seconds a port locks for after its ``failed``-th consecutive failure (0: no lock)."""
        allowed = self.int_value("allowed_failed_attempts")
        if failed < allowed or failed == 0:
            return 0
        # Exact integer arithmetic, capped before it can grow without bound.
        time = self.int_value("initial_lockout_time")
        cap = self.int_value("max_lockout_time")
        for _ in range(failed - allowed):
            if time >= cap:
                break
            time *= self.int_value("steepness_factor")
        return min(time, cap)

    def status(self, now: float) -> ProtectionStatus:
        mode = self.int_value("protection_mode")
        if mode == ProtectionMode.LOCKED:
            return ProtectionStatus.LOCKED
        if mode == ProtectionMode.LOCKED_ON_FAILED_ATTEMPTS and now < self._locked_until:
            return ProtectionStatus.TEMPORARILY_LOCKED
        return ProtectionStatus.UNLOCKED

    def is_locked(self, now: float) -> bool:
        return self.status(now) != ProtectionStatus.UNLOCKED

    def record_failure(self, now: float) -> bool:
        """Count one failed authentication at ``now``; True when it starts a lock."""
        was_locked = self.is_locked(now)
        failed = min(self.int_value("failed_attempts") + 1, _U32)
        self.store("failed_attempts", DoubleLongUnsigned(failed))
        self.store("cumulative_failed_attempts",
                   DoubleLongUnsigned(min(self.int_value("cumulative_failed_attempts") + 1, _U32)))
        lockout = self.lockout_time(failed)
        if lockout and self.int_value("protection_mode") == ProtectionMode.LOCKED_ON_FAILED_ATTEMPTS:
            self._locked_until = max(self._locked_until, now + lockout)
        return not was_locked and self.is_locked(now)

    def record_success(self) -> None:
        """A successful authentication: failed_attempts back to 0 (a running lock runs out)."""
        self.store("failed_attempts", DoubleLongUnsigned(0))

    def clear(self) -> None:
        self.store("failed_attempts", DoubleLongUnsigned(0))
        self._locked_until = -math.inf

    # --- the server's hooks (real time, event log, persistence) ------------------------------

    def locked(self, ctx: Context) -> bool:
        return self.is_locked(self.monotonic())

    def authentication_failed(self, ctx: Context) -> None:
        if self.record_failure(self.monotonic()):
            ctx.log_event(FraudEvent.FAILED_AUTHENTICATION)
        ctx.changed(self)

    def authentication_succeeded(self, ctx: Context) -> None:
        self.record_success()
        ctx.changed(self)

    # --- attributes and method ------------------------------------------------------------

    @on_get("protection_status")
    def read_protection_status(self, ctx: Context, selector: int | None,
                               parameters: Data | None) -> Data:
        return Enum(int(self.status(self.monotonic())))

    @on_set("protection_mode")
    def write_protection_mode(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Enum, "protection_mode").value, 0, 2, "protection_mode")
        self.store("protection_mode", value)

    @on_set("steepness_factor")
    def write_steepness_factor(self, value: Data, ctx: Context) -> None:
        # 0 would make every lock after the first end at once; the Blue Book means a growth factor.
        in_range(expect(value, Unsigned, "steepness_factor").value, 1, 255, "steepness_factor")
        self.store("steepness_factor", value)

    @on_set("port_reference")
    def write_port_reference(self, value: Data, ctx: Context) -> None:
        in_range(len(expect(value, OctetString, "port_reference").value), 6, 6, "port_reference")
        self.store("port_reference", value)

    @on_set("protection_status", "failed_attempts", "cumulative_failed_attempts")
    def _dynamic(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "port protection counters are dynamic")

    @on_action("reset")
    def reset(self, parameters: Data | None, ctx: Context) -> None:
        integer(parameters, "reset parameter")
        self.clear()

    # --- persistence: the seconds left of a running lock (monotonic time ends with the process) --

    def dump_private(self) -> Data | None:
        left = self._locked_until - self.monotonic()
        return Float64(left) if left > 0 else None

    def load_private(self, value: Data) -> None:
        if isinstance(value, Float64) and value.value > 0:
            self._locked_until = self.monotonic() + float(value.value)
