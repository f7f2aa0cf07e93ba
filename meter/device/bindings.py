"""Live values: the metrology engine the meter runs, and the objects whose value it gives.

A profile object's ``source = "KIND:KEY"`` is parsed once into a :class:`Source`; one table of
provider factories (:data:`PROVIDERS`) binds attribute 2 of each such object to its provider.
Energy, instantaneous and power-quality values come from the engine, brought up to the meter's
true time when read; the security counters from a Security setup's context. Demand registers
are fed by the scheduler (meter/device/demand.py), not bound here; per-rate energy registers by
meter/device/tariffs.py.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.base import CosemObject, integer
from meter.cosem.registry import ObjectDirectory
from meter.metrology.engine import Engine, PqEvent
from meter.profile import Profile
from meter.server.protection import SecurityContext

__all__ = ["ENGINE_LAG", "PROVIDERS", "Bindings", "Metrology", "Source", "SourceKind", "bind_sources",
           "energy_data", "make_engine", "register_factor", "sources"]

#: Before a request the metrology engine is moved on only once it lags this much (simulated
#: seconds); the tick (at least every real second) always brings it up to date. It synthesises
#: whole blocks: a few cycles per request cost ~1 ms each, a second in one call ~5 ms, and off
#: the request path that stall does not add to request latency. Metrology values (the
#: providers), captures and snapshots still bring it exactly to the meter's time; only PQ events
#: may surface this much later. In fast mode a steady stretch (no edge up to the meter's time:
#: no PQ event to surface) is not moved before a request at all (Engine.steady_through): a
#: fleet's meter read for its device ID measures nothing.
ENGINE_LAG = 2.0

Provider = Callable[[], axdr.Data]


class SourceKind(enum.Enum):
    """Where a bound value comes from (profile ``source`` prefixes, meter/profile_schema.py)."""

    ENERGY = "energy"
    INSTANT = "instant"
    PQ = "pq"
    DEMAND = "demand"
    INVOCATION_COUNTER = "invocation_counter"
    DECRYPTION_FAILURES = "decryption_failures"
    REPLAYS = "replays"


@dataclass(frozen=True, slots=True)
class Source:
    kind: SourceKind
    key: str  # a metrology key, or a Security setup's logical name

    @classmethod
    def parse(cls, text: str) -> Source:
        """``"energy:A+"`` -> Source(ENERGY, "A+"); ValueError for an unknown kind."""
        kind, _, key = text.partition(":")
        return cls(SourceKind(kind), key)


def sources(profile: Profile) -> dict[Obis, Source]:
    """The ``source`` of each profile object that has one."""
    return {spec.obis: Source.parse(str(spec.options["source"]))
            for spec in profile.objects if spec.options.get("source")}


def make_engine(profile: Profile, directory: ObjectDirectory, start: float, mode: str) -> Engine:
    """The engine of the profile's [metrology] scenario, with the algorithms the measurement
    algorithm objects select (restored ones included)."""
    m = profile.meter
    scenario = dict(profile.metrology.get("scenario", {}))
    scenario.setdefault("wiring", m.get("wiring", "3P4W"))
    scenario.setdefault("f", float(m.get("frequency", 50.0)))
    scenario.setdefault("voltage", float(m.get("voltage", 230.0)))
    scenario.setdefault("current", float(m.get("current", 5.0)))
    scenario.setdefault("pf", float(m.get("power_factor", 1.0)))
    selection = {o.logical_name.e: o.int_value("value")
                 for o in directory if o.NAME == "measurement_algorithm"}
    return Engine(scenario, profile.metrology.get("algorithms", {}), selection,
                  start_time=start, mode=mode, period_s=900.0)


class Metrology:
    """The engine, moved only forward; each disturbance it reports goes to ``on_pq``, the
    interruptions begun in one move to ``on_onsets`` together (the device sets it: power
    failures; phases cut at once raise their alarms at once)."""

    __slots__ = ("_on_pq", "engine", "on_onsets")

    def __init__(self, engine: Engine, on_pq: Callable[[PqEvent], None]) -> None:
        self.engine = engine
        self._on_pq = on_pq
        self.on_onsets: Callable[[list[PqEvent]], None] = lambda events: None

    def to(self, t: float) -> None:
        """Measure up to true time ``t``."""
        if t > self.engine.now:
            self.engine.advance_to(t)
            onsets = self.engine.pop_pq_onsets()
            if onsets:
                self.on_onsets(onsets)
            for event in self.engine.pop_pq_events():
                self._on_pq(event)


@dataclass(frozen=True, slots=True)
class Bindings:
    """What a provider reads: the engine at the meter's true time, the security contexts."""

    metrology: Metrology
    now: Callable[[], float]  # the meter's true time
    security: Mapping[Obis, SecurityContext]


