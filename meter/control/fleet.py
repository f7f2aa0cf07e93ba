"""The control API of a fleet (``acesm-meter fleet --control``; issue 12 items 4 and 6).

One HTTP listener for the whole fleet process (its shard), with the same loopback and token
rules as a single meter's (server.py):

- ``GET /meters``: one row per meter of the shard (``id`` = its index in the fleet's numbering,
  serial, system title, wrapper port, built or not, open connections, ``base`` = the URL prefix
  of its API), at most ``MAX_PAGE`` rows a page (``?offset=&limit=``; ``next`` names the next
  page, null on the last);
- ``/meters/{id}/...``: every route of the single meter's table (``server.ROUTES``) on that
  meter's Device, by the same handlers: :class:`MeterControl` is a single meter's
  :class:`~meter.control.server.ControlServer` whose device is ``Fleet.device(id)`` (built when
  asked for). What belongs to the fleet and not to one meter answers 409 there: the time scale
  and a forward jump (time passes for every meter: ``POST /time/scale`` and ``/time/jump`` at
  the fleet level) and the per-meter ``/metrics`` (the fleet's is at ``/metrics``);
- ``GET/POST /faults``: the fleet-wide link faults (``fleet --faults``) on every meter's
  listeners; ``GET/POST /meters/{id}/faults``: that meter's, its own from its first POST on
  (``{"fleet": true}`` puts it back on the fleet's); both answer as a single meter's ``/faults``
  (settings and counters) by the same code (``server.faults_call``), a meter's with ``fleet``
  (whether the fleet-wide ones apply to it), the fleet's with ``meters_own``
  (transport/fleet_faults.py);
- ``GET /metrics``: the fleet's Prometheus counters (requests, associations, failures, pushes,
  bytes, control requests, meters built, link fault events of every meter, every series
  labelled with the profile) and gauges
  (meters, meters built, connections open, time scale), all kept as things happen: a scrape
  never visits an unbuilt meter;
- ``GET /time``, ``POST /time/jump`` (forward only), ``POST /time/scale``: the fleet's one time;
- ``/``: the meter face with the fleet's table, its search and a drill-down into each meter's
  face (``/meters/{id}/face/live`` and ``/face/waveform``).

A meter stays built while the API uses it: during a request, while a scenario runs on it, while
a disturbance injected into it lasts, for good once its load was changed (injections are not
persisted: device/injections.py), and while it has a connection. The connection records of at
most ``TRACKED`` meters are kept (associations, traces: least recently used first out, never one
in use).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from meter.control import face
from meter.control.ops import (
    MAX_JUMP_S, BadRequest, Clock, NotFound, Operations, Unsupported, seconds)
from meter.control.server import (
    ROUTES, ControlServer, CountedPushes, Route, faults_call, json_error, openapi)
from meter.control.taps import Metrics
from meter.stack import Stack
from meter.timebase import MAX_SCALE
from meter.transport.faults import LinkFaults
from meter.transport.fleet_faults import FleetFaults
from meter.transport.pcap import association_keys
from meter.transport.push import PushSource

if TYPE_CHECKING:
    from meter.device.device import Device
    from meter.device.fleet import Fleet
    from meter.transport.fleet import FleetService

__all__ = ["FLEET_ROUTES", "MAX_PAGE", "METER_PREFIX", "TRACKED", "FleetControl", "FleetMetrics",
           "MeterControl", "MeterOperations"]

log = logging.getLogger(__name__)

#: Rows of ``GET /meters`` at most per page (a 10,000-meter shard fits one).
MAX_PAGE = 10_000
#: Meters whose connection records (associations, traces, scenario) are kept at most.
TRACKED = 1024
#: The URL prefix of one meter's routes.
METER_PREFIX = "/meters/{meter}"
#: Injected disturbances whose end releases the meter (those lasting ``duration``).
_LASTING = frozenset({"outage", "voltage", "sag", "swell"})
#: Injections that stay until changed (the meter is kept built for good).
_STAYING = frozenset({"load", "harmonics"})
#: Seconds a meter stays built after an injected disturbance ended (its edge ticked).
_AFTER_S = 5.0

_DURATION = {"oneOf": [{"type": "number"}, {"type": "string"}],
             "description": "seconds, or a duration such as 90s, 15m, 2h, 30d"}

#: The fleet's own routes (beside every ROUTES path under METER_PREFIX).
FLEET_ROUTES: tuple[Route, ...] = (
    Route("GET", "/meters", "meters",
          "the meters of this shard, a page at a time (?offset=N&limit=M, at most 10000)"),
    Route("GET", "/metrics", "metrics", "Prometheus text format counters of the fleet"),
    Route("GET", "/time", "fleet_time", "true time and time scale of the fleet"),
    Route("POST", "/time/jump", "fleet_jump",
          "time passes for every meter (forward only; each lives through every capture)",
          {"by": _DURATION}),
    Route("POST", "/time/scale", "fleet_scale", "simulated seconds per real second, fleet-wide",
          {"scale": {"type": "number"}}),
    # GET/POST /faults: the fleet-wide link faults, by the single meter's routes.
    *(r for r in ROUTES if r.op in ("faults", "faults_set")),
)
#: What ``POST /meters/{id}/faults`` takes besides the single meter's settings.
_BACK_TO_FLEET = {"fleet": {"type": "boolean",
                            "description": "true (alone): the meter back on the fleet's faults"}}


class FleetMetrics(Metrics):
    """The fleet's counters: a single meter's and the meters built."""

    HELP: ClassVar[dict[str, str]] = {
        **Metrics.HELP,
        "acesm_fleet_builds_total": "meters built (a Device opened on its state), since start",
        "acesm_link_faults_total": "link fault events on every meter's links, by fault",
        "acesm_link_fault_frames_total": "frames looked at while a link fault was on, by "
                                         "direction (out: replies, in: received)",
    }


class MeterOperations(Operations):
    """One fleet meter's operations: what would move the whole fleet's time is refused;
    ``held(action, params)`` is told of every injection that succeeded."""

    def __init__(self, device: Callable[[], Device | None], clock: Clock,
                 wake: Callable[[], None], held: Callable[[str, Mapping[str, Any]], None]) -> None:
        super().__init__(device, clock, wake)
        self._held = held

    def run(self, action: str, params: Mapping[str, Any]) -> Any:
        if action == "time_scale":
            raise Unsupported("the time scale is the fleet's: POST /time/scale")
        if action == "jump" and seconds(params.get("by"), "by") > 0:
            raise Unsupported("time passes for the whole fleet: POST /time/jump (a negative "
                              "jump here sets this meter's clock back)")
        out = super().run(action, params)
        self._held(action, params)
        return out


class MeterControl(ControlServer):
    """Meter ``index`` of a fleet as a single meter's API sees it (not listening itself)."""

    def __init__(self, front: FleetControl, index: int) -> None:
        fleet = front.fleet

        def device() -> Device:
            return fleet.device(index)

        def wake() -> None:  # what was done to the meter may have moved its deadlines
            front.wake(index)

        super().__init__(device, front.clock, front.metrics.profile,
                         keys=lambda: association_keys(fleet.members[index].device),
                         wake=wake, faults=front.faults, metrics=front.metrics)
        self.index = index
        self._front = front
        self.held_until = -math.inf  # true time until which it stays built
        self.ops = MeterOperations(device, front.clock, wake, self._hold)

    def _hold(self, action: str, params: Mapping[str, Any]) -> None:
        if action in _STAYING:
            self.held_until = math.inf
        elif action in _LASTING:
            end = self.clock.now() + seconds(params.get("duration", params.get("duration_s")),
                                             "duration") + _AFTER_S
            self.held_until = max(self.held_until, end)

    def in_use(self, now: float) -> bool:
        """Whether the meter must stay built (module docstring)."""
        return (self.connections.open_count > 0 or self.held_until > now
                or (self.run is not None and not self.run.done))

    def _perform(self, op: str, params: Mapping[str, Any]) -> Any:
        if op in ("faults", "faults_set"):
            return self._front.meter_faults(self.index, op, params)
        return super()._perform(op, params)

    def _metrics_text(self) -> str:
        raise Unsupported("the fleet's counters are at GET /metrics")

    def forget(self) -> None:
        """It is no longer tracked: its scenario timer goes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class FleetControl(ControlServer):
    """The control API of a fleet's shard (module docstring); ``wake`` re-arms the fleet's
    timer (FleetService.wake), ``faults`` are the service's (FleetService.faults)."""

    def __init__(self, fleet: Fleet, clock: Clock, profile: str, token: str | None = None,
                 wake: Callable[[int | None], None] = lambda index: None,
                 faults: FleetFaults | None = None) -> None:
        super().__init__(lambda: None, clock, profile, token=token, wake=lambda: wake(None),
                         metrics=FleetMetrics(profile))
        self.fleet = fleet
        self.wake = wake
        self._meters: OrderedDict[int, MeterControl] = OrderedDict()
        # The service's link faults (FleetService.faults); every count goes to the metrics.
        self.link_faults = FleetFaults() if faults is None else faults
        self.faults = self.link_faults.fleet
        self.link_faults.tally = self._fault_counted

    def attach(self, service: FleetService) -> None:
        """Count and trace the service's connections and pushes; keep the meters in use built
        (chained after what the service set on the fleet)."""
        service.stack_tap = self.stack_tap
        service.push_tap = self.push_tap
        fleet = self.fleet
        busy, built = fleet.is_busy, fleet.on_built

        def is_busy(index: int) -> bool:
            return busy(index) or self.in_use(index)

        def on_built(index: int, device: Device) -> None:
            self.metrics.add("acesm_fleet_builds_total")
            built(index, device)

        fleet.is_busy, fleet.on_built = is_busy, on_built

    # --- the meters --------------------------------------------------------------------------

    def meter(self, index: int) -> MeterControl:
        """Meter ``index``'s API (NotFound: not in this shard)."""
        m = self._meters.get(index)
        if m is not None:
            self._meters.move_to_end(index)
            return m
        if index not in self.fleet.members:
            raise NotFound(f"no meter {index} in this fleet's shard (GET /meters lists them)")
        m = self._meters[index] = MeterControl(self, index)
        self._forget()
        return m

    def _forget(self) -> None:
        spare = len(self._meters) - TRACKED
        if spare <= 0:
            return
        now = self.clock.now()
        gone: list[int] = []  # the oldest not in use (usually one, found at the front)
        for index, m in self._meters.items():
            if len(gone) >= spare:
                break
            if not m.in_use(now):
                gone.append(index)
        for index in gone:
            self._meters.pop(index).forget()

    def in_use(self, index: int) -> bool:
        m = self._meters.get(index)
        return m is not None and m.in_use(self.clock.now())

    def stack_tap(self, index: int, stack: Stack, medium: str) -> Stack:
        """For FleetService.stack_tap: the connection counted and traced as meter ``index``'s."""
        return self.meter(index).tap(stack, medium)

    def push_tap(self, index: int, device: Device) -> PushSource:
        """For FleetService.push_tap: each push's outcome counted."""
        return CountedPushes(device, self.metrics)

    def _fault_counted(self, name: str) -> None:
        """A link fault counter of any meter moved (FleetFaults.tally): the fleet's total."""
        if name in ("replies", "received"):
            self.metrics.add("acesm_link_fault_frames_total",
                             direction="out" if name == "replies" else "in")
        else:
            self.metrics.add("acesm_link_faults_total", fault=name)

    def meter_faults(self, index: int, op: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET/POST /meters/{index}/faults`` (module docstring)."""
        faults = self.link_faults
        if op == "faults_set":
            settings = {k: v for k, v in params.items() if k != "meter"}
            if "fleet" in settings:
                if settings.pop("fleet") is not True or settings:
                    raise BadRequest('faults: "fleet" is true, alone (the meter back on the '
                                     "fleet's faults)")
                if faults.has_own(index):
                    faults.to_fleet(index)
                    log.info("meter %d: back on the fleet's link faults", index)
            elif faults.has_own(index):
                faults_call(faults.of(index), op, settings)
            else:
                own = LinkFaults()  # all off; kept only once the settings are good
                faults_call(own, op, settings)
                faults.adopt(index, own)
                log.info("meter %d: link faults of its own", index)
        return {**faults.of(index).snapshot(), "fleet": not faults.has_own(index)}

    def target(self, request: web.Request) -> ControlServer:
        ident = request.match_info.get("meter")
        if ident is None:
            return self
        try:
            return self.meter(int(ident) if ident.isascii() and ident.isdigit() and len(ident) <= 9
                              else -1)
        except NotFound:
            raise json_error(web.HTTPNotFound, f"no meter {ident[:40]!r} in this fleet's shard "
                                               "(GET /meters lists them)") from None

    # --- serving ---------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        for route in ROUTES:
            app.router.add_route(route.method, METER_PREFIX + route.path, self._handler(route),
                                 name=f"meter_{route.op}")
        for route in FLEET_ROUTES:
            handler = self._list if route.op == "meters" else self._handler(route)
            app.router.add_route(route.method, route.path, handler, name=route.op)
        app.router.add_get("/openapi.json", self._openapi, name="openapi")
        face.add_routes(app, self, METER_PREFIX)

    def description(self) -> dict[str, Any]:
        spec = openapi(FLEET_ROUTES)
        spec["paths"].update(openapi(ROUTES, METER_PREFIX)["paths"])
        body = spec["paths"][METER_PREFIX + "/faults"]["post"]["requestBody"]
        body["content"]["application/json"]["schema"]["properties"].update(_BACK_TO_FLEET)
        spec["info"]["title"] = "acesm-meter fleet control API"
        return spec

    async def aclose(self) -> None:
        for m in self._meters.values():
            m.forget()
        await super().aclose()

    async def _list(self, request: web.Request) -> web.StreamResponse:
        def page() -> dict[str, Any]:
            offset = _query_int(request, "offset", 0)
            limit = _query_int(request, "limit", MAX_PAGE)
            if offset < 0 or not 0 < limit <= MAX_PAGE:
                raise BadRequest(f"offset >= 0 and 0 < limit <= {MAX_PAGE}")
            members = self.fleet.members
            rows = []
            for index, member in itertools.islice(members.items(), offset, offset + limit):
                ident = member.ident
                row: dict[str, Any] = {
                    "id": index, "serial": ident.serial,
                    "system_title": ident.system_title.hex().upper(), "port": ident.port}
                if ident.hdlc_port is not None:
                    row["hdlc_port"] = ident.hdlc_port
                row.update(built=member.device is not None, connections=member.connections,
                           base=f"/meters/{index}")
                rows.append(row)
            after = offset + len(rows)
            return {"meters": rows, "total": len(members), "offset": offset,
                    "next": f"/meters?offset={after}&limit={limit}"
                    if after < len(members) else None}

        return web.json_response(self._call(page))

    def _perform(self, op: str, params: Mapping[str, Any]) -> Any:
        if op in ("faults", "faults_set"):
            return {**faults_call(self.faults, op, params),
                    "meters_own": self.link_faults.owners()}
        if op == "fleet_jump":
            by = seconds(params.get("by"), "by")
            if not 0 < by <= MAX_JUMP_S:
                raise BadRequest(f"by: the fleet's time goes forward only, at most "
                                 f"{MAX_JUMP_S:g} s (POST /meters/ID/time/jump with a negative "
                                 "duration sets one meter's clock back)")
            self.clock.resume_at(self.clock.now() + by)
            self.wake(None)  # every built meter lives through the span; the others when built
        elif op == "fleet_scale":
            scale = params.get("scale")
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
                    or not 0 < scale <= MAX_SCALE:
                raise BadRequest(f"scale: more than 0 and at most {MAX_SCALE:g}")
            self.clock.rescale(float(scale))
            self.wake(None)
        elif op != "fleet_time":
            raise NotFound(f"no fleet operation {op!r}")
        now = self.clock.now()
        return {"true_time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
                "scale": self.clock.scale}

    def _metrics_text(self) -> str:
        fleet = self.fleet
        gauges = {
            "acesm_fleet_meters": ("meters this process serves (its shard)",
                                   float(len(fleet.members))),
            "acesm_fleet_meters_built": ("meters built now (a Device open)",
                                         float(len(fleet.built()))),
            "acesm_connections_open": ("DLMS connections open now",
                                       float(sum(m.connections.open_count
                                                 for m in self._meters.values()))),
            "acesm_time_scale": ("simulated seconds per real second", self.clock.scale),
        }
        return self.metrics.render(gauges)


def _query_int(request: web.Request, key: str, default: int) -> int:
    text = request.query.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise BadRequest(f"{key}: a non-negative integer")
    return int(text)
