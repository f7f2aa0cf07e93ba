"""The control operations, one vocabulary for the HTTP API and the scenario timelines.

Each operation takes a JSON-like mapping of parameters (an HTTP body, a TOML step) and returns
a JSON-ready result. Every one first brings the device to the timebase's ``now``
(``Device.at``) and leaves what it changed committed. Bad parameters raise :class:`BadRequest`;
an object the meter lacks, :class:`NotFound`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from meter.codec.axdr import OctetString
from meter.codec.obis import Obis
from meter.control.state import NotFound, read_attribute, snapshot
from meter.cosem.clock import MAX_DRIFT_PPM
from meter.cosem.names import DISCONNECT_CONTROL
from meter.cosem.push_setup import PushSetup
from meter.device.injections import InjectionError
from meter.device.startup import metrology_mode_for
from meter.errors import AccessError, MeterError
from meter.metrology.errors import ScenarioError
from meter.timebase import MAX_SCALE

if TYPE_CHECKING:
    from meter.device.device import Device

__all__ = ["ACTIONS", "BadRequest", "Clock", "NotFound", "NotReady", "Operations", "Unsupported",
           "seconds"]

log = logging.getLogger(__name__)

#: The furthest one jump moves time (simulated s): the meter lives through every capture of
#: it inside one request (a year took ~15 s on a 2-core machine; README --history).
MAX_JUMP_S = 366 * 86400.0
_DURATION = re.compile(r"(-?)((?:\d+(?:\.\d+)?[smhdw])+|\d+(?:\.\d+)?)")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


class BadRequest(ValueError):
    """Parameters the operation cannot take (the API answers 400 with the message)."""


class Unsupported(BadRequest):
    """An operation that does not apply to this meter, e.g. moving a whole fleet's time from
    one of its meters (the API answers 409 with the message)."""


class NotReady(RuntimeError):
    """The device is not open yet (the API answers 503)."""


class Clock(Protocol):
    """What the operations need of meter.timebase.Timebase."""

    @property
    def scale(self) -> float: ...

    def now(self) -> float: ...

    def resume_at(self, t: float) -> None: ...

    def rescale(self, scale: float) -> None: ...

    def wall_delay(self, sim_seconds: float) -> float: ...


def seconds(value: object, what: str) -> float:
    """A duration: a number of seconds or a string such as ``90s``, ``15m``, ``2h``, ``1h30m``,
    ``30d`` (``-`` in front: backwards)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = float(value)
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip().replace(" ", ""))):
        out = sum(float(n) * _UNIT[u] for n, u in _PART.findall(m[2])) * (-1 if m[1] else 1)
    else:
        raise BadRequest(f"{what}: a number of seconds or a duration like 15m, 2h, 30d; "
                         f"got {value!r}")
    if not math.isfinite(out):
        raise BadRequest(f"{what}: not a finite duration")
    return out


def _obis(value: object, what: str = "obis") -> Obis:
    try:
        return Obis.parse(str(value))
    except (MeterError, ValueError, TypeError) as exc:
        raise BadRequest(f"{what}: not an OBIS code ({exc})") from None


