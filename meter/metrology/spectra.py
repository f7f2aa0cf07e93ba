"""Per-interval spectra: rms phasors of every channel over whole-cycle intervals.

An interval covers `cycles` fundamental periods starting at a boundary u (in sample units).
When it spans a whole number of samples and starts on a sample, the DFT is exact: rfft bins,
fundamental in bin `cycles` (a synchronous DFT, as Dranetz/Hioki-style analysers use). Otherwise
(off-nominal frequency, or 60 Hz at 8 kHz = 133.3 samples per cycle) the harmonics are fitted by
least squares on that interval's samples at the tracked frequency; the pseudo-inverse depends only
on the interval length, so it is cached and a repeating pattern costs one matrix product.

Spectra are normalised as rms phasors: index 0 is the dc value, bin b the component's rms phasor,
so Parseval reads mean(x^2) = sum |Y|^2 and mean(x*y) = sum Re(X conj Y).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

H_MAX = 50  # highest order the least-squares path resolves (3 kHz at 60 Hz)
_EPS = 1e-3  # samples: boundary snapping (tracking noise is far below this)


@dataclass(frozen=True, slots=True)
class Grid:
    """Interval boundaries u0 + j*step (absolute sample units), j = 0..count."""

    u0: float
    step: float
    count: int

    def starts(self) -> NDArray[np.int64]:
        """First sample index of each interval and the end of the last one (count + 1 values)."""
        u = self.u0 + self.step * np.arange(self.count + 1)
        starts: NDArray[np.int64] = np.ceil(u - _EPS).astype(np.int64)
        return starts

    @property
    def exact(self) -> bool:
        return abs(self.step - round(self.step)) < _EPS and abs(self.u0 - round(self.u0)) < _EPS

    @property
    def end(self) -> float:
        return self.u0 + self.step * self.count


@dataclass(frozen=True, slots=True)
class Spectra:
    """Y[..., bin] per interval and channel; `fund` is the fundamental's bin, `order` each bin's order."""

    y: np.ndarray
    fund: int
    order: np.ndarray


def orders_for(samples_per_cycle: float) -> int:
    return max(1, min(H_MAX, int(0.4 * samples_per_cycle)))


# The basis starts at the interval's first sample, not at the cycle boundary a fraction of a
# sample earlier: that only shifts the fit in time, so every order-h phasor of every channel turns
# by the same angle and magnitudes and same-order products (P, Q, S, neutral, sequences) are
# unchanged. The cache key is then just (width, period quantised to 1e-4 samples).
_SPC_Q = 1e-4


def _basis(width: int, spc_key: int, h: int) -> np.ndarray:
    """dc, cos(h theta), sin(h theta) at an interval's samples (width, 2h+1)."""
    theta = 2.0 * math.pi * np.arange(width) / (spc_key * _SPC_Q)
    arg = np.multiply.outer(theta, np.arange(1, h + 1))
    return np.concatenate((np.ones((width, 1)), np.cos(arg), np.sin(arg)), axis=1)


def _phasor_layout(coef: np.ndarray) -> np.ndarray:
    """dc, cos and sin coefficients (2h+1, ...) -> rows 2b, 2b+1 = Re, Im of the rms phasor Y_b:
    a cos(h theta) + b sin(h theta) is (a - jb) / sqrt(2); dc is itself."""
    h = coef.shape[0] // 2
    out = np.zeros((2 * h + 2, *coef.shape[1:]))
    out[0] = coef[0]
    out[2::2] = coef[1 : h + 1] / math.sqrt(2.0)
    out[3::2] = coef[h + 1 :] / -math.sqrt(2.0)
    return out


@functools.lru_cache(maxsize=256)
def _pinv(width: int, spc_key: int, h: int, pad: int = 0) -> np.ndarray:
    """The least-squares map from an interval's samples to its rms phasors, transposed
    (width, 2h+2): column 2b gives Re Y_b and column 2b+1 Im Y_b, so the product of samples and
    this matrix is the spectrum's complex array seen as floats (no pass to scale or interleave);
    `pad` zero columns after them."""
    basis = _basis(width, spc_key, h)
    # the basis is near-orthogonal over about one period (condition number ~2), so the normal
    # equations are as accurate as an SVD pseudo-inverse and fifty times cheaper
    coef = np.linalg.solve(basis.T @ basis, basis.T)  # (2h+1, width): dc, cos, sin coefficients
    out = np.zeros((width, 2 * h + 2 + pad))  # (pad: zero columns after the phasors)
    out[:, : 2 * h + 2] = _phasor_layout(coef).T
    out.flags.writeable = False
    return out


def _windows(flat: np.ndarray, w: int) -> np.ndarray:
    """Every w-sample window of the rows of flat (channels, samples) as a read-only view
    (starts, channels, w): indexing it with the intervals' first samples copies their samples
    intervals-first in one pass, the layout of the spectra (intervals, channels, bins)."""
    s_row, s_col = flat.strides
    shape = (flat.shape[1] - w + 1, flat.shape[0], w)
    return as_strided(flat, shape, (s_col, s_row, s_col), writeable=False)


