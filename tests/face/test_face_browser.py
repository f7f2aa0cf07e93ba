"""The meter face (issue 12 item 4) in a real browser: Debian's chromium, headless, driven over
the DevTools protocol (tests/support/browser.py), against `acesm-meter serve --control` as a
process. The page shows what the control API and a DLMS head end (gurux-dlms, as shipped) read:
the active tariff, the relay, the LCD text, live voltage, current
and power, the last waveform cycle; its relay button opens the relay (output_state read over
DLMS) and its outage button takes the supply away (0 V over DLMS, flat in the waveform). A fleet
front listing meters at /meters gets a searchable table and a drill-down into one meter's face.
The screenshot is kept at build/artifacts/meter-face.png (the path is printed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from interop.clients import READER, WRAPPER, Endpoint, GuruxDriver, Ref
from support.browser import Browser, Page
from support.paths import ROOT
from support.process import MeterProcess, meter_process, profile_with

from meter.control import Client, ControlError
from meter.control.face import STATIC, STATIC_DIR

pytestmark = pytest.mark.interop

RELAY = "0.0.96.3.10.255"
OUTPUT_STATE = Ref(70, RELAY, 2)
VOLTAGE_L1 = Ref(3, "1.0.32.7.0.255", 2)
ARTIFACT = ROOT / "build" / "artifacts" / "meter-face.png"
TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeterProcess]:
    tmp = tmp_path_factory.mktemp("face")
    # The supply relay in mode 1: its button disconnects (and reconnects).
    profile = profile_with(tmp, f'[[object]]\nobis = "{RELAY}"\ncontrol_mode = 1\n')
    with meter_process(tmp / "state", "--profile", str(profile), "--tcp", "127.0.0.1:0",
                       "--control", "127.0.0.1:0") as process:
        yield process


def control_url(process: MeterProcess) -> str:
    host, port = process.address("control")
    return f"http://{host}:{port}"


def dlms_read(process: MeterProcess, ref: Ref) -> Any:
    driver = GuruxDriver(Endpoint(WRAPPER, *process.address("tcp")), READER)
    driver.associate()
    try:
        outcome = driver.get(ref)
    finally:
        driver.release()
    assert outcome.ok, f"GET {ref} failed: {outcome.result}"
    return outcome.value


def in_browser(work: Callable[[Page], Awaitable[None]]) -> None:
    async def run() -> None:
        async with Browser() as browser:
            page = await browser.page()
            await work(page)
            errors = [line for line in page.console if line.startswith("exception")]
            assert not errors, errors

    asyncio.run(asyncio.wait_for(run(), TIMEOUT_S))


async def search_and_open(page: Page, query: str) -> list[str]:
    """Type ``query`` into the fleet table's search; the meter ids left in the table, after
    the first of them was opened (its face drawn)."""
    await page.evaluate("(() => { const s = document.getElementById('fleet-search');"
                        f" s.value = {json.dumps(query)}; s.dispatchEvent(new Event('input'));"
                        " })()")
    rows = await page.evaluate("[...document.querySelectorAll('#fleet-table tbody tr')]"
                               ".map(r => r.cells[0].textContent)")
    await page.click("#fleet-table tbody a")
    await page.wait_for("document.getElementById('tariff').textContent !== '—'")
    return list(rows)


def test_the_face_shows_the_meter_and_its_buttons_act(served: MeterProcess) -> None:
    client = Client(control_url(served))
    state = client.state()
    assert client.display()["text"]  # the LCD shows something

    async def work(page: Page) -> None:
        await page.navigate(control_url(served) + "/")
        await page.wait_for("document.getElementById('tariff').textContent !== '—'")
        assert await page.text("tariff") == str(state["active_tariff"])
        assert await page.text("meter-name") == "ACE0000000000001"
        assert await page.text("relay") == "connected"
        assert await page.text("lcd-text") not in ("", "—")
        # Live values (230 V, 5 A per phase in the bundled profile) and the last cycle:
        # 8 kHz / 50 Hz = 160 samples, peaks at 230 * sqrt 2.
        now = await page.wait_for("document.getElementById('trend-now').textContent")
        assert "A: 230.0 V 5.0 A" in now, now
        legend = await page.wait_for("document.getElementById('wave-legend').textContent")
        assert legend.startswith("160 samples at 8000 Hz"), legend
        peak = await page.evaluate(
            "fetch('/face/waveform').then(r => r.json())"
            ".then(w => Math.max(...w.phases[0].v.map(Math.abs)))")
        assert peak == pytest.approx(230 * 2 ** 0.5, rel=0.01)

        # The relay button: output_state false over DLMS, and the lamp says so.
        assert await asyncio.to_thread(dlms_read, served, OUTPUT_STATE) is True
        await page.click("#relay-button")
        await page.wait_for("document.getElementById('relay').textContent === 'disconnected'")
        assert await asyncio.to_thread(dlms_read, served, OUTPUT_STATE) is False

        # The outage button (10 minutes): no volts over DLMS a minute later, a flat cycle.
        await page.evaluate("document.querySelector('#inject [name=duration]').value = '10m'")
        await page.click("button[data-action=outage]")
        await page.wait_for("document.getElementById('inject-result').textContent"
                            ".includes('outage_s')")
        await asyncio.to_thread(client.jump, "1m")
        assert await asyncio.to_thread(dlms_read, served, VOLTAGE_L1) <= 50  # 0.1 V units
        await page.wait_for("document.getElementById('trend-now').textContent"
                            ".startsWith('A: 0.0 V')")
        flat = await page.evaluate(
            "fetch('/face/waveform').then(r => r.json())"
            ".then(w => Math.max(...w.phases.flatMap(p => p.v.map(Math.abs))))")
        assert flat < 1.0
        # The supply back: 230 V again, the power-quality events in the face's event log.
        await asyncio.to_thread(client.jump, "10m")
        await page.wait_for("document.getElementById('trend-now').textContent"
                            ".startsWith('A: 230.0 V')")
        await page.wait_for("document.getElementById('events').textContent"
                            ".includes('voltage normal l1')")
        await page.click("#relay-button")  # reconnect: the screenshot shows a served meter
        await page.wait_for("document.getElementById('relay').textContent === 'connected'")
        # Current flows again in the drawn cycle (5 A rms: 7.07 A peak).
        await page.wait_for("Number(document.getElementById('wave').dataset.ipeak) > 7")
        shot = await page.screenshot(ARTIFACT)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        print(f"\nmeter face screenshot: {shot}")

    in_browser(work)


def test_the_supply_load_and_tamper_buttons(served: MeterProcess) -> None:
    client = Client(control_url(served))

    async def set_field(page: Page, name: str, value: str) -> None:
        await page.evaluate(f"document.querySelector('#inject [name={name}]').value = '{value}'")

    async def press(page: Page, action: str, answer: str) -> str:
        await page.evaluate("document.getElementById('inject-result').textContent = ''")
        await page.click(f"button[data-action={action}]")
        return str(await page.wait_for(
            f"(t => t.includes({json.dumps(answer)}) && t)"
            "(document.getElementById('inject-result').textContent)"))

    async def work(page: Page) -> None:
        await page.navigate(control_url(served) + "/")
        await page.wait_for("document.getElementById('tariff').textContent !== '—'")
        # A sag to 0.7 for 5 minutes: 161 V over DLMS a minute later, and on the face.
        await set_field(page, "duration", "5m")
        await set_field(page, "sag", "0.7")
        await press(page, "sag", '"sag":300')
        await asyncio.to_thread(client.jump, "1m")
        assert await asyncio.to_thread(dlms_read, served, VOLTAGE_L1) == pytest.approx(1610,
                                                                                      abs=20)
        await page.wait_for("document.getElementById('trend-now').textContent"
                            ".startsWith('A: 161.0 V')")
        await asyncio.to_thread(client.jump, "5m")
        # A swell to 1.15 for 5 minutes: 264.5 V.
        await set_field(page, "swell", "1.15")
        await press(page, "swell", '"swell":300')
        await asyncio.to_thread(client.jump, "1m")
        assert await asyncio.to_thread(dlms_read, served, VOLTAGE_L1) == pytest.approx(2645,
                                                                                      abs=20)
        await asyncio.to_thread(client.jump, "5m")
        # A load step to 8 A (5.2 kW, under the limiter's threshold): the current register
        # reads it, the drawn cycle peaks at 11.3 A.
        await set_field(page, "current", "8")
        await press(page, "load", '"current":8')
        await asyncio.to_thread(client.jump, "1m")
        assert client.read("1.0.31.7.0.255")["scaled"] == pytest.approx(8, abs=0.05)
        await page.wait_for("(p => p > 11.2 && p < 11.4)"
                            "(Number(document.getElementById('wave').dataset.ipeak))")
        # Cover open: the meter's tamper input takes it (fraud log 40, alarm bit 13).
        text = await press(page, "cover-open", "over")
        assert '"tamper":"terminal_cover"' in text, text
        await press(page, "magnet-on", "agnetic")
        await press(page, "magnet-off", "agnetic")
        await press(page, "cover-close", "over")
        assert await page.text("relay") in ("connected", "disconnected")  # still live

    in_browser(work)


def test_with_a_token_the_page_loads_and_takes_it_from_its_fragment(
        tmp_path: pytest.TempPathFactory) -> None:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0",  # type: ignore[operator]
                       "--control", "127.0.0.1:0", "--control-token", "s3cret") as process:
        url = control_url(process)
        with pytest.raises(ControlError) as refused:
            Client(url).request("GET", "/face/live")
        assert refused.value.status == 401

        async def work(page: Page) -> None:
            await page.navigate(url + "/")
            await page.wait_for("document.getElementById('status').textContent"
                                ".includes('not reachable')")
            assert await page.text("tariff") == "—"
            await page.navigate("about:blank")
            await page.navigate(url + "/#token=s3cret")
            await page.wait_for("document.getElementById('tariff').textContent !== '—'")
            assert await page.text("relay") == "connected"

        in_browser(work)


def test_the_face_answers(served: MeterProcess) -> None:
    """The page's own files and JSON answers; an unknown face file is a JSON 404."""
    client = Client(control_url(served))
    wave = client.request("GET", "/face/waveform")
    assert [p["name"] for p in wave["phases"]] == ["A", "B", "C"]
    assert {len(p["v"]) for p in wave["phases"]} == {round(wave["fs"] / wave["f"])}
    live = client.request("GET", "/face/live")
    assert set(live) >= {"clock", "relays", "active_tariff", "events", "display", "alarms",
                         "instant", "meter"}
    assert live["instant"]["phases"][1]["v"] == pytest.approx(230, abs=1)
    for name in STATIC:
        assert "—" in client.request("GET", f"/face/{name}") or name == "face.css"
    with pytest.raises(ControlError) as missing:
        client.request("GET", "/face/nothing.js")
    assert missing.value.status == 404


