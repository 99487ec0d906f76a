"""dependsOn between services ECS deploys (type ECS): a dependent waits until its
dependency's ECS deployment COMPLETED, and one ECS rolled back blocks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.api import ResourceKey
from controller.api.status import ResourceStatus
from controller.aws.client import AwsClients, AwsSettings
from controller.reconcile.context import Context
from controller.reconcile.sync import SyncOutcome, sync_all
from tests.conftest import REGION, write_files
from tests.emulated_ecs import ecs, load
from tests.test_depends_on import CLUSTER, service

ECS_CONTROLLER = (
    "  deploymentController: {type: ECS}\n"
    "  deploymentConfiguration: {deploymentCircuitBreaker: {enable: true, rollback: true}}\n"
)


def ecs_service(name: str, deps: str = "[]", tag: str = "v1") -> str:
    text = service(name, deps, tag=tag)
    deployment = "  deployment: {strategy: blueGreen, blueGreen: {bakeSeconds: 0}}\n"
    assert deployment in text
    return text.replace(deployment, ECS_CONTROLLER)


async def sync(
    endpoint: str, root: Path, frontend: str, backend: str, seen: list[Any]
) -> SyncOutcome:
    write_files(
        root,
        {
            "a-frontend.yaml": ecs_service("frontend", "[backend]", tag=frontend),
            "b-backend.yaml": ecs_service("backend", tag=backend),
            "cluster.yaml": CLUSTER,
        },
    )

    def record(key: ResourceKey, s: ResourceStatus) -> None:
        seen.append((key.name, s.rollout.phase if s.rollout else "", s.ready, s.message))

    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        return await sync_all(load(root), Context(aws), within=60, on_status=record)


def image(endpoint: str, name: str) -> str:
    live = ecs(endpoint).describe_services(cluster="prod-cluster", services=[name])
    arn = live["services"][0]["deployments"][0]["taskDefinition"]
    td = ecs(endpoint).describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return str(td["containerDefinitions"][0]["image"]).rsplit(":", 1)[-1]


async def test_an_ecs_dependency_completes_first_and_its_rollback_blocks(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = tmp_path / "src"
    assert (await sync(endpoint, root, "v1", "v1", [])).ok

    seen: list[Any] = []
    outcome = await sync(endpoint, root, "v2", "v2-slow", seen)
    assert outcome.ok, outcome.statuses
    backend_done = seen.index(next(s for s in seen if s[0] == "backend" and s[2]))
    frontend_asked = seen.index(next(s for s in seen if s[:2] == ("frontend", "Deploying")))
    assert ("backend", "Deploying") in [s[:2] for s in seen[:backend_done]]
    assert backend_done < frontend_asked, seen
    assert (image(endpoint, "backend"), image(endpoint, "frontend")) == ("v2-slow", "v2")

    outcome = await sync(endpoint, root, "v3", "v3-crashloop", seen := [])
    assert not outcome.ok
    frontend = next(s for k, s in outcome.statuses.items() if k.name == "frontend")
    assert frontend.message.startswith("blocked: waiting for EcsService prod-cluster/backend (")
    assert "Degraded" in frontend.message
    assert (image(endpoint, "backend"), image(endpoint, "frontend")) == ("v2-slow", "v2")
