"""Voltage sags, swells and interruptions from per-cycle rms (IEC 61000-4-30 style detection).

Thresholds are fractions of the declared voltage (the scenario's unsegmented phase rms): a sag
below 90 %, a swell above 110 %, and an interruption (reported as "outage") when the cycle rms
falls below 5 %. Counters `n_below_90pct` / `n_above_110pct` count cycles, as the vectors do;
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
                      "sag_s", "swell_s", "outage_s", "vrms_min", "vrms_max")
        }  # fmt: skip
        for n, v in zip(names, nominal, strict=True):
            self.counters[f"{n}.vrms_min"] = float(v)
            self.counters[f"{n}.vrms_max"] = float(v)
        self._open = [_PhaseState() for _ in names]
        self._done: list[PqEvent] = []

    def feed(self, rms: np.ndarray, t0: np.ndarray, weight: np.ndarray) -> None:
        """rms (runs, phases) of runs of cycles starting at t0, each run `weight` cycles long."""
        if rms.shape[0] == 1 and self._quiet(rms[0], float(weight[0])):
            return
        for k, name in enumerate(self.names):
            r = rms[:, k]
            rel = r / self.nominal[k] if self.nominal[k] > 0 else np.ones_like(r)
            c = self.counters
            c[f"{name}.n_below_90pct"] += float(weight[rel < SAG].sum())
            c[f"{name}.n_above_110pct"] += float(weight[rel > SWELL].sum())
            c[f"{name}.vrms_min"] = min(c[f"{name}.vrms_min"], float(r.min()))
            c[f"{name}.vrms_max"] = max(c[f"{name}.vrms_max"], float(r.max()))
            kind = np.where(rel < OUTAGE, 2, np.where(rel < SAG, 1, np.where(rel > SWELL, 3, 0)))
            edges = np.flatnonzero(np.diff(kind, prepend=-1))
            for a, b in zip(edges, [*edges[1:], kind.size], strict=True):
                self._transition(k, int(kind[a]), float(t0[a]))
                st = self._open[k]
                if st.kind == "swell":
                    st.extreme = max(st.extreme, float(r[a:b].max()))
                elif st.kind is not None:
                    st.extreme = min(st.extreme, float(r[a:b].min()))

    def _quiet(self, rms: np.ndarray, weight: float) -> bool:
        """Fast path for one steady run inside the band with no event open (fast-forward)."""
        values = rms.tolist()
        for k, r in enumerate(values):
            nominal = float(self.nominal[k])
            if self._open[k].kind is not None or not (SAG * nominal <= r <= SWELL * nominal):
                return False
        c = self.counters
        for name, r in zip(self.names, values, strict=True):
            c[f"{name}.vrms_min"] = min(c[f"{name}.vrms_min"], r)
            c[f"{name}.vrms_max"] = max(c[f"{name}.vrms_max"], r)
        return True

    def _transition(self, k: int, code: int, t: float) -> None:
        st = self._open[k]
        kind = (None, "sag", "outage", "swell")[code]
        if kind == st.kind:
            return
        if st.kind is not None and not (st.kind == "sag" and kind == "outage"):
            self._close(k, t)
        elif st.kind == "sag" and kind == "outage":
            st.kind = "outage"  # a sag that deepens into an interruption is one interruption
            return
        if kind is not None:
            self._open[k] = _PhaseState(kind, t, math.inf if kind != "swell" else 0.0)

    def _close(self, k: int, t: float) -> None:
        st = self._open[k]
        name = self.names[k]
        plural = {"sag": "sags", "swell": "swells", "outage": "outages"}[st.kind or "sag"]
        self.counters[f"{name}.{plural}"] += 1
        self.counters[f"{name}.{st.kind}_s"] += t - st.start
        self._done.append(PqEvent(name, st.kind or "sag", st.start, t, float(st.extreme)))
        self._open[k] = _PhaseState()

    def pop_events(self) -> list[PqEvent]:
        """Finished events since the last call (the device logs them)."""
        out, self._done = self._done, []
        return out
