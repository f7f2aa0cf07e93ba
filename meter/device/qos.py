"""The quality-of-supply thresholds the PQ detector uses, as objects (use case 8).

Voltage levels 1.0.12.31/35/39.0.255 (under-limit = sag, over-limit = swell, missing voltage;
in V through the register's scaler) and time thresholds 1.0.12.43/44.0.255 (s: a shorter sag or
swell is no event) are ``qos_threshold`` registers. At start and after every write the detector
takes them (as fractions of its declared voltage); what was measured before a write keeps the
old levels. A meter without one of the objects keeps the detector's default for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from meter.codec.obis import Obis
from meter.cosem.alarms import QosThreshold
from meter.cosem.names import (
    MISSING_VOLTAGE_THRESHOLD, SAG_THRESHOLD, SAG_TIME_THRESHOLD, SWELL_THRESHOLD,
    SWELL_TIME_THRESHOLD)
from meter.cosem.registry import ObjectDirectory
from meter.device.bindings import Metrology
from meter.metrology import pq

__all__ = ["QosThresholds"]

log = logging.getLogger(__name__)


class QosThresholds:
    def __init__(self, directory: ObjectDirectory, metrology: Metrology,
                 now: Callable[[], float]) -> None:
        self._metrology = metrology
        self._now = now
        self._objects: dict[Obis, QosThreshold] = {}
        for name in (SAG_THRESHOLD, SWELL_THRESHOLD, MISSING_VOLTAGE_THRESHOLD,
                     SAG_TIME_THRESHOLD, SWELL_TIME_THRESHOLD):
            obj = directory.get(name)
            if isinstance(obj, QosThreshold):
                obj.on_write = self.written
                self._objects[name] = obj

    def _level(self, name: Obis, default: float, declared: float) -> float:
        obj = self._objects.get(name)
        return default if obj is None or declared <= 0 else obj.scaled / declared

    def _seconds(self, name: Obis) -> float:
        obj = self._objects.get(name)
        return 0.0 if obj is None else obj.scaled

    def apply(self) -> None:
        """Give the detector the objects' thresholds."""
        detector = self._metrology.engine.pq_detector
        declared = float(detector.nominal[0]) if len(detector.nominal) else 0.0
        detector.set_levels(self._level(SAG_THRESHOLD, pq.SAG, declared),
                            self._level(SWELL_THRESHOLD, pq.SWELL, declared),
                            self._level(MISSING_VOLTAGE_THRESHOLD, pq.OUTAGE, declared),
                            self._seconds(SAG_TIME_THRESHOLD), self._seconds(SWELL_TIME_THRESHOLD))
        log.info("PQ thresholds: sag %.3f, swell %.3f, interruption %.3f of %.1f V; "
                 "time thresholds %.1f / %.1f s", detector.sag, detector.swell, detector.outage,
                 declared, detector.min_sag_s, detector.min_swell_s)

    def written(self) -> None:
        """A threshold was written: what was measured so far keeps the old ones."""
        self._metrology.to(self._now())
        self.apply()
