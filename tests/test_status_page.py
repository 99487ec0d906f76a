"""The status page: rendered HTML checked by a parser, and by headless Chromium.

The unit tests render snapshots directly (escaping, every field, no script; and the
`ecs-gitops status` table); the browser test opens the page of a running controller
mid-canary in Debian's chromium, checks the DOM Chromium built, and saves a screenshot
under the test's tmp dir.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from controller.cli.status import render as render_table
from controller.observability.page import render_page
from tests.conftest import REPO, free_port
from tests.test_controller import REGION, Running, commit, git, set_image
from tests.test_prometheus import stop

CHROMIUM = shutil.which("chromium")
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "wbr"}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'

CANARY = {
    "strategy: rolling\n": "strategy: canary\n    canary: {steps: [{weight: 50, pauseSeconds: 600}]}\n",
}


class Page(HTMLParser):
    """Checks the document is well formed and collects its text, ids and tags."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [value or "" for name, value in attrs if name == "id"]
        if any(name.startswith("on") for name, _ in attrs):
            self.problems.append(f"event handler attribute on <{tag}>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] not in ("style", "title"):
            self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(document: str) -> Page:
    page = Page()
    page.feed(document)
    page.close()
    assert not page.problems, page.problems
    assert page.stack == [], f"unclosed: {page.stack}"
    return page


def snapshot() -> dict[str, Any]:
    myapp = {
        "kind": "EcsService",
        "name": "myapp",
        "cluster": "prod-cluster",
        "region": "ap-northeast-2",
        "syncStatus": "OutOfSync",
        "healthStatus": "Progressing",
        "message": "step 1/2 (10%): pausing 40 s more",
        "lastAppliedRevision": "a" * 40,
        "lastAttemptedRevision": "b" * 40,
        "taskDefinition": "arn:aws:ecs:ap-northeast-2:1:task-definition/myapp:3",
        "images": ["123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:v2"],
        "counts": {"desired": 2, "running": 3, "pending": 1},
        "estimatedMonthlyCost": 44.97,
        "costDescription": "$44.97/month (2..10 tasks: $44.97..$224.84)",
        "rollout": {
            "strategy": "canary",
            "phase": "Paused",
            "step": 1,
            "primaryTaskSet": "ecs-svc/111",
            "newTaskSet": "ecs-svc/222",
            "startedAt": "2026-01-01T11:59:00+00:00",
            "newCounts": {"desired": 1, "running": 1, "pending": 0},
        },
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Progressing", "message": "m"},
            {"type": "Reconciling", "status": "True", "reason": "Paused", "message": "m"},
        ],
        "hooks": [
            {
                "name": "migrate",
                "phase": "preSync",
                "state": "Failed",
                "taskUrl": "javascript:alert(1)",
                "exitCodes": {"migrate": 3},
                "stoppedReason": "Essential container in task exited",
            }
        ],
        "lastError": "CannotPullContainerError: " + HOSTILE,
        "stoppedReasons": ["Essential container in task exited", HOSTILE],
        "history": [
            {
                "revision": "a" * 40,
                "strategy": "rolling",
                "result": "succeeded",
                "finishedAt": "2026-01-01T11:00:00+00:00",
                "durationSeconds": 95.0,
                "taskDefinition": "arn:aws:ecs:ap-northeast-2:1:task-definition/myapp:2",
            },
            {
                "revision": "c" * 40,
                "strategy": "canary",
                "result": "rolled_back",
                "finishedAt": "2026-01-01T10:00:00+00:00",
                "reason": "alarm myapp-5xx in ALARM",
            },
        ],
    }
    cluster = {
        "kind": "EcsCluster",
        "name": HOSTILE,
        "region": "ap-northeast-2",
        "syncStatus": "Synced",
        "healthStatus": "Healthy",
    }
    return {
        "instance": "prod",
        "banner": None,
        "endpoint": None,
        "commits": {
            "a" * 40: {"subject": "myapp v2", "author": "Ada Lovelace"},
            "b" * 40: {"subject": HOSTILE, "author": "Mallory"},
        },
        "source": {
            "source": "git+https://github.com/org/deploy.git",
            "revision": "b" * 40,
            "commitTime": "2026-01-01T11:59:15+00:00",
            "fetchedAt": "2026-01-01T11:59:58+00:00",
            "error": None,
            "pruneBlocked": None,
            "diagnostics": [f"deploy/x.yaml:3:1: error: {HOSTILE}"],
        },
        "resources": [cluster, myapp],
    }


