"""Clock (class_id 8, version 0; Blue Book §4.5.1).

The meter never reads the wall clock: it is built with ``time_source`` (true simulated UTC epoch
seconds, injected) and keeps its own offset from it, so setting the time, shift_time and the
adjust_to_* methods only move that offset. Time zone, DST rules and status are attributes.

Sign conventions (Blue Book; see meter.codec.cosem_time): time_zone and the date-time deviation
are minutes of UTC − local, so local standard time = UTC − time_zone, and while DST is active the
deviation sent in the time attribute is time_zone − daylight_savings_deviation.

DST rules: daylight_savings_begin/end are date-times with wildcards (Blue Book 4.1.6.1): year
0xFFFF = every year; day 0xFE / 0xFD = last / second-last day of the month; a day of week with a
day of month = the first such weekday on or after that day (on or before, for 0xFE/0xFD), so
"month 3, day 0xFE, weekday 7, 02:00" is the last Sunday of March. We read begin as local
standard time and end as local daylight time, which is how the EU rule (01:00 UTC both ways) is
written in meters' defaults. Time adjustments record events 4 (old time) and 5 (new time), and a
change of daylight_savings_enabled event 3, in the standard event log (IDIS codes,
cosem-reference.md §4.1); a setting that moves the time further than the clock time-shift limit
1.0.0.9.11.255 (meter/cosem/clock_sync.py) also CLOCK_SHIFT_LIMIT_EXCEEDED, and a write of the
time zone, the DST rules, the status or the clock base event 47 (parameters changed).

Drift: the crystal may run fast or slow by ``drift_ppm`` (the profile's option, or the control
API). The offset does not creep continuously (the scheduler, pushes and fleet deadlines map
meter time to true time by a constant offset between changes): it moves by DRIFT_STEP_S each
time the drift accumulated since the reference (the last step or time setting) reaches a whole
step, at a true-time deadline the scheduler runs (meter/device/drift.py). A step is no setting:
no event. A setting restarts the accumulation; the rate stays.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

from meter.codec.axdr import (
    Boolean, Data, Enum, Float64, Integer, Long, OctetString, Structure, Unsigned)
from meter.codec.cosem_time import (
    DAY_LAST, DAY_SECOND_LAST, STATUS_DOUBTFUL, STATUS_DST_ACTIVE, STATUS_INVALID, CosemDateTime,
    date_time_octets)
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, in_range, on_action, on_get,
    on_set, out_of_range)
from meter.cosem.events import StandardEvent
from meter.cosem.clock_sync import ClockSeconds
from meter.cosem.names import CLOCK_TIME_SHIFT_LIMIT, LAST_CLOCK_SETTING
from meter.cosem.profile_entry import ProfileEntry
from meter.errors import AccessError, DataAccessResult, DecodeError


_UTC = dt.timezone.utc
#: The fastest a crystal may drift either way (ppm): 1 %, 14.4 min a day, far beyond any real
#: RTC (tens of ppm), so a test can make a clock visibly wrong within simulated hours.
MAX_DRIFT_PPM = 10_000.0
#: One drift step (s). The time attribute a head end reads carries whole seconds (hundredths
#: not specified, 0xFF), so a smaller step is invisible on the wire but costs more steps,
#: re-plans and store writes (a fleet of 10,000 drifting meters); the deviation is exact to
#: within one step.
DRIFT_STEP_S = 1.0
_EU_BEGIN = OctetString(bytes.fromhex("FFFF03FE07020000FF8000FF"))  # last Sun of March 02:00
_EU_END = OctetString(bytes.fromhex("FFFF0AFE07030000FF8000FF"))  # last Sun of October 03:00


def _date_time(value: Data | None, what: str) -> CosemDateTime:
    """An octet-string(12) date-time, else type-unmatched."""
    raw = expect(value, OctetString, what).value
    if len(raw) != 12:
        raise bad_type(what)
    try:
        return CosemDateTime.from_bytes(raw)
    except DecodeError:
        raise bad_type(what) from None


@dataclass(slots=True)
class _Zone:
    """time_zone and the DST attributes as written, read once (every GET of the time needs
    them): kept until one of the clock's attributes is stored or restored."""

    time_zone: int  # minutes, UTC − local standard time
    deviation: int  # minutes DST adds to local time
    enabled: bool
    begin: bytes
    end: bytes
    standard: dt.timezone
    daylight: dt.timezone
    #: The local standard year last looked at, as [from, until) seconds, with its DST begin
    #: and end in the same seconds (None: the rules name no instant that year).
    year: tuple[float, float, float | None, float | None] = (math.inf, -math.inf, None, None)


