"""Sampled waveforms from a Scenario (metrology.md §4: x(t) = dc + sum sqrt(2) rms cos(h theta + phase)).

Each state's fundamental phase theta(t) runs on from where the previous state left it, so a
frequency step stays phase-continuous; the first state also defines the samples before its start
(pre-roll for delays). Synthesis is vectorised: one cos/sin per distinct harmonic order is shared by
all channels, then a small matrix product gives every channel at once.
"""

from __future__ import annotations

import math

import numpy as np

from meter.metrology.scenario import LoadState, Scenario


def _state_theta0(sc: Scenario) -> list[float]:
    """Fundamental phase at each state's start (radians)."""
    out = [0.0]
    for (t0, st), (t1, _) in zip(sc.states, sc.states[1:], strict=False):
        out.append(out[-1] + 2.0 * math.pi * st.f * (t1 - t0))
    return out


def _coefficients(st: LoadState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders, cos/sin coefficient matrix (P*2, 2U) and dc vector (P*2) of a state."""
    orders = sorted({h.order for p in st.phases for c in (p.v, p.i) for h in c.harmonics})
    u = len(orders)
    coef = np.zeros((2 * len(st.phases), 2 * u))
    dc = np.zeros(2 * len(st.phases))
    for k, p in enumerate(st.phases):
        for c, ch in enumerate((p.v, p.i)):
            row = 2 * k + c
            dc[row] = ch.dc
            for h in ch.harmonics:
                col = orders.index(h.order)
                amp = math.sqrt(2.0) * h.rms
                ph = math.radians(h.phase_deg)
                coef[row, col] += amp * math.cos(ph)
                coef[row, u + col] -= amp * math.sin(ph)
    return np.array(orders, dtype=float), coef, dc


def synthesize(sc: Scenario, n0: int, n1: int, fs: float, events: bool = True) -> np.ndarray:
    """Samples n0..n1-1 (t = n/fs) as an array (phases, 2 [v, i], n1-n0)."""
    n_ph = sc.n_phases
    t = np.arange(n0, n1, dtype=float) / fs
    out = np.empty((n_ph * 2, t.size))
    theta0 = _state_theta0(sc)
    starts = [ts for ts, _ in sc.states]
    cut = np.searchsorted(t, starts[1:], side="left")
    bounds = [0, *cut.tolist(), t.size]
    for k, (ts, st) in enumerate(sc.states):
        a, b = bounds[k], bounds[k + 1]
        if a >= b:
            continue
        orders, coef, dc = _coefficients(st)
        theta = theta0[k] + 2.0 * math.pi * st.f * (t[a:b] - ts)
        arg = np.multiply.outer(orders, theta)
        basis = np.concatenate((np.cos(arg), np.sin(arg)))
        out[:, a:b] = coef @ basis + dc[:, None]
    x = out.reshape(n_ph, 2, t.size)
    if events:
        for e in sc.events:
            a, b = np.searchsorted(t, (e.t_start, e.t_end), side="left")
            if a < b:
                for p in e.phases:
                    x[p, 0, a:b] *= e.v_scale
                    x[p, 1, a:b] *= e.i_scale
    return x
