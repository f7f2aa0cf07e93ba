"""Errors of the metrology engine (layer 4), rooted in meter.errors.MeterError.

They also derive from ValueError so a caller that only knows the standard library can catch them.
"""

from __future__ import annotations

from meter.errors import MeterError


class MetrologyError(MeterError):
    """Root of the errors the metrology engine raises on purpose."""


class ScenarioError(MetrologyError, ValueError):
    """A waveform or load description that cannot be simulated."""


class AlgorithmError(MetrologyError, ValueError):
    """An algorithm map, selection or enum value that has no plug-in (1.0.0.11.e.255)."""
