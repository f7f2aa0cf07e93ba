"""Energy registers by direction and quadrant (metrology.md §3; vector glossary `registers`).

Load convention: QI (P>=0, Q>0), QII (P<0, Q>=0), QIII (P<=0, Q<0), QIV (P>0, Q<=0). Each
interval's energy goes to import/export (C=1/2), Q+/Q- (3/4), |Q| to the quadrant (5..8) and S to
+VA/-VA (9/10) by that interval's signs. Per-phase registers use the phase's own signs, with
C offsets 20, 40, 60 for L1, L2, L3 (D=8, E=0). Keys are "C.8.0".
"""

from __future__ import annotations

import numpy as np

PHASE_OFFSETS = (20, 40, 60)


def register_keys(n_phases: int) -> list[str]:
    """Total registers, then per-phase ones when there is more than one phase."""
    offsets = (0,) + (PHASE_OFFSETS[:n_phases] if n_phases > 1 else ())
    return [f"{o + c}.8.0" for o in offsets for c in range(1, 11)]


def route(p: np.ndarray, q: np.ndarray, s: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Energies (Wh, varh, VAh) for C = 1..10 from per-interval p, q, s and durations.

    p, q, s are (intervals,) -> (10,), or (K, intervals) for K register sets at once -> (10, K).
    """
    ep, eq, es = p * dur / 3600.0, q * dur / 3600.0, s * dur / 3600.0
    pos_p, neg_p = p > 0, p < 0
    quads = (
        (p >= 0) & (q > 0),
        (p < 0) & (q >= 0),
        (p <= 0) & (q < 0),
        (p > 0) & (q <= 0),
    )
    out = [
        np.where(pos_p, ep, 0.0),
        np.where(neg_p, -ep, 0.0),
        np.where(q > 0, eq, 0.0),
        np.where(q < 0, -eq, 0.0),
        *(np.where(qd, np.abs(eq), 0.0) for qd in quads),
        np.where(pos_p, es, 0.0),
        np.where(neg_p, es, 0.0),
    ]
    return np.array([o.sum(axis=-1) for o in out])
