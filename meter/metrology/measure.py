"""Interval measurement over samples: the meter's front-end DSP (metrology.md §2, §4).

For each interval of a Grid this gives the rms-phasor spectra (spectra.py), mean(v*i), and the
delayed-voltage products for the quarter-cycle method at the tracked and at the nominal frequency
and for Q-hour (delay.py). Time-domain means are exact sample sums, so their energies are exact
time integrals whatever the interval partition.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from meter.metrology import delay
from meter.metrology.quantities import Measured
from meter.metrology.spectra import Grid, interval_spectra, segments


def delay_samples(fs: float, f: float, f_nominal: float) -> tuple[float, float, float]:
    """Delays in samples: T/4 tracked, T/4 nominal, T/6 tracked."""
    return fs / (4.0 * f), fs / (4.0 * f_nominal), fs / (6.0 * f)


def margins(fs: float, f: float, f_nominal: float) -> tuple[int, int]:
    """Samples a caller must supply before and after the measured span."""
    m = [delay.margins(d) for d in delay_samples(fs, f, f_nominal)]
    return max(a for a, _ in m), max(b for _, b in m)


def measure(
    x: np.ndarray,
    base: int,
    grid: Grid,
    cycles: int,
    fs: float,
    f: float,
    f_nominal: float,
    delays: bool | Literal["block"] = True,
) -> Measured:
    """Measure x (phases, 2, samples; x[..., k] is sample base + k) over every interval of grid.

    With delays=False the delayed-voltage products are left at zero (they cost most of the time
    and only the quarter-cycle and Q-hour plug-ins need them). With delays="block" every interval
    holds the whole grid's mean of each delayed product: what energies (sums of value x duration)
    and duration-weighted averages of them read, computed without the delayed samples
    (delay.delayed_dot), but not each interval's own value or sign (register routing needs those).
    """
    starts = grid.starts()
    a, n = int(starts[0]) - base, int(starts[-1] - starts[0])
    v, i = x[:, 0, :], x[:, 1, a : a + n]
    widths = starts[1:] - starts[:-1]
    width = widths.astype(float)
    seg = None
    if grid.exact:
        p = _interval_sums(v[:, a : a + n] * i, starts) / width[:, None]
    else:
        # the intervals' samples gathered once (intervals, phases * [v, i], samples) for the
        # least-squares spectra; each interval's sum of v*i from them, while they are in cache
        seg = segments(x, base, starts)
        w_lo = int(widths.min())
        p = np.einsum("jpn,jpn->jp", seg[:, 0::2, :w_lo], seg[:, 1::2, :w_lo])
        longer = np.flatnonzero(widths > w_lo)
        for col in range(w_lo, int(widths.max())):  # the longer intervals' further samples
            rows = longer[widths[longer] > col]
            p[rows] += seg[rows, 0::2, col] * seg[rows, 1::2, col]
        p /= width[:, None]
    # the spectra while the gathered samples are in cache (the delays' transforms would evict them)
    spec = interval_spectra(x, base, grid, cycles, starts, seg)
    del seg
    if delays:
        # one filtering per distinct delay, all of them from one transform of the voltages,
        # then one product with the currents and one sum per interval for all of them
        wanted = delay_samples(fs, f, f_nominal)
        keys = [delay.key(d) for d in wanted]
        distinct = list(dict.fromkeys(keys))
        at = [wanted[keys.index(k)] for k in distinct]
        if delays == "block":
            q = np.empty((grid.count, len(at), v.shape[0]))  # (J, delays, P): the block's means
            q[:] = delay.delayed_dot(v, i, at, a) / float(n)
        else:
            vd = delay.delayed(v, at, a, n)
            q = _interval_sums(np.multiply(vd, i, out=vd), starts) / width[:, None, None]  # (J, delays, P)
        qqc, qqc_nom, q_hour = (q[:, distinct.index(k)] for k in keys)
    else:
        qqc = qqc_nom = q_hour = np.zeros_like(p)
    return Measured(spec.y, spec.fund, spec.order, p, qqc, qqc_nom, q_hour, dur=width / fs)


def _interval_sums(prod: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of prod (..., samples from starts[0]) over each interval -> (intervals, ...)."""
    return np.moveaxis(np.add.reduceat(prod, starts[:-1] - starts[0], axis=-1), -1, 0)


def cycle_rms(v: np.ndarray, base: int, grid: Grid) -> NDArray[np.float64]:
    """Per-cycle rms (cycles, phases) of voltage samples v (phases, samples) on a 1-cycle grid."""
    spec = interval_spectra(v, base, grid, 1)
    rms: NDArray[np.float64] = np.sqrt(np.sum(np.abs(spec.y) ** 2, axis=-1))
    return rms
