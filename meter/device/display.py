"""The meter's virtual LCD: what its display shows at a simulated time.

A real meter scrolls through its display list, one item every few seconds, each shown as the
item's short OBIS code, its value and its unit ("1.8.0 12.345 kWh"), and shows a consumer
message instead while one is set. Here the display list is the profile generic 0.0.21.0.1.255
(its capture_objects are the items, so a head end reprograms the LCD with a SET of them), the
message is the consumer message via display 0.0.96.13.1.255 (Blue Book OBIS; cosem-reference.md
use case 18). Timing comes from ``[meter]``: ``display_scroll_s`` per item (default 10 s),
``display_message_s`` for a message from its write (default 0: until a head end clears it).

Nothing here is a wall clock: the caller says when (true simulated seconds). The items scroll
on a fixed grid of that time (item ``floor(t / scroll_s) mod n``), so the text at a given time
does not depend on when anyone looked before. The write time of the message is kept with the
meter's snapshot (``device/display``), so a message shown before a restart keeps its time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meter.codec import axdr
from meter.codec.axdr import Data
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.base import Context, CosemObject
from meter.cosem.display import ConsumerMessage
from meter.cosem.names import CONSUMER_MESSAGE_DISPLAY, DISPLAY_LIST
from meter.cosem.profile_generic import CaptureObject, ProfileGeneric
from meter.cosem.registry import ObjectDirectory
from meter.device.catalogue import UNITS
from meter.device.persist import dump_json, load_json
from meter.errors import DecodeError, MeterError
from meter.persistence.store import Store

__all__ = ["DISPLAY_STATE", "Display", "format_item", "short_code"]

#: Store key of the message's write time.
DISPLAY_STATE = "device/display"
SCROLL_S = 10
#: Value group C letters of IEC 62056-61 (96 "C" general service, 97 "F" error, 98 "L" list,
#: 99 "P" profile), as LCDs show abstract and profile codes.
_C_LETTERS = {96: "C", 97: "F", 98: "L", 99: "P"}
#: Units an LCD shows with a kilo prefix (energy and power), their unit enum -> symbol.
_KILO = {27, 28, 29, 30, 31, 32}
_CLOCK_CLASS, _CLOCK_TIME = 8, 2


def short_code(name: Obis) -> str:
    """The code an LCD shows for ``name``: "C.D.E" for electricity (A=1) and abstract (A=0)
    objects of channel 0 (IEC 62056-61 reduced identification), "*F" when F is not 255; the
    full "A-B:C.D.E*F" otherwise."""
    c = _C_LETTERS.get(name.c, str(name.c))
    code = f"{c}.{name.d}.{name.e}"
    if name.a not in (0, 1) or name.b != 0:
        code = f"{name.a}-{name.b}:{code}"
    return code if name.f == 255 else f"{code}*{name.f}"


def _number(value: Data) -> int | float | None:
    python = value.to_python() if not isinstance(value, (axdr.Array, axdr.Structure)) else None
    if isinstance(python, bool) or not isinstance(python, (int, float)):
        return None
    return python


def _scaler_unit(obj: CosemObject, ctx: Context) -> tuple[int, int] | None:
    if not any(a.py_name == "scaler_unit" for a in obj.ATTRIBUTES):
        return None
    try:
        pair = obj.get(next(a.index for a in obj.ATTRIBUTES if a.py_name == "scaler_unit"), ctx)
    except MeterError:
        return None
    if not isinstance(pair, axdr.Structure) or len(pair.items) != 2:
        return None
    scaler, unit = (_number(v) for v in pair.items)
    return None if scaler is None or unit is None else (int(scaler), int(unit))


def _text(raw: bytes) -> str:
    """An octet-string as the LCD shows it: its text when printable ASCII, else hex."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.hex().upper()
    return text if text.isprintable() else raw.hex().upper()


