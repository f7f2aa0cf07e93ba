"""Fractional-sample delay for the delay-based reactive methods (metrology.md §2: qqc, q_hour).

NA meters delay the voltage by T/4 (or T/6 for Q-hour) and split the delay into whole and
fractional samples (TI application-note practice). The fractional part is a windowed-sinc
interpolator whose Kaiser window is centred on the fractional point, so the filter stays
symmetric about the wanted instant; 64 taps keep the error near 1e-6 up to 0.8 x Nyquist.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import NDArray

TAPS = 64
_BETA = 9.0
_HALF = TAPS // 2


@functools.lru_cache(maxsize=64)
def _weights(frac_micro: int) -> NDArray[np.float64]:
    frac = frac_micro * 1e-6
    j = np.arange(-(_HALF - 1), _HALF + 1, dtype=float)
    x = j - frac
    window = np.i0(_BETA * np.sqrt(np.clip(1.0 - (x / _HALF) ** 2, 0.0, None))) / np.i0(_BETA)
    w = np.sinc(x) * window
    weights: NDArray[np.float64] = w / w.sum()  # unity DC gain: a DC offset is delayed unchanged
    return weights


def margins(delay: float) -> tuple[int, int]:
    """Samples needed before and after a span to delay it by `delay` samples."""
    whole = math.floor(delay + 1e-9)
    if abs(delay - round(delay)) < 1e-6:
        return round(delay), 0
    return whole + _HALF, max(0, _HALF - 1 - whole)


def key(delay: float) -> tuple[int, int]:
    """What delayed() depends on: two delays with the same key give the same samples (the
    quarter cycle at the tracked and at the nominal frequency, when these agree to 1e-6 sample)."""
    if abs(delay - round(delay)) < 1e-6:
        return round(delay), -1
    whole = math.floor(delay)
    return whole, round((delay - whole) * 1e6)


def delayed(x: np.ndarray, delay: float, pre: int, length: int) -> np.ndarray:
    """x(n - delay) for the `length` samples that start `pre` samples into the last axis of x.

    x must hold margins(delay) extra samples around the span (pre >= margins()[0]).
    """
    if abs(delay - round(delay)) < 1e-6:
        d = round(delay)
        return x[..., pre - d : pre - d + length]
    whole = math.floor(delay)
    w = _weights(round((delay - whole) * 1e6))
    # y[n] = sum_j w_j x[n - whole - j], j = -(HALF-1) .. HALF
    lo = pre - whole - _HALF
    hi = pre - whole + (_HALF - 1) + length
    seg = x[..., lo:hi]
    flat = seg.reshape(-1, seg.shape[-1])
    out = np.stack([np.convolve(row, w, mode="valid") for row in flat])
    return out.reshape(seg.shape[:-1] + (length,))
