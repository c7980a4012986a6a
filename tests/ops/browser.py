"""Headless Chromium (Debian's package) driven through the DevTools protocol: open a page, read
its DOM, fill and submit a form as a person would, take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import websockets

CHROMIUM = shutil.which("chromium")


class Browser:
    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.ws: Any = None
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def __aenter__(self) -> Browser:
        assert CHROMIUM, "chromium is not installed (deploy/run.sh installs it)"
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        port = await asyncio.wait_for(asyncio.to_thread(self._devtools_port), 90)
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        self.ws = await websockets.connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20)
        await self.send("Page.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=1500,
            deviceScaleFactor=1,
            mobile=False,
        )
        return self

    def _devtools_port(self) -> int:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            match = re.search(rb"DevTools listening on ws://[^:]+:(\d+)/", raw)
            if match:
                return int(match.group(1))
        raise AssertionError("chromium exited before opening DevTools")

    async def __aexit__(self, *_: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call = next(self._ids)
        await self.ws.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if message.get("id") == call:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._events.append(message)

    async def _wait_event(self, method: str, timeout: float = 60) -> None:
        async def wait() -> None:
            while True:
                if any(e.get("method") == method for e in self._events):
                    return
                self._events.append(json.loads(await self.ws.recv()))

        await asyncio.wait_for(wait(), timeout)

    async def open(self, url: str) -> None:
        self._events.clear()
        await self.send("Page.navigate", url=url)
        await self._wait_event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def submit(self, form_selector: str, fields: dict[str, str]) -> None:
        """Fill the form's fields and press its button; returns once the next page loaded."""
        self._events.clear()
        script = "".join(
            f"document.querySelector({json.dumps(form_selector)}).elements[{json.dumps(k)}]"
            f".value = {json.dumps(v)};"
            for k, v in fields.items()
        )
        await self.evaluate(
            script + f"document.querySelector({json.dumps(form_selector)})"
            ".querySelector('button').click(); true"
        )
        await self._wait_event("Page.loadEventFired")

    async def html(self) -> str:
        return str(await self.evaluate("document.documentElement.outerHTML"))

    async def screenshot(self, path: Path) -> None:
        height = await self.evaluate("document.documentElement.scrollHeight")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=int(min(height, 2400)),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