def register_factor(obj: CosemObject) -> float:
    """10^-scaler: the register's unit per engine unit."""
    scaler = integer(obj.items("scaler_unit")[0], "scaler")
    return 10.0 ** -scaler


def energy_data(value: float) -> axdr.Data:
    """An energy in the register's unit as its value (double-long-unsigned, saturating)."""
    return axdr.DoubleLongUnsigned(min(int(value), 0xFFFFFFFF))


def _measured(view: Callable[[Engine], Mapping[str, float]],
              encode: Callable[[float], axdr.Data]) -> Callable[[Bindings, CosemObject, str], Provider]:
    """A provider of the engine's ``view()[key]`` in the register's unit, measured up to the
    meter's time when read."""
    def factory(b: Bindings, obj: CosemObject, key: str) -> Provider:
        factor = register_factor(obj)

        def value() -> axdr.Data:
            b.metrology.to(b.now())
            return encode(view(b.metrology.engine).get(key, 0.0) * factor)
        return value
    return factory


def _last_accepted_ic(b: Bindings, obj: CosemObject, key: str) -> Provider:
    ctx = b.security[Obis.parse(key)]

    def value() -> axdr.Data:
        return axdr.DoubleLongUnsigned(max(ctx.rx.last, 0))
    return value


def _security_count(counter: str) -> Callable[[Bindings, CosemObject, str], Provider]:
    """The context's ``counter`` ("failures" or "replays") since the start, capped to
    double-long-unsigned."""
    def factory(b: Bindings, obj: CosemObject, key: str) -> Provider:
        ctx = b.security[Obis.parse(key)]

        def value() -> axdr.Data:
            return axdr.DoubleLongUnsigned(min(int(getattr(ctx, counter)), 0xFFFFFFFF))
        return value
    return factory


#: Source kind -> the provider factory of attribute 2 (demand: meter/device/demand.py).
PROVIDERS: dict[SourceKind, Callable[[Bindings, CosemObject, str], Provider]] = {
    SourceKind.ENERGY: _measured(lambda e: e.registers, energy_data),
    SourceKind.INSTANT: _measured(lambda e: e.instantaneous,
                                  lambda v: axdr.DoubleLong(max(min(round(v), 0x7FFFFFFF), -0x80000000))),
    # Counts, and durations in seconds to the resolution the register's scaler gives them
    # (the engine measures whole cycles).
    SourceKind.PQ: _measured(lambda e: e.pq,
                             lambda v: axdr.DoubleLongUnsigned(min(round(v), 0xFFFFFFFF))),
    SourceKind.INVOCATION_COUNTER: _last_accepted_ic,
    SourceKind.DECRYPTION_FAILURES: _security_count("failures"),
    SourceKind.REPLAYS: _security_count("replays"),
}


def bind_sources(directory: ObjectDirectory, bound: Mapping[Obis, Source], b: Bindings) -> None:
    for obis, source in bound.items():
        factory = PROVIDERS.get(source.kind)
        if factory is not None:
            directory[obis].bind(2, factory(b, directory[obis], source.key))
