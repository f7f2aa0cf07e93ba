"""Voltage sags, swells and interruptions from per-cycle rms (IEC 61000-4-30 style detection).

Thresholds are fractions of the declared voltage (the scenario's unsegmented phase rms): by
default a sag below 90 %, a swell above 110 %, and an interruption (reported as "outage") when
the cycle rms falls below 5 %; the meter sets them from its QoS threshold objects
(:meth:`PqDetector.set_levels`), with time thresholds below which a sag or swell is no event.
An interruption's start is reported as soon as it is seen (:meth:`PqDetector.pop_onsets`: the
meter raises its power-failure alarm then, not when the supply is back). Counters `n_below_90pct` / `n_above_110pct` count cycles, as the vectors do;
events (phase, kind, start, end, extreme) are emitted when a phase returns inside the band.
No hysteresis band is applied (IEC 61000-4-30 recommends 2 %; the vectors count raw cycles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SAG, SWELL, OUTAGE = 0.90, 1.10, 0.05


@dataclass(frozen=True, slots=True)
class PqEvent:
    """One finished disturbance on one phase; extreme is the min (sag/outage) or max rms, in V."""

    phase: str
    kind: str
    start: float
    end: float
    extreme: float


@dataclass(slots=True)
class _PhaseState:
    kind: str | None = None
    start: float = 0.0
    extreme: float = 0.0


class PqDetector:
    """Per-phase counters and open events, fed with runs of cycle rms values."""

    def __init__(self, names: tuple[str, ...], nominal: np.ndarray) -> None:
        self.names = names
        self.nominal = nominal
        self.counters = {
            f"{n}.{k}": 0.0
            for n in names
            for k in ("n_below_90pct", "n_above_110pct", "sags", "swells", "outages",
                      "sag_s", "swell_s", "outage_s", "vrms_min", "vrms_max",
                      "sag_magnitude", "swell_magnitude")
        }  # fmt: skip
        for n, v in zip(names, nominal, strict=True):
            self.counters[f"{n}.vrms_min"] = float(v)
            self.counters[f"{n}.vrms_max"] = float(v)
        self._extreme_keys = {n: (f"{n}.vrms_min", f"{n}.vrms_max") for n in names}
        self._open = [_PhaseState() for _ in names]
        self._done: list[PqEvent] = []
        self._onsets: list[PqEvent] = []
        self.sag, self.swell, self.outage = SAG, SWELL, OUTAGE
        #: Shortest sag / swell that is an event (s); a shorter one still counts its cycles.
        self.min_sag_s = self.min_swell_s = 0.0

    def set_levels(self, sag: float, swell: float, outage: float, min_sag_s: float = 0.0,
                   min_swell_s: float = 0.0) -> None:
        """Thresholds as fractions of the declared voltage, and time thresholds (s)."""
        self.sag, self.swell, self.outage = sag, swell, outage
        self.min_sag_s, self.min_swell_s = min_sag_s, min_swell_s

    def feed(self, rms: np.ndarray, t0: np.ndarray, weight: np.ndarray) -> None:
        """rms (runs, phases) of runs of cycles starting at t0, each run `weight` cycles long."""
        if rms.shape[0] == 1 and self._quiet(rms[0], float(weight[0])):
            return
        if rms.shape[0] > 1 and self._quiet_block(rms):
            return
        for k, name in enumerate(self.names):
            r = rms[:, k]
            rel = r / self.nominal[k] if self.nominal[k] > 0 else np.ones_like(r)
            c = self.counters
            c[f"{name}.n_below_90pct"] += float(weight[rel < self.sag].sum())
            c[f"{name}.n_above_110pct"] += float(weight[rel > self.swell].sum())
            c[f"{name}.vrms_min"] = min(c[f"{name}.vrms_min"], float(r.min()))
            c[f"{name}.vrms_max"] = max(c[f"{name}.vrms_max"], float(r.max()))
            kind = np.where(rel < self.outage, 2,
                            np.where(rel < self.sag, 1, np.where(rel > self.swell, 3, 0)))
            edges = np.flatnonzero(np.diff(kind, prepend=-1))
            for a, b in zip(edges, [*edges[1:], kind.size], strict=True):
                self._transition(k, int(kind[a]), float(t0[a]))
                st = self._open[k]
                if st.kind == "swell":
                    st.extreme = max(st.extreme, float(r[a:b].max()))
                elif st.kind is not None:
                    st.extreme = min(st.extreme, float(r[a:b].min()))

    def feed_run(self, rms: np.ndarray, t0: float, weight: float) -> None:
        """One steady run (rms (1, phases)) of ``weight`` cycles from ``t0``: feed() without
        its arrays when it is quiet (a fast-forward's every span)."""
        if rms.shape[0] != 1 or not self._quiet(rms[0], weight):
            self.feed(rms, np.array([t0]), np.array([weight]))

    def absorb_quiet(self, rms: np.ndarray) -> bool:
        """For rms (cycles, phases) of a sampled block: if every cycle of every phase is inside
        the band and no event is open, account for it (extremes) and return True; otherwise
        change nothing and return False (the caller then feeds it cycle by cycle)."""
        return rms.shape[0] > 1 and self._quiet_block(rms)

    def _quiet(self, rms: np.ndarray, weight: float) -> bool:
        """Fast path for one steady run inside the band with no event open (fast-forward)."""
        values = rms.tolist()
        for k, r in enumerate(values):
            nominal = float(self.nominal[k])
            if self._open[k].kind is not None or not (self.sag * nominal <= r <= self.swell * nominal):
                return False
        c = self.counters
        for name, r in zip(self.names, values, strict=True):
            k_lo, k_hi = self._extreme_keys[name]
            c[k_lo] = min(c[k_lo], r)
            c[k_hi] = max(c[k_hi], r)
        return True

    def _quiet_block(self, rms: np.ndarray) -> bool:
        """Fast path for a sampled block with every cycle of every phase inside the band and no
        event open: the same classification as feed()'s (rel against the levels), one pass."""
        if any(st.kind is not None for st in self._open):
            return False
        nominal = self.nominal.tolist()
        lows, highs = rms.min(axis=0).tolist(), rms.max(axis=0).tolist()
        # every cycle inside the band is the lowest and the highest one inside it (dividing by
        # the same positive nominal keeps the order, so rms/nominal compares as before)
        for v, r_lo, r_hi in zip(nominal, lows, highs, strict=True):
            if not (v > 0 and r_lo / v >= self.sag and r_hi / v <= self.swell):
                return False
        c = self.counters
        for name, r_lo, r_hi in zip(self.names, lows, highs, strict=True):
            k_lo, k_hi = self._extreme_keys[name]
            c[k_lo] = min(c[k_lo], r_lo)
            c[k_hi] = max(c[k_hi], r_hi)
        return True

    def _transition(self, k: int, code: int, t: float) -> None:
        st = self._open[k]
        kind = (None, "sag", "outage", "swell")[code]
        if kind == st.kind:
            return
        if st.kind == "outage" and kind == "sag":
            return  # an interruption recovering through the sag band is still that interruption
        if st.kind is not None and not (st.kind == "sag" and kind == "outage"):
            self._close(k, t)
        elif st.kind == "sag" and kind == "outage":
            st.kind = "outage"  # a sag that deepens into an interruption is one interruption
            self._onsets.append(PqEvent(self.names[k], "outage", st.start, math.nan, 0.0))
            return
        if kind is not None:
            self._open[k] = _PhaseState(kind, t, math.inf if kind != "swell" else 0.0)
            if kind == "outage":
                self._onsets.append(PqEvent(self.names[k], kind, t, math.nan, 0.0))

    def _close(self, k: int, t: float) -> None:
        st = self._open[k]
        name = self.names[k]
        self._open[k] = _PhaseState()
        kind = st.kind or "sag"
        if t - st.start < {"sag": self.min_sag_s, "swell": self.min_swell_s}.get(kind, 0.0):
            return  # shorter than its time threshold: no event
        plural = {"sag": "sags", "swell": "swells", "outage": "outages"}[kind]
        self.counters[f"{name}.{plural}"] += 1
        if kind != "outage":
            self.counters[f"{name}.{kind}_magnitude"] = float(st.extreme)
        self.counters[f"{name}.{kind}_s"] += t - st.start
        self._done.append(PqEvent(name, kind, st.start, t, float(st.extreme)))

    def pop_onsets(self) -> list[PqEvent]:
        """Interruptions begun since the last call (``end`` is NaN: still going on)."""
        out, self._onsets = self._onsets, []
        return out

    def pop_events(self) -> list[PqEvent]:
        """Finished events since the last call (the device logs them)."""
        out, self._done = self._done, []
        return out
