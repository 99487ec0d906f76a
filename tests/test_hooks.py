"""preSync and postSync hooks on the emulated AWS: a migration that exits 0 lets the
rollout proceed, one that exits 1 blocks it on the old revision, and a controller killed
mid-hook never runs it twice (the record lives in ECS: tags and startedBy)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from controller.api import EcsService, EcsTask
from controller.aws.client import AwsClients, AwsSettings
from controller.reconcile import hooks
from controller.reconcile.context import Context
from controller.reconcile.sync import SyncOutcome
from tests.conftest import REGION
from tests.emulated_ecs import (
    ECR,
    describe,
    ecs,
    load,
    service_status,
    sync_with,
    task_set_revisions,
    write_web,
)

BLUE_GREEN = "{strategy: blueGreen, blueGreen: {bakeSeconds: 0}}"
TASKS = """\
---
# no networkConfiguration: a hook runs with its service's network
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsTask
metadata: {{name: migrate}}
spec:
  cluster: prod-cluster
  timeoutSeconds: 60
  taskDefinition:
    family: web-migrate
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    containerDefinitions:
      - {{name: migrate, image: "{ecr}/web:{migrate}", command: [./manage, migrate]}}
      - {{name: sidecar, image: "{ecr}/log-router:crashloop", essential: false}}
---
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsTask
metadata: {{name: smoke}}
spec:
  cluster: prod-cluster
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-bbb], securityGroups: [sg-xxx]}}
  taskDefinition:
    family: web-smoke
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    containerDefinitions:
      - {{name: smoke, image: "{ecr}/smoke:{smoke}"}}
"""
PRE = "{preSync: [migrate]}"


def write(root: Path, web: str, migrate: str = "v1", hooks: str = PRE, smoke: str = "v1") -> Path:
    """web (blue/green) running web:<web> with the given hooks, and the tasks migrate and smoke."""
    tasks = TASKS.format(migrate=migrate, smoke=smoke, ecr=ECR)
    return write_web(root, web, BLUE_GREEN, spec=f"  hooks: {hooks}\n", more=tasks)


async def sync(endpoint: str, root: Path, *, dry_run: bool = False) -> tuple[SyncOutcome, int]:
    """The outcome, and how many RunTask calls it made."""
    outcome, aws = await sync_with(endpoint, root, dry_run=dry_run, revision="rev")
    return outcome, aws.stats.calls[("ecs", "RunTask", "success")]


def tags(endpoint: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in describe(endpoint).get("tags", [])}


def hook_task(endpoint: str, phase: str, name: str) -> dict[str, Any]:
    """The task the hook's tag record names."""
    record = hooks.Record.parse(tags(endpoint)[hooks.hook_tag(phase, name)])  # type: ignore[arg-type]
    assert record is not None
    task: dict[str, Any] = ecs(endpoint).describe_tasks(
        cluster="prod-cluster", tasks=[record.task_id]
    )["tasks"][0]
    return task


