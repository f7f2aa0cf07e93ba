"""Limiter (class_id 71, version 0; Blue Book "Limiter", cosem-reference.md §2.2 and use case 15).

The limiter compares a monitored attribute (monitored_value: {class_id, logical_name,
attribute_index}, e.g. instantaneous import power 1.0.1.7.0.255 attribute 2) with
threshold_active: threshold_emergency while the emergency profile is active, else
threshold_normal. Thresholds are in the monitored attribute's own units (its scaler applies to
both). Rules, on the meter time the device passes in through :meth:`Limiter.supervise`:

1. The value is over when it is greater than threshold_active, else under. The limiter starts
   under. A move to the other side is logged (65 threshold exceeded, 66 threshold OK) and starts
   that side's minimum duration (min_over/min_under_threshold_duration, s) from the time the
   value changed; when the value stays there that long, the side's action runs: the script
   {script_logical_name, script_selector} of actions.action_over/under_threshold (a null
   logical name: none). A move back before the duration ends cancels it.
2. The emergency profile {id, activation_time, duration} is active from activation_time for
   duration seconds when its id is in emergency_profile_group_id_list; a change of
   threshold_active (written, or the emergency profile starting or ending) is logged (67) and
   compared anew.
3. Where the action goes is the profile's: the default profile's disconnector script table
   runs the supply relay's local disconnect and local reconnect (meter/cosem/disconnect_control.py),
   which control_mode allows or refuses; a refused or failing action is logged and the
   limiter goes on supervising.
"""

from __future__ import annotations

import logging
import math

from meter.codec.axdr import (
    Array, Boolean, Data, DoubleLongUnsigned, Float64, Integer, LongUnsigned, OctetString,
    Structure)
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, bad_type, expect, fields, integer, on_get, on_set)
from meter.cosem.clock import Clock
from meter.cosem.events import DisconnectorEvent
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.script_table import ScriptTable
from meter.errors import AccessError, DataAccessResult, DecodeError

log = logging.getLogger(__name__)

#: Seconds by which the meter time of a comparison may miss the time it was planned for (the
#: scheduler steps true time; float rounding of the clock offset): what is due that close is
#: due now, or the same time would be planned again.
_EPS = 1e-6

_NO_SCRIPT = OctetString(bytes(6))
_NO_OBJECT = Structure((LongUnsigned(0), OctetString(bytes(6)), Integer(0)))
_NO_ACTION = Structure((_NO_SCRIPT, LongUnsigned(0)))
_NO_EMERGENCY = Structure((LongUnsigned(0), OctetString(b"\xff" * 12), DoubleLongUnsigned(0)))


def check_value_definition(value: Data) -> None:
    """{class_id long-unsigned, logical_name octet-string(6), attribute_index integer} (the
    monitored value of a Limiter or a Register monitor)."""
    class_id, name, index = fields(value, 3, "monitored_value")
    expect(class_id, LongUnsigned, "class_id")
    if len(expect(name, OctetString, "logical_name").value) != 6:
        raise bad_type("logical_name")
    expect(index, Integer, "attribute_index")


def check_action_item(item: Data) -> None:
    """{script_logical_name octet-string(6), script_selector long-unsigned}."""
    script, selector = fields(item, 2, "action_item")
    if len(expect(script, OctetString, "script_logical_name").value) != 6:
        raise bad_type("script_logical_name")
    expect(selector, LongUnsigned, "script_selector")


def _number(value: Data | None, what: str) -> float:
    """An integer or float value as a float (the monitored value and the thresholds)."""
    number = value.to_python() if value is not None else None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise bad_type(what)
    return float(number)