def _number(params: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{key}: a number expected, got {value!r}")
    return float(value)


def _phase_names(device: Device) -> tuple[str, ...]:
    return device.metrology.engine.scenario.phase_names


def _phases(params: Mapping[str, Any], names: tuple[str, ...]) -> tuple[int, ...] | None:
    """The phases named in ``params`` (A, B, C or 1, 2, 3) as the device's indexes (0 = L1);
    None: every phase."""
    phases = params.get("phases")
    if phases is None:
        return None
    if not isinstance(phases, list) or not 0 < len(phases) <= 3:
        raise BadRequest("phases: a list of at most 3 phases (A, B, C or 1, 2, 3)")
    out: set[int] = set()
    for p in phases:
        if isinstance(p, str) and p.upper() in names:
            out.add(names.index(p.upper()))
        elif isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= len(names):
            out.add(p - 1)
        else:
            raise BadRequest(f"no phase {p!r} on this meter (phases {', '.join(names)} "
                             f"or 1..{len(names)})")
    return tuple(sorted(out))


class Operations:
    """The operations on one device, at the time of ``clock``; ``wake`` ticks the service (after
    time moved or work was queued)."""

    def __init__(self, device: Callable[[], Device | None], clock: Clock,
                 wake: Callable[[], None] = lambda: None) -> None:
        self._device_or_none = device
        self.clock = clock
        self._wake = wake

    def _device(self) -> Device:
        device = self._device_or_none()
        if device is None:
            raise NotReady("the meter is starting")
        return device

    def now(self) -> Device:
        """The device brought to the clock's now."""
        device = self._device()
        device.at(self.clock.now())
        return device

    def run(self, action: str, params: Mapping[str, Any]) -> Any:
        """Operation ``action`` with ``params`` (KeyError: no such operation)."""
        handler = ACTIONS[action]
        if action not in _READS:
            log.info("control: %s %s", action, repr(dict(params))[:200])
        try:
            return handler(self, params)
        except (ScenarioError, InjectionError) as exc:
            raise BadRequest(str(exc)) from None
        finally:
            self._commit()

    def _commit(self) -> None:
        """Whatever bringing the device to now (or the operation) left to store."""
        device = self._device_or_none()
        if device is not None:
            device.commit()

    # --- reading ---------------------------------------------------------------------------

    def state(self, params: Mapping[str, Any]) -> Any:
        device = self.now()
        out = snapshot(device)
        device.commit()
        return out

    def read(self, params: Mapping[str, Any]) -> Any:
        obis = _obis(params.get("obis"))
        attribute = params.get("attribute", 2)
        if isinstance(attribute, bool) or not isinstance(attribute, int) or not 1 <= attribute <= 255:
            raise BadRequest(f"attribute: an index 1..255, got {attribute!r}")
        device = self.now()
        try:
            return read_attribute(device, obis, attribute)
        except AccessError as exc:
            raise BadRequest(f"{obis} attribute {attribute}: {exc}") from None
        finally:
            device.commit()

    def display(self, params: Mapping[str, Any]) -> Any:
        """The LCD: its text, the item shown, the message that overrides it, the list."""
        return self._device().display_state(self.clock.now())

    def expect(self, params: Mapping[str, Any]) -> Any:
        """Compare an attribute with ``value`` (``op``: == != < <= > >=, or ``tolerance`` for
        a number within it); the register's scaled value when ``scaled`` is true."""
        op = str(params.get("op", "=="))
        if op not in _COMPARE:
            raise BadRequest(f"op: one of {' '.join(_COMPARE)}, got {op!r}")
        if "value" not in params:
            raise BadRequest("expect needs a value")
        reading = self.read(params)
        field = "scaled" if params.get("scaled") else "value"
        actual = reading.get(field)
        if isinstance(actual, dict):  # a date-time: compared as ISO text
            actual = actual.get("datetime")
        wanted = params["value"]
        tolerance = _number(params, "tolerance")
        try:
            if tolerance is not None:
                ok = abs(float(actual) - float(wanted)) <= tolerance
            else:
                ok = bool(_COMPARE[op](actual, wanted))
        except (TypeError, ValueError):
            ok = False
        return {"ok": ok, "obis": reading["obis"], "attribute": reading["attribute"],
                "actual": actual, "op": "~" if tolerance is not None else op, "expected": wanted}

    # --- injections -------------------------------------------------------------------------

    def outage(self, params: Mapping[str, Any]) -> Any:
        duration = seconds(params.get("duration", params.get("duration_s")), "duration")
        device = self._device()
        device.inject_outage(self.clock.now(), duration, _phases(params, _phase_names(device)))
        self._wake()
        return {"outage_s": duration}

    def voltage(self, params: Mapping[str, Any]) -> Any:
        kind = str(params.get("kind", ""))
        duration = seconds(params.get("duration", params.get("duration_s")), "duration")
        device = self._device()
        device.inject_voltage(self.clock.now(), kind, _number(params, "scale"), duration,
                              _phases(params, _phase_names(device)))
        self._wake()
        return {kind: duration}

    def sag(self, params: Mapping[str, Any]) -> Any:
        return self.voltage({**params, "kind": "sag"})

    def swell(self, params: Mapping[str, Any]) -> Any:
        return self.voltage({**params, "kind": "swell"})

    def load(self, params: Mapping[str, Any]) -> Any:
        current = params.get("current")
        if current is not None and not isinstance(current, (int, float, list)):
            raise BadRequest("current: amperes, one number or one per phase")
        harmonics = params.get("harmonics")
        if harmonics is not None and not isinstance(harmonics, dict):
            raise BadRequest('harmonics: {"i": [[order, ratio, phase_deg], ...], "v": [...]}')
        try:
            self._device().set_load(self.clock.now(), current, _number(params, "pf"), harmonics)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"load: {exc}") from None
        self._wake()
        return {"load": {k: params[k] for k in ("current", "pf", "harmonics") if k in params}}

    def harmonics(self, params: Mapping[str, Any]) -> Any:
        return self.load({"harmonics": {k: params[k] for k in ("i", "v") if k in params}})

    def tamper(self, params: Mapping[str, Any]) -> Any:
        kind, active = str(params.get("kind", "")), params.get("active", True)
        if not isinstance(active, bool):
            raise BadRequest("active: true or false")
        self._device().set_tamper(self.clock.now(), kind, active)
        self._wake()
        return {"tamper": kind, "active": active}

    def button(self, params: Mapping[str, Any]) -> Any:
        relay = _obis(params.get("relay", str(DISCONNECT_CONTROL)), "relay")
        device = self.now()
        state = device.press_button(relay)
        self._wake()
        return {"relay": str(relay), "control_state": int(state)}

    # --- time ------------------------------------------------------------------------------

    def time(self, params: Mapping[str, Any]) -> Any:
        device = self.now()
        return {"true_time": _iso(device.t), "meter_time": _iso(device.clock.timestamp()),
                "scale": self.clock.scale, **_drift(device)}

    def drift(self, params: Mapping[str, Any]) -> Any:
        """The clock's crystal runs ``ppm`` fast (negative: slow) from now: the clock steps a
        second each time it has drifted one (no event); a setting corrects it, the rate stays."""
        ppm = _number(params, "ppm")
        if ppm is None or abs(ppm) > MAX_DRIFT_PPM:
            raise BadRequest(f"ppm: a drift rate within ±{MAX_DRIFT_PPM:g}, got {params.get('ppm')!r}")
        device = self._device()
        device.set_drift(self.clock.now(), ppm)
        self._wake()
        return _drift(device)

    def time_set(self, params: Mapping[str, Any]) -> Any:
        """Set the meter's clock (as a head end's SET of the Clock's time, logged as a clock
        adjustment); true time goes on."""
        text = params.get("time")
        try:
            moment = dt.datetime.fromisoformat(str(text))
        except ValueError:
            raise BadRequest(f"time: an ISO 8601 date-time, got {text!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return self._set_clock(moment.timestamp())

    def _set_clock(self, ts: float) -> Any:
        device = self.now()
        clock = device.clock
        try:
            clock.set(2, OctetString(clock.octets_at(ts)), device.context(None))
        except (AccessError, ValueError, OverflowError) as exc:
            raise BadRequest(f"the clock cannot be set there: {exc}") from None
        device.commit()
        self._wake()
        return self.time({})

    def jump(self, params: Mapping[str, Any]) -> Any:
        """Forward: time passes (the meter lives through every capture, billing and push of the
        span). Back: the meter's clock is set back (true time never runs back)."""
        by = seconds(params.get("by"), "by")
        if not 0 < abs(by) <= MAX_JUMP_S:
            raise BadRequest(f"by: a jump is non-zero and at most {MAX_JUMP_S:g} s either way")
        if by < 0:
            return self._set_clock(self.now().clock.timestamp() + by)
        self.clock.resume_at(self.clock.now() + by)
        device = self._device()
        engine = device.metrology.engine
        mode, engine.mode = engine.mode, "fast"  # as a back-fill: steady stretches closed-form
        try:
            device.tick(self.clock.now())
        finally:
            engine.mode = mode
        self._wake()
        return self.time({})

    def time_scale(self, params: Mapping[str, Any]) -> Any:
        scale = _number(params, "scale")
        if scale is None or not 0 < scale <= MAX_SCALE:
            raise BadRequest(f"scale: more than 0 and at most {MAX_SCALE:g}")
        device = self.now()
        device.metrology.to(device.t)
        self.clock.rescale(scale)
        device.metrology.engine.mode = metrology_mode_for(scale)
        self._wake()
        return self.time({})

    # --- pushes ----------------------------------------------------------------------------

    def push(self, params: Mapping[str, Any]) -> Any:
        obis = _obis(params.get("obis"))
        device = self.now()
        if not isinstance(device.directory.get(obis), PushSetup):
            raise NotFound(f"the meter has no push setup {obis}")
        device.pushes.trigger(obis)
        device.commit()
        self._wake()
        return {"triggered": str(obis)}


def _drift(device: Device) -> dict[str, float]:
    """The clock's drift rate and how far it is from true time now (meter − true, s)."""
    return {"drift_ppm": device.clock.drift_ppm, "deviation_s": round(device.clock.deviation(), 3)}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


_READS = frozenset({"state", "read", "display", "time", "expect"})

#: Operation name -> method (the timeline's ``do`` and the API's paths).
ACTIONS: dict[str, Callable[[Operations, Mapping[str, Any]], Any]] = {
    "state": Operations.state, "read": Operations.read, "display": Operations.display,
    "expect": Operations.expect, "outage": Operations.outage, "voltage": Operations.voltage,
    "sag": Operations.sag, "swell": Operations.swell, "load": Operations.load,
    "harmonics": Operations.harmonics, "tamper": Operations.tamper,
    "button": Operations.button, "time": Operations.time, "time_set": Operations.time_set,
    "jump": Operations.jump, "time_scale": Operations.time_scale, "push": Operations.push,
    "drift": Operations.drift,
}