async def test_a_migration_that_exits_0_lets_the_rollout_proceed(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = write(tmp_path / "src", web="v1")
    outcome, runs = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert runs == 1
    assert task_set_revisions(endpoint) == ["PRIMARY:web:1"]
    record = hooks.Record.parse(tags(endpoint)["ecs-gitops.dev/hook-pre-migrate"])
    assert record is not None
    assert record.state == "succeeded"
    migration = hook_task(endpoint, "preSync", "migrate")
    # it ran with the service's network, to completion, before the task set existed
    assert migration["lastStatus"] == "STOPPED"
    assert {c["name"]: c.get("exitCode") for c in migration["containers"]}["migrate"] == 0
    assert migration["startedBy"] == f"ecs-gitops-{record.digest}"
    created = describe(endpoint)["taskSets"][0]["createdAt"]
    assert migration["stoppedAt"] <= created
    subnets = {
        d["value"]
        for a in migration.get("attachments", [])
        for d in a.get("details", [])
        if d["name"] == "subnetId"
    }
    assert subnets <= {"subnet-aaa", "subnet-bbb"}

    # nothing changed: nothing runs again
    outcome, runs = await sync(endpoint, root)
    assert (outcome.ok, runs) == (True, 0)

    # a new revision runs the migration once more, then rolls out
    write(root, web="v2")
    outcome, runs = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert runs == 1
    assert task_set_revisions(endpoint) == ["PRIMARY:web:2"]
    types = [n.type for n in outcome.notices]
    assert types == ["rollout_started", "rollout_succeeded"]
    assert outcome.notices[0].message == "running preSync hook migrate before the new task set"


async def test_a_migration_that_exits_1_blocks_the_rollout(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = write(tmp_path / "src", web="v1")
    assert (await sync(endpoint, root))[0].ok

    write(root, web="v2", migrate="v2-crashloop")
    outcome, runs = await sync(endpoint, root)
    status = service_status(outcome)
    assert not outcome.ok
    assert not outcome.timed_out  # a failed hook is final for this revision: no waiting
    assert runs == 1
    assert (status.sync_status, status.health_status) == ("OutOfSync", "Degraded")
    assert "preSync hook migrate failed" in status.message
    assert "Essential container in task exited" in status.message
    assert "exit codes: migrate=1" in status.message
    assert "arn:aws:ecs:ap-northeast-2:123456789012:task/prod-cluster/" in status.message
    assert status.hooks is not None
    hook = status.hooks[0]
    assert (hook.name, hook.phase, hook.state) == ("migrate", "preSync", "Failed")
    assert hook.task_arn is not None
    assert hook.task_url is not None
    assert hook.task_url.startswith("https://ap-northeast-2.console.aws.amazon.com/ecs/v2/")
    assert hook.exit_codes["migrate"] == 1
    # the rollout began when its first preSync hook's task was created (ECS's createdAt)
    assert hook.started_at is not None
    assert hook.stopped_at is not None
    assert hook.started_at <= hook.stopped_at
    assert status.rollout is not None
    assert status.rollout.started_at == hook.started_at
    assert status.stopped_reasons == ["Essential container in task exited"]
    stalled = [c for c in status.conditions if c.type == "Stalled"]
    assert stalled[0].reason == "HookFailed"
    assert [n.type for n in outcome.notices] == ["rollout_started", "hook_failed"]
    assert outcome.notices[1].task_arn == hook.task_arn
    # the service stays on the old revision; no new task set, no new revision registered
    assert task_set_revisions(endpoint) == ["PRIMARY:web:1"]
    families = ecs(endpoint).list_task_definitions(familyPrefix="web", status="ACTIVE")
    assert [a.rsplit("/", 1)[-1] for a in families["taskDefinitionArns"] if "/web:" in a] == [
        "web:1"
    ]

    # the failure is recorded in ECS: a second sync (a restarted controller) runs nothing,
    # and says exactly what the first one said, exit codes and stoppedReason included
    first = status
    outcome, runs = await sync(endpoint, root)
    assert runs == 0
    status = service_status(outcome)
    assert status.health_status == "Degraded"
    assert status.message == first.message
    assert status.stopped_reasons == ["Essential container in task exited"]
    assert status.hooks is not None
    assert status.hooks[0].started_at == hook.started_at  # from the stopped task, described again
    assert status.hooks[0].exit_codes == hook.exit_codes
    assert status.hooks[0].stopped_reason == hook.stopped_reason

    # a fixed migration is a new hook revision: it runs, and the rollout goes ahead
    write(root, web="v2", migrate="v3")
    outcome, runs = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert runs == 1
    assert task_set_revisions(endpoint) == ["PRIMARY:web:2"]


async def test_a_killed_controller_does_not_run_a_hook_twice(emulated: Any, tmp_path: Path) -> None:
    """SIGKILL after RunTask, before the tag write: the next controller finds the run by
    its startedBy token instead of starting another one."""
    endpoint = emulated.endpoint_url
    root = write(tmp_path / "src", web="v1")
    assert (await sync(endpoint, root))[0].ok
    write(root, web="v2")
    resources = load(root)
    svc = next(r for r in resources if isinstance(r, EcsService))
    tasks = {r.metadata.name: r for r in resources if isinstance(r, EcsTask)}

    async def step(aws: AwsClients) -> hooks.HookStep | None:
        ctx = Context(aws, revision="rev")  # a fresh controller: no memory of earlier calls
        live = (await ctx.ecs(REGION).describe_services("prod-cluster", ["web"]))["web"]
        return await hooks.reconcile_pre_sync(ctx, svc, tasks, live)

    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        first = await step(aws)
        assert first is not None
        assert first.state == "started"
        assert aws.stats.calls[("ecs", "RunTask", "success")] == 1
    tag = hooks.hook_tag("preSync", "migrate")
    service_arn = describe(endpoint)["serviceArn"]
    ecs(endpoint).untag_resource(resourceArn=service_arn, tagKeys=[tag])  # the lost write

    deadline = time.monotonic() + 30
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        again = await step(aws)
        assert again is not None
        assert again.state == "waiting"
        assert hooks.Record.parse(tags(endpoint)[tag]) is not None  # record restored
        while (result := await step(aws)) is not None:
            assert result.state == "waiting", result.message
            assert time.monotonic() < deadline
            await asyncio.sleep(0.3)
        assert aws.stats.calls[("ecs", "RunTask", "success")] == 0
    record = hooks.Record.parse(tags(endpoint)[tag])
    assert record is not None
    assert record.state == "succeeded"
    client = ecs(endpoint)
    runs = [
        arn
        for status in ("RUNNING", "STOPPED")
        for arn in client.list_tasks(
            cluster="prod-cluster", startedBy=f"ecs-gitops-{record.digest}", desiredStatus=status
        )["taskArns"]
    ]
    assert len(runs) == 1


async def test_post_sync_runs_after_the_rollout_succeeds(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    both = "{preSync: [migrate], postSync: [smoke]}"
    root = write(tmp_path / "src", web="v1", hooks=both)
    outcome, runs = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert runs == 2
    smoke = hook_task(endpoint, "postSync", "smoke")
    primary = describe(endpoint)["taskSets"][0]
    assert primary["status"] == "PRIMARY"
    assert smoke["createdAt"] >= primary["createdAt"]
    assert tags(endpoint)["ecs-gitops.dev/hook-post-smoke"].split(":")[1] == "succeeded"

    # a failing smoke test leaves the new revision in place, Degraded, and says why
    write(root, web="v2", hooks=both, smoke="v2-crashloop")
    outcome, runs = await sync(endpoint, root)
    status = service_status(outcome)
    assert runs == 2
    assert task_set_revisions(endpoint) == ["PRIMARY:web:2"]
    assert (status.sync_status, status.health_status) == ("Synced", "Degraded")
    assert "postSync hook smoke failed" in status.message
    assert [n.type for n in outcome.notices] == [
        "rollout_started",
        "rollout_succeeded",
        "hook_failed",
    ]


async def test_dry_run_runs_no_hook(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = write(tmp_path / "src", web="v1")
    assert (await sync(endpoint, root))[0].ok
    write(root, web="v2")
    outcome, runs = await sync(endpoint, root, dry_run=True)
    assert runs == 0
    assert service_status(outcome).message == "preSync hook migrate would run"
    assert task_set_revisions(endpoint) == ["PRIMARY:web:1"]


async def test_an_ecs_task_is_healthy_only_where_aws_shows_its_cluster(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """An EcsTask's status comes from AWS (its cluster exists), never from the file alone:
    a controller that cannot reach AWS does not call it Synced and Healthy."""
    import boto3
    import pytest

    from controller.api import EcsTask
    from controller.aws.client import AwsClients, AwsSettings
    from controller.errors import AwsRetryable, NotReady
    from controller.reconcile.context import Context
    from controller.reconcile.sync import reconcile_once
    from tests.conftest import REGION, free_port

    root = write(tmp_path / "src", web="v1", migrate="v1")
    task = next(r for r in load(root) if isinstance(r, EcsTask))
    async with AwsClients(AwsSettings(REGION, aws_endpoint)) as aws:
        with pytest.raises(NotReady, match="prod-cluster does not exist"):
            await reconcile_once(task, Context(aws))
        boto3.client("ecs", endpoint_url=aws_endpoint, region_name=REGION).create_cluster(
            clusterName="prod-cluster"
        )
        result = await reconcile_once(task, Context(aws))
    assert (result.status.sync_status, result.status.health_status) == ("Synced", "Healthy")
    nowhere = AwsSettings(REGION, f"http://127.0.0.1:{free_port()}", max_attempts=1)
    async with AwsClients(nowhere) as aws:
        with pytest.raises(AwsRetryable):
            await reconcile_once(task, Context(aws))
