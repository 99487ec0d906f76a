"""kill -9 at random points of canary rollouts: the controller resumes from ECS alone.

20 SIGKILLs spread over four canary rollouts of `ecs-gitops run`; after each kill the
live task sets must hold no duplicate externalId and at most the old and the new set,
and after each rollout exactly one PRIMARY set on the new revision, no rollout tags,
and one task definition revision per image (none registered twice). A killed controller
cannot release its claim on the rollout: the next one takes it over a writer lease after
the last step it wrote (WRITER_LEASE, short here).
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tests.conftest import REGION
from tests.controller_process import commit, git, launch
from tests.emulated_ecs import nginx_service

KILLS_PER_ROLLOUT = 5
WRITER_LEASE = ("--writer-lease", "2")
ROLLOUTS = 4

CANARY = (
    "{strategy: canary, canary: {steps: [{weight: 25, pauseSeconds: 1}, "
    "{weight: 50, pauseSeconds: 1}]}}"
)


def service(endpoint: str) -> dict[str, Any]:
    """The live service, or {} before the controller created it."""
    client = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    try:
        found = client.describe_services(cluster="chaos", services=["web"], include=["TAGS"])
    except ClientError:
        return {}
    services: list[dict[str, Any]] = found["services"]
    return services[0] if services else {}


def live_sets(endpoint: str) -> list[dict[str, Any]]:
    return [ts for ts in service(endpoint).get("taskSets", []) if ts["status"] != "DRAINING"]


def check_no_duplicates(endpoint: str) -> None:
    sets = live_sets(endpoint)
    ids = Counter(ts.get("externalId") for ts in sets)
    assert all(n == 1 for n in ids.values()), f"duplicate task sets: {ids}"
    assert len(sets) <= 2, f"orphaned task sets: {[ts['id'] for ts in sets]}"


def test_kill_9_during_canaries_converges_20_times(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    rng = random.Random(20261126)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "web.yaml").write_text(nginx_service("chaos", "1.25", CANARY))
    commit(repo, "v1")
    kills = 0
    with (tmp_path / "controller.log").open("w") as log:
        running = launch(endpoint, repo, log, *WRITER_LEASE)
        try:
            running.wait("v1", lambda: [ts["status"] for ts in live_sets(endpoint)] == ["PRIMARY"])
            for rollout in range(ROLLOUTS):
                tag = f"1.{26 + rollout}"
                (repo / "web.yaml").write_text(nginx_service("chaos", tag, CANARY))
                commit(repo, tag)
                for _ in range(KILLS_PER_ROLLOUT):
                    time.sleep(rng.uniform(0.2, 1.5))
                    running.proc.send_signal(signal.SIGKILL)
                    running.proc.wait(timeout=10)
                    kills += 1
                    check_no_duplicates(endpoint)
                    running = launch(endpoint, repo, log, *WRITER_LEASE)
                revision = f"chaos-web:{rollout + 2}"

                def converged(revision: str = revision) -> bool:
                    sets = live_sets(endpoint)
                    tags = {t["key"] for t in service(endpoint).get("tags", [])}
                    return (
                        [ts["status"] for ts in sets] == ["PRIMARY"]
                        and sets[0]["taskDefinition"].endswith(revision)
                        and not any(k.startswith("ecs-gitops.dev/rollout") for k in tags)
                    )

                running.wait(f"rollout {rollout + 1} to converge", converged, timeout=60)
        finally:
            running.proc.send_signal(signal.SIGTERM)
            running.proc.wait(timeout=25)
    assert kills == 20
    client = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    revisions = client.list_task_definitions(familyPrefix="chaos-web")["taskDefinitionArns"]
    assert len(revisions) == ROLLOUTS + 1, revisions  # one per image: none registered twice
