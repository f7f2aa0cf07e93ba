"""SAP assignment (class_id 17, version 0; Blue Book §4.4.5): which logical device sits at which SAP."""

from __future__ import annotations

from meter.codec.axdr import Array, Data, LongUnsigned, OctetString, Structure
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, expect, fields, integer, items, octets, on_action, on_set)


def _entry(value: Data | None) -> Structure:
    sap, name = fields(value, 2, "SAP assignment entry")
    return Structure((expect(sap, LongUnsigned, "SAP"), expect(name, OctetString, "device name")))


class SapAssignment(CosemObject):
    CLASS_ID = 17
    VERSION = 0
    NAME = "sap_assignment"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "SAP_assignment_list", Array, default=Array()),
    )
    METHODS = (Method(1, "connect_logical_device"),)

    @on_set("sap_assignment_list")
    def write_sap_assignment_list(self, value: Data, ctx: Context) -> None:
        self.store("sap_assignment_list",
                   Array(tuple(_entry(e) for e in expect(value, Array, "").items)))

    @on_action("connect_logical_device")
    def connect_logical_device(self, parameters: Data | None, ctx: Context) -> None:
        """Assign a logical device to a SAP; an empty name disconnects the SAP (Blue Book)."""
        entry = _entry(parameters)
        sap, name = entry.items
        kept = [e for e in self.items("sap_assignment_list") if items(e, "sap")[0] != sap]
        if octets(name, "logical_device_name"):
            kept.append(entry)
            kept.sort(key=lambda e: integer(items(e, "sap")[0], "sap"))
        self.store("sap_assignment_list", Array(tuple(kept)))
