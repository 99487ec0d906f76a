"""One content, one revision, also under concurrency: services that share a task definition
file (and a hook task) share one revision, even when `run`'s workers reconcile them all at
once on a fresh account; KeyedLocks, the lock table that serializes those registrations."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.runtime.keyedlock import KeyedLocks
from tests.conftest import write_files
from tests.controller_process import Running, commit, git
from tests.emulated_ecs import ECR, ecs

SERVICES = 10

SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: svc-{n}}}
spec:
  cluster: prod-cluster
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa], securityGroups: [sg-xxx]}}
  deployment: {{strategy: blueGreen, blueGreen: {{bakeSeconds: 0}}}}
  hooks: {{preSync: [migrate]}}
  taskDefinition: task-definition.json
"""
TASK_DEFINITION = f"""\
{{"family": "shared", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
  "cpu": "256", "memory": "512",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "containerDefinitions": [{{"name": "app", "image": "{ECR}/shared:v1"}}]}}
"""
REST = f"""\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {{name: prod-cluster}}
---
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsTask
metadata: {{name: migrate}}
spec:
  cluster: prod-cluster
  taskDefinition:
    family: shared-migrate
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    containerDefinitions:
      - {{name: migrate, image: "{ECR}/shared:v1", command: [./manage, migrate]}}
"""


def test_services_sharing_a_file_share_one_revision_when_started_at_once(
    emulated: Any, tmp_path: Path, run_controller: Callable[..., Running]
) -> None:
    repo = tmp_path / "repo"
    files: dict[str, str | bytes] = {f"svc-{n}.yaml": SERVICE.format(n=n) for n in range(SERVICES)}
    write_files(repo, {**files, "task-definition.json": TASK_DEFINITION, "rest.yaml": REST})
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "ten services, one task definition")
    running = run_controller(
        emulated.endpoint_url, f"git+file://{repo}#ref=main", "--workers", "16"
    )

    def all_ready() -> bool:
        found = [running.resource(f"svc-{n}") for n in range(SERVICES)]
        return all(r is not None and r["syncStatus"] == "Synced" for r in found)

    running.wait("every service deployed", all_ready, timeout=90)
    client = ecs(emulated.endpoint_url)
    for family in ("shared", "shared-migrate"):
        listed = client.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
        assert [a.rsplit("/", 1)[-1] for a in listed] == [f"{family}:1"]
    in_use = {
        ts["taskDefinition"].rsplit("/", 1)[-1]
        for svc in client.describe_services(
            cluster="prod-cluster", services=[f"svc-{n}" for n in range(SERVICES)]
        )["services"]
        for ts in svc["taskSets"]
    }
    assert in_use == {"shared:1"}
    with urllib.request.urlopen(f"{running.url}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    registered = re.search(
        r'^ecs_gitops_aws_requests_total\{[^}]*operation="RegisterTaskDefinition"'
        r'[^}]*outcome="success"[^}]*\} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    assert registered is not None
    assert float(registered.group(1)) == 2.0  # the services' revision and the hook's


async def test_keyed_locks_serialize_one_key_and_forget_it_when_free() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside: list[str] = []
    overlap: list[str] = []

    async def hold(key: str) -> None:
        async with locks.hold(key):
            if key in inside:
                overlap.append(key)
            inside.append(key)
            await asyncio.sleep(0.01)
            inside.remove(key)

    await asyncio.gather(*(hold(k) for k in "aaabbb"))
    assert overlap == []
    assert len(locks) == 0  # nobody holds or waits: no lock kept

    async with locks.hold("a"):
        other = asyncio.create_task(hold("b"))
        await asyncio.sleep(0.005)
        assert inside == ["b"]  # another key is not held back
        await other
