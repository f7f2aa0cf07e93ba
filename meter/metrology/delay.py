"""Fractional-sample delay for the delay-based reactive methods (metrology.md §2: qqc, q_hour).

NA meters delay the voltage by T/4 (or T/6 for Q-hour) and split the delay into whole and
fractional samples (TI application-note practice). The fractional part is a windowed-sinc
interpolator whose Kaiser window is centred on the fractional point, so the filter stays
symmetric about the wanted instant; 64 taps keep the error near 1e-6 up to 0.8 x Nyquist.

The filter is applied as a fast convolution (issue 12 item 5: the sampled path at >= 1,000x real
time): one FFT of the voltages serves every delay of a block, each delay is a product with its
cached filter spectrum and one inverse FFT. That is the same 64-tap FIR as the direct sum
(``delayed_direct``, kept as the definition and the tests' oracle), equal to rounding (~1e-15 of
the signal), at a fraction of the cost of 64 multiply-adds per sample and delay.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

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


def delayed_direct(x: np.ndarray, delay: float, pre: int, length: int) -> np.ndarray:
    """x(n - delay) for the `length` samples that start `pre` samples into the last axis of x,
    by the FIR's direct sum (the definition; see delayed() for the fast form).

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


def delayed(x: np.ndarray, delays: Sequence[float], pre: int, length: int) -> np.ndarray:
    """delayed_direct(x, d, pre, length) for each d of `delays`, stacked on a new first axis, by
    fast convolution: one forward FFT of the span that all fractional delays need, one inverse
    FFT for all of them. A delay of a whole number of samples is a slice of x, as in the direct
    form. The result may be written to (it is a fresh array)."""
    keys = [key(d) for d in delays]
    frac = list(dict.fromkeys(k for k in keys if k[1] >= 0))
    if not frac:
        return np.stack([x[..., pre - k[0] : pre - k[0] + length] for k in keys])
    lo, span, size, g = _plan(frac, pre, length)
    spec = np.fft.rfft(x[..., lo : lo + span], size)
    spec = spec * g.reshape(g.shape[:1] + (1,) * (spec.ndim - 1) + g.shape[1:])
    y: np.ndarray = np.fft.irfft(spec, size)[..., :length]
    if frac == keys:
        return y
    at = {k: n for n, k in enumerate(frac)}
    return np.stack([y[at[k]] if k in at else x[..., pre - k[0] : pre - k[0] + length] for k in keys])


def delayed_dot(x: np.ndarray, w: np.ndarray, delays: Sequence[float], pre: int) -> np.ndarray:
    """sum over the span of w * delayed_direct(x, d, pre, span) for each d of `delays`, stacked
    on a new first axis (w: x's leading shape and the span's samples): the whole span's delayed
    product without the delayed samples. By Parseval on the same transforms as delayed() (one
    forward FFT of w in place of the inverse ones), equal to the direct sum to rounding."""
    length = w.shape[-1]
    keys = [key(d) for d in delays]
    frac = list(dict.fromkeys(k for k in keys if k[1] >= 0))
    out: dict[tuple[int, int], np.ndarray] = {
        k: np.einsum("...n,...n->...", x[..., pre - k[0] : pre - k[0] + length], w) for k in keys if k[1] < 0
    }
    if frac:
        lo, span, size, g = _plan(frac, pre, length)
        # x's span and w of one row at a time in one transform, each zero-padded to size: a
        # third of the memory of all rows at once, reused row after row (it stays in cache)
        lead = w.shape[:-1]
        xs, ws = x[..., lo : lo + span].reshape(-1, span), w.reshape(-1, length)
        sums = np.empty((ws.shape[0], len(frac)))
        kernels = _weighted_kernels(g, size)
        both = np.empty((2, size))  # the rows' samples written below, zeros after them
        both[0, span:] = 0.0
        both[1, length:] = 0.0
        spec = np.empty((2, size // 2 + 1), complex)
        for r in range(ws.shape[0]):
            both[0, :span] = xs[r]
            both[1, :length] = ws[r]
            np.fft.rfft(both, out=spec)
            # sum_m w[m] y[m] = sum_k c_k Re(conj W_k Y_k), Y = X G: c_k = 2/size but 1/size for
            # the bins without a mirror (dc, and Nyquist of an even size); w is zero past its length
            cross = np.multiply(np.conj(spec[1], out=spec[1]), spec[0], out=spec[0])
            # Re(cross . g c) as one real product: the complex values' floats against (Re, -Im)
            np.matmul(cross.view(np.float64), kernels, out=sums[r])
        sums = sums.reshape(*lead, len(frac))
        if len(frac) == len(keys):  # (the usual case: every delay fractional and distinct)
            return np.moveaxis(sums, -1, 0)[[frac.index(k) for k in keys]]
        out |= {k: sums[..., n] for n, k in enumerate(frac)}
    return np.stack([out[k] for k in keys])


def _plan(
    frac: list[tuple[int, int]], pre: int, length: int
) -> tuple[int, int, int, NDArray[np.complex128]]:
    """For fractional delays (keys): where the span they read starts (x[lo : lo + span]), the
    FFT size and the kernels' spectra: y_k[m] = sum_r kernel_k[r] x[lo + m + r] for m < length."""
    w_max, w_min = max(k[0] for k in frac), min(k[0] for k in frac)
    lo = pre - w_max - _HALF
    span = length + w_max - w_min + TAPS - 1
    size = _fast_size(span)  # a circular correlation of this size wraps nothing into m < length
    return lo, span, size, _kernel_spectra(tuple((k[1], w_max - k[0]) for k in frac), size)


def _weighted_kernels(g: NDArray[np.complex128], size: int) -> NDArray[np.float64]:
    """The kernels' spectra times Parseval's bin weights, as real columns (2 bins, kernels): rows
    2k and 2k+1 are Re and -Im of bin k, so the floats of a complex row times them give the real
    part of its product with the weighted kernels; kept with g."""
    key = (id(g), size)
    hit = _WEIGHTED.get(key)
    if hit is not None and hit[0] is g:
        return hit[1]
    c = np.full(size // 2 + 1, 2.0 / size)
    c[0] = 1.0 / size
    if size % 2 == 0:
        c[-1] = 1.0 / size
    gc = g * c  # (kernels, bins)
    out = np.empty((2 * gc.shape[1], gc.shape[0]))
    out[0::2] = gc.real.T
    out[1::2] = -gc.imag.T
    out.flags.writeable = False
    if len(_WEIGHTED) >= 64:
        _WEIGHTED.clear()
    _WEIGHTED[key] = (g, out)
    return out


_WEIGHTED: dict[tuple[int, int], tuple[NDArray[np.complex128], NDArray[np.float64]]] = {}


@functools.lru_cache(maxsize=64)
def _kernel_spectra(kernels: tuple[tuple[int, int], ...], size: int) -> NDArray[np.complex128]:
    """conj(rfft) of each correlation kernel (fraction in 1e-6 samples, shift), stacked: the
    FIR's taps reversed and `shift` samples in."""
    k = np.zeros((len(kernels), size))
    for row, (frac_micro, shift) in zip(k, kernels, strict=True):
        row[shift : shift + TAPS] = _weights(frac_micro)[::-1]
    spec: NDArray[np.complex128] = np.conj(np.fft.rfft(k))
    spec.flags.writeable = False
    return spec


@functools.lru_cache(maxsize=64)
def _fast_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (sizes the FFT does fast)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best
