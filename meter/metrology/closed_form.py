"""Closed-form interval results of a steady state, for fast-forward (metrology.md §2 formulas).

A steady state is periodic, so what the sampled front end measures over whole cycles follows from
the harmonic phasors alone: mean(v*i) = sum Re(V_h conj I_h); a voltage delayed by d has phasors
V_h exp(-j h 2 pi f d), which gives the quarter-cycle (d = T/4 tracked, 1/(4 f_nominal)) and
Q-hour (d = T/6) products. The result has the same shape as measure.measure() so the same
quantity formulas, plug-ins and register routing apply.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from meter.metrology.quantities import Measured
from meter.metrology.scenario import LoadState


def steady(state: LoadState, scales: np.ndarray, f_nominal: float, duration: float) -> Measured:
    """One interval of `duration` seconds of `state` with channel scale factors (phases, 2)."""
    size = state.max_order + 1
    y = np.array([[p.v.phasors(size), p.i.phasors(size)] for p in state.phases]) * scales[..., None]
    h = np.arange(size)
    yv, yi = y[:, 0, :], y[:, 1, :]

    def delayed_mean(d: float) -> NDArray[np.float64]:
        rot = np.exp(-1j * h * 2.0 * math.pi * state.f * d)
        mean: NDArray[np.float64] = np.sum((yv * rot * np.conj(yi)).real, axis=-1)[None, :]
        return mean

    return Measured(
        y=y[None, ...],
        fund=1,
        order=h.astype(float),
        p=delayed_mean(0.0),
        qqc=delayed_mean(1.0 / (4.0 * state.f)),
        qqc_nom=delayed_mean(1.0 / (4.0 * f_nominal)),
        q_hour=delayed_mean(1.0 / (6.0 * state.f)),
        dur=np.array([duration]),
    )
