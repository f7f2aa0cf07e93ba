"""Data (class_id 1, version 0; Blue Book §4.3.1) and the NA-01 measurement-algorithm objects.

Measurement algorithm objects 1.0.0.11.1..7.255 are Data objects holding an enum
(cosem-reference.md §5, [GX-PY OBISCodes.txt]). Which enum values a meter supports is a profile
decision, so the allowed set is a constructor argument. A write outside it answers other-reason:
the Data-Access-Result has no "value out of range", and type-unmatched would claim the enum
itself is the wrong type (see base.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from meter.codec.axdr import NULL, Data as AxdrData, Enum, OctetString
from meter.codec.obis import Obis
from meter.cosem.base import Attr, Context, CosemObject, expect, on_set, out_of_range
from meter.cosem.profile_entry import OptionError, ProfileEntry


class Data(CosemObject):
    CLASS_ID = 1
    VERSION = 0
    NAME = "data"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "value", None, static=False, default=NULL),
    )


class MeasurementAlgorithm(Data):
    """A Data object whose value selects a metrology algorithm (NA-01)."""

    NAME = "measurement_algorithm"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "value", Enum, static=True),
    )

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> MeasurementAlgorithm:
        """Allowed and selected values from ``[metrology.algorithms.<E>]`` of its OBIS code."""
        e = entry.obis.e
        algo = entry.metrology.get("algorithms", {}).get(str(e))
        if algo is None:
            raise OptionError(f"no [metrology.algorithms.{e}] table")
        allowed = [0] + [int(v) for v in algo["values"]]
        return cls(entry.obis, allowed, int(algo["selected"]),
                   on_write=partial(entry.algorithm_written, e))

    def __init__(self, logical_name: Obis, allowed: Iterable[int], value: int,
                 on_write: Callable[[int], None] | None = None) -> None:
        self.allowed = frozenset(allowed)
        if value not in self.allowed:
            raise ValueError(f"initial algorithm {value} not in {sorted(self.allowed)}")
        super().__init__(logical_name, value=Enum(value))
        #: Called with the new value after a successful write (the device switches metrology).
        self.on_write = on_write

    @on_set("value")
    def write_value(self, value: AxdrData, ctx: Context) -> None:
        algorithm: int = expect(value, Enum, "measurement algorithm").value
        if algorithm not in self.allowed:
            raise out_of_range("measurement algorithm")
        self.store("value", value)
        if self.on_write is not None:
            self.on_write(algorithm)
