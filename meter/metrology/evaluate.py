"""Run the reference vectors through the engine (`acesm-meter metrology evaluate FILE.json`).

Input: the `metrology-vectors/1` format (metrology.md §4). Output, per case id, the measured
quantities under the keys of each case's `expected`:

* `per_phase.<name>` and `total`: the steady description (segments left out, as the vectors
  define them), measured over the whole window as one synchronous interval;
* `window`: rms of all window samples and the average active power;
* `cycles`: per-cycle rms extremes and the 90 % / 110 % cycle counts;
* `energy` (one-cycle intervals) and, for segmented cases, `energy_block` (200 ms = 10/12-cycle
  intervals), each with `registers` under the default algorithms (p, q1, s_arith).

Frequency is tracked from the samples; nothing but the description is read from the case.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from meter.metrology import frequency
from meter.metrology.algorithms import AlgorithmMap
from meter.metrology.engine import Engine
from meter.metrology.measure import margins, measure
from meter.metrology.quantities import per_phase, totals
from meter.metrology.scenario import Scenario
from meter.metrology.spectra import Grid
from meter.metrology.waveform import synthesize

ENERGY_KEYS = ("p", "p1", "q1", "qb", "qqc", "q_hour", "s_arith", "s1_arith", "s_vec_pq1", "s_vec_p1q1")


def _steady(sc: Scenario, fs: float, n: int, f: float) -> dict[str, Any]:
    pre, post = margins(fs, f, sc.f_nominal)
    x = synthesize(sc, -pre, n + post, fs, events=False)
    cycles = round(n * f / fs)
    m = measure(x, -pre, Grid(0.0, float(n), 1), cycles, fs, f, sc.f_nominal)
    ph = per_phase(m)
    tot = totals(m, ph, sc.wiring)
    return {
        "per_phase": {
            name: {k: float(v[0, j]) for k, v in ph.items()} for j, name in enumerate(sc.phase_names)
        },
        "total": {k: float(v[0]) for k, v in tot.items()},
    }


def _energy(sc: Scenario, fs: float, n: int, cycles: int, algs: AlgorithmMap) -> tuple[Engine, dict[str, Any]]:
    keys = ENERGY_KEYS + (("se",) if sc.wiring == "3P4W" else ())
    eng = Engine(sc, algs, fs=fs, interval_cycles=cycles, period_s=float("inf"), track=keys)
    eng.advance_to(n / fs)
    out: dict[str, Any] = {f"e_{k}": v for k, v in eng.tracked.items()}
    out["registers"] = eng.registers
    return eng, out


def evaluate_case(case: Mapping[str, Any], algs: AlgorithmMap | None = None) -> dict[str, Any]:
    """Measured quantities of one vector case, keyed like its `expected`."""
    sc = Scenario.from_dict(case)
    fs, n = float(case["fs"]), int(case["n_samples"])
    algs = algs or AlgorithmMap({}, {})
    x = synthesize(sc, 0, n, fs)
    f = frequency.estimate(x[0, 0], fs, sc.f_nominal) or sc.f_nominal
    out = _steady(sc, fs, n, f)
    eng, out["energy"] = _energy(sc, fs, n, 1, algs)
    window: dict[str, Any] = {
        name: {
            "vrms": float(np.sqrt(np.mean(x[j, 0] ** 2))),
            "irms": float(np.sqrt(np.mean(x[j, 1] ** 2))),
        }
        for j, name in enumerate(sc.phase_names)
    }
    window["total"] = {"p_avg": float(np.mean(np.sum(x[:, 0] * x[:, 1], axis=0)))}
    out["window"] = window
    pq = eng.pq
    out["cycles"] = {
        name: {k: pq[f"{name}.{k}"] for k in ("vrms_min", "vrms_max", "n_below_90pct", "n_above_110pct")}
        for name in sc.phase_names
    }
    if sc.events:
        block = 10 if round(sc.f_nominal) == 50 else 12  # IEC 61000-4-30 200 ms
        out["energy_block"] = _energy(sc, fs, n, block, algs)[1] | {"block_cycles": block}
    return out


def evaluate(vectors: Mapping[str, Any]) -> dict[str, Any]:
    """Every case of a metrology-vectors/1 document, keyed by case id."""
    amap = vectors.get("dlms_measurement_algorithm_map")
    algs = AlgorithmMap.from_data(amap) if isinstance(amap, Mapping) else None
    return {c["id"]: evaluate_case(c, algs) for c in vectors["cases"]}


def compare(expected: Mapping[str, Any], measured: Mapping[str, Any], path: str = "") -> list[str]:
    """Failures of measured against an `expected` tree of [value, tol] leaves."""
    bad: list[str] = []
    for k, v in expected.items():
        where = f"{path}.{k}" if path else str(k)
        if isinstance(v, Mapping):
            got = measured.get(k) if isinstance(measured, Mapping) else None
            bad += compare(v, got, where) if isinstance(got, Mapping) else [f"{where}: missing"]
        elif isinstance(v, Sequence) and len(v) == 2:
            got = measured.get(k) if isinstance(measured, Mapping) else None
            if not isinstance(got, (int, float)) or abs(got - v[0]) > v[1]:
                bad.append(f"{where}: {got} vs {v[0]} +- {v[1]}")
    return bad


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="acesm-meter metrology evaluate")
    ap.add_argument("file", help="metrology-vectors/1 JSON file")
    ap.add_argument("--check", action="store_true", help="compare with `expected`; exit 1 on failure")
    args = ap.parse_args(argv)
    with open(args.file, encoding="utf-8") as fh:
        doc = json.load(fh)
    result = evaluate(doc)
    if not args.check:
        json.dump(result, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    failures = [
        f"{c['id']}: {msg}" for c in doc["cases"] for msg in compare(c.get("expected", {}), result[c["id"]])
    ]
    sys.stdout.write("\n".join(failures) + ("\n" if failures else ""))
    sys.stdout.write(f"{len(doc['cases'])} cases, {len(failures)} failures\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
