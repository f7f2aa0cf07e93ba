"""Engine: real-time vs fast-forward, algorithm switching, wiring variants, PQ, persistence."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.errors import MeterError
from meter.metrology import AlgorithmError, AlgorithmMap, Engine, Scenario, ScenarioError
from meter.metrology.closed_form import steady
from meter.metrology.measure import margins, measure
from meter.metrology.quantities import per_phase, totals
from meter.metrology.spectra import Grid
from meter.metrology.waveform import synthesize

PROFILE = Path(__file__).parents[2] / "profiles" / "acesm.toml"
ALGS = AlgorithmMap.from_data(tomllib.loads(PROFILE.read_text(encoding="utf-8"))["metrology"]["algorithms"])

DISTORTED_3P = {
    "wiring": "3P4W", "f": 60.0, "voltage": 120.0, "current": [10.0, 6.0, 3.0], "pf": 0.9,
    "harmonics": {"v": [[5, 0.03, 0.0]], "i": [[3, 0.2, 10.0], [5, 0.1, 0.0]]},
}  # fmt: skip


def _tol(engine: Engine, seconds: float) -> float:
    s = float(np.sum(engine.scenario.nominal_vrms())) * 10.0
    return 2e-4 * s * seconds / 3600.0


def test_profile_map_parses_and_selects() -> None:
    assert ALGS.plugin(5, 4).key == "s"
    assert ALGS.plugin(3, 1).key == "q1"
    assert ALGS.selected[7] == 2
    with pytest.raises(AlgorithmError):
        ALGS.plugin(5, 99)
    assert issubclass(AlgorithmError, MeterError) and issubclass(AlgorithmError, ValueError)
    with pytest.raises(AlgorithmError):
        AlgorithmMap.from_data({"3": {"values": {"1": "p1"}}})  # an active plug-in under reactive


def test_realtime_and_fast_forward_agree() -> None:
    prof = dict(
        DISTORTED_3P,
        events=[{"kind": "sag", "phases": ["A"], "start": 5.0, "duration": 0.5}],
        steps=[{"at": 12.0, "current": [4.0, 4.0, 4.0], "pf": 0.7}],
    )
    rt = Engine(prof, ALGS, mode="realtime", period_s=10.0)
    ff = Engine(prof, ALGS, mode="fast", period_s=10.0)
    assert len(rt.advance_to(20.0)) == len(ff.advance_to(20.0)) == 2
    for key, value in rt.registers.items():
        assert ff.registers[key] == pytest.approx(value, abs=_tol(rt, 20.0)), key
    assert rt.pq["A.sags"] == ff.pq["A.sags"] == 1
    assert rt.pq["A.n_below_90pct"] == ff.pq["A.n_below_90pct"] == 30


def test_switching_apparent_algorithm_mid_run() -> None:
    # c21-like: phase Q cancel, so arithmetic VA (s) and vector VA (s_vec_pq1) differ by 50 %
    prof = {"wiring": "3P4W", "f": 60.0, "voltage": 120.0, "current": 10.0, "angle_deg": [0.0, 60.0, -60.0]}
    eng = Engine(prof, ALGS, mode="realtime", period_s=math.inf)
    eng.advance_to(1.0)
    first = eng.registers["9.8.0"]
    eng.set_algorithm(6, ALGS.value_of(6, "s_vec_pq1"))
    eng.advance_to(2.0)
    second = eng.registers["9.8.0"] - first
    assert first == pytest.approx(3600.0 / 3600.0, rel=2e-4)
    assert second == pytest.approx(2400.0 / 3600.0, rel=2e-4)
    # instantaneous values follow E=5, which was not switched
    assert eng.instantaneous["9.7.0"] == pytest.approx(3600.0, rel=2e-4)
    with pytest.raises(AlgorithmError):
        eng.set_algorithm(6, 42)


def test_reactive_quarter_cycle_delay_under_harmonics() -> None:
    # qqc sees 3rd-harmonic vars with flipped sign: differs from q1 as the definition predicts
    prof = {"wiring": "1P2W", "f": 60.0, "voltage": 120.0, "current": 10.0, "pf": 0.8,
            "harmonics": {"v": [[3, 0.05, 0.0]], "i": [[3, 0.3, -40.0]]}}  # fmt: skip
    values = {}
    for key in ("q1", "qqc"):
        amap = AlgorithmMap.from_data({"4": {"values": {"1": key}}})
        eng = Engine(prof, amap, selection={4: 1}, period_s=math.inf)
        eng.advance_to(1.0)
        values[key] = eng.registers["3.8.0"] * 3600.0
    state = Scenario.from_dict(prof).states[0][1]
    v3, i3 = 6.0, 3.0
    theta3 = math.radians(0.0 - (3 * -math.degrees(math.acos(0.8)) - 40.0))
    assert values["q1"] == pytest.approx(1200.0 * 0.6, rel=2e-4)
    expected_qqc = 720.0 + v3 * i3 * math.cos(theta3 - 3 * math.pi / 2)
    assert values["qqc"] == pytest.approx(expected_qqc, abs=5e-4 * 1200.0)
    assert state.f == 60.0


def test_split_phase_120_240() -> None:
    prof = {"wiring": "1P3W", "f": 60.0, "voltage": 120.0, "current": [10.0, 10.0], "pf": 1.0}
    eng = Engine(prof, ALGS, mode="realtime", period_s=math.inf)
    eng.advance_to(1.0)
    inst = eng.instantaneous
    assert inst["32.7.0"] == pytest.approx(120.0, rel=1e-4)
    assert inst["52.7.0"] == pytest.approx(120.0, rel=1e-4)
    assert inst["91.7.0"] == pytest.approx(0.0, abs=1e-3)  # balanced legs: no neutral current
    assert eng.registers["1.8.0"] == pytest.approx(2400.0 / 3600.0, rel=1e-4)
    assert eng.registers["21.8.0"] == pytest.approx(1200.0 / 3600.0, rel=1e-4)
    # line-to-line is 240 V: the legs are 180 degrees apart
    x = synthesize(eng.scenario, 0, 8000, 8000.0)
    assert np.sqrt(np.mean((x[0, 0] - x[1, 0]) ** 2)) == pytest.approx(240.0, rel=1e-4)


def test_load_step_and_frequency_drift() -> None:
    prof = {"wiring": "1P2W", "f": 59.95, "f_nominal": 60.0, "voltage": 120.0, "current": 10.0,
            "pf": 1.0, "steps": [{"at": 2.0, "f": 60.05, "current": 5.0}]}  # fmt: skip
    eng = Engine(prof, ALGS, mode="realtime", period_s=math.inf)
    eng.advance_to(1.0)
    assert eng.instantaneous["14.7.0"] == pytest.approx(59.95, abs=1e-4)
    eng.advance_to(4.0)
    assert eng.instantaneous["14.7.0"] == pytest.approx(60.05, abs=1e-4)
    expected = (1200.0 * 2.0 + 600.0 * (eng.now - 2.0)) / 3600.0
    assert eng.registers["1.8.0"] == pytest.approx(expected, abs=2e-4 * 1200.0 * 4 / 3600.0)


def test_export_goes_to_export_registers() -> None:
    prof = {"wiring": "1P2W", "f": 50.0, "voltage": 230.0, "current": 5.0, "angle_deg": -150.0}
    eng = Engine(prof, ALGS, mode="fast", period_s=math.inf)
    eng.advance_to(3600.0)
    reg = eng.registers
    assert reg["1.8.0"] == 0.0
    assert reg["2.8.0"] == pytest.approx(1150.0 * math.cos(math.radians(30)), rel=1e-6)
    assert reg["8.8.0"] == pytest.approx(0.0) and reg["7.8.0"] == pytest.approx(575.0, rel=1e-6)  # QIII


def test_periods_pq_events_and_snapshot() -> None:
    prof = dict(DISTORTED_3P, events=[{"kind": "outage", "phases": ["B"], "start": 1000.0, "duration": 2.0}])
    eng = Engine(prof, ALGS, mode="fast", period_s=900.0)
    records = eng.advance_to(86400.0)
    assert len(records) == 96
    assert records[0].demand["1.8.0"] == pytest.approx(records[0].energy["1.8.0"] * 4.0)
    events = eng.pop_pq_events()
    assert [(e.phase, e.kind) for e in events] == [("B", "outage")]
    assert events[0].end - events[0].start == pytest.approx(2.0, abs=1.0 / 60.0)
    assert eng.pq["B.outages"] == 1 and eng.pq["B.n_below_90pct"] == 120
    snap = eng.snapshot()
    assert all(isinstance(v, float) for v in snap.values())
    other = Engine(prof, ALGS, mode="fast", period_s=900.0)
    other.restore(snap)
    assert other.registers == eng.registers and other.now == eng.now
    eng.advance_to(90000.0)
    other.advance_to(90000.0)
    assert other.registers == pytest.approx(eng.registers)


def test_set_scenario_at_run_time() -> None:
    eng = Engine({"wiring": "1P2W", "f": 60.0, "voltage": 120.0, "current": 10.0}, ALGS, period_s=math.inf)
    eng.advance_to(1.0)
    eng.set_scenario({"wiring": "1P2W", "f": 60.0, "voltage": 120.0, "current": 2.0})
    eng.advance_to(2.0)
    assert eng.registers["1.8.0"] == pytest.approx((1200.0 + 240.0) / 3600.0, rel=2e-4)
    with pytest.raises(ScenarioError):
        eng.set_scenario({"wiring": "3P4W"})


def test_bad_descriptions() -> None:
    for bad in ({"wiring": "2P9W"}, {"wiring": "1P2W", "phases": [{"name": "A"}]},
                {"wiring": "1P2W", "events": [{"kind": "storm", "start": 0, "duration": 1}]}):  # fmt: skip
        with pytest.raises(ScenarioError):
            Scenario.from_dict(bad)


harmonic = st.tuples(st.integers(1, 15), st.floats(0.0, 20.0), st.floats(-180.0, 180.0))


@settings(max_examples=25, deadline=None)
@given(
    v=st.lists(harmonic, min_size=1, max_size=3),
    i=st.lists(harmonic, min_size=1, max_size=3),
    vdc=st.floats(-2.0, 2.0),
    f=st.sampled_from([50.0, 60.0, 59.9]),
)
def test_sampled_measurement_matches_closed_form(v: list, i: list, vdc: float, f: float) -> None:
    case = {"wiring": "1P2W", "f": f, "phases": [{"name": "A", "v": {"dc": vdc, "h": v}, "i": {"dc": 0.0, "h": i}}]}
    sc = Scenario.from_dict(case)
    fs = 8000.0
    cycles = 30  # time-domain means (p, qqc) are exact over the whole span, not per cycle
    n = round(fs / f * cycles) + 2
    pre, post = margins(fs, f, f)
    x = synthesize(sc, -pre, n + post, fs)
    m_s = measure(x, -pre, Grid(0.0, fs / f, cycles), 1, fs, f, f)
    m_c = steady(sc.states[0][1], np.ones((1, 2)), f, 1.0)
    ps, pc = per_phase(m_s), per_phase(m_c)
    ts, tc = totals(m_s, ps, "1P2W"), totals(m_c, pc, "1P2W")
    scale = max(1.0, float(pc["s"][0, 0]))
    w = m_s.dur / m_s.dur.sum()
    for key in ("p1", "q1", "qb", "s"):
        assert np.allclose(ps[key][:, 0], pc[key][0, 0], atol=2e-4 * scale), key
    for key in ("p", "qqc"):
        assert float(w @ ps[key][:, 0]) == pytest.approx(pc[key][0, 0], abs=5e-4 * scale), key
    assert np.allclose(ts["s_vec_p1q1"], tc["s_vec_p1q1"][0], atol=2e-4 * scale)


def test_layering_imports_only_numpy_stdlib_and_errors() -> None:
    import ast

    pkg = Path(__file__).parents[2] / "meter" / "metrology"
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("meter"):
                    assert name == "meter.errors" or name.startswith("meter.metrology"), (path, name)


def test_synthesis_by_rotated_chunks_is_the_formula() -> None:
    """x(t) = dc + sum sqrt(2) rms cos(h theta + phase), theta continuous across a frequency
    and load step, evaluated sample by sample, against synthesize's rotated chunks (spans that
    start and end inside a chunk, across the step, before time 0)."""
    prof = {"wiring": "3P4W", "f": 49.9, "voltage": 230.0, "current": [10.0, 6.0, 3.0], "pf": 0.9,
            "harmonics": {"v": [[3, 0.02, 15.0], [5, 0.03, 0.0]], "i": [[3, 0.2, 10.0], [11, 0.03, 0.0]]},
            "steps": [{"at": 1.3, "f": 50.2, "current": [5.0, 5.0, 5.0]}]}  # fmt: skip
    sc = Engine(prof, ALGS, fs=8000.0, mode="realtime", period_s=math.inf).scenario
    for n0, n1 in [(-300, 7000), (10000, 10001), (9000, 12345), (0, 256)]:
        x = synthesize(sc, n0, n1, 8000.0, events=False)
        t = np.arange(n0, n1) / 8000.0
        theta0 = 0.0
        expected = np.zeros(x.shape)
        for k, (start, state) in enumerate(sc.states):
            end = sc.states[k + 1][0] if k + 1 < len(sc.states) else math.inf
            here = (t >= start if k else np.full(t.shape, True)) & (t < end)  # the first: before it too
            theta = theta0 + 2 * math.pi * state.f * (t - start)
            for p, phase in enumerate(state.phases):
                for c, channel in enumerate((phase.v, phase.i)):
                    wave = channel.dc + sum(math.sqrt(2) * h.rms * np.cos(h.order * theta + math.radians(h.phase_deg))
                                            for h in channel.harmonics)
                    expected[p, c, here] = np.asarray(wave)[here]
            if end < math.inf:
                theta0 += 2 * math.pi * state.f * (end - start)
        assert np.max(np.abs(x - expected)) < 1e-8
