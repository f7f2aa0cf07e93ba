"""The PQ detector's thresholds as the meter sets them (QoS objects): levels, time thresholds
below which a sag is no event, the magnitude of the last one, and interruption onsets reported
when they begin."""

from __future__ import annotations

import math

import numpy as np

from meter.metrology.pq import PqDetector


def feed(d: PqDetector, volts: list[float], t0: float = 0.0, cycle: float = 0.02) -> None:
    """One phase, one run per cycle."""
    n = len(volts)
    d.feed(np.array(volts).reshape(n, 1), t0 + cycle * np.arange(n), np.ones(n))


def test_levels_decide_what_is_a_sag() -> None:
    d = PqDetector(("A",), np.array([230.0]))
    feed(d, [230.0] * 5 + [195.5] * 50 + [230.0] * 5)
    assert d.counters["A.sags"] == 1 and d.counters["A.sag_magnitude"] == 195.5
    d.set_levels(180.0 / 230.0, 1.1, 0.05)
    feed(d, [230.0] * 5 + [195.5] * 50 + [230.0] * 5, t0=10.0)
    assert d.counters["A.sags"] == 1  # 195.5 V is no sag below 180 V
    feed(d, [230.0] * 5 + [170.0] * 50 + [230.0] * 5, t0=20.0)
    assert d.counters["A.sags"] == 2 and d.counters["A.sag_magnitude"] == 170.0


def test_a_sag_shorter_than_its_time_threshold_is_no_event() -> None:
    d = PqDetector(("A",), np.array([230.0]))
    d.set_levels(0.9, 1.1, 0.05, min_sag_s=1.5)
    feed(d, [230.0] * 5 + [190.0] * 50 + [230.0] * 5)  # 1 s
    assert d.counters["A.sags"] == 0 and d.pop_events() == []
    feed(d, [230.0] * 5 + [190.0] * 100 + [230.0] * 5, t0=10.0)  # 2 s
    [event] = d.pop_events()
    assert event.kind == "sag" and math.isclose(event.end - event.start, 2.0)


def test_an_interruption_is_reported_when_it_begins() -> None:
    d = PqDetector(("A",), np.array([230.0]))
    feed(d, [230.0] * 5 + [100.0] + [0.0] * 10)  # a sag deepening into an interruption
    [onset] = d.pop_onsets()
    assert onset.kind == "outage" and math.isclose(onset.start, 0.1) and math.isnan(onset.end)
    assert d.pop_events() == []  # not over yet
    feed(d, [0.0] * 10 + [230.0] * 5, t0=0.32)
    assert d.pop_onsets() == []
    [event] = d.pop_events()
    assert event.kind == "outage" and math.isclose(event.end, 0.52)


def test_an_interruption_recovering_through_the_sag_band_is_one_interruption() -> None:
    # The cycle that straddles the supply's return reads part voltage: it ends the
    # interruption (IEC 61000-4-30: one event until the voltage is back over the dip
    # threshold), it does not open a sag of its own.
    d = PqDetector(("A",), np.array([230.0]))
    feed(d, [230.0] * 5 + [0.0] * 50 + [120.0] + [230.0] * 5)
    [event] = d.pop_events()
    assert event.kind == "outage" and math.isclose(event.end - event.start, 1.02)
    assert d.counters["A.sags"] == 0 and d.counters["A.outages"] == 1
