"""Drift on a service ECS deploys (type ECS), seen by `ecs-gitops run`'s resync.

A desired count or a deployment configuration changed by hand (as `aws ecs update-service`
would) is put back with one UpdateService and reported as drift (drift_detected_total);
with syncPolicy.selfHeal false it is reported only, and ECS is left as it is.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.controller_process import Running, commit, git
from tests.emulated_ecs import ecs
from tests.test_ecs_controller import write_seed
from tests.test_ecs_gates import entry, update_services


def repo_with(repo: Path, self_heal: bool) -> Path:
    """The seed's service without autoscaling (its count is the file's), committed."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write_seed(repo, "v1")
    path = repo / "myapp.yaml"
    text = path.read_text()
    text = text[: text.index("  autoScaling:")]
    if not self_heal:
        text += "  syncPolicy: {selfHeal: false}\n"
    path.write_text(text)
    commit(repo, "v1")
    return repo


def drift_count(running: Running) -> float:
    with urllib.request.urlopen(f"{running.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('ecs_gitops_drift_detected_total{kind="EcsService"}')
    )


def live(endpoint: str) -> dict[str, Any]:
    found: dict[str, Any] = ecs(endpoint).describe_services(
        cluster="mesh-cluster", services=["myapp"]
    )["services"][0]
    return found


@pytest.mark.parametrize(
    "by_hand",
    [
        {"desiredCount": 3},
        {
            "deploymentConfiguration": {
                "minimumHealthyPercent": 50,
                "maximumPercent": 150,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            }
        },
    ],
    ids=["desired-count", "deployment-configuration"],
)
@pytest.mark.parametrize("self_heal", [True, False], ids=["self-heal", "report-only"])
def test_a_change_by_hand_is_reverted_once_or_only_reported(
    emulated: Any, tmp_path: Path, run_controller: Any, by_hand: dict[str, Any], self_heal: bool
) -> None:
    endpoint = emulated.endpoint_url
    repo = repo_with(tmp_path / "repo", self_heal)
    running = run_controller(endpoint, f"git+file://{repo}")
    running.wait("v1", lambda: entry(running).get("healthStatus") == "Healthy", timeout=60)
    before = update_services(running)
    wanted = {k: live(endpoint)[k] for k in by_hand}

    ecs(endpoint).update_service(cluster="mesh-cluster", service="myapp", **by_hand)
    running.wait("drift to be seen", lambda: drift_count(running) >= 1, timeout=30)
    if self_heal:
        running.wait(
            "the revert",
            lambda: (
                {k: live(endpoint)[k] for k in by_hand} == wanted
                and entry(running).get("syncStatus") == "Synced"
            ),
            timeout=30,
        )
        assert update_services(running) == before + 1
    else:
        running.wait(
            "the report",
            lambda: "selfHeal is off" in entry(running).get("message", ""),
            timeout=30,
        )
        assert entry(running)["syncStatus"] == "OutOfSync"
        assert update_services(running) == before
        got = {k: live(endpoint)[k] for k in by_hand}
        assert got != wanted  # left as the hand made it
    assert drift_count(running) == 1
