"""SAP assignment (class_id 17, version 0; Blue Book §4.4.5): which logical device sits at which SAP."""

from __future__ import annotations

from meter.codec.axdr import Array, Data, LongUnsigned, OctetString, Structure
from meter.cosem.base import Attr, Context, CosemObject, Method, expect, fields, on_action, on_set


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
        kept = [e for e in self.value("sap_assignment_list").items  # type: ignore[attr-defined]
                if e.items[0] != sap]
        if name.value:  # type: ignore[attr-defined]
            kept.append(entry)
            kept.sort(key=lambda e: e.items[0].value)
        self.store("sap_assignment_list", Array(tuple(kept)))
