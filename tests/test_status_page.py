"""The status page: rendered HTML checked by a parser, and by headless Chromium.

The unit tests render snapshots directly (escaping, every field, no script; and the
`ecs-gitops status` table); the browser test opens the page of a running controller
mid-canary in Debian's chromium, checks the DOM Chromium built, and saves a screenshot
under the test's tmp dir.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from controller.cli.status import render as render_table
from controller.observability.page import render_page
from tests.browser import CHROMIUM, look, served
from tests.conftest import REPO, free_port
from tests.controller_process import quickstart_repo
from tests.test_controller import REGION, Running, commit, git, set_image
from tests.test_prometheus import stop

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
            "stepStartedAt": "2026-01-01T11:59:30+00:00",
            "newTaskDefinition": "arn:aws:ecs:ap-northeast-2:1:task-definition/myapp:4",
            "newImages": ["123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:v3"],
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
        "preSync hook migrate Failed",
        "exit codes: migrate=3",
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
    assert "myapp:3 → myapp:4 (new task set)" in text  # the task definition revisions
    assert "New task set 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp : v3" in text
    assert "→ myapp:v3" in text  # the overview: what the canary runs beside v2
    assert "“myapp v2” by Ada Lovelace" in text  # the commit the service runs
    assert "Reconciling: Paused" in text  # a condition that holds
    assert "Ready: Progressing" not in text  # one that does not: no badge
    error = data["resources"][1]["lastError"]
    assert text.count(error) == 1, "the problem is shown once"
    assert "started 60 s ago" in text  # the rollout's timeline
    assert "step 1 since 30 s ago" in text
    assert "now: step 1/2 (10%): pausing 40 s more" in text
    assert "task sets: primary ecs-svc/111, new ecs-svc/222" in text
    assert "https://" not in document.split("<footer>")[0].split("</header>", 1)[1]


def failed_hook() -> dict[str, Any]:
    """myapp held by a failed preSync hook, as the controller reports it."""
    message = (
        "preSync hook migrate failed: task t1 stopped (Essential container in task exited); "
        "exit codes: web=1"
    )
    error = f"{message} (arn:aws:ecs:ap-northeast-2:1:task/prod-cluster/t1)"
    data = snapshot()
    data["resources"][1].update(
        healthStatus="Degraded",
        message=error,
        lastError=error,
        stoppedReasons=["Essential container in task exited"],
        rollout={"strategy": "rolling", "phase": "PreSync", "primaryTaskSet": "ecs-svc/111",
                 "startedAt": "2026-01-01T11:59:50+00:00"},
        conditions=[
            {"type": "Ready", "status": "False", "reason": "HookFailed", "message": error},
            {"type": "Reconciling", "status": "False", "reason": "PreSync", "message": error},
            {"type": "Stalled", "status": "True", "reason": "HookFailed", "message": error},
        ],
        hooks=[{
            "name": "migrate", "phase": "preSync", "state": "Failed",
            "taskArn": "arn:aws:ecs:ap-northeast-2:1:task/prod-cluster/t1",
            "exitCodes": {"web": 1}, "stoppedReason": "Essential container in task exited",
            "message": message, "startedAt": "2026-01-01T11:59:50+00:00",
            "stoppedAt": "2026-01-01T11:59:54+00:00",
        }],
    )  # fmt: skip
    return data


def test_a_failed_hook_is_said_once_on_its_timeline() -> None:
    """The issue's panel: one error was shown as Message, under Hooks and as Last error, a
    `Reconciling: PreSync` badge showed while that condition was False, Started was empty."""
    data = failed_hook()
    text = parse(render_page(data, now=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))).all_text
    error = data["resources"][1]["lastError"]
    assert text.count(error) == 1
    assert text.count("Essential container in task exited") == 1
    assert text.count("exit codes: web=1") == 1
    assert "Stalled: HookFailed" in text
    assert "Reconciling: PreSync" not in text  # False: no badge
    assert "Ready: HookFailed" not in text
    timeline = text.split("Rollout rolling PreSync", 1)[1].replace(" ,", ",").strip()
    assert timeline.startswith(
        "started 10 s ago preSync hook migrate Failed started 10 s ago, ran 4 s · task t1"
    ), timeline
    assert "ended: HookFailed" in timeline


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

    def paused() -> bool:  # for 600 s: what the page shows holds still
        rollout = (ctl.resource("myapp") or {}).get("rollout") or {}
        return rollout.get("phase") == "Paused" and rollout["newCounts"]["running"] > 0

    ctl.wait("the canary's new task set running, paused", paused)
    status = ctl.status()
    rollout = next(r for r in status["resources"] if r["name"] == "myapp")["rollout"]
    assert rollout["startedAt"]
    assert rollout["stepStartedAt"]

    document = served(ctl.url)
    assert "script" not in parse(document).tags
    for width in (1280, 390):
        seen = look(ctl.url, "canary", width, tmp_path)
        assert seen["overflow"] == 0, f"{width} px overflows"
        assert seen["scrolled"] == [], f"{width} px: content pushed out of sight"
        for expected in ("prod-cluster", "EcsService", rollout["strategy"], "Rollout"):
            assert expected in seen["text"], expected
        assert len(seen["panels"]) == 2  # a panel per resource
        panels_show(seen, status)
        timeline = seen["panels"]["myapp"]["text"]
        for image in rollout["newImages"]:  # the canary's image, beside the primary's
            assert f"New task set\n{image}" in timeline
        assert "myapp:1 → myapp:2 (new task set)" in timeline
        assert re.search(r"started \d+ s ago\nstep 1 since \d+ s ago\nnew task set: 1/1", timeline)
        assert "now: step 1/1 (50%): pausing" in timeline


# -- an incident, in a browser ---------------------------------------------------------

SUBJECT = 'myapp v3 <script>alert("x")</script> & "quoted" \'single\''
AUTHOR = 'Ada "Countess" O\'Brien & co'  # git refuses < and > in names

MIGRATE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsTask
metadata: {name: myapp-migrate}
spec:
  cluster: prod-cluster
  region: ap-northeast-2
  taskDefinition: task-definition.json
  overrides:
    containerOverrides: [{name: web, command: [python, manage.py, migrate, --no-input]}]
  timeoutSeconds: 600
"""


