"""Measurement-algorithm plug-ins and the enum registry of 1.0.0.11.e.255 (metrology.md §1, NA-01).

Each plug-in is a small named object that turns the interval quantities (quantities.py) into the
per-phase and total value of one kind (active, reactive, apparent, power factor). Which enum value
selects which plug-in is DATA (the meter profile's [metrology.algorithms] table, or the vector
file's `dlms_measurement_algorithm_map`), because the Blue Book values are provisional.

Reactive plug-ins that are unsigned by definition (n_poly, n1_poly, n_fryze) take the sign of the
fundamental reactive power, so energy can still be routed to +R/-R and quadrants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from meter.metrology.errors import AlgorithmError

Values = dict[str, np.ndarray]

KIND_OF_E = {1: "active", 2: "active", 3: "reactive", 4: "reactive", 5: "apparent", 6: "apparent", 7: "pf"}
DEFAULT_KEYS = {"active": "p", "reactive": "q1", "apparent": "s", "pf": "pf"}


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A plug-in: per-phase and total quantity keys, optionally signed by q1."""

    key: str
    kind: str
    phase_key: str
    total_key: str
    signed_by_q1: bool = False

    def per_phase(self, ph: Values) -> np.ndarray:
        v = ph[self.phase_key]
        return np.copysign(v, ph["q1"]) if self.signed_by_q1 else v

    def total(self, tot: Values) -> np.ndarray:
        v = tot[self.total_key]
        return np.copysign(v, tot["q1"]) if self.signed_by_q1 else v


@dataclass(frozen=True, slots=True)
class TruePowerFactor(Algorithm):
    """PF = P / S; the total uses the selected active and apparent powers (vector-file note)."""

    def total_from(self, p: np.ndarray, s: np.ndarray) -> np.ndarray:
        out = np.ones_like(p)
        np.divide(p, s, out=out, where=np.abs(s) > 1e-12)
        return out


PLUGINS: dict[str, Algorithm] = {
    a.key: a
    for a in (
        Algorithm("p", "active", "p", "p"),
        Algorithm("p1", "active", "p1", "p1"),
        Algorithm("p_ac", "active", "p_ac", "p_ac"),
        Algorithm("p_dc", "active", "p_dc", "p_dc"),
        Algorithm("q1", "reactive", "q1", "q1"),
        Algorithm("qb", "reactive", "qb", "qb"),
        Algorithm("qqc", "reactive", "qqc", "qqc"),
        Algorithm("qqc_nom", "reactive", "qqc_nom", "qqc_nom"),
        Algorithm("q_from_qhour", "reactive", "q_from_qhour", "q_from_qhour"),
        Algorithm("n_poly", "reactive", "n_fryze", "n_poly", signed_by_q1=True),
        Algorithm("n1_poly", "reactive", "q1", "n1_poly", signed_by_q1=True),
        Algorithm("n_fryze", "reactive", "n_fryze", "n_poly", signed_by_q1=True),
        Algorithm("s", "apparent", "s", "s_arith"),
        Algorithm("s_arith", "apparent", "s", "s_arith"),
        Algorithm("s_u1i1", "apparent", "s_u1i1", "s1_arith"),
        Algorithm("s_u1i", "apparent", "s_u1i", "s_arith_u1i"),
        Algorithm("s_ui1", "apparent", "s_ui1", "s_arith_ui1"),
        Algorithm("s_vec_p1q1", "apparent", "s1", "s_vec_p1q1"),
        Algorithm("s_vec_pq1", "apparent", "s_pq1", "s_vec_pq1"),
        Algorithm("s_vec_pqb", "apparent", "s_pqb", "s_vec_pqb"),
        Algorithm("se", "apparent", "s", "se"),
        Algorithm("dpf", "pf", "dpf", "dpf"),
        TruePowerFactor("pf", "pf", "pf", "pf_arith"),
    )
}

_OBIS_E = re.compile(r"1\.0\.0\.11\.(\d+)\.255")
_ARROW_KEY = re.compile(r"->\s*([A-Za-z0-9_]+)")


def _plugin_key(text: str) -> str | None:
    """'fundamental only -> p1' -> 'p1'; a bare key is itself; 'not specified' -> None."""
    m = _ARROW_KEY.search(text)
    key = m.group(1) if m else text.strip()
    return key if key in PLUGINS else None


@dataclass(frozen=True, slots=True)
class AlgorithmMap:
    """enum value -> plug-in per E (1..7), plus the values selected at first start."""

    table: Mapping[int, Mapping[int, Algorithm]]
    selected: Mapping[int, int]

    @classmethod
    def from_data(cls, data: Mapping[str | int, Any]) -> AlgorithmMap:
        """Accept the profile shape {E: {selected, values: {v: key}}} or the vector-file shape."""
        table: dict[int, dict[int, Algorithm]] = {e: {} for e in KIND_OF_E}
        selected: dict[int, int] = {}
        for name, body in data.items():
            es = [int(name)] if str(name).isdigit() else [int(e) for e in _OBIS_E.findall(str(name))]
            if not es or not isinstance(body, Mapping):
                continue  # commentary entries ("confidence", ...)
            values = body.get("values", body)
            for e in es:
                if e not in KIND_OF_E:
                    raise AlgorithmError(f"no measurement algorithm object with E={e}")
                for raw, text in values.items():
                    plugin = _plugin_key(str(text))
                    if plugin is None:
                        continue
                    if PLUGINS[plugin].kind != KIND_OF_E[e]:
                        raise AlgorithmError(f"{plugin} is not a {KIND_OF_E[e]} algorithm (E={e})")
                    table[e][int(raw)] = PLUGINS[plugin]
                if "selected" in body:
                    selected[e] = int(body["selected"])
        out = cls(table, selected)
        for e, v in selected.items():
            out.plugin(e, v)
        return out

    def plugin(self, e: int, value: int) -> Algorithm:
        """The plug-in for enum value `value` of 1.0.0.11.e.255; 0 (not specified) = the default."""
        if e not in KIND_OF_E:
            raise AlgorithmError(f"no measurement algorithm object with E={e}")
        if value == 0:
            return PLUGINS[DEFAULT_KEYS[KIND_OF_E[e]]]
        try:
            return self.table[e][value]
        except KeyError:
            raise AlgorithmError(f"value {value} is not in the map of 1.0.0.11.{e}.255") from None

    def value_of(self, e: int, key: str) -> int:
        """The enum value that selects plug-in `key` for E (the first one), for tests and tools."""
        for v, a in self.table[e].items():
            if a.key == key:
                return v
        raise AlgorithmError(f"{key} has no value in the map of 1.0.0.11.{e}.255")
