"""Power quantities from interval measurements (metrology.md §2, IEEE 1459-2010, Budeanu, Fryze).

`Measured` holds what a meter front end produces per interval: rms-phasor spectra of every V and I
channel, the time-domain means of v*i and of the delayed-voltage products (quarter-cycle delay at
the tracked and at the nominal frequency, Q-hour's 60-degree delay), and the interval duration.
Everything else (the ~75 keys of the vector glossary) is a formula of these, shared by the sampled
path and the closed-form fast-forward path. Keys follow metrology.json `quantities`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_A = np.exp(2j * math.pi / 3)  # the 120-degree rotation operator for symmetrical components


@dataclass(frozen=True, slots=True)
class Measured:
    """Per-interval front-end results; leading axis = interval, then phase. (measure() with
    delays="block" gives every interval the whole block's mean of qqc, qqc_nom and q_hour.)"""

    y: np.ndarray  # (J, P, 2, B) complex rms-phasor spectra, [..., 0, :] voltage, [..., 1, :] current
    fund: int  # bin of the fundamental
    order: np.ndarray  # (B,) harmonic order of each bin (fractional for interharmonic bins)
    p: np.ndarray  # (J, P) mean(v*i)
    qqc: np.ndarray  # (J, P) mean(v(t - T/4) * i(t)), T from the tracked frequency
    qqc_nom: np.ndarray  # (J, P) same with T = 1/f_nominal
    q_hour: np.ndarray  # (J, P) mean(v(t - T/6) * i(t))
    dur: np.ndarray  # (J,) seconds


def _div(a: np.ndarray, b: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(np.broadcast(a, b).shape, empty, dtype=float)
    np.divide(a, b, out=out, where=np.abs(b) > 1e-12)
    return out


def _root(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.sqrt(np.clip(x, 0.0, None))


def _mean_square(y: NDArray[np.complex128]) -> NDArray[np.float64]:
    """sum |Y|^2 over bins: the squares of the real and imaginary parts summed in one pass over
    the float view (no hypot per bin; equal to rounding). Of the whole (J, P, 2, B) spectra at
    once: voltage and current of every phase in one call."""
    f = y.view(np.float64) if y.strides[-1] == y.itemsize else np.ascontiguousarray(y).view(np.float64)
    ms: NDArray[np.float64] = np.einsum("...k,...k->...", f, f)
    return ms


Formulas = dict[str, Callable[["Quantities"], np.ndarray]]


class Quantities(dict[str, np.ndarray]):
    """Quantities of a Measured, each computed from its formula on first use (a formula may read
    other keys). The engine's per-block accounting needs a handful of the ~75 keys; evaluate
    reads them all (``full()``). Each value is the same expression whichever way it is reached.
    Read it with ``q[key]`` and ``key in q``; iteration, len() and get() see only the keys
    computed so far (use ``full()``). The formulas are module tables read through ``m`` (and
    ``ph``, the per-phase quantities, for totals), so making a Quantities costs nothing; keys
    with a leading underscore are shared intermediates that ``full()`` leaves out."""

    def __init__(self, formulas: Formulas, m: Measured, ph: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        self._formulas = formulas
        self.m = m
        self.ph: dict[str, np.ndarray] = {} if ph is None else ph

    def __missing__(self, key: str) -> np.ndarray:
        value = self._formulas[key](self)  # KeyError for an unknown key, as a dict
        self[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._formulas

    def full(self) -> dict[str, np.ndarray]:
        return {k: self[k] for k in self._formulas if not k.startswith("_")}


def _s1c(d: Quantities) -> np.ndarray:
    out: np.ndarray = d["_v1c"] * np.conj(d["_i1c"])
    return out


def _qb(d: Quantities) -> np.ndarray:
    # Budeanu sums harmonics only; interharmonic bins of a multi-cycle interval are left out
    take: slice | np.ndarray = slice(1, None)  # a view, not a copy: one-cycle bins are all harmonics
    if d.m.fund != 1:
        order = d.m.order
        harm = (order >= 1) & (np.abs(order - np.round(order)) < 1e-9)
        take = slice(1, None) if not harm[0] and harm[1:].all() else harm
    yv, yi = d["_yv"][..., take], d["_yi"][..., take]
    # sum of Im(V conj I) = Im V Re I - Re V Im I, without the complex product
    out: np.ndarray = np.einsum("...k,...k->...", yv.imag, yi.real) - np.einsum("...k,...k->...", yv.real, yi.imag)
    return out


_PER_PHASE: Formulas = {
    "vrms": lambda d: np.sqrt(d["_ms"][..., 0]), "irms": lambda d: np.sqrt(d["_ms"][..., 1]),
    "v_dc": lambda d: d["_yv"][..., 0].real, "i_dc": lambda d: d["_yi"][..., 0].real,
    "v1": lambda d: np.abs(d["_v1c"]), "i1": lambda d: np.abs(d["_i1c"]),
    "vh": lambda d: _root(d["vrms"] ** 2 - d["v1"] ** 2), "ih": lambda d: _root(d["irms"] ** 2 - d["i1"] ** 2),
    "thd_v": lambda d: _div(d["vh"], d["v1"], 0.0), "thd_i": lambda d: _div(d["ih"], d["i1"], 0.0),
    "p": lambda d: d.m.p, "p1": lambda d: d["_s1c"].real,
    "p_ac": lambda d: d.m.p - d["p_dc"], "p_dc": lambda d: d["v_dc"] * d["i_dc"], "ph": lambda d: d.m.p - d["p1"],
    "q1": lambda d: d["_s1c"].imag, "qb": _qb, "qqc": lambda d: d.m.qqc, "qqc_nom": lambda d: d.m.qqc_nom,
    "q_hour": lambda d: d.m.q_hour, "q_from_qhour": lambda d: (2.0 * d.m.q_hour - d.m.p) / math.sqrt(3.0),
    "n_fryze": lambda d: _root(d["s"] ** 2 - d.m.p**2), "s": lambda d: d["vrms"] * d["irms"],
    "s1": lambda d: d["v1"] * d["i1"], "sn": lambda d: _root(d["s"] ** 2 - d["s1"] ** 2),
    "di": lambda d: d["v1"] * d["ih"], "dv": lambda d: d["vh"] * d["i1"], "sh": lambda d: d["vh"] * d["ih"],
    "dh": lambda d: _root(d["sh"] ** 2 - d["ph"] ** 2),
    "db": lambda d: _root(d["s"] ** 2 - d.m.p**2 - d["qb"] ** 2), "s_u1i1": lambda d: d["s1"],
    "s_u1i": lambda d: d["v1"] * d["irms"], "s_ui1": lambda d: d["vrms"] * d["i1"],
    "s_pq1": lambda d: np.hypot(d.m.p, d["q1"]), "s_pqb": lambda d: np.hypot(d.m.p, d["qb"]),
    "pf": lambda d: _div(d.m.p, d["s"], 1.0), "dpf": lambda d: _div(d["p1"], d["s1"], 1.0),
    "_yv": lambda d: d.m.y[:, :, 0, :], "_yi": lambda d: d.m.y[:, :, 1, :],
    "_ms": lambda d: _mean_square(d.m.y),
    "_v1c": lambda d: d["_yv"][..., d.m.fund], "_i1c": lambda d: d["_yi"][..., d.m.fund],
    "_s1c": _s1c,
}  # fmt: skip


def per_phase(m: Measured, lazy: bool = False) -> dict[str, np.ndarray]:
    """Per-phase quantities, each (J, P); lazy: computed on first use (a Quantities)."""
    q = Quantities(_PER_PHASE, m)
    return q if lazy else q.full()


_SUMMED = ("p", "p1", "p_ac", "p_dc", "ph", "q1", "qb", "qqc", "qqc_nom", "q_hour", "q_from_qhour")


def _summed(key: str) -> Callable[[Quantities], np.ndarray]:
    return lambda d: d.ph[key].sum(axis=1)


_TOTALS: Formulas = {k: _summed(k) for k in _SUMMED} | {
    "s_arith": _summed("s"), "s1_arith": _summed("s1"),
    "s_arith_u1i": _summed("s_u1i"), "s_arith_ui1": _summed("s_ui1"),
    "s_vec_p1q1": lambda d: np.hypot(d["p1"], d["q1"]), "s_vec_pq1": lambda d: np.hypot(d["p"], d["q1"]),
    "s_vec_pqb": lambda d: np.hypot(d["p"], d["qb"]),
    "n_poly": lambda d: _root(d["s_arith"] ** 2 - d["p"] ** 2),
    "n1_poly": lambda d: _root(d["s1_arith"] ** 2 - d["p1"] ** 2),
    "pf_arith": lambda d: _div(d["p"], d["s_arith"], 1.0), "pf_vec": lambda d: _div(d["p"], d["s_vec_pq1"], 1.0),
    "dpf": lambda d: _div(d["p1"], d["s_vec_p1q1"], 1.0),
}  # fmt: skip
_NEUTRAL: Formulas = {
    # the phases' voltage and current spectra summed in one pass (J, 2, B): the neutral current,
    # and the voltages' zero-sequence sum that ve reads (_IEEE1459)
    "_ysum": lambda d: d.m.y.sum(axis=1), "_ysum_ms": lambda d: _mean_square(d["_ysum"]),
    "_yn": lambda d: d["_ysum"][:, 1], "in_rms": lambda d: np.sqrt(d["_ysum_ms"][:, 1]),
    "in1": lambda d: np.abs(d["_yn"][..., d.m.fund]),
}  # fmt: skip


def totals(m: Measured, ph: dict[str, np.ndarray], wiring: str, lazy: bool = False) -> dict[str, np.ndarray]:
    """Polyphase quantities, each (J,). ph is per_phase(m); lazy: computed on first use."""
    q = Quantities(_TOTALS_BY_WIRING.get(wiring, _TOTALS), m, ph)
    return q if lazy else q.full()


_A3 = np.array([1.0, _A, _A**2])


def _s_pos(d: Quantities) -> np.ndarray:
    out: np.ndarray = 3.0 * d["_v_pos"] * np.conj(d["_i_pos"])
    return out


def _line_to_line(d: Quantities) -> np.ndarray:
    """Line-to-line spectra ab, bc, ca from the phase spectra (J, 3, B)."""
    yv = d.m.y[:, :, 0, :]
    yll = np.empty_like(yv)
    np.subtract(yv[:, :2], yv[:, 1:], out=yll[:, :2])
    np.subtract(yv[:, 2], yv[:, 0], out=yll[:, 2])
    return yll


#: IEEE 1459-2010 four-wire effective quantities, rho = xi = 1 (metrology.md §2, `se`), each its
#: own formula: `se` (a tracked key) needs only the rms values, not the fundamentals and sequences.
_IEEE1459: Formulas = {
    "_yll": _line_to_line,
    "_vll1": lambda d: np.abs(d["_yll"][..., d.m.fund]),
    # the line-to-line mean squares summed: sum over the three pairs of |Va - Vb|^2 is
    # 3 (|Va|^2 + |Vb|^2 + |Vc|^2) - |Va + Vb + Vc|^2 bin by bin, so ve needs no line-to-line
    # spectra
    "ve": lambda d: np.sqrt((6.0 * np.sum(d.ph["vrms"] ** 2, axis=1) - d["_ysum_ms"][:, 0]) / 18.0),
    "ve1": lambda d: np.sqrt((3.0 * np.sum(d.ph["v1"] ** 2, axis=1) + np.sum(d["_vll1"] ** 2, axis=1)) / 18.0),
    "ie": lambda d: np.sqrt((np.sum(d.ph["irms"] ** 2, axis=1) + d["in_rms"] ** 2) / 3.0),
    "ie1": lambda d: np.sqrt((np.sum(d.ph["i1"] ** 2, axis=1) + d["in1"] ** 2) / 3.0),
    "_veh": lambda d: _root(d["ve"] ** 2 - d["ve1"] ** 2), "_ieh": lambda d: _root(d["ie"] ** 2 - d["ie1"] ** 2),
    "se": lambda d: 3.0 * d["ve"] * d["ie"], "se1": lambda d: 3.0 * d["ve1"] * d["ie1"],
    "seh": lambda d: 3.0 * d["_veh"] * d["_ieh"],
    "sen": lambda d: _root(d["se"] ** 2 - d["se1"] ** 2), "dei": lambda d: 3.0 * d["ve1"] * d["_ieh"],
    "dev": lambda d: 3.0 * d["_veh"] * d["ie1"], "deh": lambda d: _root(d["seh"] ** 2 - d["ph"] ** 2),
    "thd_ve": lambda d: _div(d["_veh"], d["ve1"], 0.0), "thd_ie": lambda d: _div(d["_ieh"], d["ie1"], 0.0),
    "_v_pos": lambda d: (d.m.y[:, :, 0, d.m.fund] * _A3).sum(axis=1) / 3.0,
    "_i_pos": lambda d: (d.m.y[:, :, 1, d.m.fund] * _A3).sum(axis=1) / 3.0,
    "_s_pos": _s_pos, "v1_pos": lambda d: np.abs(d["_v_pos"]), "i1_pos": lambda d: np.abs(d["_i_pos"]),
    "p1_pos": lambda d: d["_s_pos"].real, "q1_pos": lambda d: d["_s_pos"].imag,
    "s1_pos": lambda d: np.abs(d["_s_pos"]), "su1": lambda d: _root(d["se1"] ** 2 - d["s1_pos"] ** 2),
    "pf1_pos": lambda d: _div(d["p1_pos"], d["s1_pos"], 1.0), "pf_eff": lambda d: _div(d["p"], d["se"], 1.0),
}  # fmt: skip
_TOTALS_BY_WIRING: dict[str, Formulas] = {
    "3P4W": _TOTALS | _NEUTRAL | _IEEE1459,
    "1P3W": _TOTALS | _NEUTRAL,
}
