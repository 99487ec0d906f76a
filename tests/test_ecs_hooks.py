"""Hooks and notifications around the deployments ECS runs (type ECS), end to end.

The seed's Service Connect service with a preSync migration and a postSync smoke test:
the migration runs once per revision and has stopped before the revision's one
UpdateService (a resync runs nothing again), a failing migration blocks the UpdateService
(HookFailed), the smoke test runs once the deployment is COMPLETED, and a rollout is
announced when it starts and when it succeeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.reconcile import hooks
from controller.reconcile.sync import SyncOutcome
from tests.emulated_ecs import ECR, ecs, service_status, sync_with
from tests.test_ecs_controller import write_seed

TASKS = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsTask
metadata: {{name: {name}}}
spec:
  cluster: mesh-cluster
  region: ap-northeast-2  # the service's: a hook runs in its service's region and cluster
  timeoutSeconds: 60
  taskDefinition:
    family: myapp-{name}
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    containerDefinitions:
      - {{name: {name}, image: "{ecr}/myapp:{tag}"}}
"""


def write(root: Path, tag: str, migrate: str = "v1") -> Path:
    write_seed(root, tag)
    path = root / "myapp.yaml"
    path.write_text(
        path.read_text().replace(
            "  tags: {app: myapp}",
            "  hooks: {preSync: [migrate], postSync: [smoke]}\n  tags: {app: myapp}",
        )
    )
    tasks = [
        TASKS.format(name="migrate", tag=migrate, ecr=ECR),
        TASKS.format(name="smoke", tag="v1", ecr=ECR),
    ]
    (root / "tasks.yaml").write_text("---\n".join(tasks))
    return root


async def sync(endpoint: str, root: Path, revision: str) -> tuple[SyncOutcome, dict[str, int]]:
    outcome, aws = await sync_with(endpoint, root, within=40, revision=revision)
    calls = {op: n for (_, op, result), n in aws.stats.calls.items() if result == "success"}
    return outcome, calls


def hook_task(endpoint: str, phase: hooks.Phase, name: str) -> dict[str, Any]:
    client = ecs(endpoint)
    live = client.describe_services(cluster="mesh-cluster", services=["myapp"], include=["TAGS"])
    tags = {t["key"]: t["value"] for t in live["services"][0]["tags"]}
    record = hooks.Record.parse(tags[hooks.hook_tag(phase, name)])
    assert record is not None
    task: dict[str, Any] = client.describe_tasks(cluster="mesh-cluster", tasks=[record.task_id])[
        "tasks"
    ][0]
    return task


def primary(endpoint: str) -> dict[str, Any]:
    live = ecs(endpoint).describe_services(cluster="mesh-cluster", services=["myapp"])
    found: dict[str, Any] = live["services"][0]["deployments"][0]
    return found


def completed_at(endpoint: str, deployment_id: str) -> Any:
    """When ECS's service event said the deployment completed."""
    live = ecs(endpoint).describe_services(cluster="mesh-cluster", services=["myapp"])
    return next(
        e["createdAt"]
        for e in live["services"][0]["events"]
        if f"(deployment {deployment_id}) deployment completed" in e["message"]
    )


async def test_ecs_hooks_run_once_around_the_one_update_service(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = write(tmp_path / "src", "v1")
    outcome, _ = await sync(endpoint, root, "v1")
    assert service_status(outcome).ready, service_status(outcome).message

    write(root, "v2", migrate="v2")
    outcome, calls = await sync(endpoint, root, "v2")
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    assert calls.get("RunTask") == 2  # the migration, then the smoke test
    assert calls.get("UpdateService") == 1
    deployment = primary(endpoint)
    assert deployment["taskDefinition"].endswith("myapp:2")
    migration = hook_task(endpoint, "preSync", "migrate")
    assert migration["stoppedAt"] <= deployment["createdAt"]  # before the UpdateService
    smoke = hook_task(endpoint, "postSync", "smoke")
    completed = completed_at(endpoint, deployment["id"])
    assert smoke["createdAt"] >= completed, (smoke["createdAt"], completed)
    events = [n.type for n in outcome.notices]
    assert events.count("rollout_started") == 1, events
    started = next(n for n in outcome.notices if n.type == "rollout_started")
    assert started.strategy == "ecsRolling"
    assert "rollout_succeeded" in events, events

    outcome, calls = await sync(endpoint, root, "v2")  # a resync: nothing runs again
    assert service_status(outcome).ready
    assert calls.get("RunTask", 0) == 0
    assert calls.get("UpdateService", 0) == 0

    write(root, "v3", migrate="v3-crashloop")  # the migration exits 1
    outcome, calls = await sync(endpoint, root, "v3")
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("OutOfSync", "Degraded")
    assert "preSync hook migrate failed" in status.message
    assert any(c.reason == "HookFailed" for c in status.conditions), status.conditions
    assert calls.get("UpdateService", 0) == 0
    assert calls.get("RunTask") == 1
    assert primary(endpoint)["taskDefinition"].endswith("myapp:2")
