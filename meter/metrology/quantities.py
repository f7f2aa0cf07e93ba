"""Power quantities from interval measurements (metrology.md §2, IEEE 1459-2010, Budeanu, Fryze).

`Measured` holds what a meter front end produces per interval: rms-phasor spectra of every V and I
channel, the time-domain means of v*i and of the delayed-voltage products (quarter-cycle delay at
the tracked and at the nominal frequency, Q-hour's 60-degree delay), and the interval duration.
Everything else (the ~75 keys of the vector glossary) is a formula of these, shared by the sampled
path and the closed-form fast-forward path. Keys follow metrology.json `quantities`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_A = np.exp(2j * math.pi / 3)  # the 120-degree rotation operator for symmetrical components


@dataclass(frozen=True, slots=True)
class Measured:
    """Per-interval front-end results; leading axis = interval, then phase."""

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


def _rms(y: NDArray[np.complex128]) -> NDArray[np.float64]:
    rms: NDArray[np.float64] = np.sqrt(np.sum(np.abs(y) ** 2, axis=-1))
    return rms


def per_phase(m: Measured) -> dict[str, np.ndarray]:
    """Per-phase quantities, each (J, P)."""
    yv, yi = m.y[:, :, 0, :], m.y[:, :, 1, :]
    vrms, irms = _rms(yv), _rms(yi)
    v1c, i1c = yv[..., m.fund], yi[..., m.fund]
    v1, i1 = np.abs(v1c), np.abs(i1c)
    s1c = v1c * np.conj(i1c)
    p1, q1 = s1c.real, s1c.imag
    v_dc, i_dc = yv[..., 0].real, yi[..., 0].real
    # Budeanu sums harmonics only; interharmonic bins of a multi-cycle interval are left out
    harm = (m.order >= 1) & (np.abs(m.order - np.round(m.order)) < 1e-9)
    qb = np.sum((yv[..., harm] * np.conj(yi[..., harm])).imag, axis=-1)
    p = m.p
    p_dc = v_dc * i_dc
    vh, ih = _root(vrms**2 - v1**2), _root(irms**2 - i1**2)
    s, s1 = vrms * irms, v1 * i1
    ph = p - p1
    sh = vh * ih
    return {
        "vrms": vrms, "irms": irms, "v_dc": v_dc, "i_dc": i_dc, "v1": v1, "i1": i1,
        "vh": vh, "ih": ih, "thd_v": _div(vh, v1, 0.0), "thd_i": _div(ih, i1, 0.0),
        "p": p, "p1": p1, "p_ac": p - p_dc, "p_dc": p_dc, "ph": ph,
        "q1": q1, "qb": qb, "qqc": m.qqc, "qqc_nom": m.qqc_nom, "q_hour": m.q_hour,
        "q_from_qhour": (2.0 * m.q_hour - p) / math.sqrt(3.0),
        "n_fryze": _root(s**2 - p**2), "s": s, "s1": s1, "sn": _root(s**2 - s1**2),
        "di": v1 * ih, "dv": vh * i1, "sh": sh, "dh": _root(sh**2 - ph**2),
        "db": _root(s**2 - p**2 - qb**2), "s_u1i1": s1, "s_u1i": v1 * irms, "s_ui1": vrms * i1,
        "s_pq1": np.hypot(p, q1), "s_pqb": np.hypot(p, qb),
        "pf": _div(p, s, 1.0), "dpf": _div(p1, s1, 1.0),
    }  # fmt: skip


_SUMMED = ("p", "p1", "p_ac", "p_dc", "ph", "q1", "qb", "qqc", "qqc_nom", "q_hour", "q_from_qhour")


def totals(m: Measured, ph: dict[str, np.ndarray], wiring: str) -> dict[str, np.ndarray]:
    """Polyphase quantities, each (J,). ph is per_phase(m)."""
    t = {k: ph[k].sum(axis=1) for k in _SUMMED}
    t["s_arith"] = ph["s"].sum(axis=1)
    t["s1_arith"] = ph["s1"].sum(axis=1)
    t["s_arith_u1i"] = ph["s_u1i"].sum(axis=1)
    t["s_arith_ui1"] = ph["s_ui1"].sum(axis=1)
    t["s_vec_p1q1"] = np.hypot(t["p1"], t["q1"])
    t["s_vec_pq1"] = np.hypot(t["p"], t["q1"])
    t["s_vec_pqb"] = np.hypot(t["p"], t["qb"])
    t["n_poly"] = _root(t["s_arith"] ** 2 - t["p"] ** 2)
    t["n1_poly"] = _root(t["s1_arith"] ** 2 - t["p1"] ** 2)
    t["pf_arith"] = _div(t["p"], t["s_arith"], 1.0)
    t["pf_vec"] = _div(t["p"], t["s_vec_pq1"], 1.0)
    t["dpf"] = _div(t["p1"], t["s_vec_p1q1"], 1.0)
    if wiring in ("3P4W", "1P3W"):
        yn = m.y[:, :, 1, :].sum(axis=1)
        t["in_rms"] = _rms(yn)
        t["in1"] = np.abs(yn[..., m.fund])
    if wiring == "3P4W":
        t.update(_ieee1459_three_phase(m, ph, t))
    return t


def _ieee1459_three_phase(
    m: Measured, ph: dict[str, np.ndarray], t: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """IEEE 1459-2010 four-wire effective quantities, rho = xi = 1 (metrology.md §2, `se`)."""
    yv, yi = m.y[:, :, 0, :], m.y[:, :, 1, :]
    yll = yv - np.roll(yv, -1, axis=1)  # ab, bc, ca
    vll, vll1 = _rms(yll), np.abs(yll[..., m.fund])
    ve = np.sqrt((3.0 * np.sum(ph["vrms"] ** 2, axis=1) + np.sum(vll**2, axis=1)) / 18.0)
    ve1 = np.sqrt((3.0 * np.sum(ph["v1"] ** 2, axis=1) + np.sum(vll1**2, axis=1)) / 18.0)
    ie = np.sqrt((np.sum(ph["irms"] ** 2, axis=1) + t["in_rms"] ** 2) / 3.0)
    ie1 = np.sqrt((np.sum(ph["i1"] ** 2, axis=1) + t["in1"] ** 2) / 3.0)
    veh, ieh = _root(ve**2 - ve1**2), _root(ie**2 - ie1**2)
    se, se1 = 3.0 * ve * ie, 3.0 * ve1 * ie1
    seh = 3.0 * veh * ieh
    v1c, i1c = yv[..., m.fund], yi[..., m.fund]
    rot = np.array([1.0, _A, _A**2])
    v_pos = (v1c * rot).sum(axis=1) / 3.0
    i_pos = (i1c * rot).sum(axis=1) / 3.0
    s_pos = 3.0 * v_pos * np.conj(i_pos)
    s1_pos = np.abs(s_pos)
    return {
        "ve": ve, "ie": ie, "se": se, "ve1": ve1, "ie1": ie1, "se1": se1,
        "sen": _root(se**2 - se1**2), "dei": 3.0 * ve1 * ieh, "dev": 3.0 * veh * ie1,
        "seh": seh, "deh": _root(seh**2 - t["ph"] ** 2),
        "thd_ve": _div(veh, ve1, 0.0), "thd_ie": _div(ieh, ie1, 0.0),
        "v1_pos": np.abs(v_pos), "i1_pos": np.abs(i_pos), "p1_pos": s_pos.real,
        "q1_pos": s_pos.imag, "s1_pos": s1_pos, "su1": _root(se1**2 - s1_pos**2),
        "pf1_pos": _div(s_pos.real, s1_pos, 1.0), "pf_eff": _div(t["p"], se, 1.0),
    }  # fmt: skip
