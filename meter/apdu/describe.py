"""Readable multi-line text of any decoded APDU, for ``acesm-meter decode HEX`` and -v logging.

Generic over the APDU dataclasses: one line per field, nested values indented; Data values show
their A-XDR type, byte strings their hex, enums their name and number.
"""

from __future__ import annotations

import dataclasses
import enum

from meter.apdu.registry import Apdu, decode_apdu
from meter.codec.axdr import Array, CompactArray, Data, Structure
from meter.codec.obis import Obis
from meter.errors import DecodeError

_INDENT = "  "


def describe(apdu: Apdu) -> str:
    lines = [f"{type(apdu).__name__} (tag 0x{apdu.wire_tag():02X})"]
    _fields(apdu, 1, lines)
    return "\n".join(lines)


def _fields(obj: object, depth: int, lines: list[str]) -> None:
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        _value(f.name, getattr(obj, f.name), depth, lines)


def _value(name: str, v: object, depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    if isinstance(v, (Array, Structure, CompactArray)):
        lines.append(f"{pad}{name}: {type(v).__name__}[{len(v.items)}]")
        for i, item in enumerate(v.items):
            _value(f"[{i}]", item, depth + 1, lines)
    elif isinstance(v, Data):
        lines.append(f"{pad}{name}: {type(v).__name__} {_scalar(v.to_python())}")
    elif isinstance(v, tuple):
        lines.append(f"{pad}{name}: [{len(v)}]")
        for i, item in enumerate(v):
            _value(f"[{i}]", item, depth + 1, lines)
    elif isinstance(v, bytes) and name == "user_information":
        _nested(name, v, depth, lines)
    elif dataclasses.is_dataclass(v) and not isinstance(v, (type, Obis)):
        lines.append(f"{pad}{name}: {type(v).__name__}")
        _fields(v, depth + 1, lines)
    else:
        lines.append(f"{pad}{name}: {_scalar(v)}")


def _nested(name: str, v: bytes, depth: int, lines: list[str]) -> None:
    """ACSE user-information carries an xDLMS APDU: show it decoded when it decodes."""
    pad = _INDENT * depth
    try:
        inner = decode_apdu(v)
    except DecodeError:
        lines.append(f"{pad}{name}: {_scalar(v)}")
        return
    lines.append(f"{pad}{name}: {type(inner).__name__} (tag 0x{inner.wire_tag():02X})")
    _fields(inner, depth + 1, lines)


def _scalar(v: object) -> str:
    if isinstance(v, (bytes, bytearray)):
        text = bytes(v).hex(" ").upper()
        printable = bytes(v).decode("latin-1")
        if v and all(0x20 <= b < 0x7F for b in v):
            return f"{text} ({printable!r})"
        return text or "(empty)"
    if isinstance(v, enum.Enum):
        return f"{v.name} ({v.value})"
    if isinstance(v, Obis):
        return str(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v} (0x{v:X})" if v >= 10 else str(v)
    return repr(v)
