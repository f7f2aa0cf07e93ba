"""The meter face of a fleet (issue 12 item 4, "for a fleet, a table with search and per-meter
drill-down") in a real browser: Debian's chromium, headless, over the DevTools protocol, against
`acesm-meter fleet --control` as a process. The page lists every meter of the fleet, a search
narrows the table, and opening a meter shows that meter's face: its name and the LCD text its
control API reads; its time button is the fleet's (a click moves the meter's clock, and another
meter's, by an hour). Screenshots are kept at build/artifacts/fleet-table.png and
build/artifacts/fleet-meter-face.png (the paths are printed)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from face.test_face_browser import in_browser, search_and_open
from fleet.test_fleet_wire import Fleet, _free_base
from support.browser import Page
from support.paths import ROOT

from meter.control import Client

pytestmark = pytest.mark.interop

COUNT = 12
TABLE_SHOT = ROOT / "build" / "artifacts" / "fleet-table.png"
METER_SHOT = ROOT / "build" / "artifacts" / "fleet-meter-face.png"


def _meter_time(url: str, index: int) -> float:
    """Meter ``index``'s clock (its control API's meter_time), UTC epoch seconds."""
    return datetime.fromisoformat(Client(url, meter=index).time()["meter_time"]).timestamp()


def test_the_fleet_table_a_search_and_one_meters_face(tmp_path: pytest.TempPathFactory) -> None:
    f = Fleet(tmp_path / "state", "--count", str(COUNT),  # type: ignore[operator]
              "--base-port", str(_free_base(COUNT)), "--control", "127.0.0.1:0")
    try:
        url = "http://" + f.ready.split(" control=", 1)[1].split()[0]
        seven = f.meters[7]

        async def work(page: Page) -> None:
            await page.navigate(url + "/")
            await page.wait_for("document.getElementById('fleet-count').textContent"
                                f" === '{COUNT} of {COUNT} meters'")
            # The table alone: the face's panels are not drawn (hidden wins over the CSS grid).
            assert await page.evaluate(
                "getComputedStyle(document.getElementById('face')).display") == "none"
            assert await page.text("meter-name") == "fleet"
            rows = await page.evaluate("[...document.querySelectorAll('#fleet-table tbody tr')]"
                                       ".map(r => r.cells[1].textContent)")
            assert rows == [m["serial"] for m in f.meters]
            shot = await page.screenshot(TABLE_SHOT, height=900)
            print(f"\nfleet table screenshot: {shot}")
            # The search narrows the table to meter 7 (by its serial); its face drawn on "open".
            assert await search_and_open(page, seven["serial"]) == ["7"]
            assert await page.evaluate("location.hash") == "#meter=7"
            assert await page.evaluate(
                "getComputedStyle(document.getElementById('fleet')).display") == "none"
            assert await page.text("meter-name") == seven["logical_device_name"]
            lcd = await page.wait_for(
                "fetch('/meters/7/display').then(r => r.json()).then(d => d.text && "
                "d.text === document.getElementById('lcd-text').textContent && d.text)")
            assert lcd not in ("", "—")
            shot = await page.screenshot(METER_SHOT)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            print(f"fleet meter face screenshot: {shot}")
            # The time button of a fleet meter is the fleet's, and says so: a click moves the
            # fleet's time by an hour, this meter's clock (and every other's) with it.
            assert await page.text("time-jump") == "Fleet time +1 h (every meter)"
            before = {i: await asyncio.to_thread(_meter_time, url, i) for i in (7, 2)}
            await page.click("#time-jump")
            answer = await page.wait_for(
                "document.getElementById('inject-result').textContent.includes('true_time') && "
                "document.getElementById('inject-result').textContent")
            assert answer.startswith("Fleet time +1 h (every meter): "), answer
            for i in (7, 2):
                moved = await asyncio.to_thread(_meter_time, url, i) - before[i]
                assert 3600 <= moved < 3600 + 120, (i, moved)  # an hour, plus the real seconds
            # Back to the table.
            await page.click("#back-link")
            await page.wait_for("!document.getElementById('fleet').hidden")

        in_browser(work)
        # What the page drew came from meter 7 only: the API agrees on its name.
        live = Client(url, meter=7).request("GET", "/face/live")
        assert live["meter"]["ldn"] == seven["logical_device_name"]
    finally:
        if f.proc.poll() is None:
            assert f.stop() == 0
