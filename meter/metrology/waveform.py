"""Sampled waveforms from a Scenario (metrology.md §4: x(t) = dc + sum sqrt(2) rms cos(h theta + phase)).

Each state's fundamental phase theta(t) runs on from where the previous state left it, so a
frequency step stays phase-continuous; the first state also defines the samples before its start
(pre-roll for delays). Synthesis is vectorised: one cos/sin per distinct harmonic order is shared by
all channels, then a small matrix product gives every channel at once. Within a state the phase
advances by the same angle every sample, so cos/sin are evaluated for one chunk of _CHUNK samples
only (kept per state and rate) and each chunk is that one rotated to its start, the rotation
folded into the coefficients (cos h(φ+x) = cos hφ cos hx − sin hφ sin hx): a second of 8 kHz
samples costs one batched matrix product instead of a cos and a sin of every sample and order
(the meter's tick synthesises one every second).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from meter.metrology.scenario import LoadState, Scenario


def _state_theta0(sc: Scenario) -> list[float]:
    """Fundamental phase at each state's start (radians)."""
    out = [0.0]
    for (t0, st), (t1, _) in zip(sc.states, sc.states[1:], strict=False):
        out.append(out[-1] + 2.0 * math.pi * st.f * (t1 - t0))
    return out


#: Samples per rotated chunk: big enough that the per-chunk work is small, small enough that the
#: cached basis stays in cache.
_CHUNK = 256


@functools.lru_cache(maxsize=32)
def _chunk_basis(orders: tuple[float, ...], step: float) -> np.ndarray:
    """cos and sin of h·step·j, j < _CHUNK, for each order h (2U, _CHUNK), step in radians."""
    arg = np.multiply.outer(np.array(orders), step * np.arange(_CHUNK))
    basis = np.concatenate((np.cos(arg), np.sin(arg)))
    basis.flags.writeable = False
    return basis


@functools.lru_cache(maxsize=32)
def _coefficients(st: LoadState) -> tuple[tuple[float, ...], np.ndarray, np.ndarray]:
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
    for a in (coef, dc):
        a.flags.writeable = False
    return tuple(float(h) for h in orders), coef, dc


_KNOWN: dict[int, tuple[LoadState, tuple[tuple[float, ...], np.ndarray, np.ndarray]]] = {}


def _coefficients_of(st: LoadState) -> tuple[tuple[float, ...], np.ndarray, np.ndarray]:
    """_coefficients(st), found by the state's identity first: a LoadState's hash walks all its
    phases and harmonics, and every synthesized block asks for its state again."""
    known = _KNOWN.get(id(st))
    if known is not None and known[0] is st:
        return known[1]
    if len(_KNOWN) >= 32:
        _KNOWN.clear()
    out = _coefficients(st)
    _KNOWN[id(st)] = (st, out)
    return out


def _index(n0: int, size: int, fs: float, when: float) -> int:
    """How many of the samples n0 .. n0+size-1 come before `when` (n/fs < when): what a
    searchsorted on their times gives, without making the times of every sample."""
    if not math.isfinite(when):
        return 0 if when < 0 else size
    k = min(max(math.ceil(when * fs) - n0, 0), size)
    while k > 0 and (n0 + k - 1) / fs >= when:
        k -= 1
    while k < size and (n0 + k) / fs < when:
        k += 1
    return k


def synthesize(sc: Scenario, n0: int, n1: int, fs: float, events: bool = True) -> np.ndarray:
    """Samples n0..n1-1 (t = n/fs) as an array (phases, 2 [v, i], n1-n0)."""
    n_ph = sc.n_phases
    size = max(n1 - n0, 0)
    # each state's chunks are written in place, the last one running past its end into the next
    # state's samples (written after it) or into _CHUNK spare samples at the end of each row
    full = np.empty((n_ph * 2, size + _CHUNK))
    out = full[:, :size]
    theta0 = _state_theta0(sc)
    bounds = [0, *(_index(n0, size, fs, ts) for ts, _ in sc.states[1:]), size]
    for k, (ts, st) in enumerate(sc.states):
        a, b = bounds[k], bounds[k + 1]
        if a >= b:
            continue
        orders, coef, dc = _coefficients_of(st)
        w = 2.0 * math.pi * st.f
        basis = _chunk_basis(orders, w / fs)
        # Each chunk's phase at its first sample, and the coefficients rotated by it.
        phi = theta0[k] + w * (np.arange(n0 + a, n0 + b, _CHUNK, dtype=float) / fs - ts)
        hp = np.multiply.outer(phi, orders)  # (chunks, U)
        c, s = np.cos(hp)[:, None, :], np.sin(hp)[:, None, :]
        u = len(orders)
        cos_part, sin_part = coef[None, :, :u], coef[None, :, u:]
        rotated = np.concatenate((cos_part * c + sin_part * s, sin_part * c - cos_part * s), axis=2)
        into = full[:, a : a + len(phi) * _CHUNK].reshape(len(dc), len(phi), _CHUNK)  # a view
        np.matmul(rotated.transpose(1, 0, 2), basis, out=into)  # (P*2, chunks, _CHUNK): rows end to end
        if dc.any():
            out[:, a:b] += dc[:, None]
    x = out.reshape(n_ph, 2, size)
    if events:
        t_first, t_last = n0 / fs, (n1 - 1) / fs
        for e in sc.events:
            if e.t_end <= t_first or e.t_start > t_last:
                continue  # no sample in [t_start, t_end)
            a, b = _index(n0, size, fs, e.t_start), _index(n0, size, fs, e.t_end)
            if a < b:
                for p in e.phases:
                    x[p, 0, a:b] *= e.v_scale
                    x[p, 1, a:b] *= e.i_scale
    return x