class Limiter(CosemObject):
    CLASS_ID = 71
    VERSION = 0
    NAME = "limiter"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "monitored_value", Structure, default=_NO_OBJECT),
        Attr(3, "threshold_active", None, static=False),
        Attr(4, "threshold_normal", None, default=DoubleLongUnsigned(0xFFFFFFFF)),
        Attr(5, "threshold_emergency", None, default=DoubleLongUnsigned(0xFFFFFFFF)),
        Attr(6, "min_over_threshold_duration", DoubleLongUnsigned, default=DoubleLongUnsigned(0)),
        Attr(7, "min_under_threshold_duration", DoubleLongUnsigned, default=DoubleLongUnsigned(0)),
        Attr(8, "emergency_profile", Structure, default=_NO_EMERGENCY),
        Attr(9, "emergency_profile_group_id_list", Array, default=Array(())),
        Attr(10, "emergency_profile_active", Boolean, static=False),
        Attr(11, "actions", Structure, default=Structure((_NO_ACTION, _NO_ACTION))),
    )

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        self._over = False  # the side whose action ran last (rule 1)
        self._since: float | None = None  # meter time the value moved to the other side
        self._emergency = False  # threshold_active was the emergency one at the last compare
        #: A written threshold, object or profile: compare at the next supervision (rule 2).
        self.stale = True

    # --- profile -------------------------------------------------------------------------------

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """monitored = [obis, attribute]; threshold_normal/_emergency typed values; min_over,
        min_under (s); emergency_profile = [id, activation date-time hex, duration s];
        emergency_groups = [ids]; action_over/action_under = [script table obis, script id]."""
        o = entry.options
        out = super().profile_values(entry)
        try:
            if "monitored" in o:
                target, index = Obis.parse(str(o["monitored"][0])), int(o["monitored"][1])
                class_id = entry.class_id_of(target)
                if class_id is None:
                    raise OptionError(f"monitored object {target} is not in the profile")
                out["monitored_value"] = Structure((LongUnsigned(class_id),
                                                    OctetString(target.to_bytes()), Integer(index)))
            for key in ("threshold_normal", "threshold_emergency"):
                if key in o:
                    out[key] = entry.typed_value(o[key])
            out["min_over_threshold_duration"] = DoubleLongUnsigned(entry.int_option("min_over", 0))
            out["min_under_threshold_duration"] = DoubleLongUnsigned(entry.int_option("min_under", 0))
            if "emergency_profile" in o:
                pid, when, duration = o["emergency_profile"]
                out["emergency_profile"] = Structure((LongUnsigned(int(pid)),
                                                      OctetString(bytes.fromhex(str(when))),
                                                      DoubleLongUnsigned(int(duration))))
            out["emergency_profile_group_id_list"] = Array(tuple(
                LongUnsigned(int(g)) for g in o.get("emergency_groups", ())))
            out["actions"] = Structure(tuple(_action(o.get(key)) for key in ("action_over",
                                                                             "action_under")))
        except (ValueError, TypeError, IndexError, OverflowError) as exc:
            raise OptionError(f"limiter options: {exc!r}") from None
        return out

    # --- the supervision (rules 1 and 2) -------------------------------------------------------

    def monitored(self, ctx: Context) -> float | None:
        """The monitored attribute's value now (None: no such object, or not a number)."""
        class_id, name, index = fields(self.value("monitored_value"), 3, "monitored_value")
        target = ctx.directory.get(Obis.from_bytes(expect(name, OctetString, "logical_name").value))
        if target is None or target.CLASS_ID != integer(class_id, "class_id"):
            return None
        try:
            return _number(target.get(integer(index, "attribute_index"), ctx.internal()), "value")
        except AccessError:
            return None

    def supervise(self, value: float | None, changed_at: float, ctx: Context) -> None:
        """Compare ``value`` (the monitored value, which last changed at meter time
        ``changed_at``) with threshold_active at the meter clock's now; run a due action."""
        clock = ctx.directory.clock
        now = clock.timestamp()
        self.stale = False
        emergency = self.emergency_active(now, clock)
        if emergency != self._emergency:
            self._emergency = emergency
            ctx.log_event(DisconnectorEvent.LIMITER_THRESHOLD_CHANGED)
            ctx.changed(self)
        if value is None:
            self._since = None
            return
        over = value > _number(self._threshold(emergency), "threshold")
        if over == self._over:
            self._since = None
            return
        if self._since is None:
            self._since = min(changed_at, now)
            ctx.log_event(DisconnectorEvent.LIMITER_THRESHOLD_EXCEEDED if over
                          else DisconnectorEvent.LIMITER_THRESHOLD_OK)
            ctx.changed(self)
        if now + _EPS >= self._since + self._duration():
            self._over, self._since = over, None
            ctx.changed(self)
            self._act(ctx)

    def next_due(self, now: float, clock: Clock) -> float | None:
        """The next meter time the limiter must compare (a duration ending, the emergency
        profile starting or ending; ``now`` if something was written)."""
        if self.stale:
            return now
        times = [t for t in self._emergency_window(clock) if t > now + _EPS]
        if self._since is not None:
            times.append(self._since + self._duration())
        return min(times, default=None)

    def emergency_active(self, now: float, clock: Clock) -> bool:
        start, end = self._emergency_window(clock)
        return start <= now + _EPS < end

    def _emergency_window(self, clock: Clock) -> tuple[float, float]:
        """Meter times the emergency profile is active between (empty: not in the groups)."""
        pid, when, duration = fields(self.value("emergency_profile"), 3, "emergency_profile")
        groups = {integer(g, "group id") for g in self.items("emergency_profile_group_id_list")}
        if integer(pid, "emergency_profile_id") not in groups:
            return (math.inf, math.inf)
        try:
            at = CosemDateTime.from_bytes(expect(when, OctetString, "activation_time").value)
            start = clock.to_timestamp(at)
        except (DecodeError, ValueError, OverflowError):
            return (math.inf, math.inf)
        return (start, start + integer(duration, "emergency_duration"))

    def _threshold(self, emergency: bool) -> Data:
        return self.value("threshold_emergency" if emergency else "threshold_normal")

    def _duration(self) -> int:
        """The minimum duration of the side the value moved to."""
        return self.int_value("min_under_threshold_duration" if self._over
                              else "min_over_threshold_duration")

    def _act(self, ctx: Context) -> None:
        over, under = self.items("actions")
        script, selector = fields(over if self._over else under, 2, "action")
        name = Obis.from_bytes(expect(script, OctetString, "script_logical_name").value)
        if name == Obis.from_bytes(bytes(6)):
            return
        table = ctx.directory.get(name)
        try:
            if not isinstance(table, ScriptTable):
                raise AccessError(DataAccessResult.OBJECT_UNDEFINED, f"no script table {name}")
            table.run(integer(selector, "script_selector"), ctx.internal())
        except AccessError as exc:
            log.warning("limiter %s: %s action failed: %s", self.logical_name,
                        "over" if self._over else "under", exc)

    # --- attributes ----------------------------------------------------------------------------

    @on_get("threshold_active")
    def read_threshold_active(self, ctx: Context, selector: int | None,
                              parameters: Data | None) -> Data:
        clock = ctx.directory.clock
        return self._threshold(self.emergency_active(clock.timestamp(), clock))

    @on_get("emergency_profile_active")
    def read_emergency_profile_active(self, ctx: Context, selector: int | None,
                                      parameters: Data | None) -> Data:
        clock = ctx.directory.clock
        return Boolean(self.emergency_active(clock.timestamp(), clock))

    @on_set("threshold_active")
    def write_threshold_active(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED,
                          "threshold_active follows threshold_normal/_emergency")

    @on_set("emergency_profile_active")
    def write_emergency_profile_active(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED,
                          "emergency_profile_active follows the emergency profile")

    @on_set("threshold_normal")
    def write_threshold_normal(self, value: Data, ctx: Context) -> None:
        self._write_threshold("threshold_normal", value, ctx)

    @on_set("threshold_emergency")
    def write_threshold_emergency(self, value: Data, ctx: Context) -> None:
        self._write_threshold("threshold_emergency", value, ctx)

    def _write_threshold(self, name: str, value: Data, ctx: Context) -> None:
        _number(value, name)
        self.store(name, value)
        ctx.log_event(DisconnectorEvent.LIMITER_THRESHOLD_CHANGED)
        self.stale = True

    @on_set("monitored_value")
    def write_monitored_value(self, value: Data, ctx: Context) -> None:
        check_value_definition(value)
        self._write("monitored_value", value)

    @on_set("min_over_threshold_duration")
    def write_min_over(self, value: Data, ctx: Context) -> None:
        self._write("min_over_threshold_duration", value)

    @on_set("min_under_threshold_duration")
    def write_min_under(self, value: Data, ctx: Context) -> None:
        self._write("min_under_threshold_duration", value)

    @on_set("emergency_profile_group_id_list")
    def write_groups(self, value: Data, ctx: Context) -> None:
        for group in expect(value, Array, "emergency_profile_group_id_list").items:
            expect(group, LongUnsigned, "emergency_profile_group_id")
        self._write("emergency_profile_group_id_list", value)

    @on_set("emergency_profile")
    def write_emergency_profile(self, value: Data, ctx: Context) -> None:
        pid, when, duration = fields(value, 3, "emergency_profile")
        expect(pid, LongUnsigned, "emergency_profile_id")
        if len(expect(when, OctetString, "emergency_activation_time").value) != 12:
            raise bad_type("emergency_activation_time")
        expect(duration, DoubleLongUnsigned, "emergency_duration")
        self._write("emergency_profile", value)

    @on_set("actions")
    def write_actions(self, value: Data, ctx: Context) -> None:
        for item in fields(value, 2, "actions"):
            check_action_item(item)
        self.store("actions", value)

    def _write(self, name: str, value: Data) -> None:
        """Store a setting the comparison depends on: compare anew at the next supervision."""
        self.store(name, value)
        self.stale = True

    def dump_private(self) -> Data:
        return Structure((Boolean(self._over), Boolean(self._emergency),
                          Float64(-1.0 if self._since is None else self._since)))

    def load_private(self, value: Data) -> None:
        over, emergency, since = fields(value, 3, "limiter state")
        self._over = bool(expect(over, Boolean, "over").value)
        self._emergency = bool(expect(emergency, Boolean, "emergency").value)
        moment = _number(since, "since")
        self._since = None if moment < 0 else moment


def _action(option: object) -> Structure:
    """[script table obis, script id] -> an action_item (none: no action)."""
    if option is None:
        return _NO_ACTION
    if not isinstance(option, (list, tuple)) or len(option) != 2:
        raise ValueError("an action is [script table obis, script id]")
    return Structure((OctetString(Obis.parse(str(option[0])).to_bytes()),
                      LongUnsigned(int(option[1]))))
