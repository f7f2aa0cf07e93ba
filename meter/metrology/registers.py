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
    pos_q, neg_q = q > 0, q < 0
    aq = np.abs(eq)
    # all ten as one (10, ..., intervals) selection and one sum; C=2 and C=4 summed positive
    # and negated after (the same values: a sum of negated terms is the negated sum)
    energy = np.stack((ep, ep, eq, eq, aq, aq, aq, aq, es, es))
    where = np.stack((
        pos_p, neg_p, pos_q, neg_q,
        (p >= 0) & pos_q,  # QI
        neg_p & (q >= 0),  # QII
        (p <= 0) & neg_q,  # QIII
        pos_p & (q <= 0),  # QIV
        pos_p, neg_p,
    ))  # fmt: skip
    out: np.ndarray = np.where(where, energy, 0.0).sum(axis=-1)
    out[1] = -out[1]
    out[3] = -out[3]
    return out
