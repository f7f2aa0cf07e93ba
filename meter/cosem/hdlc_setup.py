"""IEC HDLC setup (class_id 23, version 1; Blue Book "IEC HDLC setup", cosem-reference.md §2.2).

Every attribute is range-checked on write (ranges: [SP iec_hdlc_setup/ver1.py, GX-NET]); the device
makes each new HDLC connection's link settings from them (a SET applies to the next connection),
and the optical port each sign-on's offered baud rate from comm_speed (a SET applies to the next
opening).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meter.codec.axdr import Data, Enum, LongUnsigned, OctetString, Unsigned
from meter.cosem.base import Attr, Context, CosemObject, in_range, integer
from meter.cosem.profile_entry import ProfileEntry

#: comm_speed enum -> line speed in baud (Blue Book; cosem-reference.md "Baud enum").
BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

#: attribute name -> inclusive range of its value.
RANGES: dict[str, tuple[int, int]] = {
    "comm_speed": (0, len(BAUD_RATES) - 1),
    "window_size_transmit": (1, 7),
    "window_size_receive": (1, 7),
    "max_info_field_length_transmit": (32, 2030),
    "max_info_field_length_receive": (32, 2030),
    "inter_octet_time_out": (20, 6000),  # ms
    "inactivity_time_out": (0, 65535),  # s, 0 = none
    "device_address": (0x0001, 0x3FFD),
}


def link_values(hdlc: Mapping[str, Any]) -> dict[str, Data]:
    """Attributes from the profile's ``[hdlc]``: what the meter's HDLC link runs with."""
    window = Unsigned(int(hdlc.get("window_size", 1)))
    max_info = LongUnsigned(int(hdlc.get("max_info_field_length_limit", 2030)))
    return {
        "comm_speed": Enum(int(hdlc.get("comm_speed", 5))),
        "window_size_transmit": window, "window_size_receive": window,
        "max_info_field_length_transmit": max_info, "max_info_field_length_receive": max_info,
        "inter_octet_time_out": LongUnsigned(int(hdlc.get("inter_octet_timeout", 25))),
        "inactivity_time_out": LongUnsigned(int(hdlc.get("inactivity_timeout", 120))),
        "device_address": LongUnsigned(int(hdlc.get("physical_address", 17))),
    }


class IecHdlcSetup(CosemObject):
    CLASS_ID = 23
    VERSION = 1
    NAME = "hdlc_setup"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "comm_speed", Enum, default=Enum(5)),  # 9600 baud
        Attr(3, "window_size_transmit", Unsigned, default=Unsigned(1)),
        Attr(4, "window_size_receive", Unsigned, default=Unsigned(1)),
        Attr(5, "max_info_field_length_transmit", LongUnsigned, default=LongUnsigned(128)),
        Attr(6, "max_info_field_length_receive", LongUnsigned, default=LongUnsigned(128)),
        Attr(7, "inter_octet_time_out", LongUnsigned, default=LongUnsigned(25)),
        Attr(8, "inactivity_time_out", LongUnsigned, default=LongUnsigned(120)),
        Attr(9, "device_address", LongUnsigned, default=LongUnsigned(0x10)),
    )

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        # [hdlc] gives the initial values; a SET by the head end overrides them (new_stack).
        return {**super().profile_values(entry), **link_values(entry.hdlc)}

    def setting(self, name: str) -> int:
        """The integer value of attribute ``name`` (every attribute but logical_name is one)."""
        return self.int_value(name)

    @property
    def baud(self) -> int:
        """The line speed comm_speed names: the optical port offers it in the mode E opening."""
        return BAUD_RATES[self.setting("comm_speed")]

    def set(self, index: int, value: Data, ctx: Context, selector: int | None = None,
            parameters: Data | None = None) -> None:
        attr = self._attr(index)
        limits = RANGES.get(attr.py_name)
        if limits is not None and isinstance(value, attr.type or ()):
            in_range(integer(value, attr.name), *limits, attr.name)
        super().set(index, value, ctx, selector, parameters)
