"""OBIS codes (IEC 62056-6-1): six value groups A.B.C.D.E.F, six bytes on the wire."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from meter.errors import DecodeError, EncodeError

_SPLIT = re.compile(r"[.\-:*]")

# Codes seen so far, by their six bytes: decoding a known code costs one dict lookup, and the
# object it gives is the very one the object directory is keyed by (profiles are read through
# :meth:`Obis.parse`), so the lookups of every request hit on identity. Bounded, since the wire
# may name any of 2**48 codes: once full, further codes are built each time as before.
_KNOWN: dict[bytes, Obis] = {}
_MAX_KNOWN = 4096
#: Parsed texts (profiles name the same codes for every meter of a fleet).
_PARSED: dict[str, Obis] = {}


def _remember(obis: Obis, raw: bytes) -> Obis:
    if len(_KNOWN) < _MAX_KNOWN:
        return _KNOWN.setdefault(raw, obis)
    return obis


@dataclass(frozen=True, slots=True, order=True)
class Obis:
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255
    # The hash, computed once: every request looks its code up several times (directory,
    # access rights), and a dataclass hashes a fresh tuple of the six groups each time.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for v in (self.a, self.b, self.c, self.d, self.e, self.f):
            if not 0 <= v <= 255:
                raise EncodeError(f"OBIS value group out of range: {v}")
        object.__setattr__(self, "_hash", hash((self.a, self.b, self.c, self.d, self.e, self.f)))
        # The first instance of a code is the known one (meter/cosem/names.py's, made at
        # import), which parse and from_bytes give back: a named code then finds its object
        # in a directory keyed by the parsed profile on identity, not by comparing six groups.
        if len(_KNOWN) < _MAX_KNOWN:
            _KNOWN.setdefault(bytes((self.a, self.b, self.c, self.d, self.e, self.f)), self)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Obis):
            return NotImplemented
        return self._hash == other._hash and (self.a, self.b, self.c, self.d, self.e, self.f) == (
            other.a, other.b, other.c, other.d, other.e, other.f)

    @classmethod
    def parse(cls, text: str) -> Obis:
        """Accepts ``1.0.1.8.0.255``, ``1-0:1.8.0.255`` and ``1-0:1.8.0`` (F = 255)."""
        known = _PARSED.get(text)
        if known is not None:
            return known
        parts = [p for p in _SPLIT.split(text.strip()) if p != ""]
        if len(parts) == 5:
            parts.append("255")
        if len(parts) != 6 or not all(p.isdigit() for p in parts):
            raise EncodeError(f"not an OBIS code: {text!r}")
        obis = cls(*(int(p) for p in parts))
        obis = _remember(obis, obis.to_bytes())
        if len(_PARSED) < _MAX_KNOWN:
            _PARSED[text] = obis
        return obis

    @classmethod
    def from_bytes(cls, data: bytes) -> Obis:
        known = _KNOWN.get(data) if type(data) is bytes else None
        if known is not None:
            return known
        if len(data) != 6:
            raise DecodeError(f"logical name must be 6 bytes, got {len(data)}")
        raw = bytes(data)
        return _remember(cls(*raw), raw)

    def to_bytes(self) -> bytes:
        return bytes((self.a, self.b, self.c, self.d, self.e, self.f))

    def __str__(self) -> str:
        return f"{self.a}.{self.b}.{self.c}.{self.d}.{self.e}.{self.f}"
