"""The control API: HTTP/JSON (aiohttp) on the meter's own event loop (``serve --control``).

Loopback by default; a non-loopback address needs a token, and with a token every request
carries ``Authorization: Bearer TOKEN``. The routes are one table (``ROUTES``) from which the
OpenAPI 3 description at ``/openapi.json`` is made. Bodies are JSON objects of at most
``MAX_BODY`` bytes (a scenario: TOML text); bad input gets a 4xx with ``{"error": "..."}``,
never a traceback, and the meter goes on serving.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from meter.control import face
from meter.control.ops import (
    ACTIONS, BadRequest, Clock, NotFound, NotReady, Operations, Unsupported)
from meter.control.taps import Connections, Metrics
from meter.control.timeline import Run, Step, Timeline
from meter.errors import AccessError, MeterError
from meter.transport.faults import LinkFaults
from meter.transport.pcap import AssociationKeys
from meter.transport.push import PushSource
from meter.stack import Stack
from meter.transport.session import DeadlineTimer

if TYPE_CHECKING:
    from meter.device.device import Device
    from meter.device.pushes import PushWork

__all__ = ["MAX_BODY", "ROUTES", "ControlServer", "CountedPushes", "Route", "faults_call",
           "is_loopback", "json_error", "openapi"]

log = logging.getLogger(__name__)

#: The largest request body taken (bytes): a scenario file fits, a flood does not.
MAX_BODY = 256 * 1024
_JSON = "application/json"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    op: str  # an operation of ops.ACTIONS, or one of the server's own
    summary: str
    body: Mapping[str, Any] | None = None  # JSON schema properties of the body


_NUM = {"type": "number"}
_DURATION = {"oneOf": [{"type": "number"}, {"type": "string"}],
             "description": "seconds, or a duration such as 90s, 15m, 2h, 30d"}
_PHASES = {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
           "description": "phases A, B, C (or 1..3); default all"}
_HARMONICS = {"type": "array", "items": {"type": "array", "items": _NUM},
              "description": "[[order, ratio to the fundamental, phase_deg], ...]"}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/state", "state",
          "clock, registers (value, scaler, unit), relays, active tariff, last events"),
    Route("GET", "/registers/{obis}", "read",
          "one attribute of an object as a DLMS GET reads it (?attribute=N, default 2)"),
    Route("GET", "/display", "display", "the LCD: its text, the item shown, a message, the list"),
    Route("GET", "/associations", "associations",
          "the connections, open and recently closed, and their associations"),
    Route("GET", "/trace/{id}", "trace",
          "the recent APDUs of connection id, deciphered where its keys decipher, described"),
    Route("POST", "/inject/outage", "outage", "no supply for a while",
          {"duration": _DURATION, "phases": _PHASES}),
    Route("POST", "/inject/sag", "sag", "a voltage sag (scale below 1)",
          {"duration": _DURATION, "scale": _NUM, "phases": _PHASES}),
    Route("POST", "/inject/swell", "swell", "a voltage swell (scale above 1)",
          {"duration": _DURATION, "scale": _NUM, "phases": _PHASES}),
    Route("POST", "/inject/load", "load", "the load from now on",
          {"current": {"oneOf": [_NUM, {"type": "array", "items": _NUM}]}, "pf": _NUM,
           "harmonics": {"type": "object", "properties": {"i": _HARMONICS, "v": _HARMONICS}}}),
    Route("POST", "/inject/harmonics", "harmonics", "harmonics of the load from now on",
          {"i": _HARMONICS, "v": _HARMONICS}),
    Route("POST", "/inject/tamper", "tamper", "a tamper input: terminal_cover, meter_cover, magnetic_field",
          {"kind": {"type": "string"}, "active": {"type": "boolean"}}),
    Route("POST", "/inject/button", "button", "the customer presses a relay's button",
          {"relay": {"type": "string", "description": "OBIS, default 0.0.96.3.10.255"}}),
    Route("POST", "/inject/drift", "drift",
          "the clock's crystal runs ppm fast (negative: slow) from now; answers the rate and "
          "the deviation (meter − true time, s)", {"ppm": _NUM}),
    Route("GET", "/time", "time", "true time, meter time, time scale, drift_ppm and deviation_s"),
    Route("POST", "/time/set", "time_set", "set the meter's clock (logged as a clock setting)",
          {"time": {"type": "string", "format": "date-time"}}),
    Route("POST", "/time/jump", "jump",
          "forward: time passes, every capture lived through; back: the clock is set back",
          {"by": _DURATION}),
    Route("POST", "/time/scale", "time_scale", "simulated seconds per real second",
          {"scale": _NUM}),
    Route("POST", "/push", "push", "trigger a push setup", {"obis": {"type": "string"}}),
    Route("POST", "/expect", "expect", "compare an attribute with a value",
          {"obis": {"type": "string"}, "attribute": {"type": "integer"},
           "op": {"type": "string"}, "value": {}, "tolerance": _NUM,
           "scaled": {"type": "boolean"}}),
    Route("POST", "/scenario", "scenario_load",
          "load a scenario (the TOML text as the body; replaces a running one)"),
    Route("GET", "/scenario", "scenario_status", "the running scenario's progress and results"),
    Route("GET", "/metrics", "metrics", "Prometheus text format counters"),
    Route("GET", "/faults", "faults", "the link faults in force on every listener, and their counters"),
    Route("POST", "/faults", "faults_set",
          "change link faults live (README: Link faults; a bad value changes nothing); "
          "reset_counters = true zeroes the counters",
          {"delay": _NUM, "jitter": _NUM, "byte_time": _NUM, "drop": _NUM, "drop_in": _NUM,
           "duplicate": _NUM, "corrupt": _NUM, "corrupt_in": _NUM, "refuse": _NUM,
           "cut_block": {"type": "integer"}, "cut_times": {"type": "integer"},
           "seed": {"type": "integer"}, "reset_counters": {"type": "boolean"}}),
)


#: Routes the server answers itself (connections, scenarios, metrics, the links' faults): no
#: device operation, so no scenario step either.
SERVER_ONLY = frozenset({"associations", "trace", "scenario_load", "scenario_status", "metrics",
                         "faults", "faults_set"})


def openapi(routes: Iterable[Route] = ROUTES, prefix: str = "") -> dict[str, Any]:
    """The OpenAPI 3.0 description of ``routes``, each path under ``prefix``."""
    paths: dict[str, dict[str, Any]] = {}
    error = {"description": "bad request, unknown object, no such operation",
             "content": {_JSON: {"schema": {"type": "object",
                                            "properties": {"error": {"type": "string"}}}}}}
    for r in routes:
        path = prefix + r.path
        op: dict[str, Any] = {"operationId": f"meter_{r.op}" if prefix else r.op,
                              "summary": r.summary,
                              "responses": {"200": {"description": "done",
                                                    "content": {_JSON: {"schema": {}}}},
                                            "4XX": error}}
        params = [{"name": name.strip("{}"), "in": "path", "required": True,
                   "schema": {"type": "string"}}
                  for name in path.split("/") if name.startswith("{")]
        if r.op == "read":
            params.append({"name": "attribute", "in": "query", "schema": {"type": "integer"}})
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {"content": {_JSON: {"schema": {"type": "object",
                                                                "properties": dict(r.body)}}}}
        elif r.op == "scenario_load":
            op["requestBody"] = {"content": {"application/toml": {"schema": {"type": "string"}}}}
        if r.op == "metrics":
            op["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
        paths.setdefault(path, {})[r.method.lower()] = op
    return {"openapi": "3.0.3",
            "info": {"title": "acesm-meter control API", "version": "1"},
            "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
            "security": [{"token": []}, {}],
            "paths": paths}


class CountedPushes:
    """The device's pushes as the sender sees them, each outcome counted."""

    def __init__(self, source: PushSource, metrics: Metrics) -> None:
        self._source = source
        self._metrics = metrics

    def connected(self, now: float) -> None:
        self._source.connected(now)

    def push_work(self, now: float) -> list[PushWork]:
        return self._source.push_work(now)

    def push_done(self, job: int, delivered: bool, reason: str, now: float) -> None:
        self._metrics.add("acesm_pushes_total", result="delivered" if delivered else "failed")
        self._source.push_done(job, delivered, reason, now)


