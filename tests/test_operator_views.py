"""What an operator reads from a running controller: `ecs-gitops status` at 80 columns,
piped, and the lead-time metric, from a real `run` process on a Git repository against
the emulated AWS.

One controller goes through a fresh start on an eight-day-old HEAD (no lead time: nobody
waited eight days on this process), a crash-looping commit (a long rollback message that
the table must wrap without splitting a word, the whole text in `-o json`) and a good
commit (one lead time, seconds long).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.controller_process import Running, commit, git, quickstart_repo, set_image

EIGHT_DAYS = 8 * 24 * 3600
HEADERS = {"KIND", "CLUSTER", "NAME", "SYNC", "HEALTH", "REVISION", "ROLLOUT", "COST/MO"}
HEADERS.add("MESSAGE")


def sample(running: Running, name: str) -> float:
    """One unlabelled sample of the controller's /metrics."""
    with urllib.request.urlopen(f"{running.url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def status_cli(running: Running, *extra: str) -> subprocess.CompletedProcess[str]:
    """`ecs-gitops status` piped, as `| cat` or a script runs it, with COLUMNS=80."""
    env = {k: v for k, v in os.environ.items() if k != "LINES"}
    env["COLUMNS"] = "80"
    return run_cli("status", "--server", running.url, *extra, env=env)


def words_of(snapshot: dict[str, Any]) -> set[str]:
    """Every whole word the table may show: the status API's values, split at spaces."""
    words = set(HEADERS)
    source = snapshot["source"]
    words |= {"source", "@", str(source["source"]), (source.get("revision") or "-")[:7]}
    for entry in snapshot["resources"]:
        rollout = entry.get("rollout") or {}
        for value in (
            entry.get("kind"),
            entry.get("cluster"),
            entry.get("name"),
            entry.get("syncStatus"),
            entry.get("healthStatus"),
            (entry.get("lastAppliedRevision") or "")[:7],
            rollout.get("strategy"),
            rollout.get("phase"),
            entry.get("lastError") or entry.get("message"),
        ):
            words |= set(str(value or "").split())
        dollars = entry.get("estimatedMonthlyCost")
        if isinstance(dollars, int | float):
            words.add(f"${dollars:,.2f}")
    return words


def test_status_and_lead_time_of_a_running_controller(
    emulated: Any,
    tmp_path: Path,
    run_controller: Callable[..., Running],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = f"@{int(time.time()) - EIGHT_DAYS} +0000"
    monkeypatch.setenv("GIT_AUTHOR_DATE", old)
    monkeypatch.setenv("GIT_COMMITTER_DATE", old)
    repo = quickstart_repo(tmp_path / "repo", worker=False)
    monkeypatch.delenv("GIT_AUTHOR_DATE")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    running = run_controller(emulated.endpoint_url, f"git+file://{repo}#ref=main&path=deploy/")

    def on(revision: str, health: str) -> Callable[[], bool]:
        def check() -> bool:
            myapp = running.resource("myapp") or {}
            return myapp.get("healthStatus") == health and revision in (
                myapp.get("lastAppliedRevision"),
                myapp.get("lastAttemptedRevision"),
            )

        return check

    head = git(repo, "rev-parse", "HEAD")
    running.wait("the old HEAD Synced", on(head, "Healthy"), timeout=60)
    running.looked_again(2)  # the resyncs after it add nothing either
    assert sample(running, "ecs_gitops_commit_to_synced_seconds_count") == 0

    set_image(repo, "v2-crashloop")
    crashing = commit(repo, "v2: a crash-looping image")
    running.wait("v2 rolled back", on(crashing, "Degraded"), timeout=90)
    before = running.status()
    table = status_cli(running)
    after = running.status()
    assert table.returncode == 1, table.stderr  # not all Synced and Healthy
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), table.stdout
    assert "EssentialContainerExited;" in table.stdout, table.stdout  # the message is shown
    words = words_of(before) | words_of(after)
    for token in {t for line in lines for t in line.split()}:
        cut = token.endswith("…") and any(w.startswith(token[:-1]) for w in words)
        assert token in words or cut, (token, table.stdout)
    whole = json.loads(status_cli(running, "-o", "json").stdout)
    myapp = next(r for r in whole["resources"] if r["name"] == "myapp")
    assert "EssentialContainerExited" in (myapp.get("lastError") or myapp["message"])

    set_image(repo, "v3")
    good = commit(repo, "v3")
    running.wait("v3 Synced", on(good, "Healthy"), timeout=90)
    assert sample(running, "ecs_gitops_commit_to_synced_seconds_count") == 1
    assert sample(running, "ecs_gitops_commit_to_synced_seconds_sum") < 120
