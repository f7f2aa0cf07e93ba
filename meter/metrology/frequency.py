"""Frequency tracking from voltage samples (zero crossings, as meter front ends do).

Rising zero crossings are located by linear interpolation with a hysteresis band (10 % of the
peak) so noise and small harmonics make no extra crossings. Each crossing gets a cycle number
(gaps such as an outage are bridged by rounding with the previous estimate), and the period is the
least-squares slope of crossing time against cycle number. The interpolation error of a periodic
waveform repeats every cycle, so it cancels in the slope.
"""

from __future__ import annotations

import numpy as np


def crossings(v: np.ndarray) -> np.ndarray:
    """Sample indices of the rising crossings that count (first of each excursion below the
    band; the last sample outside the band at or before a crossing must be below it)."""
    # max |v| from the extremes (no |v| array; NaN propagates through both as through abs)
    peak = max(float(v.max()), -float(v.min())) if v.size else 0.0
    if peak <= 0.0:
        return np.zeros(0, dtype=np.intp)
    lo, hi = -0.1 * peak, 0.1 * peak
    cand = np.flatnonzero((v[:-1] < 0.0) & (v[1:] >= 0.0))
    out_band = (v > hi) | (v < lo)  # |v| > hi: the band is symmetric
    # the last sample outside the band at or before a crossing: the crossing itself if it is
    # outside, else the last sample of the last excursion that ended before it (two a cycle,
    # so the search runs over a short array rather than over every sample outside the band)
    ends = np.flatnonzero(out_band[:-1] & ~out_band[1:])
    j = np.searchsorted(ends, cand, side="right") - 1
    inside = ~out_band[cand]
    fill = np.where(inside, ends[np.maximum(j, 0)] if ends.size else 0, cand)
    armed = ~(inside & (j < 0)) & (v[fill] < lo)
    cand, fill = cand[armed], fill[armed]
    # fill rises with cand: the first crossing of each excursion is where fill changes
    first = np.ones(fill.size, dtype=bool)
    np.not_equal(fill[1:], fill[:-1], out=first[1:])
    out: np.ndarray = cand[first]
    return out


def estimate(v: np.ndarray, fs: float, f_guess: float) -> float | None:
    """Fundamental frequency of v (1-D samples at fs), or None if fewer than 3 crossings."""
    cand = crossings(v)
    if cand.size < 3:
        return None
    a, b = v[cand], v[cand + 1]
    t = (cand + a / (a - b)) / fs
    cycles = np.zeros(t.size)
    np.cumsum(np.maximum(1, np.round((t[1:] - t[:-1]) * f_guess)), out=cycles[1:])
    # least-squares slope, centred (what polyfit's degree-1 fit gives, without its SVD)
    n = float(t.size)  # (sum / n: what mean() computes, without its wrapper)
    dc, dt = cycles - cycles.sum() / n, t - t.sum() / n
    slope = float(dc @ dt) / float(dc @ dc)
    return float(1.0 / slope) if slope > 0 else None
