"""The README's walkthrough, run as a user runs it: its commands as printed, in order.

The quickstart block (after "In a second terminal") and the hooks section's blocks are
read out of README.md and run one command at a time with bash from this checkout, against
`make run` started as the README says. Each command's trailing comment states its outcome;
OUTCOMES checks each one, and a comment the test does not know fails it, so the README and
the product cannot drift apart unnoticed. Three things are moved, and only these, so the
test can run beside a developer's own `make run`: the emulator's and the status server's
addresses (ECS_GITOPS_LOCAL_ADDR, HTTP_ADDR, ECS_GITOPS_SERVER) and the deploy repository's
path (DEPLOY_REPO).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_port

README = REPO / "README.md"
ENDPOINT = "127.0.0.1:4599"
STATUS = "127.0.0.1:8080"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("aws") is None, reason="the README's aws CLI is missing"),
]


@dataclass
class Command:
    text: str
    outcome: str | None  # the README's trailing comment


def code_blocks(text: str) -> list[list[str]]:
    """The README's indented code blocks, each as its lines with the 4-space indent removed."""
    blocks: list[list[str]] = []
    current: list[str] = []
    previous_blank = True
    for line in text.splitlines():
        if line.startswith("    ") and (current or previous_blank):
            current.append(line[4:])
        elif current and not line.strip():
            current.append("")
        else:
            if current:
                blocks.append(current)
            current = []
        previous_blank = not line.strip()
    if current:
        blocks.append(current)
    return blocks


_COMMENT = re.compile(r"\s{2,}# (.*)$")


def commands(block: list[str]) -> list[Command]:
    """One Command per shell command: continuation lines joined, a heredoc's body kept, a
    comment on its own line after a command taken as that command's outcome."""
    out: list[Command] = []
    lines = [ln for ln in block if ln.strip()]
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("# ") and out:
            out[-1].outcome = line.strip()[2:]
            i += 1
            continue
        found = _COMMENT.search(line)
        code, outcome = (line[: found.start()], found.group(1)) if found else (line, None)
        while code.rstrip().endswith("\\"):
            i += 1
            found = _COMMENT.search(lines[i])
            more = lines[i][: found.start()] if found else lines[i]
            outcome = outcome or (found.group(1) if found else None)
            code = code.rstrip()[:-1].rstrip() + " " + more.strip()
        heredoc = re.search(r"<<'(\w+)'", code)
        if heredoc:
            body = []
            i += 1
            while lines[i].strip() != heredoc.group(1):
                body.append(lines[i])
                i += 1
            code = "\n".join([code, *body, heredoc.group(1)])
        out.append(Command(code.strip(), outcome))
        i += 1
    return out


def walkthrough() -> list[Command]:
    """The quickstart's second-terminal block, then the hooks section's blocks."""
    text = README.read_text()
    quick = text.split("In a second terminal", 1)[1]
    hooks = text.split("### Hooks: a migration before the rollout", 1)[1]
    hooks = hooks.split("`validate` checks hook references", 1)[0]
    found = [*commands(code_blocks(quick)[0])]
    for block in code_blocks(hooks):
        found += commands(block)
    return found


