"""The meter's state as the control API shows it, read through the same objects a DLMS GET
reads (``CosemObject.get`` with the device's internal context), as JSON-ready values."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.cosem.active_tariff import ActiveTariff
from meter.cosem.base import CosemObject
from meter.cosem.disconnect_control import DisconnectControl
from meter.cosem.names import DISCONNECTOR_LOG, FRAUD_LOG, POWER_QUALITY_LOG, STANDARD_LOG
from meter.errors import AccessError, DecodeError

if TYPE_CHECKING:
    from meter.device.device import Device

__all__ = ["EVENT_LOGS", "NotFound", "json_value", "read_attribute", "snapshot"]

#: The event logs whose last entries the state shows.
EVENT_LOGS = {"standard": STANDARD_LOG, "fraud": FRAUD_LOG, "disconnector": DISCONNECTOR_LOG,
              "power_quality": POWER_QUALITY_LOG}
#: Entries shown of each log in the state; rows of a buffer read through the API.
LAST_EVENTS = 5
MAX_ROWS = 100
#: Classes with a value and a scaler_unit (Register 3, Extended register 4, Demand register 5).
_REGISTER_CLASSES = (3, 4, 5)


class NotFound(LookupError):
    """No such object or attribute in the meter (the API answers 404)."""


def _iso(raw: bytes) -> str | None:
    try:
        return CosemDateTime.from_bytes(raw).to_datetime().isoformat()
    except (DecodeError, ValueError, OverflowError):
        return None


def json_value(value: object) -> Any:
    """A Data's plain value as JSON: octet strings as hex (date-times as ISO 8601 too)."""
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        iso = _iso(raw) if len(raw) == 12 else None
        return raw.hex() if iso is None else {"hex": raw.hex(), "datetime": iso}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def _object(device: Device, obis: Obis) -> CosemObject:
    obj = device.directory.get(obis)
    if obj is None:
        raise NotFound(f"the meter has no object {obis}")
    return obj


def _scaler_unit(obj: CosemObject) -> tuple[int, int] | None:
    index = next((a.index for a in obj.ATTRIBUTES if a.name == "scaler_unit"), None)
    if index is None:
        return None
    try:
        items = obj.items("scaler_unit")
        scaler, unit = items[0].to_python(), items[1].to_python()
    except (AccessError, IndexError, KeyError, TypeError):
        return None
    return (scaler, unit) if isinstance(scaler, int) and isinstance(unit, int) else None


def read_attribute(device: Device, obis: Obis, attribute: int = 2) -> dict[str, Any]:
    """Attribute ``attribute`` of ``obis`` as a GET reads it; a register's value with its
    scaler, unit and scaled value; a buffer's last MAX_ROWS rows."""
    obj = _object(device, obis)
    if not obj.has_attribute(attribute):
        raise NotFound(f"{obis} (class {obj.CLASS_ID}) has no attribute {attribute}")
    data = obj.get(attribute, device.context(None))
    out: dict[str, Any] = {"obis": str(obis), "class_id": obj.CLASS_ID, "attribute": attribute,
                           "name": obj._attr(attribute).name}
    value = data.to_python()
    if isinstance(value, list) and len(value) > MAX_ROWS:
        out["rows_total"] = len(value)
        value = value[-MAX_ROWS:]
    out["value"] = json_value(value)
    scaled = _scaler_unit(obj)
    if scaled is not None and attribute == 2 and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        out["scaler"], out["unit"] = scaled
        out["scaled"] = value * 10.0 ** scaled[0]
    return out


def _registers(device: Device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for obj in device.directory:
        if obj.CLASS_ID in _REGISTER_CLASSES:
            try:
                reading = read_attribute(device, obj.logical_name, 2)
            except AccessError as exc:
                out[str(obj.logical_name)] = {"error": str(exc)}
                continue
            out[str(obj.logical_name)] = {k: reading[k] for k in ("value", "scaler", "unit",
                                                                    "scaled") if k in reading}
    return out


def _last_events(device: Device) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    ctx = device.context(None)
    for name, obis in EVENT_LOGS.items():
        obj = device.directory.get(obis)
        if obj is None:
            continue
        rows = obj.get(2, ctx).to_python()
        entries = []
        for values in rows[-LAST_EVENTS:] if isinstance(rows, list) else ():
            if isinstance(values, list) and len(values) >= 2:
                stamp = values[0]
                entries.append({"time": _iso(stamp) if isinstance(stamp, bytes) else None,
                                "code": values[1]})
        out[name] = entries
    return out


def snapshot(device: Device) -> dict[str, Any]:
    """Clock, registers, relays, active tariff and the last events of each log."""
    clock = device.clock
    meter_time = clock.timestamp()
    relays = {str(o.logical_name): {"output_state": o.connected, "control_state": int(o.state),
                                    "control_mode": o.int_value("control_mode")}
              for o in device.directory if isinstance(o, DisconnectControl)}
    tariff = next((o.get(2, device.context(None)).to_python() for o in device.directory
                   if isinstance(o, ActiveTariff)), None)
    return {
        "clock": {"meter_time": dt.datetime.fromtimestamp(meter_time, dt.UTC).isoformat(),
                  "meter_local": clock.now().isoformat(),
                  "true_time": dt.datetime.fromtimestamp(device.t, dt.UTC).isoformat(),
                  "offset_s": meter_time - device.t},
        "registers": _registers(device),
        "relays": relays,
        "active_tariff": tariff,
        "events": _last_events(device),
    }
