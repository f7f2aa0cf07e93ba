"""Single action schedule (class_id 22, version 0; Blue Book §4.5.7).

Attributes (cosem-reference.md, Single action schedule): 2 executed_script {script_logical_name
octet-string, script_selector long-unsigned}; 3 type enum 1..5; 4 execution_time array of
{time octet-string(4), date octet-string(5)}. No methods.

execution_time is local time (the Clock's time_zone and DST, Blue Book 4.5.7), with the date
wildcards of meter.cosem.local_dates (every value; month 0xFD / 0xFE: the month DST ends /
begins; day 0xFD / 0xFE: second last / last day of the month; a day of week narrows them).
``type`` says how many entries a head end may expect (1 one entry; 2-5 several, with or without
date wildcards) but writes of type and execution_time come one at a time, so only each value's
own shape is checked: every entry fires.

The schedule remembers up to which meter time it has run (``checked``, persisted with it): the
scheduler (meter/device/scheduler.py) fires each occurrence after it once, and a time passed
again after the clock was set back does not fire twice.
"""

from __future__ import annotations

from meter.codec.axdr import Array, Data, Enum, Float64, LongUnsigned, OctetString, Structure
from meter.codec.cosem_time import CosemDate, CosemTime
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, bad_type, expect, fields, in_range, integer, items, octets, on_set)
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.local_dates import LocalTime, dates, local_times, start_day
from meter.errors import DecodeError, EncodeError


def next_occurrence(entry: Data, after: float, clock: LocalTime) -> float | None:
    """The first UTC time after ``after`` that one execution_time entry names (None: none)."""
    time_raw, date_raw = (octets(v, "execution_time entry") for v in items(entry, "execution_time"))
    time, date = CosemTime.from_bytes(time_raw), CosemDate.from_bytes(date_raw)
    return next(local_times(dates(date, start_day(after), clock), time, after, clock), None)


def _check_entry(value: Data) -> None:
    time, date = fields(value, 2, "execution_time entry")
    try:
        CosemTime.from_bytes(expect(time, OctetString, "time").value)
        CosemDate.from_bytes(expect(date, OctetString, "date").value)
    except DecodeError:
        raise bad_type("execution_time entry") from None


_NO_SCRIPT = Structure((OctetString(bytes(6)), LongUnsigned(0)))


class SingleActionSchedule(CosemObject):
    CLASS_ID = 22
    VERSION = 0
    NAME = "single_action_schedule"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        # Until programmed: a script table that does not exist (the scheduler logs and skips).
        Attr(2, "executed_script", Structure, default=_NO_SCRIPT),
        Attr(3, "type", Enum, default=Enum(1)),
        Attr(4, "execution_time", Array, default=Array(())),
    )

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """executed_script, type and execution_time (time and date in hex, wildcards 0xFF)."""
        o = entry.options
        try:
            pairs = [(bytes.fromhex(t), bytes.fromhex(d)) for t, d in o.get("execution_time", ())]
            script = Structure((OctetString(Obis.parse(str(o["script"])).to_bytes()),
                                LongUnsigned(entry.int_option("script_selector", 1))))
            kind = Enum(entry.int_option("type", 1))
        except (KeyError, ValueError, TypeError, AttributeError, EncodeError) as exc:
            raise OptionError(f"script (obis), script_selector, type and execution_time "
                              f"([time, date] in hex) expected: {exc!r}") from None
        if any(len(t) != 4 or len(d) != 5 for t, d in pairs):
            raise OptionError("execution_time entries are [time (4 bytes), date (5 bytes)]")
        times = tuple(Structure((OctetString(t), OctetString(d))) for t, d in pairs)
        return {**super().profile_values(entry),
                "executed_script": script, "type": kind, "execution_time": Array(times)}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Meter time (UTC s) up to which this schedule has run; None until the meter starts it.
        self.checked: float | None = None

    @property
    def script(self) -> tuple[Obis, int]:
        """(script table, script id) it executes."""
        name, selector = self.items("executed_script")
        return Obis.from_bytes(octets(name, "script_logical_name")), integer(selector, "script_selector")

    def next_after(self, after: float, clock: LocalTime) -> float | None:
        times = (next_occurrence(e, after, clock) for e in self.items("execution_time"))
        return min((t for t in times if t is not None), default=None)

    def due(self, until: float, clock: LocalTime) -> list[tuple[float, Obis, int]]:
        """(time, script table, script id) if a time after ``checked`` is due by ``until``:
        once, however many it passed."""
        t = None if self.checked is None else self.next_after(self.checked, clock)
        return [(t, *self.script)] if t is not None and t <= until else []

    def _reprogrammed(self, ctx: Context) -> None:
        # A new program runs from now: times it names in the past do not fire.
        self.checked = ctx.directory.clock.timestamp()

    @on_set("executed_script")
    def write_executed_script(self, value: Data, ctx: Context) -> None:
        name, selector = fields(value, 2, "executed_script")
        if len(expect(name, OctetString, "script_logical_name").value) != 6:
            raise bad_type("script_logical_name")
        expect(selector, LongUnsigned, "script_selector")
        self.store("executed_script", value)
        self._reprogrammed(ctx)

    @on_set("type")
    def write_type(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Enum, "type").value, 1, 5, "type")
        self.store("type", value)

    @on_set("execution_time")
    def write_execution_time(self, value: Data, ctx: Context) -> None:
        for entry in expect(value, Array, "execution_time").items:
            _check_entry(entry)
        self.store("execution_time", value)
        self._reprogrammed(ctx)

    def dump_private(self) -> Data | None:
        return None if self.checked is None else Float64(self.checked)

    def load_private(self, value: Data) -> None:
        self.checked = float(expect(value, Float64, "checked").value)
