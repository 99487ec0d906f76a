"""Services ECS deploys itself (deploymentController ECS), reconciled end to end.

The seed's service with Service Connect on type ECS is created, rolled v1 -> v2 with one
RegisterTaskDefinition and one UpdateService, then a crash-looping v3 is rolled back by
the circuit breaker and reported Degraded once, never asked for again. Calls are counted
by the aws layer's stats, as aws_requests_total counts them.

The emulated AWS runs ECS-controller deployments as ECS does (controller/local: a new
PRIMARY deployment per revision, the circuit breaker and its rollback for a crash loop).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from controller.reconcile.deployers.ecs import DEPLOYING_TAG
from controller.reconcile.rollout.base import FAILED_REASON_TAG, FAILED_TAG
from tests.conftest import REGION, REPO
from tests.emulated_ecs import ecs, service_status, sync_with


def write_seed(root: Path, tag: str) -> Path:
    """examples/service-connect with its image at tag, in the test's region."""
    root.mkdir(parents=True, exist_ok=True)
    src = REPO / "examples" / "service-connect"
    for name in ("cluster.yaml", "myapp.yaml", "task-definition.json"):
        text = (src / name).read_text().replace("ap-northeast-2", REGION)
        if name == "task-definition.json":
            text = text.replace("myapp:v1", f"myapp:{tag}")
        (root / name).write_text(text)
    return root


def _calls(aws: Any, operation: str) -> int:
    return sum(n for (_, op, _), n in aws.stats.calls.items() if op == operation)