@dataclass
class Walk:
    """The running walkthrough: where things are, and how to look at them."""

    endpoint: str
    status_url: str
    repo: Path
    env: dict[str, str]
    seen: dict[str, Any] = field(default_factory=dict)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        command = command.replace(ENDPOINT, self.endpoint).replace("deploy-repo", str(self.repo))
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.status_url}/api/v1/status", timeout=5) as resp:
            found: dict[str, Any] = json.loads(resp.read())
        return found

    def myapp(self) -> dict[str, Any]:
        return next(
            (r for r in self.status()["resources"] if r["name"] == "myapp"),
            {},
        )

    def aws(self, *args: str) -> Any:
        done = self.run(
            " ".join(["aws", "--endpoint-url", f"http://{ENDPOINT}", "--region", "ap-northeast-2"])
            + " "
            + " ".join(args)
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def primary(self) -> list[str]:
        service = self.aws(
            "ecs", "describe-services", "--cluster", "prod-cluster", "--services", "myapp"
        )["services"][0]
        return [
            ts["taskDefinition"].rsplit("/", 1)[-1]
            for ts in service["taskSets"]
            if ts["status"] != "DRAINING"
        ]

    def images(self) -> list[str]:
        """The image of each live task set's task definition (PRIMARY first)."""
        found = []
        for revision in self.primary():
            td = self.aws("ecs", "describe-task-definition", "--task-definition", revision)
            found.append(td["taskDefinition"]["containerDefinitions"][0]["image"])
        return found

    def head(self) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def until(self, what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (OSError, AssertionError, KeyError, StopIteration, json.JSONDecodeError):
                pass
            time.sleep(0.25)
        raise AssertionError(f"not within {timeout:.0f} s: {what}; myapp: {self.myapp()}")


Check = Callable[[Walk, subprocess.CompletedProcess[str]], None]


def synced_on(what: str) -> Check:
    """what: `myapp:2` (the revision) or `image myapp:v3` (its image's tag)."""

    def on_it(walk: Walk) -> bool:
        if what.startswith("image "):
            return [i.rsplit("/", 1)[-1] for i in walk.images()] == [what.removeprefix("image ")]
        return walk.primary() == [what]

    def check(walk: Walk, _: subprocess.CompletedProcess[str]) -> None:
        walk.until(
            f"myapp Synced and Healthy on {what}",
            lambda: (
                (walk.myapp().get("syncStatus"), walk.myapp().get("healthStatus"))
                == ("Synced", "Healthy")
                and walk.myapp().get("lastAppliedRevision") == walk.head()
                and on_it(walk)
            ),
        )

    return check


def degraded_on(what: str) -> Check:
    def check(walk: Walk, _: subprocess.CompletedProcess[str]) -> None:
        walk.until(
            f"myapp Degraded, still on {what}",
            lambda: (
                walk.myapp().get("healthStatus") == "Degraded"
                and walk.myapp().get("lastAttemptedRevision") == walk.head()
            ),
        )
        if what.startswith("image "):
            images = [i.rsplit("/", 1)[-1] for i in walk.images()]
            assert images == [what.removeprefix("image ")], images
        else:
            assert walk.primary() == [what]

    return check


def exit_zero(_: Walk, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


def prints(words: str) -> Check:
    def check(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
        exit_zero(walk, done)
        assert words in done.stdout, done.stdout

    return check


def status_table(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
    """`status` exits 0 once every resource is Synced and Healthy: run again until then,
    as a user would after `make run` has had a few seconds."""

    def table_says() -> bool:
        again = walk.run(".venv/bin/ecs-gitops status")
        return again.returncode == 0 and "myapp" in again.stdout

    assert done.returncode in (0, 1), done.stderr
    walk.until("`ecs-gitops status` says everything is Synced and Healthy", table_says)
    assert (walk.myapp()["syncStatus"], walk.myapp()["healthStatus"]) == ("Synced", "Healthy")


def one_primary(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
    exit_zero(walk, done)
    sets = json.loads(done.stdout)["services"][0]["taskSets"]
    assert [(s["status"], s["taskDefinition"].rsplit("/", 1)[-1]) for s in sets] == [
        ("PRIMARY", "myapp:1")
    ]


def seen_within_a_second(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
    exit_zero(walk, done)
    walk.until(
        "the commit is seen",
        lambda: walk.myapp().get("lastAttemptedRevision") == walk.head(),
        timeout=3.0,  # "within a second", with room for a busy machine
    )


def drift_reverted(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
    exit_zero(walk, done)
    assert json.loads(done.stdout)["service"]["healthCheckGracePeriodSeconds"] == 5

    def grace() -> Any:
        return walk.aws(
            "ecs", "describe-services", "--cluster", "prod-cluster", "--services", "myapp"
        )["services"][0]["healthCheckGracePeriodSeconds"]

    walk.until("the drift reverted", lambda: grace() == 60, timeout=30)  # resync: 10 s


def no_hook_ran(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
    exit_zero(walk, done)
    walk.until(
        "the commit is seen", lambda: walk.myapp().get("lastAttemptedRevision") == walk.head()
    )
    time.sleep(2)  # a reconcile of this revision has run: it started no hook
    hooks = walk.myapp().get("hooks")
    assert not hooks, hooks


def hook_runs(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
    exit_zero(walk, done)

    def hook_seen() -> bool:
        message = walk.myapp().get("message", "")
        if "preSync hook myapp-migrate is running" in message:
            walk.seen["hook message"] = message
        return any(h.get("name") == "myapp-migrate" for h in walk.myapp().get("hooks") or [])

    walk.until("the preSync hook myapp-migrate runs", hook_seen)


def a_stopped_task(walk: Walk, done: subprocess.CompletedProcess[str]) -> None:
    exit_zero(walk, done)
    assert json.loads(done.stdout)["taskArns"], done.stdout


OUTCOMES: dict[str, Check] = {
    "myapp Synced and Healthy": status_table,
    "one PRIMARY task set, myapp:1": one_primary,
    "the deploy: seen within a second": seen_within_a_second,
    "Progressing, then Synced on myapp:2": synced_on("myapp:2"),
    "drift: back to 60 at the next resync": drift_reverted,
    "exit 0: in sync": exit_zero,
    "rolled back: Degraded, still myapp:2": degraded_on("myapp:2"),
    'why: "Essential container in task exited"': prints("Essential container in task exited"),
    "0 errors": exit_zero,
    "runs nothing yet": no_hook_ran,
    "preSync hook myapp-migrate is running": hook_runs,
    "the migration's task": a_stopped_task,
    "then the rollout: Synced on image myapp:v3": synced_on("image myapp:v3"),
    "the hook fails: Degraded, still image myapp:v3": degraded_on("image myapp:v3"),
    "preSync hook myapp-migrate failed": prints("preSync hook myapp-migrate failed"),
}


def test_every_stated_outcome_is_checked() -> None:
    steps = walkthrough()
    assert len(steps) >= 20, [s.text for s in steps]
    unknown = [s.outcome for s in steps if s.outcome is not None and s.outcome not in OUTCOMES]
    assert not unknown, f"the README states outcomes this test does not check: {unknown}"
    assert steps[0].text.startswith("export AWS_ACCESS_KEY_ID=")


def test_the_readme_walkthrough_runs_as_printed(tmp_path: Path) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    http = f"127.0.0.1:{free_port()}"
    repo = tmp_path / "deploy-repo"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ECS_GITOPS_")) and k != "MAKEFLAGS"
    }
    env.update(
        ECS_GITOPS_LOCAL_ADDR=endpoint,
        ECS_GITOPS_SERVER=f"http://{http}",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        HOME=str(tmp_path),  # no ~/.gitconfig, no ~/.aws: a fresh user's machine
    )
    log = (tmp_path / "make-run.log").open("w")
    make = subprocess.Popen(
        ["make", "run", f"DEPLOY_REPO={repo}", f"HTTP_ADDR={http}"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    walk = Walk(endpoint, f"http://{http}", repo, env)
    try:
        walk.until("make run's status API", lambda: walk.status() is not None, timeout=60)
        for step in walkthrough():
            done = walk.run(step.text)
            if step.text.startswith("export "):
                for assignment in step.text.split()[1:]:
                    name, _, value = assignment.partition("=")
                    walk.env[name] = value
            check = OUTCOMES.get(step.outcome or "", exit_zero)
            try:
                check(walk, done)
            except AssertionError as exc:
                raise AssertionError(
                    f"README step {step.text!r} ({step.outcome}): {exc}\n"
                    f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
                ) from None
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        log.close()
    assert (
        subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "examples/"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        == ""
    ), "the walkthrough changed the project's own files"
