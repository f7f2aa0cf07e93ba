"""The metrology engine: injected time in, registers, instantaneous values and PQ events out.

Sans-IO like the protocol cores (style.md §4.2): the device calls advance_to(t) with simulated
time; the engine never reads the wall clock. Two modes give the same registers within the vector
tolerances:

* "realtime": samples are synthesised and measured block by block (about 1 s of whole-cycle
  intervals per numpy pass), with frequency tracking from the phase-A voltage; a block's
  accounting computes only the quantities the selected algorithms, tracked keys and
  instantaneous values read (quantities.py, lazy); the delayed-voltage products (qqc, Q-hour)
  per interval only when one of them routes a register set, else as the block's sums, all an
  energy or an average needs (_delay_mode) — tools/bench-metrology gives its speed;
* "fast": steady stretches of the scenario are covered in closed form (closed_form.py); only a
  few cycles around each state change or event edge are sampled.

Energy is accumulated per interval (one cycle by default: the vectors' `energy` convention; 10/12
cycles gives their `energy_block` convention) with the algorithms selected through the
1.0.0.11.e.255 enum values; a new selection applies from the next interval. advance_to() returns
one PeriodRecord per `period_s` boundary passed (load profile, billing, demand).

Instantaneous keys ("C.7.0", values of the last measured block, selected algorithms E=1,3,5,7):
U 32/52/72, I 31/51/71, neutral I 91, f 14, PF 13 (per phase 33/53/73), signed P 16
(36/56/76), +P/-P 1/2 (21/22, 41/42, 61/62), +Q/-Q 3/4 (23/24 ...), +S/-S 9/10 (29/30 ...).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from meter.metrology import frequency, heap
from meter.metrology.algorithms import KIND_OF_E, Algorithm, AlgorithmMap, TruePowerFactor
from meter.metrology.closed_form import steady
from meter.metrology.errors import AlgorithmError, ScenarioError
from meter.metrology.measure import cycle_rms, margins, measure
from meter.metrology.pq import PqDetector, PqEvent
from meter.metrology.quantities import Measured, per_phase, totals
from meter.metrology.registers import PHASE_OFFSETS, register_keys, route, route_rows
from meter.metrology.scenario import Event, LoadState, Scenario
from meter.metrology.spectra import Grid
from meter.metrology.waveform import synthesize

log = logging.getLogger(__name__)

_FIT = 0.01  # samples: an interval ending this close after the target still counts as reached
_DELAY_KEYS = {"qqc", "qqc_nom", "q_hour", "q_from_qhour"}


@dataclass(frozen=True, slots=True)
class PeriodRecord:
    """One profile period: register increments (Wh...), average power (W...), totals at the end."""

    t_start: float
    t_end: float
    energy: dict[str, float]
    demand: dict[str, float]
    registers: dict[str, float]


#: A steady state's increments per second: registers, tracked energies, instantaneous values,
#: each phase's rms voltage.
_Rates = tuple[np.ndarray, np.ndarray, dict[str, float], np.ndarray]


class Engine:
    """A simulated meter's metrology. Times are absolute floats; the scenario's 0 is start_time."""

    def __init__(
        self,
        scenario: Scenario | Mapping[str, Any],
        algorithm_map: AlgorithmMap | Mapping[str | int, Any],
        selection: Mapping[int, int] | None = None,
        start_time: float = 0.0,
        fs: float = 8000.0,
        mode: str = "realtime",
        interval_cycles: int = 1,
        period_s: float = 900.0,
        block_s: float = 1.0,
        track: Iterable[str] = (),
    ) -> None:
        if mode not in ("realtime", "fast"):
            raise ValueError(f"mode must be 'realtime' or 'fast', not {mode!r}")
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)
        self.algorithms = (
            algorithm_map if isinstance(algorithm_map, AlgorithmMap) else AlgorithmMap.from_data(algorithm_map)
        )
        self._selection = {e: 0 for e in KIND_OF_E} | dict(self.algorithms.selected)
        self._plugins: dict[int, Algorithm] | None = None
        for e, v in (selection or {}).items():
            self.set_algorithm(e, v)
        self.fs, self.mode, self.cycles = fs, mode, interval_cycles
        self.origin, self.period_s, self.block_s = start_time, period_s, block_s
        self._u = 0.0  # next interval boundary, samples since origin
        self._f = self.scenario.f_nominal  # tracked frequency
        keys = register_keys(self.scenario.n_phases)
        self._reg = dict.fromkeys(keys, 0.0)
        self._period_start = start_time
        self._period_reg = dict(self._reg)
        self.tracked = dict.fromkeys(track, 0.0)  # extra energies: sum of total[key] * dt, in Wh
        self.instantaneous: dict[str, float] = {}
        self._pq = PqDetector(self.scenario.phase_names, self.scenario.nominal_vrms())
        self._bounds: tuple[Scenario | None, list[float]] = (None, [])
        self._rates: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, dict[str, float], np.ndarray]] = {}
        # The steady stretch last fast-forwarded: (scenario, its index between the scenario's
        # edges, its state, its rates). A catch-up within it (a fleet's meter brought to time
        # before a request) finds them without working out the state, the scales and the key.
        self._steady: tuple[Scenario, int, LoadState, _Rates] | None = None

    # --- public surface -------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """End of the last measured interval (absolute time)."""
        return self.origin + self._u / self.fs

    @property
    def registers(self) -> dict[str, float]:
        return dict(self._reg)

    @property
    def selection(self) -> dict[int, int]:
        return dict(self._selection)

    @property
    def pq(self) -> dict[str, float]:
        """Per-phase counters: "A.sags", "A.sag_s", "A.n_below_90pct", "A.vrms_min", ..."""
        return dict(self._pq.counters)

    def steady_through(self, t: float) -> bool:
        """Whether moving the engine up to absolute time ``t`` can only add to its sums: fast
        mode, and no state change or event edge between what it measured and ``t`` (so no PQ
        event begins or ends there). Every value it gives is measured up to its reader's time
        anyway (meter/device/bindings.py), so such a move may wait for the next reader."""
        if self.mode != "fast":
            return False
        steady = self._steady_until(self._u / self.fs)
        return steady is not None and self.origin + steady[0] >= t

    def pop_pq_events(self) -> list[PqEvent]:
        return self._pq.pop_events()

    def pop_pq_onsets(self) -> list[PqEvent]:
        """Interruptions begun since the last call (pq.py)."""
        return self._pq.pop_onsets()

    @property
    def pq_detector(self) -> PqDetector:
        """The PQ detector, whose thresholds the meter sets (pq.py ``set_levels``)."""
        return self._pq

    def disturb(self, t: float, kind: str, duration: float, phases: tuple[int, ...],
                v_scale: float, i_scale: float) -> None:
        """From absolute time ``t`` (not before what was measured) on, for ``duration`` s, scale
        the voltage and current of ``phases``: one more scenario Event (sag, swell, outage)."""
        if any(not 0 <= p < self.scenario.n_phases for p in phases):
            raise ScenarioError(f"phases {phases} not in 0..{self.scenario.n_phases - 1}")
        start = max(t - self.origin, self._u / self.fs)
        event = Event(kind, start, start + duration, phases, v_scale, i_scale)
        self.scenario = replace(self.scenario, events=(*self.scenario.events, event))

    def set_algorithm(self, e: int, value: int) -> None:
        """Select enum `value` of 1.0.0.11.e.255; AlgorithmError if it is not in the map."""
        plugin = self.algorithms.plugin(e, value)
        self._selection[e] = value
        self._plugins = None  # the selection's plug-ins, found again on next use
        self._steady = None  # and the rates they give
        log.debug("1.0.0.11.%d.255 = %d (%s)", e, value, plugin.key)

    def set_scenario(self, scenario: Scenario | Mapping[str, Any]) -> None:
        """From now on, run `scenario` (its time 0 = now); the waveform stays phase-continuous."""
        new = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)
        self.scenario = self.scenario.then(self._u / self.fs, new)

    def scale_load(self, i_scale: float) -> None:
        """From now on the load current is ``i_scale`` times the scenario's (the relays)."""
        self.scenario = self.scenario.switched(self._u / self.fs, i_scale)

    def snapshot(self) -> dict[str, float]:
        """Accumulators and clock as a flat dict of floats (persistence)."""
        out = {f"reg.{k}": v for k, v in self._reg.items()}
        out |= {f"pq.{k}": v for k, v in self._pq.counters.items()}
        out |= {f"track.{k}": v for k, v in self.tracked.items()}
        out |= {f"sel.{e}": float(v) for e, v in self._selection.items()}
        out |= {"u": self._u, "f": self._f, "period_start": self._period_start}
        return out

    def restore(self, snap: Mapping[str, float]) -> None:
        for k, v in snap.items():
            kind, _, name = k.partition(".")
            if kind == "reg" and name in self._reg:
                self._reg[name] = float(v)
            elif kind == "pq" and name in self._pq.counters:
                self._pq.counters[name] = float(v)
            elif kind == "track":
                self.tracked[name] = float(v)
            elif kind == "sel":
                self.set_algorithm(int(name), int(v))
        self._u, self._f = float(snap.get("u", self._u)), float(snap.get("f", self._f))
        self._period_start = float(snap.get("period_start", self._period_start))
        self._period_reg = dict(self._reg)
        self._steady = None  # the tracked energies may be others

    def advance_to(self, t: float) -> list[PeriodRecord]:
        """Measure every whole interval that ends by t; one record per period boundary passed."""
        records: list[PeriodRecord] = []
        target = (t - self.origin) * self.fs
        while True:
            period_end = (self._period_start + self.period_s - self.origin) * self.fs
            stop = min(target, period_end)
            step = self.fs / self._f * self.cycles
            if self._u + step <= stop + _FIT:
                self._advance_block(stop)
                continue
            if period_end <= target + _FIT:
                records.append(self._close_period())
                continue
            return records

    # --- internals ------------------------------------------------------------------------------

    def _close_period(self) -> PeriodRecord:
        t0, t1 = self._period_start, self._period_start + self.period_s
        delta = {k: self._reg[k] - self._period_reg[k] for k in self._reg}
        demand = {k: v * 3600.0 / self.period_s for k, v in delta.items()}
        self._period_start, self._period_reg = t1, dict(self._reg)
        return PeriodRecord(t0, t1, delta, demand, dict(self._reg))

    def _steady_until(self, tau: float) -> tuple[float, int] | None:
        """Scenario time up to which the waveform stays steady from tau, and the index of that
        stretch between the scenario's edges (None: not steady now)."""
        guard = 3.0 / self._f + 0.02  # delays, tracking and interval straddle
        if self._bounds[0] is not self.scenario:
            self._bounds = (self.scenario, self.scenario.boundaries())
        edges = self._bounds[1]
        k = bisect.bisect_right(edges, tau - guard)
        if k == len(edges):
            return math.inf, k
        return None if edges[k] - guard <= tau else (edges[k] - guard, k)

    def _advance_block(self, stop: float) -> None:
        tau = self._u / self.fs
        if self.mode == "fast":
            steady_until = self._steady_until(tau)
            if steady_until is not None:
                until, stretch = steady_until
                st, rates = self._steady_rates(tau, stretch)
                self._f = st.f
                step = self.fs / st.f * self.cycles
                count = int((min(stop, until * self.fs) - self._u + _FIT) // step)
                if count >= 1:
                    self._fast_span(count, step, rates)
                    return
        self._sampled_block(stop)

    def _steady_rates(self, tau: float, stretch: int) -> tuple[LoadState, _Rates]:
        """The state in force in steady stretch ``stretch`` (which holds tau) and its rates:
        no state starts and no event begins or ends inside a stretch, so both hold for all of
        it (kept until the scenario, the selection or the tracked energies change)."""
        kept = self._steady
        if kept is not None and kept[0] is self.scenario and kept[1] == stretch:
            return kept[2], kept[3]
        _, _, st = self.scenario.state_at(tau)
        scales = self.scenario.scales_at(tau)
        # a steady state's increments per second are fixed: compute them once per selection
        key = (st, scales.tobytes(), tuple(sorted(self._selection.items())), tuple(self.tracked))
        if key not in self._rates:
            m = steady(st, scales, self.scenario.f_nominal, 1.0)
            regs, tracked, inst = self._increments(m)
            rms = np.sqrt(np.sum(np.abs(m.y[:, :, 0, :]) ** 2, axis=-1))
            self._rates[key] = (regs, tracked, inst, rms)
        self._steady = (self.scenario, stretch, st, self._rates[key])
        return st, self._rates[key]

    def _fast_span(self, count: int, step: float, rates: _Rates) -> None:
        tau = self._u / self.fs
        regs, tracked, inst, rms = rates
        self._apply(regs * (count * step / self.fs), tracked * (count * step / self.fs), inst)
        self._pq.feed_run(rms, self.origin + tau, float(count * self.cycles))
        self._u += count * step

    def _sampled_block(self, stop: float) -> None:
        if self.mode == "realtime":  # (fast mode samples only around edges: left as it is)
            heap.keep_block_buffers()  # the blocks' temporaries stay mapped (heap.py), once
        fs, f_nom = self.fs, self.scenario.f_nominal
        per_block = max(1, round(self.block_s * self._f / self.cycles))
        pre, post = margins(fs, self._f * 0.98, f_nom)
        step_guess = fs / self._f * self.cycles
        span = step_guess * per_block * 1.05 + 2 * fs / self._f
        n0 = math.floor(self._u) - pre - 1
        x = synthesize(self.scenario, n0, math.ceil(self._u + span) + post + 1, fs)
        f_est = frequency.estimate(x[0, 0, pre:], fs, self._f)
        if f_est is not None and abs(f_est - self._f) < 0.05 * self._f:
            self._f = f_est
        step = fs / self._f * self.cycles
        count = min(per_block, int((stop - self._u + _FIT) // step))
        grid = Grid(self._u, step, max(count, 1))
        m = measure(x, n0, grid, self.cycles, fs, self._f, f_nom, delays=self._delay_mode())
        ph = per_phase(m, lazy=True)
        self._apply(*self._increments(m, ph))
        cyc = Grid(self._u, step / self.cycles, grid.count * self.cycles)
        # one-cycle intervals: the cycle rms is the interval's voltage rms, already computed
        rms = cycle_rms(x[:, 0, :], n0, cyc) if self.cycles > 1 else ph["vrms"]
        if not self._pq.absorb_quiet(rms):  # (a steady block needs no cycle times)
            t0 = self.origin + (self._u + np.arange(cyc.count) * cyc.step) / fs
            self._pq.feed(rms, t0, np.ones(cyc.count))
        self._u = float(round(grid.end)) if grid.exact else grid.end

    def _selected(self) -> dict[int, Algorithm]:
        """The plug-in of each E under the current selection (kept until a selection changes)."""
        if self._plugins is None:
            self._plugins = {e: self.algorithms.plugin(e, v) for e, v in self._selection.items()}
        return self._plugins

    def _delay_mode(self) -> bool | Literal["block"]:
        """What measure() computes of the delayed-voltage products: each interval's own value
        when a register set is routed by a delay-based plug-in (E=2, 4, 6: the signs of each
        interval), else the block's mean when a tracked energy or an instantaneous value reads
        them (sums and averages over the block), else nothing."""
        sel = self._selected()
        routed = {k for e in (2, 4, 6) for k in (sel[e].phase_key, sel[e].total_key)}
        if routed & _DELAY_KEYS:
            return True
        read = set(self.tracked) | {k for a in sel.values() for k in (a.phase_key, a.total_key)}
        return "block" if read & _DELAY_KEYS else False

    def _increments(
        self, m: Measured, ph: dict[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Register increments (in self._reg order), tracked energies and instantaneous values.
        ph: per_phase(m) if the caller has it; lazy, so only what is read here is computed."""
        ph = per_phase(m, lazy=True) if ph is None else ph
        tot = totals(m, ph, self.scenario.wiring, lazy=True)
        sel = self._selected()
        n, count = self.scenario.n_phases, m.dur.shape[0]
        if n > 1:
            # P, Q and S of the total and of each phase as rows (3, 1 + phases, intervals): one
            # route() for all register sets
            pqs = np.empty((3, 1 + n, count))
            for row, e in zip(pqs, (2, 4, 6), strict=True):
                row[0] = sel[e].total(tot)
                row[1:] = sel[e].per_phase(ph).T
            regs = route_rows(pqs, m.dur).T.reshape(-1)
        else:
            regs = route(sel[2].total(tot), sel[4].total(tot), sel[6].total(tot), m.dur)
        tracked = np.zeros(0)
        if self.tracked:
            rows = np.empty((len(self.tracked), count))
            for row, k in zip(rows, self.tracked, strict=True):
                row[:] = tot[k]
            tracked = rows @ m.dur / 3600.0
        return regs, tracked, self._instant(ph, tot, sel, m.dur)

    def _apply(self, regs: np.ndarray, tracked: np.ndarray, inst: dict[str, float]) -> None:
        for k, v in zip(self._reg, regs.tolist(), strict=True):
            self._reg[k] += v
        for k, v in zip(list(self.tracked), tracked.tolist(), strict=True):
            self.tracked[k] += v
        self.instantaneous = inst

    def _instant(
        self, ph: dict[str, np.ndarray], tot: dict[str, np.ndarray], sel: dict[int, Any], dur: np.ndarray
    ) -> dict[str, float]:
        pf_alg = sel[7]
        true_pf = isinstance(pf_alg, TruePowerFactor)
        n = self.scenario.n_phases
        # every value is a duration-weighted mean over the block's intervals: one product for all
        tots = [sel[e].total(tot) for e in (1, 3, 5)]
        tots += [] if true_pf else [pf_alg.total(tot)]
        tots += [tot["in_rms"]] if "in_rms" in tot else []
        n_tot = len(tots)
        phases = [sel[e].per_phase(ph) for e in (1, 3, 5)] + [ph["vrms"], ph["irms"]]
        phases += [] if true_pf else [pf_alg.per_phase(ph)]
        rows = np.empty((n_tot + n * len(phases), dur.shape[0]))
        for r, v in enumerate(tots):
            rows[r] = v
        for j, v in enumerate(phases):
            rows[n_tot + j * n : n_tot + (j + 1) * n] = v.T
        means: list[float] = (rows @ (dur / dur.sum())).tolist()
        p_t, q_t, s_t = means[:3]
        pf_t = (p_t / s_t if abs(s_t) > 1e-12 else 1.0) if true_pf else means[3]
        out: dict[str, float] = {"14.7.0": self._f}
        out |= _signed(0, p_t, q_t, s_t)
        out["13.7.0"] = pf_t
        per = [means[n_tot + j * n : n_tot + (j + 1) * n] for j in range(6 if not true_pf else 5)]
        p_p, q_p, s_p, vrms, irms = per[:5]
        for k in range(n):
            o = PHASE_OFFSETS[k]
            if not true_pf:
                pf_k = per[5][k]
            else:
                pf_k = p_p[k] / s_p[k] if abs(s_p[k]) > 1e-12 else 1.0
            out[_KEYS_VIP[o][0]], out[_KEYS_VIP[o][1]], out[_KEYS_VIP[o][2]] = vrms[k], irms[k], pf_k
            out |= _signed(o, p_p[k], q_p[k], s_p[k])
        if "in_rms" in tot:
            out["91.7.0"] = means[3 if true_pf else 4]
        return out


#: Instantaneous-value keys by C offset: (U, I, PF) and (+P, -P, +Q, -Q, +S, -S, P).
_KEYS_VIP = {o: (f"{o + 12}.7.0", f"{o + 11}.7.0", f"{o + 13}.7.0") for o in (0, *PHASE_OFFSETS)}
_KEYS_SIGNED = {o: tuple(f"{o + c}.7.0" for c in (1, 2, 3, 4, 9, 10, 16)) for o in (0, *PHASE_OFFSETS)}


def _signed(offset: int, p: float, q: float, s: float) -> dict[str, float]:
    k = _KEYS_SIGNED[offset]
    return {
        k[0]: max(p, 0.0), k[1]: max(-p, 0.0), k[2]: max(q, 0.0), k[3]: max(-q, 0.0),
        k[4]: s if p >= 0 else 0.0, k[5]: s if p < 0 else 0.0, k[6]: p,
    }  # fmt: skip


__all__ = ["AlgorithmError", "Engine", "PeriodRecord", "PqEvent", "ScenarioError"]
