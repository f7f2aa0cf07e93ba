"""The sampled path's second speed-up (issue 12 item 5, the delay-based reactive methods tracked):
each fast form against the plain one it replaces.

* delay.delayed (FFT convolution) against delayed_direct, the 64-tap FIR summed sample by sample;
* delay.delayed_dot (Parseval, no delayed samples) against the sum of w times that FIR's output;
* interval_spectra's longer intervals (their last sample added by a recursive least-squares step)
  against a least-squares fit of each interval on its own samples, also when the samples end
  with a shorter last interval (the fit gathers every interval at the longest width);
* the engine's "block" delayed products (tracked energies, averages) against each interval's own
  products, and register routing by a delay-based plug-in still per interval;
* metrology.heap: a realtime block faults no pages in once the heap has grown to it.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from meter.metrology import AlgorithmMap, Engine
from meter.metrology import delay
from meter.metrology.spectra import Grid, interval_spectra, orders_for

LOAD = {
    "wiring": "3P4W", "f": 60.0, "voltage": 120.0, "current": [10.0, 6.0, 3.0], "pf": 0.9,
    "harmonics": {"v": [[3, 0.02, 0.0], [5, 0.03, 0.0], [7, 0.01, 0.0]],
                  "i": [[3, 0.2, 10.0], [5, 0.1, 0.0], [7, 0.05, 0.0], [11, 0.03, 0.0]]},
}  # fmt: skip
TRACK = ("qqc", "qqc_nom", "q_hour", "q_from_qhour")

# delays in samples: whole ones (a slice), the quarter and sixth cycles of 50/60 Hz at 8 kHz,
# and anything in between
_DELAYS = st.one_of(
    st.sampled_from([40.0, 8000 / 240, 8000 / 360, 8000 / 300, 8000 / 239.6]),
    st.floats(0.0, 60.0),
    st.integers(0, 60).map(float),
)


def _signal(rows: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(size)
    tone = 170.0 * np.cos(2 * math.pi * t / 133.3 + rng.uniform(0, 6.3, (rows, 1)))
    return tone + rng.normal(0.0, 5.0, (rows, size))  # a fundamental, and broadband content


@settings(max_examples=60, deadline=None)
@given(delays=st.lists(_DELAYS, min_size=1, max_size=4), rows=st.integers(1, 3),
       length=st.integers(1, 3000), seed=st.integers(0, 2**16))  # fmt: skip
def test_fft_delay_equals_the_direct_fir(delays: list[float], rows: int, length: int, seed: int) -> None:
    pre = max(delay.margins(d)[0] for d in delays) + 3
    post = max(delay.margins(d)[1] for d in delays) + 3
    x = _signal(rows, pre + length + post, seed)
    got = delay.delayed(x, delays, pre, length)
    assert got.shape == (len(delays), rows, length)
    for d, y in zip(delays, got, strict=True):
        want = delay.delayed_direct(x, d, pre, length)
        # rounding only: the FIR's own error is 1e-6, a wrong tap or shift is 1e-1 of the signal
        assert np.max(np.abs(y - want)) <= 1e-12 * np.max(np.abs(x)), d


@settings(max_examples=60, deadline=None)
@given(delays=st.lists(_DELAYS, min_size=1, max_size=4), rows=st.integers(1, 3),
       length=st.integers(1, 3000), seed=st.integers(0, 2**16))  # fmt: skip
def test_parseval_delayed_product_equals_the_direct_sum(
    delays: list[float], rows: int, length: int, seed: int
) -> None:
    pre = max(delay.margins(d)[0] for d in delays) + 2
    post = max(delay.margins(d)[1] for d in delays) + 2
    x = _signal(rows, pre + length + post, seed)
    w = _signal(rows, length, seed + 1) / 17.0
    got = delay.delayed_dot(x, w, delays, pre)
    assert got.shape == (len(delays), rows)
    for d, s in zip(delays, got, strict=True):
        want = np.sum(w * delay.delayed_direct(x, d, pre, length), axis=-1)
        scale = np.sqrt(length) * np.max(np.abs(x)) * np.max(np.abs(w))  # the sum's rounding scale
        assert np.max(np.abs(s - want)) <= 1e-12 * scale, d


def test_a_delayed_product_is_the_product_of_the_delayed_samples() -> None:
    """delayed_dot is not some other sum: a pure tone delayed by a quarter period against the
    tone's quadrature gives the rms product (the quarter-cycle reactive power)."""
    n, period = 8000, 8000 / 60.0
    t = np.arange(-80, n + 80)
    v = math.sqrt(2) * 120.0 * np.cos(2 * math.pi * t / period)[None, :]
    i = math.sqrt(2) * 10.0 * np.sin(2 * math.pi * t[80 : 80 + n] / period)[None, :]
    q = delay.delayed_dot(v, i, [period / 4], 80)[0, 0] / n
    assert q == pytest.approx(1200.0, rel=1e-5)  # the FIR is good to ~1e-6 at 60 Hz


