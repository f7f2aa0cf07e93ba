"""Activity calendar (class_id 20, version 0; Blue Book §4.5.5).

Attributes (cosem-reference.md, Activity calendar): 2-5 the active calendar, 6-9 the passive one
(calendar_name octet-string; season_profile array of {season_profile_name octet-string,
season_start octet-string(12), week_name octet-string}; week_profile_table array of
{week_profile_name octet-string, monday..sunday unsigned day_id}; day_profile_table array of
{day_id unsigned, day_schedule array of {start_time octet-string(4), script_logical_name
octet-string(6), script_selector long-unsigned}}); 10 activate_passive_calendar_time
octet-string(12). Method 1 activate_passive_calendar(integer 0) copies passive to active.

The running action is found in the meter's local time (the Clock's time zone and DST): the
season whose start (a date-time with the wildcards of meter.cosem.local_dates, every year when
the year is 0xFFFF) is the latest at or before now, its week profile, the day_id of today's
weekday (a Special days table entry for today first), and in that day profile the action with
the latest start_time at or before now. Before a day's first start_time the previous day's last
action still runs (a day profile normally starts at 00:00). A season rules whole days: the day
it starts on is its first (its start's time of day does not split that day).

Writes of the passive calendar come one attribute at a time (a head end writes 6, 7, 8, 9 then
10), so each write checks its own value whole (types, unique names and ids, two seasons starting
at the same instant, a start time that is no time of day, a script that is not in a Script
table of the meter) and stores all of it or nothing. Whether the four fit together (every week
a season names, every day_id a week names) is checked when they are to be activated: a write of
an activation time and method 1 are refused with other-reason while they do not, and the active
calendar stays as it was.

The calendar is a timed object of the scheduler (meter/device/schedules.py): its next time is
the pending activation or the next start_time, and at each it runs the action now running when
that differs from the one it last ran (a fresh meter, a restart after the meter was off, a newly
activated calendar run the right one at once).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from meter.codec.axdr import (
    NULL, Array, Boolean, Data, Float64, LongUnsigned, NullData, OctetString, Structure, Unsigned)
from meter.codec.cosem_time import (
    DAY_LAST, DAY_SECOND_LAST, MONTH_DST_BEGIN, MONTH_DST_END, CosemDate, CosemDateTime, CosemTime)
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, integer, items, octets, on_action,
    on_set)
from meter.cosem.events import StandardEvent
from meter.cosem.local_dates import LocalTime, calendar_date, local_times
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.script_table import ScriptTable
from meter.errors import AccessError, DataAccessResult, DecodeError, EncodeError

__all__ = ["ActivityCalendar", "Calendar", "DayAction", "Season", "SpecialDay"]

log = logging.getLogger(__name__)

#: Entries a profile table may hold (every input from outside is bounded).
MAX_ENTRIES = 64
#: Days looked ahead for the next start_time (a year and a day: every season and weekday).
_DAYS_AHEAD = 367
#: Days looked back for the action still running before today's first start_time.
_DAYS_BACK = 7
_NOT_SPECIFIED = OctetString(bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF"))

#: day_id of a date from the Special days table, None when the date is no special day.
SpecialDay = Callable[[dt.date, LocalTime], "int | None"]


def _no_special_day(day: dt.date, clock: LocalTime) -> int | None:
    return None


def _refused(why: str) -> AccessError:
    return AccessError(DataAccessResult.OTHER_REASON, why)


@dataclass(frozen=True, slots=True)
class Season:
    name: bytes
    start: CosemDateTime
    week: bytes

    def start_in(self, year: int, clock: LocalTime) -> dt.datetime | None:
        """The local instant this season starts in ``year`` (None: it names none then)."""
        d = self.start.date
        if d.year is not None and d.year != year:
            return None
        day = calendar_date(CosemDate(year, d.month, d.day), clock)
        if day is None:
            return None
        t = self.start.time
        return dt.datetime.combine(day, dt.time(t.hour or 0, t.minute or 0, t.second or 0))


@dataclass(frozen=True, slots=True)
class DayAction:
    start: CosemTime
    script: Obis
    selector: int


@dataclass(frozen=True, slots=True)
class Calendar:
    """One calendar (active or passive), parsed."""

    seasons: tuple[Season, ...]
    weeks: Mapping[bytes, tuple[int, ...]]  # week name -> day_id Monday..Sunday
    days: Mapping[int, tuple[DayAction, ...]]  # day_id -> actions by start_time

    def problem(self) -> str | None:
        """Why the parts do not make one calendar (None: they do)."""
        if not self.seasons:
            return "no season"
        for s in self.seasons:
            if s.week not in self.weeks:
                return f"season {s.name!r} names no week profile {s.week!r}"
        for name, ids in self.weeks.items():
            missing = [i for i in ids if i not in self.days]
            if missing:
                return f"week profile {name!r} names no day profile {missing[0]}"
        return None

    def season_at(self, local: dt.datetime, clock: LocalTime) -> Season | None:
        """The season with the latest start at or before ``local`` (last year's, early in a year)."""
        best: tuple[dt.datetime, Season] | None = None
        for s in self.seasons:
            years = [s.start.date.year] if s.start.date.year is not None else [local.year, local.year - 1]
            for y in years:
                start = s.start_in(y, clock)
                if start is not None and start <= local and (best is None or start > best[0]):
                    best = (start, s)
        return None if best is None else best[1]

    def day_profile(self, day: dt.date, clock: LocalTime,
                    special: SpecialDay) -> tuple[DayAction, ...]:
        """The actions of ``day``: its special day's profile, else its weekday's in its season."""
        day_id = special(day, clock)
        if day_id is None or day_id not in self.days:
            season = self.season_at(dt.datetime.combine(day, dt.time(23, 59, 59)), clock)
            week = self.weeks.get(season.week) if season is not None else None
            if week is None:
                return ()
            day_id = week[day.weekday()]
        return self.days.get(day_id, ())

    def action_at(self, local: dt.datetime, clock: LocalTime, special: SpecialDay) -> DayAction | None:
        """The action running at local time ``local``."""
        today = self.day_profile(local.date(), clock, special)
        now = local.time()
        started = [a for a in today if _time_of_day(a.start) <= now]
        if started:
            return started[-1]
        for back in range(1, _DAYS_BACK + 1):
            earlier = self.day_profile(local.date() - dt.timedelta(days=back), clock, special)
            if earlier:
                return earlier[-1]
        return None

    def next_start(self, after: float, clock: LocalTime, special: SpecialDay) -> float | None:
        """The first UTC time after ``after`` at which an action starts."""
        if not self.seasons:
            return None
        first = _local(after, clock).date() - dt.timedelta(days=1)
        for n in range(_DAYS_AHEAD):
            day = first + dt.timedelta(days=n)
            times = [t for a in self.day_profile(day, clock, special)
                     for t in local_times([day], a.start, after, clock)]
            if times:
                return min(times)
        return None


def _local(ts: float, clock: LocalTime) -> dt.datetime:
    """Naive local wall-clock time of UTC ``ts``."""
    return dt.datetime.fromtimestamp(ts + 60 * clock.local_offset(ts), dt.timezone.utc).replace(tzinfo=None)


def _clock_time(text: str) -> bytes:
    """A profile's "HH:MM" as a COSEM time."""
    hour, minute = text.split(":")
    return CosemTime(int(hour), int(minute)).to_bytes()


def _time_of_day(t: CosemTime) -> dt.time:
    return dt.time(t.hour or 0, t.minute or 0, t.second or 0)


# --- the four tables, each checked whole ---------------------------------------------------------


def _bounded(value: Data, what: str) -> tuple[Data, ...]:
    entries: tuple[Data, ...] = expect(value, Array, what).items
    if len(entries) > MAX_ENTRIES:
        raise _refused(f"{what}: more than {MAX_ENTRIES} entries")
    return entries


def _name(value: Data, what: str) -> bytes:
    name = octets(value, what)
    if len(name) > 32:
        raise _refused(f"{what}: longer than 32 bytes")
    return name


def parse_seasons(value: Data) -> tuple[Season, ...]:
    seasons = []
    for entry in _bounded(value, "season_profile"):
        name, start, week = fields(entry, 3, "season")
        try:
            when = CosemDateTime.from_bytes(octets(start, "season_start"))
        except DecodeError:
            raise bad_type("season_start") from None
        d = when.date
        if d.month is None or not (1 <= d.month <= 12 or d.month in (MONTH_DST_END, MONTH_DST_BEGIN)) \
                or d.day is None or not (1 <= d.day <= 31 or d.day in (DAY_SECOND_LAST, DAY_LAST)):
            raise _refused("season_start: month and day must name one date a year")
        seasons.append(Season(_name(name, "season_profile_name"), when, _name(week, "week_name")))
    if len({s.name for s in seasons}) != len(seasons):
        raise _refused("season_profile: two seasons of one name")
    starts = [(s.start.date.year, s.start.date.month, s.start.date.day, _time_of_day(s.start.time))
              for s in seasons]
    if len(set(starts)) != len(starts):
        raise _refused("season_profile: two seasons start at the same time")
    return tuple(seasons)


def parse_weeks(value: Data) -> dict[bytes, tuple[int, ...]]:
    weeks: dict[bytes, tuple[int, ...]] = {}
    for entry in _bounded(value, "week_profile_table"):
        name, *days = fields(entry, 8, "week profile")
        key = _name(name, "week_profile_name")
        if key in weeks:
            raise _refused("week_profile_table: two week profiles of one name")
        weeks[key] = tuple(expect(d, Unsigned, "day_id").value for d in days)
    return weeks


def _action(value: Data, scripts: Callable[[Obis, int], bool]) -> DayAction:
    start, name, selector = fields(value, 3, "day action")
    try:
        time = CosemTime.from_bytes(octets(start, "start_time"))
        script = Obis.from_bytes(octets(name, "script_logical_name"))
    except (DecodeError, ValueError):
        raise bad_type("day action") from None
    if time.hour is None or time.minute is None or not (
            0 <= time.hour <= 23 and 0 <= time.minute <= 59 and 0 <= (time.second or 0) <= 59):
        raise _refused("start_time: not a time of day")
    action = DayAction(time, script, expect(selector, LongUnsigned, "script_selector").value)
    if not scripts(script, action.selector):
        raise _refused(f"no script {action.selector} in script table {script}")
    return action


def parse_days(value: Data, scripts: Callable[[Obis, int], bool]) -> dict[int, tuple[DayAction, ...]]:
    """The day profiles; ``scripts(table, id)`` says whether a script exists."""
    days: dict[int, tuple[DayAction, ...]] = {}
    for entry in _bounded(value, "day_profile_table"):
        day_id, schedule = fields(entry, 2, "day profile")
        key = expect(day_id, Unsigned, "day_id").value
        if key in days:
            raise _refused("day_profile_table: two day profiles of one day_id")
        actions = [_action(a, scripts) for a in _bounded(schedule, "day_schedule")]
        actions.sort(key=lambda a: _time_of_day(a.start))
        if len({_time_of_day(a.start) for a in actions}) != len(actions):
            raise _refused(f"day profile {key}: two actions start at the same time")
        days[key] = tuple(actions)
    return days


def _any_script(table: Obis, script_id: int) -> bool:
    return True


def script_lookup(ctx: Context) -> Callable[[Obis, int], bool]:
    """Whether script ``id`` is in script table ``table`` of the meter."""
    def exists(table: Obis, script_id: int) -> bool:
        obj = ctx.directory.get(table)
        return isinstance(obj, ScriptTable) and any(
            integer(items(s, "script")[0], "script_identifier") == script_id
            for s in obj.items("scripts"))
    return exists


_ACTIVE = ("calendar_name_active", "season_profile_active", "week_profile_table_active",
           "day_profile_table_active")
_PASSIVE = ("calendar_name_passive", "season_profile_passive", "week_profile_table_passive",
            "day_profile_table_passive")


class ActivityCalendar(CosemObject):
    CLASS_ID = 20
    VERSION = 0
    NAME = "activity_calendar"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "calendar_name_active", OctetString, default=OctetString(b"")),
        Attr(3, "season_profile_active", Array, default=Array(())),
        Attr(4, "week_profile_table_active", Array, default=Array(())),
        Attr(5, "day_profile_table_active", Array, default=Array(())),
        Attr(6, "calendar_name_passive", OctetString, default=OctetString(b"")),
        Attr(7, "season_profile_passive", Array, default=Array(())),
        Attr(8, "week_profile_table_passive", Array, default=Array(())),
        Attr(9, "day_profile_table_passive", Array, default=Array(())),
        Attr(10, "activate_passive_calendar_time", OctetString, default=_NOT_SPECIFIED),
    )
    METHODS = (Method(1, "activate_passive_calendar"),)

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """The ACTIVE calendar: name, seasons = [{ name, start (date hex, 5 bytes), week }],
        weeks = [{ name, days = [day_id x 7, Monday first] }], days = [{ id, actions =
        [{ start ("HH:MM"), script (obis), selector }] }]."""
        o = entry.options
        try:
            seasons = Array(tuple(Structure((
                OctetString(str(s["name"]).encode()),
                OctetString(bytes.fromhex(s["start"]) + bytes.fromhex("00000000") + bytes.fromhex("8000FF")),
                OctetString(str(s["week"]).encode()))) for s in o.get("seasons", ())))
            weeks = Array(tuple(Structure((
                OctetString(str(w["name"]).encode()), *(Unsigned(int(d)) for d in w["days"])))
                for w in o.get("weeks", ())))
            days = Array(tuple(Structure((Unsigned(int(d["id"])), Array(tuple(Structure((
                OctetString(_clock_time(str(a["start"]))), OctetString(Obis.parse(str(a["script"])).to_bytes()),
                LongUnsigned(int(a["selector"])))) for a in d["actions"])))) for d in o.get("days", ())))
            # The same checks as a head end's writes; scripts are checked by the profile schema.
            calendar = Calendar(parse_seasons(seasons), parse_weeks(weeks), parse_days(days, _any_script))
        except (KeyError, ValueError, TypeError, AttributeError, EncodeError, AccessError) as exc:
            raise OptionError(f"seasons, weeks and days of the activity calendar: {exc!r}") from None
        if calendar.seasons and (problem := calendar.problem()) is not None:
            raise OptionError(f"activity calendar: {problem}")
        return {**super().profile_values(entry),
                "calendar_name_active": OctetString(str(o.get("name", "")).encode()),
                "season_profile_active": seasons, "week_profile_table_active": weeks,
                "day_profile_table_active": days}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Meter time (UTC s) up to which the calendar has run; None until the meter starts it.
        self.checked: float | None = None
        #: An activation time was written and has not come yet.
        self.pending = False
        #: The action it last ran (script table, script id).
        self.applied: tuple[Obis, int] | None = None
        #: The Special days table's lookup (set by the device when the meter has one).
        self.special_days: SpecialDay = _no_special_day
        self._parsed: tuple[tuple[Data, ...], Calendar] | None = None

    # --- the active calendar, at a time --------------------------------------------------------

    def _calendar(self, names: tuple[str, ...]) -> Calendar:
        return Calendar(parse_seasons(self.value(names[1])), parse_weeks(self.value(names[2])),
                        parse_days(self.value(names[3]), _any_script))

    def active(self) -> Calendar:
        """The active calendar, parsed once per value (a restore or an activation changes it)."""
        raw = tuple(self.value(n) for n in _ACTIVE)
        if self._parsed is None or any(a is not b for a, b in zip(self._parsed[0], raw, strict=True)):
            self._parsed = (raw, self._calendar(_ACTIVE))
        return self._parsed[1]

    def action_at(self, ts: float, clock: LocalTime) -> DayAction | None:
        """The day action running at UTC ``ts``."""
        return self.active().action_at(_local(ts, clock), clock, self.special_days)

    def _activation(self, clock: LocalTime) -> float | None:
        """UTC time of the pending activation (a date-time without deviation is local time)."""
        if not self.pending:
            return None
        when = CosemDateTime.from_bytes(self.octets("activate_passive_calendar_time"))
        try:
            if when.deviation is not None:
                return when.to_datetime().timestamp()
            local = when.to_datetime().replace(tzinfo=None)
        except DecodeError:
            return None
        return next(local_times([local.date()], when.time, float("-inf"), clock), None)

    # --- a timed object of the scheduler -------------------------------------------------------

    def next_after(self, after: float, clock: LocalTime) -> float | None:
        activation = self._activation(clock)
        if activation is not None and activation <= after:
            return after
        running = self.action_at(after, clock)
        if running is not None and (running.script, running.selector) != self.applied:
            return after
        times = [t for t in (activation, self.active().next_start(after, clock, self.special_days))
                 if t is not None]
        return min(times, default=None)

    def activate_due(self, until: float, clock: LocalTime, ctx: Context) -> None:
        """Activate the passive calendar if its activation time has come by ``until``."""
        activation = self._activation(clock)
        if activation is not None and activation <= until:
            self.pending = False
            try:
                self._activate(ctx)
            except AccessError as exc:  # its parts were rewritten after the time was set
                log.warning("%s: passive calendar not activated: %s", self.logical_name, exc)

    def due(self, until: float, clock: LocalTime) -> list[tuple[float, Obis, int]]:
        """The action running at ``until`` if it is not the one last run."""
        if self.checked is None:
            return []
        running = self.action_at(until, clock)
        if running is None or (running.script, running.selector) == self.applied:
            return []
        self.applied = (running.script, running.selector)
        return [(until, running.script, running.selector)]

    # --- passive writes and activation ---------------------------------------------------------

    @on_set(*_ACTIVE)
    def write_active(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED,
                          "the active calendar changes only by activating the passive one")

    @on_set("calendar_name_passive")
    def write_name(self, value: Data, ctx: Context) -> None:
        _name(value, "calendar_name")
        self._programmed("calendar_name_passive", value, ctx)

    @on_set("season_profile_passive")
    def write_seasons(self, value: Data, ctx: Context) -> None:
        parse_seasons(value)
        self._programmed("season_profile_passive", value, ctx)

    @on_set("week_profile_table_passive")
    def write_weeks(self, value: Data, ctx: Context) -> None:
        parse_weeks(value)
        self._programmed("week_profile_table_passive", value, ctx)

    @on_set("day_profile_table_passive")
    def write_days(self, value: Data, ctx: Context) -> None:
        parse_days(value, script_lookup(ctx))
        self._programmed("day_profile_table_passive", value, ctx)

    def _programmed(self, name: str, value: Data, ctx: Context) -> None:
        self.store(name, value)
        ctx.log_event(StandardEvent.PASSIVE_TOU_PROGRAMMED)

    def _passive(self, ctx: Context) -> Calendar:
        """The passive calendar, whole and consistent, else other-reason."""
        calendar = Calendar(parse_seasons(self.value(_PASSIVE[1])), parse_weeks(self.value(_PASSIVE[2])),
                            parse_days(self.value(_PASSIVE[3]), script_lookup(ctx)))
        problem = calendar.problem()
        if problem is not None:
            raise _refused(f"passive calendar: {problem}")
        return calendar

    @on_set("activate_passive_calendar_time")
    def write_activation_time(self, value: Data, ctx: Context) -> None:
        raw = octets(value, "activate_passive_calendar_time")
        try:
            when = CosemDateTime.from_bytes(raw)
        except DecodeError:
            raise bad_type("activate_passive_calendar_time") from None
        if when.is_fully_specified():
            self._passive(ctx)
            when.to_datetime()  # a date that does not exist (Feb 30) is refused, not kept
        self.store("activate_passive_calendar_time", value)
        self.pending = when.is_fully_specified()
        ctx.log_event(StandardEvent.PASSIVE_TOU_PROGRAMMED)

    @on_action("activate_passive_calendar")
    def activate_passive_calendar(self, parameters: Data | None, ctx: Context) -> None:
        self._activate(ctx)

    def _activate(self, ctx: Context) -> None:
        self._passive(ctx)
        for active, passive in zip(_ACTIVE, _PASSIVE, strict=True):
            self.store(active, self.value(passive))
        ctx.log_event(StandardEvent.TOU_ACTIVATED)
        ctx.changed(self)

    # --- persistence ---------------------------------------------------------------------------

    def dump_private(self) -> Data | None:
        applied: Data = NULL if self.applied is None else Structure((
            OctetString(self.applied[0].to_bytes()), LongUnsigned(self.applied[1])))
        checked: Data = NULL if self.checked is None else Float64(self.checked)
        return Structure((checked, Boolean(self.pending), applied))

    def load_private(self, value: Data) -> None:
        checked, pending, applied = fields(value, 3, "calendar state")
        self.checked = None if isinstance(checked, NullData) else float(expect(checked, Float64, "checked").value)
        self.pending = bool(expect(pending, Boolean, "pending").value)
        if isinstance(applied, NullData):
            self.applied = None
        else:
            table, script = fields(applied, 2, "applied")
            self.applied = (Obis.from_bytes(octets(table, "applied")), integer(script, "applied"))

