"""Headless chromium driven over the Chrome DevTools Protocol (CDP) with aiohttp's websocket
client (no driver binary, no new dependency).

``Browser.start`` runs Debian's ``chromium --headless`` with a free debugging port (read from the
"DevTools listening on ws://..." line it prints) and a throw-away profile; ``page()`` opens a tab
and returns a :class:`Page` that navigates, evaluates JavaScript, waits for a condition in the DOM
and takes screenshots. tools/test installs chromium where it is missing.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Self

import aiohttp

__all__ = ["Browser", "BrowserError", "Page", "chromium_binary"]

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
START_TIMEOUT = 60.0


class BrowserError(AssertionError):
    """The page threw, or what was waited for did not come."""


def chromium_binary() -> str:
    """The chromium to run (CHROMIUM names another); a clear failure where there is none."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and (found := shutil.which(name)):
            return found
    raise BrowserError("no chromium: tools/test installs it (apt-get install -y chromium)")


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.console: list[str] = []  # console messages and uncaught exceptions of the page

    async def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """One CDP command; its result (events that come meanwhile are kept as console lines)."""
        ident = next(self._ids)
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        async with asyncio.timeout(timeout):
            while True:
                message = await self._ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise BrowserError(f"the browser closed the connection ({message.type})")
                data = json.loads(message.data)
                if data.get("id") == ident:
                    if "error" in data:
                        raise BrowserError(f"{method}: {data['error']}")
                    result: dict[str, Any] = data.get("result", {})
                    return result
                self._event(data)

    def _event(self, data: dict[str, Any]) -> None:
        method, params = data.get("method"), data.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                         for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append("exception: " + str(details.get("exception", {}).get(
                "description", details.get("text"))))

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def navigate(self, url: str) -> None:
        await self.send("Runtime.enable")
        await self.send("Page.enable")
        await self.send("Page.navigate", url=url)

    async def wait_for(self, expression: str, timeout: float = 30.0, poll: float = 0.1) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        value: Any = None
        while loop.time() < deadline:
            try:
                value = await self.evaluate(expression)
            except BrowserError:
                value = None  # the page is still loading
            if value:
                return value
            await asyncio.sleep(poll)
        raise BrowserError(f"waited {timeout:g} s for {expression!r} (last {value!r}); "
                           f"console: {self.console}")

    async def text(self, element_id: str) -> str:
        return str(await self.evaluate(f"document.getElementById({json.dumps(element_id)})"
                                       ".textContent"))

    async def click(self, selector: str) -> None:
        clicked = await self.evaluate(f"(() => {{ const e = document.querySelector("
                                      f"{json.dumps(selector)}); if (!e) return false; "
                                      f"e.click(); return true; }})()")
        if not clicked:
            raise BrowserError(f"nothing to click at {selector}")

    async def screenshot(self, path: Path, width: int = 1280, height: int = 1700) -> Path:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        shot = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


class Browser:
    """A headless chromium process and one aiohttp session talking CDP to it."""

    def __init__(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="acesm-chromium-")
        self._proc: subprocess.Popen[str] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._http = ""
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def start(self) -> Self:
        args = [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}", "--window-size=1280,1700",
                "about:blank"]
        self._proc = await asyncio.to_thread(subprocess.Popen, args, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, text=True)
        url = await asyncio.wait_for(asyncio.to_thread(self._listening), START_TIMEOUT)
        self._http = "http://" + url.split("/")[2]
        self._session = aiohttp.ClientSession()
        return self

    def _listening(self) -> str:
        assert self._proc is not None and self._proc.stderr is not None
        seen = []
        for line in self._proc.stderr:
            seen.append(line)
            if m := _LISTENING.search(line):
                # Keep draining stderr so chromium never blocks on a full pipe.
                threading.Thread(target=_drain, args=(self._proc.stderr,), daemon=True).start()
                return m.group(1)
        raise BrowserError("chromium exited before listening: " + "".join(seen[-20:]))

    async def page(self) -> Page:
        assert self._session is not None
        async with self._session.put(f"{self._http}/json/new?about:blank") as response:
            target = await response.json()
        ws = await self._session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 << 20)
        self._sockets.append(ws)
        return Page(ws)

    async def close(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._session is not None:
            await self._session.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                await asyncio.to_thread(self._proc.wait, 10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                await asyncio.to_thread(self._proc.wait, 10)
        self._profile.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
