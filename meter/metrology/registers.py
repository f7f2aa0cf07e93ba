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
    return route_rows(np.stack((p, q, s)), dur)


#: The energy (rows of route_rows' stack: P, Q, S, |Q|) each of C = 1..10 takes.
_ENERGY_OF_C = np.array([0, 0, 1, 1, 3, 3, 3, 3, 2, 2])


def route_rows(pqs: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """route() of p, q, s stacked on a first axis (3, ..., intervals), as the engine builds them."""
    p, q = pqs[0], pqs[1]
    e = np.empty((4, *pqs.shape[1:]))  # P, Q, S and |Q| energies
    np.multiply(pqs, dur, out=e[:3])
    e[:3] /= 3600.0
    np.abs(e[1], out=e[3])
    pos_p, neg_p = p > 0, p < 0
    pos_q, neg_q = q > 0, q < 0
    # all ten as one (10, ..., intervals) selection and one sum; C=2 and C=4 summed positive
    # and negated after (the same values: a sum of negated terms is the negated sum)
    where = np.stack((
        pos_p, neg_p, pos_q, neg_q,
        (p >= 0) & pos_q,  # QI
        neg_p & (q >= 0),  # QII
        (p <= 0) & neg_q,  # QIII
        pos_p & (q <= 0),  # QIV
        pos_p, neg_p,
    ))  # fmt: skip
    out: np.ndarray = np.where(where, e[_ENERGY_OF_C], 0.0).sum(axis=-1)
    out[1] = -out[1]
    out[3] = -out[3]
    return out
