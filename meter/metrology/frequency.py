"""Frequency tracking from voltage samples (zero crossings, as meter front ends do).

Rising zero crossings are located by linear interpolation with a hysteresis band (10 % of the
peak) so noise and small harmonics make no extra crossings. Each crossing gets a cycle number
(gaps such as an outage are bridged by rounding with the previous estimate), and the period is the
least-squares slope of crossing time against cycle number. The interpolation error of a periodic
waveform repeats every cycle, so it cancels in the slope.
"""

from __future__ import annotations

import numpy as np


def estimate(v: np.ndarray, fs: float, f_guess: float) -> float | None:
    """Fundamental frequency of v (1-D samples at fs), or None if fewer than 3 crossings."""
    peak = float(np.max(np.abs(v))) if v.size else 0.0
    if peak <= 0.0:
        return None
    lo, hi = -0.1 * peak, 0.1 * peak
    state = np.where(v < lo, -1, np.where(v > hi, 1, 0))
    # index of the last sample outside the band, at or before n
    fill = np.maximum.accumulate(np.where(state != 0, np.arange(v.size), -1))
    armed = (fill >= 0) & (state[np.maximum(fill, 0)] < 0)
    cand = np.flatnonzero(armed[:-1] & (v[:-1] < 0.0) & (v[1:] >= 0.0))
    # one crossing per excursion below the band: the first one
    _, first = np.unique(fill[cand], return_index=True)
    cand = cand[first]
    if cand.size < 3:
        return None
    frac = v[cand] / (v[cand] - v[cand + 1])
    t = (cand + frac) / fs
    cycles = np.concatenate(([0], np.cumsum(np.maximum(1, np.round(np.diff(t) * f_guess)))))
    slope = np.polyfit(cycles, t, 1)[0]
    return float(1.0 / slope) if slope > 0 else None
