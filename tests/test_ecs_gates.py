"""`ecs-gitops abort` and `promote` on a service ECS deploys (type ECS), through the HTTP API
of a running `ecs-gitops run`, against the emulated AWS.

A deployment that never finishes (an image that cannot be pulled, no circuit breaker) is
stopped by `abort`: StopServiceDeployment with a ROLLBACK, the service back on the previous
revision, reported Degraded as aborted, the aborted revision not asked for again on later
resyncs, and the next commit rolls out. `promote` on a deployment no PAUSE lifecycle hook
holds says that ECS has nothing to continue.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

from controller.reconcile.rollout.base import FAILED_REASON_TAG, FAILED_TAG
from tests.conftest import run_cli
from tests.controller_process import Running, commit, git
from tests.emulated_ecs import ecs
from tests.test_ecs_controller import write_seed


def seed_repo(repo: Path, tag: str) -> None:
    """The seed's Service Connect service at image tag, its circuit breaker off (a
    deployment that cannot start stays IN_PROGRESS until someone stops it), committed."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    write_seed(repo, tag)
    path = repo / "myapp.yaml"
    path.write_text(
        path.read_text().replace(
            "deploymentCircuitBreaker: {enable: true, rollback: true}",
            "deploymentCircuitBreaker: {enable: false, rollback: false}",
        )
    )
    commit(repo, tag)


def live(endpoint: str) -> dict[str, Any]:
    found = ecs(endpoint).describe_services(
        cluster="mesh-cluster", services=["myapp"], include=["TAGS"]
    )["services"]
    return found[0] if found else {}


def deployments(endpoint: str) -> list[str]:
    """STATUS:rolloutState:revision of each deployment of myapp."""
    return [
        f"{d['status']}:{d.get('rolloutState')}:{d['taskDefinition'].rsplit(':', 1)[-1]}"
        for d in live(endpoint).get("deployments", [])
    ]


def entry(running: Running) -> dict[str, Any]:
    return running.resource("myapp") or {}


def update_services(running: Running) -> float:
    """UpdateService calls this controller made (its aws_requests_total)."""
    with urllib.request.urlopen(f"{running.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ecs_gitops_aws_requests_total{") and 'operation="UpdateService"' in line
    )


def test_abort_rolls_an_ecs_deployment_back_once_and_a_new_commit_rolls_again(
    emulated: Any, tmp_path: Path, run_controller: Any
) -> None:
    endpoint = emulated.endpoint_url
    repo = tmp_path / "repo"
    seed_repo(repo, "v1")
    running = run_controller(endpoint, f"git+file://{repo}")
    running.wait("v1", lambda: entry(running).get("healthStatus") == "Healthy", timeout=60)

    seed_repo(repo, "v2-pullfail")  # its tasks never start: ECS keeps trying
    running.wait(
        "the v2 deployment",
        lambda: deployments(endpoint) == ["PRIMARY:IN_PROGRESS:2", "ACTIVE:COMPLETED:1"],
        timeout=30,
    )
    held = run_cli("promote", "myapp", "--server", running.url)
    assert held.returncode == 1
    assert "ECS is not holding the deployment" in held.stderr, held.stderr
    assert "targetType PAUSE" in held.stderr

    result = run_cli("abort", "myapp", "--server", running.url)
    assert result.returncode == 0, result.stderr
    running.wait(
        "the rollback to v1",
        lambda: (
            deployments(endpoint) == ["PRIMARY:COMPLETED:1"]
            and entry(running).get("healthStatus") == "Degraded"
        ),
        timeout=30,
    )
    status = entry(running)
    assert "aborted" in status["message"], status
    tags = {t["key"]: t["value"] for t in live(endpoint)["tags"]}
    assert FAILED_TAG in tags
    assert "aborted" in tags[FAILED_REASON_TAG]

    # later resyncs (every 2 s) never ask ECS for the aborted revision again
    sent = update_services(running)
    running.looked_again(3)
    assert update_services(running) == sent
    assert deployments(endpoint) == ["PRIMARY:COMPLETED:1"]
    assert entry(running)["healthStatus"] == "Degraded"
    again = run_cli("abort", "myapp", "--server", running.url)
    assert again.returncode == 1  # nothing in progress any more

    seed_repo(repo, "v3")
    running.wait(
        "v3",
        lambda: (
            deployments(endpoint) == ["PRIMARY:COMPLETED:3"]
            and entry(running).get("healthStatus") == "Healthy"
        ),
        timeout=60,
    )
    tags = {t["key"]: t["value"] for t in live(endpoint)["tags"]}
    assert FAILED_TAG not in tags


PAUSED_BLUE_GREEN = """\
  deploymentConfiguration:
    strategy: BLUE_GREEN
    bakeTimeInMinutes: 0
    lifecycleHooks:
      - {targetType: PAUSE, lifecycleStages: [POST_SCALE_UP]}
"""


def test_promote_continues_an_ecs_deployment_held_by_a_pause_hook(
    emulated: Any, tmp_path: Path, run_controller: Any
) -> None:
    """ECS's blue/green with a PAUSE lifecycle hook after scale-up: the status says Paused
    and names `promote`; promote is ContinueServiceDeployment with the hook's id, and the
    deployment goes on to COMPLETED."""
    endpoint = emulated.endpoint_url
    repo = tmp_path / "repo"
    seed_repo(repo, "v1")
    running = run_controller(endpoint, f"git+file://{repo}")
    running.wait("v1", lambda: entry(running).get("healthStatus") == "Healthy", timeout=60)

    write_seed(repo, "v2")
    path = repo / "myapp.yaml"
    text = path.read_text()
    start = text.index("  deploymentConfiguration:")
    path.write_text(
        text[:start] + PAUSED_BLUE_GREEN + text[text.index("  serviceConnectConfiguration:") :]
    )
    commit(repo, "v2 on blue/green with a pause")
    running.wait(
        "the pause", lambda: (entry(running).get("rollout") or {}).get("phase") == "Paused"
    )
    status = entry(running)
    assert "ecs-gitops promote myapp" in status["message"], status
    assert deployments(endpoint)[:1] == ["PRIMARY:IN_PROGRESS:2"]
    time.sleep(1.0)  # held: nothing moves on its own
    assert deployments(endpoint)[:1] == ["PRIMARY:IN_PROGRESS:2"]

    result = run_cli("promote", "myapp", "--server", running.url)
    assert result.returncode == 0, result.stderr
    assert "continued the ECS deployment of myapp" in result.stdout
    running.wait(
        "v2",
        lambda: (
            deployments(endpoint) == ["PRIMARY:COMPLETED:2"]
            and entry(running).get("healthStatus") == "Healthy"
        ),
        timeout=60,
    )
    again = run_cli("promote", "myapp", "--server", running.url)
    assert again.returncode == 1
    assert "no ECS deployment in progress" in again.stderr