def panels_show(seen: dict[str, Any], status: dict[str, Any]) -> None:
    """Each resource's panel names its images, and its badges are exactly its True
    conditions."""
    for resource in status["resources"]:
        panel = seen["panels"][resource["name"]]
        for image in resource["images"]:
            assert image in panel["text"], (resource["name"], image)
        holds = [badge_text(c) for c in resource["conditions"] if c["status"] == "True"]
        assert sorted(panel["badges"]) == sorted(holds), resource["name"]


def badge_text(condition: dict[str, Any]) -> str:
    kind, reason = condition["type"], condition.get("reason")
    return f"{kind}: {reason}" if reason and reason != kind else kind


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian; .ci/run installs it)")
@pytest.mark.slow
def test_status_page_in_chromium_after_an_incident(
    emulated: Any, tmp_path: Path, run_controller: Any
) -> None:
    """What a person opens during an incident: a crash-looping image was rolled back, then a
    preSync migration failed (Stalled, with Ready and Reconciling False). The last commit's
    subject and author carry markup and quotes. Checked as Chromium lays the page out at a
    laptop's, a phone's and a wide screen's width."""
    repo = quickstart_repo(tmp_path / "repo")
    ctl = run_controller(emulated.endpoint_url, repo / "deploy")
    ctl.wait("v1 synced", lambda: (ctl.resource("myapp") or {}).get("syncStatus") == "Synced")
    set_image(repo, "v2-crashloop")
    commit(repo, "myapp v2-crashloop")
    ctl.wait(
        "the rollback",
        lambda: any(h["result"] == "rolled_back" for h in ctl.resource("myapp")["history"]),
        timeout=90,
    )
    (repo / "deploy" / "migrate.yaml").write_text(MIGRATE)
    with (repo / "deploy" / "myapp.yaml").open("a") as handle:
        handle.write("  hooks: {preSync: [myapp-migrate]}\n")
    set_image(repo, "v3-crashloop")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--author", f"{AUTHOR} <a@example.com>", "-m", SUBJECT)
    ctl.wait(
        "the failed migration",
        lambda: any(h["state"] == "Failed" for h in ctl.resource("myapp").get("hooks") or []),
        timeout=90,
    )
    status = ctl.status()
    myapp = next(r for r in status["resources"] if r["name"] == "myapp")
    error = myapp["lastError"]
    assert "preSync hook myapp-migrate failed" in error
    assert myapp["rollout"]["startedAt"] is not None  # the rollout began with its hook
    assert myapp["hooks"][0]["startedAt"] is not None

    document = served(ctl.url)
    assert "<script" not in document
    assert "console.aws.amazon.com" not in document  # an emulated AWS has no console
    for width in (1280, 390, 1400):
        seen = look(ctl.url, "incident", width, tmp_path)
        assert seen["overflow"] == 0, f"{width} px: the page overflows"
        assert seen["scrolled"] == [], f"{width} px: content pushed out of sight"
        assert seen["scripts"] == 0, "the commit subject made no element"
        text = seen["text"]
        assert SUBJECT in text  # shown as written, as text
        assert AUTHOR in text
        assert text.count(error) == 1, "the problem is shown once"
        panels_show(seen, status)
        panel = seen["panels"]["myapp"]
        assert "Reconciling: PreSync" not in panel["badges"]  # that condition is False
        now, _, history = panel["text"].partition("Rollout history")
        for detail in ("Essential container in task exited", "exit codes: web=1"):
            assert now.count(detail) == 1, f"{detail!r} repeated beside the problem"
        assert "start not recorded" not in now
        assert re.search(r"started \d+ s ago\n.*preSync hook myapp-migrate", now), now
        assert "ended: HookFailed" in now
        assert "(emulated AWS: no console)" in now
        rolled_back = next(h for h in myapp["history"] if h["result"] == "rolled_back")
        assert rolled_back["reason"] in history  # whole, wrapped
        assert "“myapp v2-crashloop” by t" in history
