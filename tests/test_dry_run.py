"""A dry run is read-only where the calls leave, whatever state it finds.

The aws layer refuses every mutating operation in a read-only scope (AwsSettings.read_only
for a whole command, `read_only()` for one reconcile) without sending it. Over every
example from scratch, and at every step of real rollouts (each strategy, a good and a
crash-looping image, ECS's own controller, drift, adoption, a prune), a dry-run reconcile
makes no mutating call and never even tries one: the reconcilers report what they would
do, and the boundary only proves it.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from controller.api import EcsCluster, Resource, resource_key
from controller.aws.client import AwsClients, AwsSettings, read_only
from controller.errors import ReadOnlyRefused
from controller.reconcile.context import Context
from controller.reconcile.hooks import task_index
from controller.reconcile.prune import reconcile_prune
from controller.reconcile.sync import reconcile_once
from tests.conftest import REGION, REPO
from tests.emulated_ecs import ecs, load, service_status, sync_with, write_web

STRATEGIES = {
    "rolling": "{strategy: rolling, rolling: {minimumHealthyPercent: 50, maximumPercent: 100}}",
    "blueGreen": "{strategy: blueGreen, blueGreen: {bakeSeconds: 1}}",
    "canary": "{strategy: canary, canary: {steps: [{weight: 25, pauseSeconds: 1}]}}",
}


def clusters(endpoint: str) -> list[str]:
    client = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    return [arn.rsplit("/", 1)[-1] for arn in client.list_clusters()["clusterArns"]]


async def test_read_only_clients_refuse_mutating_calls_unsent(emulated: Any) -> None:
    endpoint = emulated.endpoint_url
    async with AwsClients(AwsSettings(REGION, endpoint, read_only=True)) as aws:
        await aws.call("ecs", "ListClusters")  # reads go through
        with pytest.raises(ReadOnlyRefused, match="CreateCluster"):
            await aws.call("ecs", "CreateCluster", clusterName="never")
    assert aws.stats.refused == {"ecs:CreateCluster": 1}
    assert aws.stats.by_operation() == {"ecs:ListClusters": 1}
    assert "never" not in clusters(endpoint)

    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        with read_only():
            # a task started inside the scope inherits it, as a reconcile's helpers do
            inside = asyncio.create_task(aws.call("ecs", "CreateCluster", clusterName="in"))
            with pytest.raises(ReadOnlyRefused):
                await inside
            # a disabled block never lifts an enclosing one
            with read_only(False), pytest.raises(ReadOnlyRefused):
                await aws.call("ecs", "CreateCluster", clusterName="nested")
        await aws.call("ecs", "CreateCluster", clusterName="outside")
    assert set(clusters(endpoint)) >= {"outside"}
    assert not {"in", "nested"} & set(clusters(endpoint))


@pytest.mark.parametrize(
    "example", sorted(p.name for p in (REPO / "examples").iterdir() if p.is_dir())
)
async def test_a_dry_run_of_every_example_calls_nothing_mutating(
    emulated: Any, tmp_path: Path, example: str
) -> None:
    root = tmp_path / example
    shutil.copytree(REPO / "examples" / example, root)
    for path in root.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace("ap-northeast-2", REGION))
    outcome, aws = await sync_with(emulated.endpoint_url, root, within=5, dry_run=True)
    assert aws.stats.total(mutating=True) == 0, aws.stats.by_operation(mutating=True)
    assert not aws.stats.refused, aws.stats.refused
    assert outcome.statuses
    for status in outcome.statuses.values():
        assert status.sync_status != "Synced" or status.kind == "EcsTask", status
    assert clusters(emulated.endpoint_url) == []


async def walk(endpoint: str, root: Path, *, limit: float = 30.0) -> set[str]:
    """Reconcile root's resources for real, one step at a time, and before each step a
    dry-run reconcile of the same resource on its own clients: each must call nothing
    mutating. Returns the rollout phases the real steps went through."""
    resources = load(root)
    phases: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    async with (
        AwsClients(AwsSettings(REGION, endpoint)) as real,
        AwsClients(AwsSettings(REGION, endpoint)) as dry,
    ):
        ctx = Context(real, tasks=task_index(resources))
        dry_ctx = Context(dry, tasks=ctx.tasks, dry_run=True)
        ordered: list[Resource] = sorted(resources, key=lambda r: not isinstance(r, EcsCluster))
        for resource in ordered:
            while loop.time() < deadline:
                before = dry.stats.total(mutating=True)
                shown = await reconcile_once(resource, dry_ctx)
                assert dry.stats.total(mutating=True) == before, (
                    resource_key(resource),
                    shown.status.rollout,
                    dry.stats.by_operation(mutating=True),
                )
                assert not dry.stats.refused, (shown.status.message, dry.stats.refused)
                result = await reconcile_once(resource, ctx)
                if result.status.rollout is not None:
                    phases.add(result.status.rollout.phase)
                if result.done:
                    break
                await asyncio.sleep(min(result.requeue_after or 0.0, 0.3))
    return phases


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("tag", ["v2", "v2-crashloop"])
async def test_a_dry_run_at_every_rollout_step_calls_nothing_mutating(
    emulated: Any, tmp_path: Path, strategy: str, tag: str
) -> None:
    endpoint = emulated.endpoint_url
    root = write_web(tmp_path / "src", "v1", STRATEGIES[strategy], count=2)
    await walk(endpoint, root)
    write_web(root, tag, STRATEGIES[strategy], count=2)
    phases = await walk(endpoint, root)
    assert phases, "no rollout seen"
    if tag.endswith("crashloop"):
        assert "RolledBack" in phases, phases
    # drift by hand: the dry run says so and leaves it
    ecs(endpoint).update_service(cluster="prod-cluster", service="web", desiredCount=3)
    outcome, aws = await sync_with(endpoint, root, within=3, dry_run=True)
    assert aws.stats.total(mutating=True) == 0
    assert not aws.stats.refused
    drifted = service_status(outcome)
    assert (drifted.sync_status, drifted.message) == ("OutOfSync", "would update desiredCount")
    assert (
        ecs(endpoint).describe_services(cluster="prod-cluster", services=["web"])["services"][0][
            "desiredCount"
        ]
        == 3
    )


async def test_a_dry_run_of_ecs_deployments_adoption_and_prune_calls_nothing_mutating(
    emulated: Any, tmp_path: Path
) -> None:
    """ECS's own controller through v1 -> v2 -> a crash rolled back by the circuit
    breaker; then a service to adopt, and one to prune: the dry runs touch nothing."""
    endpoint = emulated.endpoint_url
    root = tmp_path / "src"
    shutil.copytree(REPO / "examples" / "service-connect", root)
    td = root / "task-definition.json"
    for path in root.iterdir():
        path.write_text(path.read_text().replace("ap-northeast-2", REGION))
    with (root / "myapp.yaml").open("a") as spec:
        spec.write("  syncPolicy: {prune: true}\n")
    for tag in ("v1", "v2", "v3-crashloop"):
        td.write_text(td.read_text().replace("myapp:v1", f"myapp:{tag}"))
        await walk(endpoint, root)
        td.write_text(td.read_text().replace(f"myapp:{tag}", "myapp:v1"))

    client = ecs(endpoint)
    client.create_service(cluster="mesh-cluster", serviceName="theirs", desiredCount=0)
    (root / "theirs.yaml").write_text(
        """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {name: theirs}
spec:
  cluster: mesh-cluster
  desiredCount: 0
  taskDefinition: task-definition.json
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {subnets: [subnet-aaa], securityGroups: [sg-xxx]}
  deploymentController: {type: ECS}
  syncPolicy: {adopt: true}
"""
    )
    outcome, aws = await sync_with(endpoint, root, within=3, dry_run=True)
    assert aws.stats.total(mutating=True) == 0, aws.stats.by_operation(mutating=True)
    assert not aws.stats.refused
    adopted = next(s for k, s in outcome.statuses.items() if k.name == "theirs")
    assert "would adopt" in adopted.message, adopted.message

    key = next(resource_key(r) for r in load(root) if r.metadata.name == "myapp")
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        result = await reconcile_prune(key, Context(aws, dry_run=True))
    assert aws.stats.total(mutating=True) == 0
    assert not aws.stats.refused
    assert result.status.message.endswith("would delete it (prune)"), result.status.message