def test_page_renders_every_field() -> None:
    document = render_page(snapshot(), now=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    page = parse(document)
    text = page.all_text
    for expected in (
        "myapp",
        "OutOfSync",
        "Progressing",
        "aaaaaaaaaaaa",  # live revision
        "bbbbbbbbbbbb",  # desired revision
        "not yet live",
        "canary",
        "Paused",
        "step 1",
        "1/1 running",  # the new task set
        "3/2 running, 1 pending",
        "Essential container in task exited",
        "CannotPullContainerError",
        "rolled_back",
        "alarm myapp-5xx in ALARM",
        "myapp:2",
        "git+https://github.com/org/deploy.git",
        "committed 45 s ago",
        "Rollout history (2)",
        "1 problem(s) in the source",
        "preSync migrate Failed",
        "exit migrate=3",
        "$44.97/mo",  # the overview's cost column
        "$44.97/month (2..10 tasks: $44.97..$224.84) (estimate)",  # the panel
        "$44.97 per month (est.)",  # the total card
    ):
        assert expected in text, expected
    assert len(set(page.ids)) == len(page.ids) == 2  # one panel per resource
    assert '<meta http-equiv="refresh"' in document
    assert 'name="viewport"' in document


def test_page_answers_what_is_running_and_why() -> None:
    """Image and tag, task definition revision, commit subject and author; badges only
    for conditions that hold; the one problem shown once."""
    data = snapshot()
    document = render_page(data, now=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    text = parse(document).all_text
    assert "myapp:v2" in text  # the overview's image column
    assert "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp : v2" in text or (
        "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:v2" in text
    )
    assert "myapp:3" in text  # the task definition revision
    assert "“myapp v2” by Ada Lovelace" in text  # the commit the service runs
    assert "Reconciling: Paused" in text  # a condition that holds
    assert "Ready: Progressing" not in text  # one that does not: no badge
    error = data["resources"][1]["lastError"]
    assert text.count(error) == 1, "the problem is shown once"
    assert "started 60 s ago" in text  # the rollout's timeline
    assert "https://" not in document.split("<footer>")[0].split("</header>", 1)[1]


def test_an_emulated_aws_gets_no_console_links() -> None:
    data = snapshot()
    data["endpoint"] = "http://127.0.0.1:4599"
    hook = data["resources"][1]["hooks"][0]
    hook["taskUrl"] = "https://ap-northeast-2.console.aws.amazon.com/ecs/v2/clusters/x/tasks/t1"
    hook["taskArn"] = "arn:aws:ecs:ap-northeast-2:1:task/prod-cluster/t1"
    text = parse(render_page(data)).all_text
    assert "console.aws.amazon.com" not in render_page(data)
    assert "task t1 (emulated AWS: no console)" in text
    assert "AWS at http://127.0.0.1:4599 (no AWS console)" in text
    data["endpoint"] = None
    assert 'href="https://ap-northeast-2.console.aws.amazon.com' in render_page(data)


def test_page_escapes_every_value() -> None:
    document = render_page(snapshot())
    page = parse(document)  # no event-handler attribute got through
    assert "script" not in page.tags
    assert "img" not in page.tags
    assert "<script" not in document
    assert "javascript:" not in document  # a hook's task link is shown only when https
    assert HOSTILE in page.all_text  # shown as text, intact


def test_page_without_resources_or_source() -> None:
    page = parse(render_page({"source": {"error": "source x: does not exist"}, "resources": []}))
    assert "No resources loaded yet." in page.all_text
    assert "Source error: source x: does not exist" in page.all_text


def test_cli_status_table_has_the_cost_column() -> None:
    out = io.StringIO()
    render_table(snapshot(), Console(file=out, width=240, color_system=None))
    header, *rows = [
        line for line in out.getvalue().splitlines() if "COST/MO" in line or "myapp" in line
    ]
    assert "COST/MO" in header
    [myapp] = rows
    assert "$44.97" in myapp


# -- in a browser ----------------------------------------------------------------------


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


@pytest.fixture
def canary_controller(emulated: Any, tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    """`ecs-gitops run` on the quickstart, its service switched to a canary that pauses."""
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    for name in ("cluster.yaml", "myapp.yaml", "task-definition.json"):
        shutil.copy(REPO / "examples" / "quickstart" / name, repo / "deploy" / name)
    service = repo / "deploy" / "myapp.yaml"
    text = service.read_text()
    for old, new in CANARY.items():
        assert old in text, "the quickstart's deployment block changed: update CANARY"
        text = text.replace(old, new)
    service.write_text(text)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "initial")
    port = free_port()
    log = tmp_path / "controller.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "controller", "run", "--source", str(repo / "deploy")),
                *("--endpoint-url", emulated.endpoint_url, "--region", REGION),
                *("--http-addr", f"127.0.0.1:{port}", "--resync-interval", "2"),
                *("--poll-interval", "1", "--log-format", "json"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            text=True,
        )
    ctl = Running(proc, f"http://127.0.0.1:{port}", log)
    try:
        ctl.wait("the status API", lambda: ctl.status() is not None, timeout=20)
        yield ctl, repo
    finally:
        stop(proc)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian; .ci/run installs it)")
@pytest.mark.slow
def test_status_page_in_chromium_during_a_canary(
    canary_controller: tuple[Running, Path], tmp_path: Path
) -> None:
    ctl, repo = canary_controller
    ctl.wait("v1 synced", lambda: (ctl.resource("myapp") or {}).get("syncStatus") == "Synced")
    set_image(repo, "v2")
    commit(repo, "v2 as a canary")

    def in_rollout() -> bool:
        rollout = (ctl.resource("myapp") or {}).get("rollout") or {}
        return rollout.get("newCounts", {}).get("running", 0) > 0

    ctl.wait("the canary's new task set running", in_rollout)
    rollout = (ctl.resource("myapp") or {})["rollout"]

    with urllib.request.urlopen(ctl.url + "/", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        served = parse(response.read().decode())
    assert "script" not in served.tags

    shots = Path(os.environ.get("ECS_GITOPS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        dom = chromium(
            "--dump-dom", f"--window-size={width},900", ctl.url + "/", profile=tmp_path / "d"
        )
        assert dom.returncode == 0, dom.stderr[-2000:]
        page = parse(dom.stdout.removeprefix("<!DOCTYPE html>").strip())
        text = page.all_text
        for expected in ("prod-cluster", "myapp", "EcsService", rollout["strategy"], "Rollout"):
            assert expected in text, expected
        assert "myapp:v1" in text or "myapp:v2" in text, "the service's image"
        assert "Synced" in text or "OutOfSync" in text
        assert len(page.ids) == 2  # a panel per resource
        assert measured(ctl.url, width, tmp_path)["overflow"] == 0, f"{width} px overflows"

        shot = shots / f"status-page-{width}.png"
        done = chromium(
            f"--screenshot={shot}", f"--window-size={width},1400", ctl.url + "/",
            profile=tmp_path / "s",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        png = shot.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        size = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert size == (width, 1400)
        assert len(png) > 20_000  # a rendered page, not a blank one
        print(f"status page screenshot: {shot}")


def measured(url: str, width: int, tmp_path: Path) -> dict[str, int]:
    """How far the page overflows a window `width` px wide, as Chromium lays it out: the
    served page (no script of its own) with a measuring script added, from a file."""
    with urllib.request.urlopen(url + "/", timeout=5) as response:
        document = response.read().decode()
    probe = (
        "<script>document.body.setAttribute('data-overflow', String("
        "document.documentElement.scrollWidth - window.innerWidth));</script>"
    )
    copy = tmp_path / f"measure-{width}.html"
    copy.write_text(document.replace('<meta http-equiv="refresh"', '<meta name="x"').replace(
        "</body>", probe + "</body>"
    ))  # fmt: skip
    dom = chromium(
        "--dump-dom", f"--window-size={width},900", copy.as_uri(), profile=tmp_path / "m"
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-overflow="(-?\d+)"', dom.stdout)
    assert found, dom.stdout[-500:]
    return {"overflow": max(0, int(found.group(1)))}
