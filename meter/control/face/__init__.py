"""The meter face: a page served by the control API at ``/`` (issue 12 item 4).

The page (``static/``: plain HTML, CSS and JavaScript shipped as package data; no framework, no
CDN, works offline) shows what a customer and a field technician see on the meter: the LCD (the
display list and messages, ``Device.display_state`` where the meter has a display, else "—"),
the relay and alarm indicators, the active tariff, a live chart of voltage, current and power,
the last waveform cycle, the event logs, and buttons that call the control API's injections.

It reads two small JSON answers of its own beside the API's:

- ``GET /face/live``: the meter's state for the face (``state.snapshot`` plus the display, the
  alarm registers and the instantaneous values per phase, in engineering units);
- ``GET /face/waveform``: the last cycle of voltage and current samples of each phase,
  synthesised from the metrology engine's scenario at the meter's now (outages, sags and swells
  included), at most ``MAX_SAMPLES`` per channel.

Fleets: when the server answers ``GET /meters`` with ``{"meters": [{"id", "serial", "base",
...}]}`` (or a bare list of such rows; ``base`` is the URL prefix of that meter's control API,
e.g. ``/meters/17``), the page shows a searchable table and a drill-down into each meter's face;
a single meter answers 404 there and the page shows that meter only.

With ``--control-token`` the page and its scripts load without the token (they hold no meter
data); the page takes the token from its URL fragment (``/#token=...``) and sends it as a bearer
header on every call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from meter.codec.obis import Obis
from meter.control.state import EVENT_LOGS, read_attribute, snapshot
from meter.cosem.events import LogEvent
from meter.cosem.names import ALARM_REGISTERS
from meter.errors import AccessError
from meter.metrology.registers import PHASE_OFFSETS
from meter.metrology.waveform import synthesize

if TYPE_CHECKING:
    from meter.control.server import ControlServer
    from meter.device.device import Device

__all__ = ["ALARM_BITS", "MAX_SAMPLES", "STATIC", "add_routes", "last_cycle", "live"]

#: The page's files, each with its content type (nothing else is served from the directory).
STATIC_DIR = Path(__file__).with_name("static")
STATIC = {"index.html": "text/html", "face.css": "text/css", "face.js": "text/javascript"}
#: Samples per channel of the waveform answer (a cycle at 8 kHz and 45 Hz is 178).
MAX_SAMPLES = 512
#: Names of the alarm register bits the face lights (cosem-reference.md §4.3, DSMR/SMR5 layout,
#: which IDIS shares for bits 0-23); register 1 and 2, bit -> name.
ALARM_BITS: dict[int, dict[int, str]] = {
    0: {0: "clock invalid", 1: "replace battery", 2: "power up", 8: "program memory error",
        9: "RAM error", 10: "NV memory error", 11: "measurement system error",
        12: "watchdog error", 13: "fraud attempt", 28: "phase outage L1",
        29: "phase outage L2", 30: "phase outage L3"},
    1: {0: "voltage sag L1", 1: "voltage sag L2", 2: "voltage sag L3", 3: "voltage swell L1",
        4: "voltage swell L2", 5: "voltage swell L3"},
    2: {0: "last gasp", 1: "last gasp test"},
}


def _register(regs: Mapping[str, Any], measured: Mapping[str, float], c: int) -> float | None:
    """The scaled value of instantaneous register 1.0.C.7.0.255, or where the profile has no
    such register, what the metrology measured for it; None when neither has it."""
    entry = regs.get(str(Obis(1, 0, c, 7, 0, 255)))
    value = entry.get("scaled") if isinstance(entry, dict) else measured.get(f"{c}.7.0")
    return float(value) if isinstance(value, (int, float)) else None


def _instant(device: Device, regs: Mapping[str, Any]) -> dict[str, Any]:
    """Voltage, current and active power per phase and total active power (import - export),
    as the meter's registers read them, or the metrology measures them where the profile has no
    register (Blue Book C: 1/2 total +/-P; per phase 20/40/60 + 12 V, + 11 I, + 1/2 +/-P)."""
    engine = device.metrology.engine
    measured = engine.instantaneous

    def reg(c: int) -> float | None:
        return _register(regs, measured, c)

    phases = []
    for name, o in zip(engine.scenario.phase_names, PHASE_OFFSETS, strict=False):
        p_in, p_out = reg(o + 1), reg(o + 2)
        phases.append({"name": name, "v": reg(o + 12), "i": reg(o + 11),
                       "p": None if p_in is None else p_in - (p_out or 0.0)})
    p_in, p_out = reg(1), reg(2)
    return {"phases": phases, "p": None if p_in is None else p_in - (p_out or 0.0)}


def _alarms(device: Device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, obis in enumerate(ALARM_REGISTERS):
        if device.directory.get(obis) is None:
            continue
        try:
            value = read_attribute(device, obis, 2)["value"]
        except AccessError:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            bits = ALARM_BITS.get(k, {})
            out[str(obis)] = {"value": value,
                              "set": [bits.get(b, f"bit {b}") for b in range(32) if value >> b & 1]}
    return out


@functools.cache
def _event_names() -> dict[str, dict[int, str]]:
    """Log name (as in the state's events) -> code -> the event's name, from meter/cosem/events."""
    members = [m for cls in LogEvent.__subclasses__() for m in cls]  # a log may have several
    return {name: {int(m): m.name.lower().replace("_", " ") for m in members if m.log == obis}
            for name, obis in EVENT_LOGS.items()}


def live(device: Device, now: float) -> dict[str, Any]:
    """The face's state at ``now`` (the device brought to it by the caller)."""
    out = snapshot(device)
    out["meter"] = {"ldn": device.profile.ldn.decode(errors="replace")}
    out["display"] = device.display_state(now)
    out["alarms"] = _alarms(device)
    out["instant"] = _instant(device, out["registers"])
    names = _event_names()
    for log_name, entries in out["events"].items():
        for entry in entries:
            entry["name"] = names.get(log_name, {}).get(entry["code"])
    return out


def last_cycle(device: Device) -> dict[str, Any]:
    """The cycle of samples ending at the meter's now, per phase (volts, amperes)."""
    engine = device.metrology.engine
    scenario = engine.scenario
    t = device.t - engine.origin
    _, _, state = scenario.state_at(t)
    fs = float(engine.fs)
    count = max(8, min(MAX_SAMPLES, round(fs / state.f))) if state.f > 0 else MAX_SAMPLES
    end = math.floor(t * fs)
    x = synthesize(scenario, end - count, end, fs)
    return {"fs": fs, "f": state.f, "t": device.t,
            "phases": [{"name": name, "v": [round(float(s), 2) for s in x[k, 0]],
                        "i": [round(float(s), 3) for s in x[k, 1]]}
                       for k, name in enumerate(scenario.phase_names)]}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _static(name: str) -> Handler:
    kind = STATIC[name]

    async def serve(request: web.Request) -> web.StreamResponse:
        body = (STATIC_DIR / name).read_bytes()
        return web.Response(body=body, content_type=kind, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    return serve


def add_routes(app: web.Application, server: ControlServer, prefix: str = "") -> None:
    """The page at ``/`` and ``/face/<file>`` (route names ``face_static*``: served without the
    token) and its two JSON answers, under ``prefix`` (a fleet's ``/meters/{meter}``: the
    meter is ``server.target(request)``)."""
    app.router.add_get("/", _static("index.html"), name="face_static")
    for name in STATIC:
        app.router.add_get(f"/face/{name}", _static(name), name=f"face_static_{name}")

    def answer(work: Callable[[Device, float], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            target = server.target(request)

            def run() -> Any:
                device = target.ops.now()
                try:
                    return work(device, target.clock.now())
                finally:
                    device.commit()
            return web.json_response(server._call(run))
        return handle

    app.router.add_get(f"{prefix}/face/live", answer(live), name="face_live")
    app.router.add_get(f"{prefix}/face/waveform", answer(lambda device, now: last_cycle(device)),
                       name="face_waveform")