class ControlServer:
    """The API of one meter; ``device()`` is None until the device is open (503 until then)."""

    def __init__(self, device: Callable[[], Device | None], clock: Clock, profile: str,
                 keys: Callable[[], Iterable[AssociationKeys]] = tuple,
                 token: str | None = None, wake: Callable[[], None] = lambda: None,
                 faults: LinkFaults | None = None, metrics: Metrics | None = None) -> None:
        self._device = device
        self.faults = LinkFaults() if faults is None else faults
        self.clock = clock
        self.token = token
        self.metrics = Metrics(profile) if metrics is None else metrics
        self._keys = keys
        self.connections = Connections(self.metrics, clock.now, self._keys_of)
        self.ops = Operations(device, clock, wake)
        self.run: Run | None = None
        self._timer: DeadlineTimer | None = None
        self._runner: web.AppRunner | None = None

    def _keys_of(self, client_sap: int) -> AssociationKeys | None:
        try:
            return next((k for k in self._keys() if k.client_sap == client_sap), None)
        except MeterError:
            return None

    def tap(self, stack: Stack, medium: str) -> Stack:
        """For MeterService.stack_tap."""
        return self.connections.tap(stack, medium)

    def pushes(self, source: PushSource) -> PushSource:
        return CountedPushes(source, self.metrics)

    # --- serving ---------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on host:port (0: any free port); where it listens."""
        if not is_loopback(host) and not self.token:
            raise MeterError(f"the control API on {host} (not loopback) needs --control-token")
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._middleware],
                              handler_args={"max_field_size": 8190, "max_line_size": 8190})
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        bound = tuple(addresses[0][:2]) if addresses else (host, port)
        log.info("control: listening on %s:%d", bound[0], bound[1])
        return str(bound[0]), int(bound[1])

    def _add_routes(self, app: web.Application) -> None:
        """ROUTES, the OpenAPI description and the meter face (a fleet's front adds its own)."""
        for route in ROUTES:
            app.router.add_route(route.method, route.path, self._handler(route), name=route.op)
        app.router.add_get("/openapi.json", self._openapi, name="openapi")
        face.add_routes(app, self)  # the meter face at / (meter/control/face)

    def target(self, request: web.Request) -> ControlServer:
        """The meter a request is for: this one (a fleet's front picks one of its meters by
        the request's path, meter/control/fleet.py)."""
        return self

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        name = request.match_info.route.name or "unrouted"
        status = 500
        try:
            if self.token is not None and not name.startswith("face_static"):
                given = request.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                    raise _error(web.HTTPUnauthorized, "Authorization: Bearer TOKEN required",
                                 headers={"WWW-Authenticate": "Bearer"})
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            if exc.content_type == _JSON:
                raise
            # aiohttp's own (no route, wrong method, body too large): the same JSON shape
            text = exc.reason if exc.status != 413 else \
                f"request body larger than {MAX_BODY} bytes"
            return web.json_response({"error": text}, status=exc.status, headers={
                k: v for k, v in exc.headers.items() if k in ("WWW-Authenticate", "Allow")})
        except Exception:
            log.exception("control API: %s %s failed", request.method, request.path)
            return web.json_response({"error": "internal error (logged by the meter)"},
                                     status=500)
        finally:
            self.metrics.add("acesm_control_requests_total", op=name, status=str(status))

    def _handler(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            target = self.target(request)
            if route.op == "metrics":
                return web.Response(text=self._call(target._metrics_text),
                                    content_type="text/plain", charset="utf-8",
                                    headers={"X-Exposition": "0.0.4"})
            if route.op == "scenario_load":
                body = await request.read()
                try:
                    text = body.decode()
                except UnicodeDecodeError:
                    raise _error(web.HTTPBadRequest, "a scenario is UTF-8 TOML text") from None
                return web.json_response(
                    self._call(lambda: target.load_scenario(text, "request")))
            params: dict[str, Any] = dict(request.match_info)
            if route.method == "POST":
                params.update(await _json_body(request))
            elif "attribute" in request.query:
                try:
                    params["attribute"] = int(request.query["attribute"])
                except ValueError:
                    raise _error(web.HTTPBadRequest, "attribute: an integer") from None
            return web.json_response(self._call(lambda: target._perform(route.op, params)))

        handle.__name__ = route.op
        return handle

    def _perform(self, op: str, params: Mapping[str, Any]) -> Any:
        if op == "associations":
            return [c.summary() for c in self.connections]
        if op == "trace":
            try:
                conn = self.connections.get(int(params["id"]))
            except ValueError:
                conn = None
            if conn is None:
                raise NotFound(f"no connection {params['id']!r} (GET /associations lists them)")
            return {**conn.summary(), "trace": self.connections.describe(conn)}
        if op == "scenario_status":
            return None if self.run is None else self.run.status()
        if op in ("faults", "faults_set"):
            return faults_call(self.faults, op, params)
        out = self.ops.run(op, params)
        if op == "state":
            out["associations"] = [c.summary() for c in self.connections if not c.closed]
        return out

    @staticmethod
    def _call(work: Callable[[], Any]) -> Any:
        try:
            return work()
        except Unsupported as exc:
            raise _error(web.HTTPConflict, str(exc)) from None
        except BadRequest as exc:
            raise _error(web.HTTPBadRequest, str(exc)) from None
        except NotFound as exc:
            raise _error(web.HTTPNotFound, str(exc.args[0] if exc.args else exc)) from None
        except AccessError as exc:
            raise _error(web.HTTPConflict, f"refused by the meter: {exc}") from None
        except NotReady as exc:
            raise _error(web.HTTPServiceUnavailable, str(exc)) from None
        except MeterError as exc:  # what the meter refuses of the parameters given
            raise _error(web.HTTPBadRequest, str(exc)) from None

    async def _openapi(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.description())

    def description(self) -> dict[str, Any]:
        """The OpenAPI description served at /openapi.json."""
        return openapi()

    def _metrics_text(self) -> str:
        gauges = {"acesm_connections_open": ("DLMS connections open now",
                                             float(self.connections.open_count)),
                  "acesm_time_scale": ("simulated seconds per real second", self.clock.scale)}
        return self.metrics.render(gauges)

    # --- scenarios -------------------------------------------------------------------------

    def load_scenario(self, text: str, source: str) -> Any:
        """Parse and start a scenario from now (replacing a running one)."""
        timeline = Timeline.parse(text, source)
        if self._device() is None:
            raise NotReady("the meter is starting")
        self.run = Run(timeline, self.clock.now(), self.ops.run, self._counted)
        log.info("scenario %s: %d steps, from now", timeline.name, len(timeline.steps))
        loop = asyncio.get_running_loop()
        if self._timer is None:
            self._timer = DeadlineTimer(loop, self.clock, self._scenario_tick)
        self._scenario_tick()
        return self.run.status()

    def _counted(self, step: Step, outcome: str) -> None:
        self.metrics.add("acesm_scenario_steps_total", action=step.action)
        if step.action == "expect" and outcome in ("passed", "failed"):
            self.metrics.add("acesm_scenario_expectations_total", result=outcome)

    def _scenario_tick(self) -> None:
        run = self.run
        if run is None or self._timer is None:
            return
        try:
            ran = run.run_due(self.clock.now, limit=100)
        except Exception:
            log.exception("scenario %s stopped", run.timeline.name)
            self.run = None
            return
        if run.done:
            log.info("scenario %s done: %d steps, expectations %d passed, %d failed",
                     run.timeline.name, run.steps_run, run.passed, run.failed)
            return
        # More due already (a jump, a burst): the next loop turn takes them.
        self._timer.arm(run.next_due(), 0.0 if ran >= 100 else 1.0)


def faults_call(faults: LinkFaults, op: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /faults`` (op ``faults``) or ``POST /faults`` (``faults_set``: the settings, and
    ``reset_counters``) on ``faults``: the snapshot; BadRequest for a bad setting (nothing
    changed then)."""
    if op == "faults":
        return faults.snapshot()
    settings = dict(params)
    reset = settings.pop("reset_counters", False)
    try:
        out = faults.update(**settings)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"faults: {exc}") from None
    return faults.reset_counters() if reset is True else out


def json_error(kind: type[web.HTTPException], text: str,
               headers: Mapping[str, str] | None = None) -> web.HTTPException:
    """An HTTP error whose body is ``{"error": text}``."""
    return kind(text=json.dumps({"error": text}), content_type=_JSON, headers=headers)


_error = json_error


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # at most MAX_BODY bytes, else 413
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _error(web.HTTPBadRequest, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "the body is a JSON object")
    return body


assert set(ACTIONS) >= {r.op for r in ROUTES} - SERVER_ONLY
