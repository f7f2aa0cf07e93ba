"""A small client of the control API for pytest users and scripts (stdlib only)::

    from meter.control import Client
    meter = Client("http://127.0.0.1:8080")
    meter.outage("5m")
    meter.jump("1d")
    print(meter.read("1.0.32.7.0.255")["scaled"])

Every method returns the decoded JSON answer; an error answer raises :class:`ControlError`
with the HTTP status and the meter's message.

A fleet (``acesm-meter fleet --control``): ``Client(url, meter=17)`` (or ``client.of(17)``)
addresses meter 17 (every path under ``/meters/17``); ``meters()`` lists the shard's meters;
``metrics()`` and ``openapi()`` are the process's; without ``meter``, ``time()``, ``jump()`` and
``time_scale()`` are the fleet's own time::

    fleet = Client("http://127.0.0.1:8080")
    fleet.of(3).outage("5m")
    fleet.jump("10m")  # every meter lives through it
    fleet.set_faults(delay=0.2)  # link faults on every meter's listeners
    fleet.of(3).set_faults(refuse_every=1)  # meter 3's own from now on
    fleet.of(3).set_faults(fleet=True)  # meter 3 back on the fleet's
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["Client", "ControlError"]


class ControlError(Exception):
    """The meter answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


Duration = float | str


class Client:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0,
                 meter: int | str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.meter = meter
        self.prefix = "" if meter is None else f"/meters/{urllib.parse.quote(str(meter), safe='')}"

    def of(self, meter: int | str) -> Client:
        """The same control API, addressing meter ``meter`` of a fleet."""
        return Client(self.base_url, self.token, self.timeout, meter)

    # --- the raw exchange ------------------------------------------------------------------

    def request(self, method: str, path: str, body: object = None, *,
                raw: bytes | None = None, content_type: str = "application/json",
                fleet: bool = False) -> Any:
        """One request (under the meter's prefix unless ``fleet``); the JSON answer (text for
        a text answer)."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        url = self.base_url + ("" if fleet else self.prefix) + path
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token is not None:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                payload = response.read()
                kind = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text
            raise ControlError(exc.code, str(message)) from None
        return json.loads(payload) if kind == "application/json" else payload.decode()

    def _post(self, path: str, **params: Any) -> Any:
        return self.request("POST", path, {k: v for k, v in params.items() if v is not None})

    # --- state -----------------------------------------------------------------------------

    def state(self) -> Any:
        return self.request("GET", "/state")

    def read(self, obis: str, attribute: int = 2) -> Any:
        return self.request("GET", f"/registers/{urllib.parse.quote(obis)}?attribute={attribute}")

    def display(self) -> Any:
        return self.request("GET", "/display")

    def associations(self) -> Any:
        return self.request("GET", "/associations")

    def trace(self, connection: int) -> Any:
        return self.request("GET", f"/trace/{connection}")

    def metrics(self) -> str:
        """The process's counters (a fleet's: every meter's)."""
        return str(self.request("GET", "/metrics", fleet=True))

    def meters(self, offset: int = 0, limit: int | None = None) -> Any:
        """A page of a fleet's meters: ``{"meters": [...], "total", "offset", "next"}``."""
        query = f"?offset={offset}" + ("" if limit is None else f"&limit={limit}")
        return self.request("GET", "/meters" + query, fleet=True)

    def faults(self) -> Any:
        """The link faults in force and their counters (a fleet's meter: its own or the
        fleet's, ``"fleet"`` says which)."""
        return self.request("GET", "/faults")

    def set_faults(self, **settings: Any) -> Any:
        """Change link faults live (``reset_counters=True`` zeroes the counters; a fleet's
        meter: ``fleet=True`` alone puts it back on the fleet's)."""
        return self._post("/faults", **settings)

    def openapi(self) -> Any:
        return self.request("GET", "/openapi.json", fleet=True)

    # --- injections ------------------------------------------------------------------------

    def outage(self, duration: Duration, phases: list[str | int] | None = None) -> Any:
        return self._post("/inject/outage", duration=duration, phases=phases)

    def sag(self, duration: Duration, scale: float | None = None,
            phases: list[str | int] | None = None) -> Any:
        return self._post("/inject/sag", duration=duration, scale=scale, phases=phases)

    def swell(self, duration: Duration, scale: float | None = None,
              phases: list[str | int] | None = None) -> Any:
        return self._post("/inject/swell", duration=duration, scale=scale, phases=phases)

    def load(self, current: float | list[float] | None = None, pf: float | None = None,
             harmonics: dict[str, list[list[float]]] | None = None) -> Any:
        return self._post("/inject/load", current=current, pf=pf, harmonics=harmonics)

    def harmonics(self, i: list[list[float]] | None = None,
                  v: list[list[float]] | None = None) -> Any:
        return self._post("/inject/harmonics", i=i, v=v)

    def tamper(self, kind: str, active: bool = True) -> Any:
        return self._post("/inject/tamper", kind=kind, active=active)

    def button(self, relay: str | None = None) -> Any:
        return self._post("/inject/button", relay=relay)

    def drift(self, ppm: float) -> Any:
        """The clock drifts ``ppm`` (negative: slow); answers drift_ppm and deviation_s."""
        return self._post("/inject/drift", ppm=ppm)

    # --- time ------------------------------------------------------------------------------

    def time(self) -> Any:
        return self.request("GET", "/time")

    def set_time(self, iso: str) -> Any:
        return self._post("/time/set", time=iso)

    def jump(self, by: Duration) -> Any:
        return self._post("/time/jump", by=by)

    def time_scale(self, scale: float) -> Any:
        return self._post("/time/scale", scale=scale)

    # --- pushes, expectations, scenarios -----------------------------------------------------

    def push(self, obis: str) -> Any:
        return self._post("/push", obis=obis)

    def expect(self, obis: str, value: Any, attribute: int = 2, op: str = "==",
               tolerance: float | None = None, scaled: bool = False) -> Any:
        return self._post("/expect", obis=obis, value=value, attribute=attribute, op=op,
                          tolerance=tolerance, scaled=scaled or None)

    def load_scenario(self, toml_text: str) -> Any:
        return self.request("POST", "/scenario", raw=toml_text.encode(),
                            content_type="application/toml")

    def scenario(self) -> Any:
        return self.request("GET", "/scenario")