@functools.lru_cache(maxsize=256)
def _one_more(width: int, spc_key: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """(gain, row): the fit over width + 1 samples from the fit y over the first width samples and
    the next sample s is y + gain * (s - row . y) (recursive least squares: Sherman-Morrison on
    the normal equations), both in _pinv's phasor layout. Equal to _pinv(width + 1) to rounding."""
    basis = _basis(width + 1, spc_key, h)
    b = basis[width]
    g = np.linalg.solve(basis[:width].T @ basis[:width], b)
    gain = _phasor_layout(g / (1.0 + b @ g))
    row = _phasor_layout(b) * 2.0  # b . coef written on the phasor layout (the sqrt 2 back twice)
    row[0] = b[0]
    for a in (gain, row):
        a.flags.writeable = False
    return gain, row


def segments(x: np.ndarray, base: int, starts: NDArray[np.int64]) -> np.ndarray:
    """Each interval's samples (x[..., n - base], n from starts[j]), intervals first: (intervals,
    channels, longest width), a shorter interval followed by the next samples (one gather from a
    window view, the layout the least-squares fit and the per-interval sums read)."""
    flat = x.reshape(-1, x.shape[-1])
    w, first = int((starts[1:] - starts[:-1]).max()), starts[:-1] - base
    if int(first[-1]) + w > flat.shape[1]:  # x ends with a shorter last interval: pad (unread)
        flat = np.concatenate((flat, np.zeros((flat.shape[0], w))), axis=1)
    seg: np.ndarray = _windows(flat, w)[first]
    return seg


def interval_spectra(
    x: np.ndarray, base: int, grid: Grid, cycles: int, starts: NDArray[np.int64] | None = None,
    seg: np.ndarray | None = None,
) -> Spectra:
    """Spectra of x[..., n - base] over each interval of grid; x's last axis is samples.
    starts: grid.starts() and seg: segments(x, base, starts) if the caller has them."""
    spc = grid.step / cycles
    lead = x.shape[:-1]
    if grid.exact:
        w = round(grid.step)
        a = round(grid.u0) - base
        seg = x[..., a : a + w * grid.count].reshape(*lead, grid.count, w)
        spec = np.fft.rfft(seg, axis=-1) * (math.sqrt(2.0) / w)
        spec[..., 0] /= math.sqrt(2.0)
        if w % 2 == 0:
            spec[..., -1] /= math.sqrt(2.0)
        y = np.moveaxis(spec, -2, 0)  # (count, *lead, bins)
        return Spectra(y, cycles, np.arange(y.shape[-1]) / cycles)
    h = orders_for(spc)
    starts = grid.starts() if starts is None else starts
    widths = starts[1:] - starts[:-1]
    seg = segments(x, base, starts) if seg is None else seg  # (intervals, channels, w_hi)
    ch, cols = seg.shape[1], 2 * h + 2
    # (intervals, channels, 2h+2): the floats of the complex phasors (_pinv's column layout),
    # already in the spectra's order; each row padded to a multiple of 8 floats (zero columns of
    # the matrix), which the matrix kernel does without a ragged edge (102 -> 104 columns at
    # 60 Hz: ~8 % faster), the spectra a view without the pad
    pad = -cols % 8
    yf_pad = np.empty((grid.count, ch, cols + pad))
    yf = yf_pad[..., :cols]
    spc_key = round(spc / _SPC_Q)  # harmonics of the fundamental; interharmonics are not fitted
    w_lo, w_hi = int(widths.min()), int(widths.max())  # a sample apart when the period is not whole
    # every interval's first w_lo samples in one matrix product (the row stride leaves the longer
    # segments' further samples out, no copy)
    pinv = _pinv(w_lo, spc_key, h, pad)
    np.matmul(seg.reshape(-1, w_hi)[:, :w_lo], pinv, out=yf_pad.reshape(-1, cols + pad))
    if w_hi == w_lo + 1:  # the longer intervals: their last sample added to the fit
        gain, row = _one_more(w_lo, spc_key, h)
        longer = np.flatnonzero(widths == w_hi)
        fit = yf[longer]  # (longer, channels, 2h+2)
        fit += (seg[longer, :, w_lo] - fit @ row)[..., None] * gain
        yf[longer] = fit
    elif w_hi > w_lo:
        for w in range(w_lo + 1, w_hi + 1):  # (tracking noise on a whole period: not seen)
            sel = np.flatnonzero(widths == w)
            if sel.size:
                yf[sel] = seg[sel, :, :w] @ _pinv(w, spc_key, h)
    y = yf.view(complex)  # (count, channels, h + 1)
    return Spectra(y.reshape(grid.count, *lead, h + 1), 1, np.arange(h + 1, dtype=float))