def format_value(obj: CosemObject | None, column: CaptureObject, ctx: Context) -> str:
    """The value (and unit) an LCD shows for one display list item."""
    if obj is None or obj.CLASS_ID != column.class_id:
        return "----"
    try:
        value = obj.get(column.attribute_index, ctx)
    except MeterError:
        return "----"
    if column.data_index:
        inner = value.items if isinstance(value, (axdr.Array, axdr.Structure)) else ()
        value = inner[column.data_index - 1] if column.data_index <= len(inner) else axdr.NULL
    if isinstance(value, axdr.OctetString):
        if column.class_id == _CLOCK_CLASS and column.attribute_index == _CLOCK_TIME or \
                len(value.value) == 12 and column.class_id != 1:
            try:
                stamp = CosemDateTime.from_bytes(value.value)
                d, t = stamp.date, stamp.time
                return (f"{d.year:04}-{d.month:02}-{d.day:02} "
                        f"{t.hour:02}:{t.minute:02}:{t.second or 0:02}")
            except (DecodeError, TypeError):
                pass
        return _text(value.value)
    number = _number(value)
    if number is None:
        return "----" if value == axdr.NULL else str(value.to_python())
    pair = _scaler_unit(obj, ctx) if column.attribute_index == 2 else None
    if pair is None:
        return str(number)
    scaler, unit = pair
    symbol = UNITS.get(unit, "")
    if unit in _KILO:  # kWh, kW ... with three decimals, as meters show them
        return f"{number * 10.0 ** scaler / 1000:.3f} k{symbol}"
    decimals = max(0, -scaler)
    shown = f"{number * 10.0 ** scaler:.{decimals}f}"
    return f"{shown} {symbol}" if symbol and unit != 255 else shown


def format_item(directory: ObjectDirectory, column: CaptureObject, ctx: Context) -> str:
    """One LCD line: short code, value, unit."""
    value = format_value(directory.get(column.logical_name), column, ctx)
    return f"{short_code(column.logical_name)} {value}"


@dataclass(frozen=True, slots=True)
class _Screen:
    text: str
    index: int | None
    item: Obis | None
    message: str | None


class Display:
    """The LCD of one meter, read at a given true simulated time."""

    def __init__(self, directory: ObjectDirectory, store: Store, context: Callable[[], Context],
                 now: Callable[[], float], changed: Callable[[], None], *,
                 scroll_s: int = SCROLL_S, message_s: int = 0) -> None:
        """``now``: the true time the meter has reached (a message's write time);
        ``changed``: the write time changed (persisted with the next snapshot)."""
        self._directory = directory
        self._context = context
        self._now = now
        self._changed = changed
        self.scroll_s = scroll_s
        self.message_s = message_s
        self.written: float | None = None
        message = directory.get(CONSUMER_MESSAGE_DISPLAY)
        if isinstance(message, ConsumerMessage):
            message.on_write = self._message_written
        state = load_json(store, DISPLAY_STATE)
        if isinstance(state, dict) and isinstance(state.get("written"), (int, float)):
            self.written = float(state["written"])

    def _message_written(self, _message: ConsumerMessage) -> None:
        self.written = self._now()
        self._changed()

    def dump(self) -> bytes:
        return dump_json({"written": self.written})

    def _message(self, t: float) -> str | None:
        obj = self._directory.get(CONSUMER_MESSAGE_DISPLAY)
        if not isinstance(obj, ConsumerMessage) or not obj.text:
            return None
        if self.message_s and self.written is not None and t >= self.written + self.message_s:
            return None  # its time is over; the list scrolls again
        return _text(obj.text)

    def items(self) -> tuple[CaptureObject, ...]:
        lst = self._directory.get(DISPLAY_LIST)
        return lst.columns if isinstance(lst, ProfileGeneric) else ()

    def _screen(self, t: float) -> _Screen:
        message = self._message(t)
        if message is not None:
            return _Screen(message, None, None, message)
        columns = self.items()
        if not columns:
            return _Screen("", None, None, None)
        index = math.floor(t / self.scroll_s) % len(columns)
        column = columns[index]
        return _Screen(format_item(self._directory, column, self._context()), index,
                       column.logical_name, None)

    def text(self, t: float) -> str:
        """What the LCD shows at true time ``t`` (the meter brought there by the caller)."""
        return self._screen(t).text

    def state(self, t: float) -> dict[str, Any]:
        """text, index (of the item shown; None for a message), item (its OBIS), message (the
        message shown, or None), list (the display list's OBIS and items), scroll_s."""
        screen = self._screen(t)
        return {"text": screen.text, "index": screen.index,
                "item": None if screen.item is None else str(screen.item),
                "message": screen.message, "list": str(DISPLAY_LIST),
                "items": [str(c.logical_name) for c in self.items()], "scroll_s": self.scroll_s}
