"""Debian's headless Chromium, driven from its command line, for the status page tests.

`probe` loads a copy of the served page with a measuring script added and returns what
Chromium laid out (overflow, height, each panel's condition badges and text, tables or
cells that need a scroll bar, the script elements); `screenshot` saves a PNG under the test's tmp dir and
copies it to $ECS_GITOPS_SCREENSHOTS when set, so a reviewer can look at it. The page has
no script of its own: the probe is added to a file copy, never served.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")

PROBE = """<script>(function () {
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
  document.body.setAttribute("data-probe", JSON.stringify({
    overflow: page.scrollWidth - window.innerWidth,
    height: page.scrollHeight,
    panels: panels,
    scrolled: scrolled,
    scripts: document.querySelectorAll("script").length,
    text: document.body.innerText,
  }));
})();</script>"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )


def served(url: str) -> str:
    with urllib.request.urlopen(url + "/", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        document: str = response.read().decode()
    return document


def probe(document: str, width: int, tmp_path: Path) -> dict[str, Any]:
    """What Chromium lays out for `document` in a window `width` px wide (see PROBE)."""
    copy = tmp_path / f"probe-{width}.html"
    copy.write_text(
        document.replace('<meta http-equiv="refresh"', '<meta name="x"').replace(
            "</body>", PROBE + "</body>"
        )
    )
    dom = chromium(
        "--dump-dom", f"--window-size={width},900", copy.as_uri(), profile=tmp_path / "probe"
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert found, dom.stdout[-500:]
    measured: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return measured


def screenshot(url: str, name: str, width: int, tmp_path: Path, height: int = 1400) -> Path:
    """A PNG of the page at url, `width` x `height`, under tmp_path (and copied to
    $ECS_GITOPS_SCREENSHOTS when set); checked to be a rendered page of that size."""
    shot = tmp_path / f"{name}-{width}.png"
    done = chromium(
        f"--screenshot={shot}", f"--window-size={width},{height}", url + "/",
        profile=tmp_path / "shot",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    size = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert size == (width, height)
    assert len(png) > 20_000  # a rendered page, not a blank one
    keep = os.environ.get("ECS_GITOPS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    print(f"status page screenshot: {shot}")
    return shot