def test_a_fleet_front_gets_a_table_and_a_drill_down(served: MeterProcess) -> None:
    """A stand-in for a fleet's control front (the fleet process is another engineer's):
    GET /meters lists meters, /meters/ID/... reaches that meter's control API (here all proxy
    to the one served meter); the page serves from the package's static files."""
    upstream = control_url(served)
    meters = [{"id": f"m{k}", "serial": f"ACE{k:013d}", "port": 4059 + k,
               "base": f"/meters/m{k}"} for k in range(1, 13)]

    async def index(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "index.html")
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=(STATIC_DIR / name).read_bytes(), content_type=STATIC[name])

    async def listing(request: web.Request) -> web.StreamResponse:
        return web.json_response({"meters": meters})

    async def proxy(request: web.Request) -> web.StreamResponse:
        async with aiohttp.ClientSession() as session, session.request(
                request.method, f"{upstream}/{request.match_info['tail']}",
                data=await request.read(),
                headers={"Content-Type": request.content_type}) as answer:
            return web.Response(body=await answer.read(), status=answer.status,
                                content_type=answer.content_type)

    async def work(page: Page) -> None:
        app = web.Application()
        app.router.add_get("/", index)
        app.router.add_get("/face/{name}", index)
        app.router.add_get("/meters", listing)
        app.router.add_route("*", "/meters/{id}/{tail:.*}", proxy)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            await page.navigate(f"http://127.0.0.1:{port}/")
            await page.wait_for("document.getElementById('fleet-count').textContent"
                                " === '12 of 12 meters'")
            assert await page.evaluate("document.getElementById('face').hidden") is True
            assert await search_and_open(page, "0000000000011") == ["m11"]
            assert await page.evaluate("location.hash") == "#meter=m11"
            assert await page.evaluate("document.getElementById('fleet').hidden") is True
            assert await page.text("relay") in ("connected", "disconnected")
            await page.click("#back-link")
            await page.wait_for("!document.getElementById('fleet').hidden")
        finally:
            await runner.cleanup()

    in_browser(work)


def test_garbage_on_the_face_routes_is_refused(served: MeterProcess) -> None:
    client = Client(control_url(served))
    for method, path in (("POST", "/face/live"), ("GET", "/face/../server.py"),
                         ("GET", "/face/index.html/x"), ("DELETE", "/")):
        with pytest.raises(ControlError) as refused:
            client.request(method, path, {"x": 1})
        assert 400 <= refused.value.status < 500, (method, path)
    assert json.loads(json.dumps(client.state()))  # still serving
