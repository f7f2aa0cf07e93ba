"""Metrology engine (layer 4): waveforms, measurement algorithms, energy registers, PQ events.

Imports only numpy, the standard library and meter.errors. See engine.py for the device-facing
API and evaluate.py for the reference-vector runner.
"""

from __future__ import annotations

import os

# The engine's linear algebra is many small solves: BLAS threads only add overhead (measured up
# to 40x slower on 2 cores). Effective only if numpy is not loaded yet, which in the meter it is not.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from meter.metrology.algorithms import PLUGINS, Algorithm, AlgorithmMap
from meter.metrology.engine import Engine, PeriodRecord
from meter.metrology.errors import AlgorithmError, MetrologyError, ScenarioError
from meter.metrology.pq import PqEvent
from meter.metrology.scenario import Event, LoadState, Scenario

__all__ = [
    "PLUGINS", "Algorithm", "AlgorithmError", "AlgorithmMap", "Engine", "Event", "LoadState",
    "MetrologyError", "PeriodRecord", "PqEvent", "Scenario", "ScenarioError",
]  # fmt: skip