def _octets_or_none(value: Data) -> bytes:
    """A rule's octets; anything else names no instant (_rule_instant)."""
    return value.value if isinstance(value, OctetString) else b""


def _seconds(local: dt.datetime | None) -> float | None:
    """A naive local instant as seconds on the same scale as UTC epoch seconds."""
    return None if local is None else local.replace(tzinfo=_UTC).timestamp()


def _rule_instant(raw: bytes, year: int) -> dt.datetime | None:
    """The local (naive) instant a DST rule names in ``year``; None if it names none."""
    try:
        cdt = CosemDateTime.from_bytes(raw)
    except DecodeError:
        return None
    d, t = cdt.date, cdt.time
    if (d.year is not None and d.year != year) or d.month is None or not 1 <= d.month <= 12:
        return None
    last = calendar.monthrange(year, d.month)[1]
    backwards = d.day in (DAY_SECOND_LAST, DAY_LAST)
    day = d.day_in(last)
    if day is None:
        day = 1
    if not 1 <= day <= last:
        return None
    date = dt.date(year, d.month, day)
    if d.weekday is not None and 1 <= d.weekday <= 7:
        shift = (d.weekday - date.isoweekday()) % 7
        date += dt.timedelta(days=shift - 7 if backwards and shift else shift)
    return dt.datetime(date.year, date.month, date.day, t.hour or 0, t.minute or 0, t.second or 0)


