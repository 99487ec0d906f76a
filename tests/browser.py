"""Debian's headless Chromium, driven through the DevTools protocol, for the status page.

Headless Chromium will not make a window narrower than 500 px: `--window-size=390,...`
lays the page out at 500 px and crops the screenshot, which hides what a phone would cut.
So the page is opened the way Puppeteer and Playwright open it: Chromium listens on a
DevTools port, and Emulation.setDeviceMetricsOverride gives the page a real viewport of
the width asked for (a phone's, with its meta viewport honoured, below 500 px).

`look` returns what Chromium laid out (PROBE: overflow, height, each panel's condition
badges and text, elements whose content is pushed out of sight, the script elements) and
saves a full-page screenshot under the test's tmp dir, copied to $ECS_GITOPS_SCREENSHOTS
when set, so a reviewer can look at it. The page has no script of its own: PROBE runs
through Runtime.evaluate, never served.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import urllib.request
from base64 import b64decode
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium")

PROBE = """(() => {
  const page = document.documentElement;
  const panels = {};
  for (const panel of document.querySelectorAll("article[id]")) {
    panels[panel.querySelector("h3").textContent] = {
      badges: [...panel.querySelectorAll(".conds .badge")].map((b) => b.textContent),
      text: panel.innerText,
    };
  }
  const scrolled = [...document.querySelectorAll(".scroll, td, dd, .problem")]
    .filter((e) => e.scrollWidth > e.clientWidth + 1)
    .map((e) => e.textContent.slice(0, 80));
  return {
    width: window.innerWidth,
    overflow: page.scrollWidth - window.innerWidth,
    height: page.scrollHeight,
    panels: panels,
    scrolled: scrolled,
    scripts: document.querySelectorAll("script").length,
    text: document.body.innerText,
  };
})()"""


def served(url: str) -> str:
    with urllib.request.urlopen(url + "/", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        document: str = response.read().decode()
    return document


class _Page:
    """One DevTools session on a page target: commands by id, events waited for by name."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == self.next_id:
                assert "error" not in message, (method, message["error"])
                result: dict[str, Any] = message["result"]
                return result

    async def event(self, method: str) -> None:
        while (await self.ws.receive_json(timeout=30)).get("method") != method:
            pass


async def _look(port: int, url: str, width: int) -> tuple[dict[str, Any], bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        target = next(t for t in targets if t["type"] == "page")
        async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = _Page(ws)
            mobile = width < 600
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=width, height=900, deviceScaleFactor=1, mobile=mobile,
            )  # fmt: skip
            await page.call("Page.enable")
            await page.call("Page.navigate", url=url)
            await page.event("Page.loadEventFired")
            found = await page.call("Runtime.evaluate", expression=PROBE, returnByValue=True)
            seen: dict[str, Any] = found["result"]["value"]
            # the whole page in one picture: a viewport as tall as the document
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=width, height=max(900, seen["height"]), deviceScaleFactor=1, mobile=mobile,
            )  # fmt: skip
            png = await page.call("Page.captureScreenshot", format="png")
            return seen, b64decode(png["data"])


def look(url: str, name: str, width: int, tmp_path: Path) -> dict[str, Any]:
    """The status page at url in a `width` px viewport: PROBE's findings, and a full-page
    screenshot `name-width.png` under tmp_path (and in $ECS_GITOPS_SCREENSHOTS)."""
    assert CHROMIUM is not None
    profile = tmp_path / f"chromium-{name}-{width}"
    proc = subprocess.Popen(
        [
            *(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"),
            *("--no-first-run", "--disable-background-networking", "--disable-sync"),
            *("--disable-component-update", "--disable-dev-shm-usage", "--disable-quic"),
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",  # Chromium picks it and writes it down
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().strip()):
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium opened no DevTools port"
            time.sleep(0.1)
        port = int(active.read_text().split()[0])
        seen, png = asyncio.run(_look(port, url + "/", width))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert seen["width"] == width, f"laid out at {seen['width']} px, not {width}"
    shot = tmp_path / f"{name}-{width}.png"
    shot.write_bytes(png)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    size = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert size == (width, max(900, seen["height"]))
    assert len(png) > 20_000  # a rendered page, not a blank one
    keep = os.environ.get("ECS_GITOPS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    print(f"status page screenshot: {shot}")
    return seen