@pytest.mark.parametrize("f", [60.0, 59.9, 50.3, 61.7])
@pytest.mark.parametrize("cycles", [1, 3, 10])
def test_longer_intervals_equal_their_own_least_squares_fit(f: float, cycles: int) -> None:
    rng = np.random.default_rng(round(f * 10) + cycles)
    x = _signal(2, 9000, 7).reshape(2, 1, 9000) + rng.normal(0.0, 1.0, (2, 1, 9000))
    step = 8000.0 / f * cycles
    grid = Grid(0.37, step, int(8500 / step))
    spec = interval_spectra(x, 0, grid, cycles)
    starts = grid.starts()
    widths = np.diff(starts)
    assert widths.max() - widths.min() == (0 if step == round(step) else 1)  # 60 Hz x 3: 400
    h = orders_for(step / cycles)
    spc = round(step / cycles / 1e-4) * 1e-4  # the period as spectra.py quantises it
    for j, (a, w) in enumerate(zip(starts[:-1], widths, strict=True)):
        # dc + a_h cos(h theta) + b_h sin(h theta) over this interval's samples, by an SVD solver
        theta = 2 * math.pi * np.arange(w) / spc
        arg = np.multiply.outer(theta, np.arange(1, h + 1))
        basis = np.hstack((np.ones((w, 1)), np.cos(arg), np.sin(arg)))
        coef = np.linalg.lstsq(basis, x[:, 0, a : a + w].T, rcond=None)[0]  # (2h+1, channels)
        want = np.vstack((coef[:1], (coef[1 : h + 1] - 1j * coef[h + 1 :]) / math.sqrt(2))).T
        got = spec.y[j, :, 0, :]
        assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want)), (j, w)


def test_samples_ending_with_a_shorter_last_interval_are_enough() -> None:
    """The fit gathers every interval's samples at the longest width; samples that end where a
    shorter last interval ends still give each interval its own fit (nothing read past them)."""
    grid = Grid(0.0, 8000.0 / 60.0, 3)
    starts = grid.starts()
    assert list(starts[1:] - starts[:-1]) == [134, 133, 133]  # a shorter last interval
    x = _signal(2, int(starts[-1]), 11).reshape(2, 1, -1)  # the samples end with it
    spec = interval_spectra(x, 0, grid, 1)
    whole = interval_spectra(np.concatenate((x, np.ones((2, 1, 300))), axis=-1), 0, grid, 1)
    assert np.array_equal(spec.y, whole.y)


def _run(selection: dict[int, int], algs: AlgorithmMap) -> Engine:
    scenario = dict(LOAD, events=[{"kind": "sag", "phases": ["B"], "start": 1.4, "duration": 0.35}],
                    steps=[{"at": 2.6, "current": [4.0, 9.0, 2.0], "angle_deg": -40.0}])  # fmt: skip
    eng = Engine(scenario, algs, selection, fs=8000.0, mode="realtime", period_s=900.0, track=TRACK)
    eng.advance_to(4.0)
    return eng


def test_block_sums_and_per_interval_products_give_the_same_energies_and_averages() -> None:
    algs = AlgorithmMap.from_data({"3": {"values": {"1": "q1", "7": "qqc", "9": "q_from_qhour"}},
                                   "4": {"values": {"1": "q1", "7": "qqc", "9": "q_from_qhour"}}})  # fmt: skip
    block = _run({3: 9}, algs)  # Q-hour only averaged (E=3): the block's sums
    interval = _run({3: 9, 4: 7}, algs)  # qqc routes the var registers (E=4): each interval's own
    assert block._delay_mode() == "block" and interval._delay_mode() is True
    for k in TRACK:
        assert block.tracked[k] == pytest.approx(interval.tracked[k], rel=1e-12, abs=1e-12), k
    for k in ("3.7.0", "4.7.0", "23.7.0", "43.7.0", "63.7.0"):
        assert block.instantaneous[k] == pytest.approx(interval.instantaneous[k], rel=1e-12, abs=1e-9), k
    # the load turns capacitive at 2.6 s: +R and -R each get their own intervals' qqc
    r_plus, r_minus = interval.registers["3.8.0"], interval.registers["4.8.0"]
    assert r_plus > 0.1 and r_minus > 0.1
    assert r_plus - r_minus == pytest.approx(interval.tracked["qqc"], rel=1e-9)
    assert block.registers["3.8.0"] != pytest.approx(r_plus, rel=1e-3)  # q1 routes there, not qqc
    assert Engine(LOAD, algs)._delay_mode() is False  # nothing reads them: not computed


def test_a_realtime_block_faults_no_pages_in() -> None:
    """metrology.heap keeps the block temporaries mapped: once the first blocks have grown the
    heap, the steady state takes (almost) no minor page faults. glibc's default adaptive
    thresholds took 200-350 a block (about 1 us each, a third of the block's time). A fresh
    interpreter, so no other test's allocations count."""
    code = textwrap.dedent(
        f"""
        import resource
        from meter.metrology import Engine
        eng = Engine({LOAD!r}, {{}}, fs=8000.0, mode="realtime", period_s=900.0, track={TRACK!r})
        eng.advance_to(5.0)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        eng.advance_to(25.0)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        """
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={"PYTHONPATH": str(root), "OPENBLAS_NUM_THREADS": "1"}, check=True)  # fmt: skip
    assert int(out.stdout) < 20 * 5, out.stdout  # 20 blocks: fewer than 5 faults a block


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(200, 600)),
                  elements=st.floats(-1e6, 1e6)))  # fmt: skip
def test_delay_forms_agree_on_garbage_too(x: np.ndarray) -> None:
    length = x.shape[-1] - 120
    d = [8000 / 240, 8000 / 360]
    fast = delay.delayed(x, d, 80, length)
    direct = np.stack([delay.delayed_direct(x, k, 80, length) for k in d])
    assert np.max(np.abs(fast - direct), initial=0.0) <= 1e-12 * max(1.0, float(np.max(np.abs(x))))