class Clock(CosemObject):
    CLASS_ID = 8
    VERSION = 0
    NAME = "clock"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "time", OctetString, static=False),
        Attr(3, "time_zone", Long, default=Long(0)),
        Attr(4, "status", Unsigned, static=False, default=Unsigned(0)),
        Attr(5, "daylight_savings_begin", OctetString, default=_EU_BEGIN),
        Attr(6, "daylight_savings_end", OctetString, default=_EU_END),
        Attr(7, "daylight_savings_deviation", Integer, default=Integer(60)),
        Attr(8, "daylight_savings_enabled", Boolean, default=Boolean(False)),
        Attr(9, "clock_base", Enum, default=Enum(1)),
    )
    METHODS = (
        Method(1, "adjust_to_quarter"),
        Method(2, "adjust_to_measuring_period"),
        Method(3, "adjust_to_minute"),
        Method(4, "adjust_to_preset_time"),
        Method(5, "preset_adjusting_time"),
        Method(6, "shift_time"),
    )

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> Clock:
        """time_zone defaults to ``[meter] time_zone``; the time runs on the meter's timebase."""
        default_zone = int(entry.meter.get("time_zone", 0))
        return cls(entry.obis, entry.time_source,
                   clock_base=Enum(entry.int_option("clock_base", 1)),
                   time_zone=Long(entry.int_option("time_zone", default_zone)),
                   drift_ppm=float(entry.options.get("drift_ppm", 0.0)))

    def __init__(self, logical_name: Obis, time_source: Callable[[], float], *,
                 measuring_period: int = 900, drift_ppm: float = 0.0, **values: Data) -> None:
        super().__init__(logical_name, **values)
        self._time_source = time_source
        self._offset = 0.0
        self._drift_ppm = _checked_ppm(drift_ppm)
        #: True time the drift accumulates from (the last step or setting); None: from the
        #: first time it is asked (a first start, or a state stored before drift existed).
        self._drift_ref: float | None = None
        #: adjust_to_measuring_period rounds to this (s); the Blue Book ties it to the
        #: metering's measuring period, which the device knows.
        self.measuring_period = measuring_period
        self._preset: tuple[float, float, float] | None = None  # time, valid from, valid to
        self._zone_read: _Zone | None = None

    # --- meter time, for every other object ---------------------------------------------------

    def timestamp(self) -> float:
        """Meter time as UTC epoch seconds."""
        return self._time_source() + self._offset

    def deviation(self) -> float:
        """Meter time − true time (s): what settings and drift steps have made it."""
        return self._offset

    # --- drift (meter/device/drift.py runs the steps) ---------------------------------------------

    @property
    def drift_ppm(self) -> float:
        return self._drift_ppm

    def set_drift(self, ppm: float) -> None:
        """The crystal runs ``ppm`` fast (negative: slow) from now on (ValueError beyond
        MAX_DRIFT_PPM); the part of a step accumulated at the old rate is dropped."""
        self._drift_ppm = _checked_ppm(ppm)
        self._drift_ref = self._time_source()

    def start_drift(self) -> bool:
        """A rate with no reference yet (the profile's, at a first start or on a state stored
        before drift existed) counts from now: True when that made a state to store."""
        if not self._drift_ppm or self._drift_ref is not None:
            return False
        self._drift_ref = self._time_source()
        return True

    def drift_due(self) -> float | None:
        """The true time of the next drift step (None: the clock keeps true time)."""
        ppm = self._drift_ppm
        if not ppm:
            return None
        ref = self._drift_ref
        if ref is None:
            ref = self._drift_ref = self._time_source()
        return ref + DRIFT_STEP_S * 1e6 / abs(ppm)

    def drift_step(self) -> None:
        """The step due at drift_due(): the clock gains (or loses) DRIFT_STEP_S, no event."""
        due = self.drift_due()
        if due is not None:
            self._offset += math.copysign(DRIFT_STEP_S, self._drift_ppm)
            self._drift_ref = due

    def _zone(self) -> _Zone:
        zone = self._zone_read
        if zone is None:
            time_zone = self.int_value("time_zone")
            deviation = self.int_value("daylight_savings_deviation")
            zone = self._zone_read = _Zone(
                time_zone, deviation, bool(self.value("daylight_savings_enabled").to_python()),
                _octets_or_none(self.value("daylight_savings_begin")),
                _octets_or_none(self.value("daylight_savings_end")),
                dt.timezone(dt.timedelta(minutes=-time_zone)),
                dt.timezone(dt.timedelta(minutes=deviation - time_zone)))
        return zone

    def store(self, name: str, value: Data) -> None:
        super().store(name, value)
        self._zone_read = None

    def load_state(self, state: dict[int, Data]) -> None:
        super().load_state(state)
        self._zone_read = None

    def dst_active(self, ts: float) -> bool:
        return self._dst_active(self._zone(), ts)

    @staticmethod
    def _dst_active(zone: _Zone, ts: float) -> bool:
        if not zone.enabled:
            return False
        std = ts - 60 * zone.time_zone  # local standard time
        since, until, begin, end = zone.year
        if not since <= std < until:
            year = dt.datetime.fromtimestamp(std, _UTC).year
            begin = _seconds(_rule_instant(zone.begin, year))
            end = _seconds(_rule_instant(zone.end, year))
            if end is not None:
                end -= 60 * zone.deviation
            zone.year = since, until, begin, end = (
                dt.datetime(year, 1, 1, tzinfo=_UTC).timestamp(),
                dt.datetime(year + 1, 1, 1, tzinfo=_UTC).timestamp() if year < 9999 else math.inf,
                begin, end)
        if begin is None or end is None:
            return False
        if begin <= end:
            return begin <= std < end
        return std >= begin or std < end  # southern hemisphere: DST spans the new year

    def dst_change(self, year: int, begin: bool) -> dt.datetime | None:
        """The local instant DST begins (``begin``) or ends in ``year`` by the rules; None when
        DST is off or a rule names no instant that year (schedules' DST month wildcards)."""
        rule = self.value("daylight_savings_begin" if begin else "daylight_savings_end")
        if not self.value("daylight_savings_enabled").to_python() or not isinstance(rule, OctetString):
            return None
        try:
            return _rule_instant(rule.value, year)
        except OverflowError:  # a weekday shift past 9999-12-31
            return None

    def local_offset(self, ts: float) -> int:
        """local − UTC in minutes at ``ts``."""
        zone = self._zone()
        return zone.deviation - zone.time_zone if self._dst_active(zone, ts) else -zone.time_zone

    def status_at(self, ts: float) -> int:
        bits = self.int_value("status") & ~STATUS_DST_ACTIVE
        return bits | (STATUS_DST_ACTIVE if self.dst_active(ts) else 0)

    def datetime_at(self, ts: float) -> dt.datetime:
        zone = self._zone()
        return dt.datetime.fromtimestamp(ts, zone.daylight if self._dst_active(zone, ts) else zone.standard)

    def cosem_at(self, ts: float) -> CosemDateTime:
        return CosemDateTime.from_datetime(self.datetime_at(ts), self.status_at(ts))

    def octets_at(self, ts: float) -> bytes:
        """The 12 octets of the time attribute at ``ts`` (DST looked up once)."""
        zone = self._zone()
        status = self.int_value("status") & ~STATUS_DST_ACTIVE
        if self._dst_active(zone, ts):
            return date_time_octets(dt.datetime.fromtimestamp(ts, zone.daylight),
                                    zone.time_zone - zone.deviation, status | STATUS_DST_ACTIVE)
        return date_time_octets(dt.datetime.fromtimestamp(ts, zone.standard), zone.time_zone, status)

    def now(self) -> dt.datetime:
        """Meter local time, aware."""
        return self.datetime_at(self.timestamp())

    def now_cosem(self) -> CosemDateTime:
        return self.cosem_at(self.timestamp())

    def to_timestamp(self, value: CosemDateTime) -> float:
        """UTC seconds of a fully specified date-time (no deviation = the meter's own)."""
        return value.to_datetime(self.local_offset(self.timestamp())).timestamp()

    # --- attributes ----------------------------------------------------------------------------

    @on_get("time")
    def read_time(self, ctx: Context, selector: int | None, parameters: Data | None) -> Data:
        return OctetString(self.octets_at(self.timestamp()))

    @on_set("time")
    def write_time(self, value: Data, ctx: Context) -> None:
        cdt = _date_time(value, "time")
        try:
            ts = self.to_timestamp(cdt)
        except DecodeError:
            raise out_of_range("time") from None
        self.set_time(ts, ctx)

    @on_set("time_zone")
    def write_time_zone(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Long, "time_zone").value, -720, 840, "time_zone")
        self.store("time_zone", value)
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)

    @on_get("status")
    def read_status(self, ctx: Context, selector: int | None, parameters: Data | None) -> Data:
        return Unsigned(self.status_at(self.timestamp()))

    @on_set("status")
    def write_status(self, value: Data, ctx: Context) -> None:
        # Bit 7 follows the DST rules; only the other bits are stored.
        self.store("status", Unsigned(expect(value, Unsigned, "status").value & ~STATUS_DST_ACTIVE))
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)

    @on_set("daylight_savings_begin")
    def write_daylight_savings_begin(self, value: Data, ctx: Context) -> None:
        _date_time(value, "daylight_savings_begin")
        self.store("daylight_savings_begin", value)
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)

    @on_set("daylight_savings_end")
    def write_daylight_savings_end(self, value: Data, ctx: Context) -> None:
        _date_time(value, "daylight_savings_end")
        self.store("daylight_savings_end", value)
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)

    @on_set("daylight_savings_deviation")
    def write_daylight_savings_deviation(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Integer, "deviation").value, -120, 120, "deviation")
        self.store("daylight_savings_deviation", value)
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)

    @on_set("daylight_savings_enabled")
    def write_daylight_savings_enabled(self, value: Data, ctx: Context) -> None:
        changed = value != self.value("daylight_savings_enabled")
        self.store("daylight_savings_enabled", value)
        if changed:
            ctx.log_event(StandardEvent.DST_CHANGED)

    @on_set("clock_base")
    def write_clock_base(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Enum, "clock_base").value, 0, 5, "clock_base")
        self.store("clock_base", value)
        ctx.log_event(StandardEvent.PARAMETERS_CHANGED)

    # --- setting the time ------------------------------------------------------------------------

    def set_time(self, ts: float, ctx: Context) -> None:
        """Move meter time to ``ts`` (UTC s), logging old and new time (and a shift beyond the
        time-shift limit); a set time is valid."""
        ctx.log_event(StandardEvent.CLOCK_ADJUSTED_OLD_TIME)
        limit = ctx.directory.get(CLOCK_TIME_SHIFT_LIMIT)
        if isinstance(limit, ClockSeconds) and abs(ts - self.timestamp()) > limit.seconds():
            ctx.log_event(StandardEvent.CLOCK_SHIFT_LIMIT_EXCEEDED)
        self._offset = ts - self._time_source()
        if self._drift_ppm:  # drift accumulates again from the setting
            self._drift_ref = self._time_source()
        self.store("status", Unsigned(self.int_value("status") & ~(STATUS_INVALID | STATUS_DOUBTFUL)))
        stamp = ctx.directory.get(LAST_CLOCK_SETTING)  # every setting stamps it, whatever the service
        if stamp is not None:
            stamp.store("value", OctetString(self.now_cosem().to_bytes()))
            ctx.changed(stamp)
        ctx.log_event(StandardEvent.CLOCK_ADJUSTED_NEW_TIME)

    def _round_local(self, step: int, ctx: Context) -> None:
        ts = self.timestamp()
        shift = self.local_offset(ts) * 60
        local = ts + shift
        self.set_time(math.floor(local / step + 0.5) * step - shift, ctx)

    @on_action("adjust_to_quarter")
    def adjust_to_quarter(self, parameters: Data | None, ctx: Context) -> None:
        self._round_local(900, ctx)

    @on_action("adjust_to_measuring_period")
    def adjust_to_measuring_period(self, parameters: Data | None, ctx: Context) -> None:
        self._round_local(self.measuring_period, ctx)

    @on_action("adjust_to_minute")
    def adjust_to_minute(self, parameters: Data | None, ctx: Context) -> None:
        self._round_local(60, ctx)

    @on_action("preset_adjusting_time")
    def preset_adjusting_time(self, parameters: Data | None, ctx: Context) -> None:
        items = fields(parameters, 3, "preset_adjusting_time")
        try:
            preset, start, end = (self.to_timestamp(_date_time(i, "preset")) for i in items)
        except DecodeError:
            raise out_of_range("preset_adjusting_time") from None
        if start > end:
            raise out_of_range("validity interval")
        self._preset = (preset, start, end)

    @on_action("adjust_to_preset_time")
    def adjust_to_preset_time(self, parameters: Data | None, ctx: Context) -> None:
        preset = self._preset
        if preset is None or not preset[1] <= self.timestamp() <= preset[2]:
            raise AccessError(DataAccessResult.OTHER_REASON, "no valid preset time")
        self._preset = None
        self.set_time(preset[0], ctx)

    @on_action("shift_time")
    def shift_time(self, parameters: Data | None, ctx: Context) -> None:
        seconds = in_range(expect(parameters, Long, "shift_time").value, -900, 900, "shift_time")
        self.set_time(self.timestamp() + seconds, ctx)

    # --- persistence -----------------------------------------------------------------------------

    def dump_private(self) -> Data:
        if self._drift_ref is None:  # no drift yet: the offset alone, as before drift existed
            return Float64(self._offset)
        return Structure((Float64(self._offset), Float64(self._drift_ppm), Float64(self._drift_ref)))

    def load_private(self, value: Data) -> None:
        """The offset alone (a state from before drift: the rate stays the profile's), or
        offset, drift rate and drift reference."""
        if isinstance(value, Structure):
            items = fields(value, 3, "clock state")
            offset, ppm, ref = (float(expect(i, Float64, "clock state").value) for i in items)
            self._offset, self._drift_ppm, self._drift_ref = offset, _checked_ppm(ppm), ref
            return
        self._offset = float(expect(value, Float64, "clock offset").value)


def _checked_ppm(ppm: float) -> float:
    if not math.isfinite(ppm) or abs(ppm) > MAX_DRIFT_PPM:
        raise ValueError(f"drift: at most {MAX_DRIFT_PPM:g} ppm either way, got {ppm!r}")
    return float(ppm)