async def test_seed_service_connect_on_type_ecs_rolls_v1_v2_then_a_crash_is_rolled_back_once(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = write_seed(tmp_path / "src", "v1")
    outcome, aws = await sync_with(endpoint, root, within=30)
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    live = ecs(endpoint).describe_services(
        cluster="mesh-cluster", services=["myapp"], include=["TAGS"]
    )["services"][0]
    assert live["deploymentController"] == {"type": "ECS"}
    assert _calls(aws, "CreateService") == 1
    assert _calls(aws, "CreateTaskSet") == 0

    write_seed(root, "v2")
    outcome, aws = await sync_with(endpoint, root, within=30, revision="v2")
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    assert _calls(aws, "RegisterTaskDefinition") == 1
    assert _calls(aws, "UpdateService") == 1
    assert str(status.task_definition).endswith("myapp:2")
    announced = [(n.type, n.strategy) for n in outcome.notices]
    assert announced == [
        ("rollout_started", "ecsRolling"),
        ("rollout_succeeded", "ecsRolling"),
    ], announced

    write_seed(root, "v3-crashloop")  # its tasks exit 1 soon after they start
    seen: list[str] = []
    outcome, aws = await sync_with(
        endpoint,
        root,
        within=30,
        revision="v3",
        on_status=lambda key, s: seen.append(s.health_status),
    )
    status = service_status(outcome)
    assert status.health_status == "Degraded"
    assert "circuit breaker" in status.message, status.message
    assert status.rollout is not None
    assert status.rollout.phase == "RolledBack"
    assert _calls(aws, "UpdateService") == 1
    assert len(outcome.notices) >= 1  # the rollback is announced
    rolled_back = [n for n in outcome.notices if getattr(n, "event", "") == "rolled_back"]
    assert len(rolled_back) <= 1
    live = ecs(endpoint).describe_services(
        cluster="mesh-cluster", services=["myapp"], include=["TAGS"]
    )["services"][0]
    tags = {t["key"]: t["value"] for t in live["tags"]}
    assert FAILED_TAG in tags
    assert DEPLOYING_TAG not in tags
    assert "circuit breaker" in tags[FAILED_REASON_TAG]

    # the next syncs of the same commit ask ECS for nothing: no retry loop
    for _ in range(2):
        outcome, aws = await sync_with(endpoint, root, within=10, revision="v3")
        status = service_status(outcome)
        assert status.health_status == "Degraded", status.message
        assert "commit a fix" in status.message
        assert _calls(aws, "UpdateService") == 0
        assert _calls(aws, "RegisterTaskDefinition") == 0
        assert outcome.notices == []
        await asyncio.sleep(0)


async def test_diff_and_dry_run_show_ecs_fields_and_mutate_nothing(
    emulated: Any, tmp_path: Path
) -> None:
    from controller.aws.client import AwsClients, AwsSettings
    from controller.reconcile.context import Context
    from controller.reconcile.plan import plan_resource
    from tests.emulated_ecs import load

    endpoint = emulated.endpoint_url
    root = write_seed(tmp_path / "src", "v1")
    (svc,) = [r for r in load(root) if type(r).__name__ == "EcsService"]
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        absent = await plan_resource(svc, Context(aws))
    assert "serviceConnectConfiguration" in absent
    assert "discoveryName: web" in absent

    outcome, _ = await sync_with(endpoint, root, within=30)
    assert service_status(outcome).ready
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        assert await plan_resource(svc, Context(aws)) == ""  # in sync: diff exits 0

    write_seed(root, "v2")
    (svc,) = [r for r in load(root) if type(r).__name__ == "EcsService"]
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        shown = await plan_resource(svc, Context(aws))
    assert "+          image: 123456789012.dkr.ecr" in shown or "myapp:v2" in shown
    outcome, aws = await sync_with(endpoint, root, within=10, dry_run=True)
    status = service_status(outcome)
    assert "would update a new task definition revision" in status.message
    assert aws.stats.total(mutating=True) == 0


async def test_a_restart_mid_deployment_resumes_without_a_second_update_service(
    emulated: Any, tmp_path: Path
) -> None:
    """Killed after its UpdateService (even before tagging the revision in flight), the
    next controller finds ECS already deploying it and only follows."""
    endpoint = emulated.endpoint_url
    root = write_seed(tmp_path / "src", "v1")
    outcome, _ = await sync_with(endpoint, root, within=30)
    assert service_status(outcome).ready

    write_seed(root, "v2-slow")  # its tasks take ten times as long to start
    outcome, aws = await sync_with(endpoint, root, within=3, revision="v2")
    dump = ecs(endpoint).describe_services(cluster="mesh-cluster", services=["myapp"])
    assert outcome.timed_out, (service_status(outcome).message, dump["services"][0]["deployments"])
    assert _calls(aws, "UpdateService") == 1
    assert service_status(outcome).health_status == "Progressing"
    rollout = service_status(outcome).rollout  # what ECS's deployment runs, since when
    assert rollout is not None
    assert rollout.started_at is not None
    assert (rollout.new_task_definition or "").endswith("/myapp:2")
    assert [image.rsplit(":", 1)[-1] for image in rollout.new_images or []] == ["v2-slow"]
    client = ecs(endpoint)
    live = client.describe_services(cluster="mesh-cluster", services=["myapp"])["services"][0]
    client.untag_resource(resourceArn=live["serviceArn"], tagKeys=[DEPLOYING_TAG])

    outcome, aws = await sync_with(endpoint, root, within=30, revision="v2")
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    assert _calls(aws, "UpdateService") == 0
    assert _calls(aws, "RegisterTaskDefinition") == 0


async def test_removing_service_connect_from_the_file_turns_it_off_on_the_service(
    emulated: Any, tmp_path: Path
) -> None:
    """A field ECS allows only on its own controller, removed from the file, is reset the
    way UpdateService resets it (serviceConnectConfiguration {enabled: false}), in the one
    UpdateService of the revision; the service is then in sync, not updated again."""
    endpoint = emulated.endpoint_url
    root = write_seed(tmp_path / "src", "v1")
    outcome, _ = await sync_with(endpoint, root, within=30)
    assert service_status(outcome).ready

    path = root / "myapp.yaml"
    text = path.read_text()
    start = text.index("  serviceConnectConfiguration:")
    path.write_text(text[:start] + text[text.index("  tags: {app: myapp}") :])
    outcome, aws = await sync_with(endpoint, root, within=30, revision="no-mesh")
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    assert _calls(aws, "UpdateService") == 1
    assert _calls(aws, "RegisterTaskDefinition") == 0
    live = ecs(endpoint).describe_services(cluster="mesh-cluster", services=["myapp"])
    primary = live["services"][0]["deployments"][0]
    assert not primary.get("serviceConnectConfiguration", {}).get("enabled"), primary

    outcome, aws = await sync_with(endpoint, root, within=10, revision="no-mesh")
    assert service_status(outcome).ready
    assert aws.stats.total(mutating=True) == 0
