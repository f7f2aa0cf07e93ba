"""Register monitor (class_id 21, version 0; Blue Book 4.5.6, cosem-reference.md §2).

Attributes: 2 thresholds (array of values of the monitored value's type), 3 monitored_value
{class_id long-unsigned, logical_name octet-string, attribute_index integer}, 4 actions (array,
one per threshold, of {action_up {script_logical_name, script_selector}, action_down {...}}).
No methods. When the monitored value crosses a threshold upwards (from at most the threshold to
above it) action_up runs; downwards, action_down. The device looks (meter/device/monitors.py)
whenever the value may have moved; the object only holds and checks its program.
"""

from __future__ import annotations

from meter.codec.axdr import Array, Data, Integer, LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, bad_type, expect, fields, integer, items, on_set)
from meter.cosem.limiter import check_action_item, check_value_definition
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import EncodeError, MeterError

__all__ = ["RegisterMonitor", "script_ref"]

#: Thresholds a head end may program (each one a comparison per check).
MAX_THRESHOLDS = 32


def script_ref(table: Obis, selector: int) -> Structure:
    return Structure((OctetString(table.to_bytes()), LongUnsigned(selector)))


class RegisterMonitor(CosemObject):
    CLASS_ID = 21
    VERSION = 0
    NAME = "register_monitor"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "thresholds", Array, default=Array(())),
        Attr(3, "monitored_value", Structure),
        Attr(4, "actions", Array, default=Array(())),
    )

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """thresholds = [typed values], monitored = [obis, attribute], actions = [[up table, up
        selector, down table, down selector], ...] (one per threshold)."""
        o = entry.options
        try:
            name, attribute = o["monitored"]
            target = Obis.parse(str(name))
            class_id = entry.class_id_of(target)
            if class_id is None:
                raise OptionError(f"monitored {target} is not in the profile")
            monitored = Structure((LongUnsigned(class_id), OctetString(target.to_bytes()),
                                   Integer(int(attribute))))
            thresholds = Array(tuple(entry.typed_value(t) for t in o.get("thresholds", ())))
            actions = Array(tuple(
                Structure((script_ref(Obis.parse(str(up)), int(up_sel)),
                           script_ref(Obis.parse(str(down)), int(down_sel))))
                for up, up_sel, down, down_sel in o.get("actions", ())))
        except (KeyError, ValueError, TypeError, EncodeError) as exc:
            raise OptionError(f"register monitor: {exc!r}") from None
        if len(actions.items) != len(thresholds.items):
            raise OptionError("one action pair per threshold")
        return {**super().profile_values(entry), "thresholds": thresholds,
                "monitored_value": monitored, "actions": actions}

    def monitored(self) -> tuple[int, Obis, int]:
        class_id, name, attribute = self.items("monitored_value")
        return (integer(class_id, "class_id"), Obis.from_bytes(expect(name, OctetString, "ln").value),
                integer(attribute, "attribute_index"))

    def program(self) -> list[tuple[int, tuple[Obis, int], tuple[Obis, int]]]:
        """(threshold, (up table, selector), (down table, selector)) per threshold; a threshold
        that is no integer, or without its actions, is skipped."""
        out = []
        for threshold, action in zip(self.items("thresholds"), self.items("actions"), strict=False):
            try:
                up, down = (tuple(fields(a, 2, "action item")) for a in fields(action, 2, "actions"))
                out.append((integer(threshold, "threshold"),
                            (Obis.from_bytes(expect(up[0], OctetString, "").value), integer(up[1], "")),
                            (Obis.from_bytes(expect(down[0], OctetString, "").value), integer(down[1], ""))))
            except (MeterError, ValueError):  # checked when written; a profile's odd row is skipped
                continue
        return out

    @on_set("thresholds")
    def write_thresholds(self, value: Data, ctx: Context) -> None:
        if len(items(value, "thresholds")) > MAX_THRESHOLDS:
            raise bad_type("thresholds")
        for t in items(value, "thresholds"):
            integer(t, "threshold")
        self.store("thresholds", value)

    @on_set("monitored_value")
    def write_monitored(self, value: Data, ctx: Context) -> None:
        check_value_definition(value)
        self.store("monitored_value", value)

    @on_set("actions")
    def write_actions(self, value: Data, ctx: Context) -> None:
        if len(items(value, "actions")) > MAX_THRESHOLDS:
            raise bad_type("actions")
        for action in items(value, "actions"):
            for item in fields(action, 2, "action"):
                check_action_item(item)
        self.store("actions", value)
