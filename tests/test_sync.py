"""The engine end to end, over HTTP: the seed scenario on the emulated AWS and on plain moto.

No part of the controller is faked: desired state is loaded from real files, the
controller talks to the emulator (moto + task-set emulator) through aiobotocore, and
the assertions read ECS back with boto3 like the AWS CLI would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from controller.api import EcsService, ResourceKey
from controller.api.status import ResourceStatus
from controller.aws.client import AwsClients, AwsSettings
from controller.reconcile.context import Context
from controller.reconcile.plan import plan_resource
from controller.reconcile.sync import SyncOutcome, sync_all
from tests.conftest import REGION, REPO
from tests.emulated_ecs import ecs, load, sync_with


def quickstart(tmp_path: Path, image: str = "v1") -> Path:
    root = tmp_path / "quickstart"
    if not root.exists():
        shutil.copytree(REPO / "examples" / "quickstart", root)
    td_file = root / "task-definition.json"
    td = json.loads(td_file.read_text())
    td["containerDefinitions"][0]["image"] = (
        f"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:{image}"
    )
    td_file.write_text(json.dumps(td, indent=2))
    return root


async def sync(endpoint: str, root: Path, within: float = 30.0) -> tuple[SyncOutcome, AwsClients]:
    return await sync_with(endpoint, root, within=within)


async def diff_text(endpoint: str, root: Path) -> str:
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        ctx = Context(aws, dry_run=True)
        texts = [await plan_resource(r, ctx) for r in load(root)]
        assert aws.stats.total(mutating=True) == 0
    return "".join(texts)


def service(endpoint: str, name: str = "myapp", cluster: str = "prod-cluster") -> dict[str, Any]:
    services = ecs(endpoint).describe_services(cluster=cluster, services=[name], include=["TAGS"])
    assert len(services["services"]) == 1
    result: dict[str, Any] = services["services"][0]
    return result


def task_sets(endpoint: str) -> list[tuple[str, str]]:
    """(status, revision) of the service's task sets, less those ECS is draining away."""
    sets = [ts for ts in service(endpoint)["taskSets"] if ts["status"] != "DRAINING"]
    return sorted((ts["status"], ts["taskDefinition"].rsplit("/", 1)[-1]) for ts in sets)


def revisions(endpoint: str) -> list[str]:
    arns = ecs(endpoint).list_task_definitions(familyPrefix="myapp")["taskDefinitionArns"]
    return sorted(arn.rsplit("/", 1)[-1] for arn in arns)


async def test_seed_scenario_v1_then_v2_then_nothing(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = quickstart(tmp_path, "v1")

    outcome, _ = await sync(endpoint, root)
    assert outcome.ok, outcome.statuses
    assert task_sets(endpoint) == [("PRIMARY", "myapp:1")]
    live = service(endpoint)
    assert live["deploymentController"] == {"type": "EXTERNAL"}
    assert {"key": "ecs-gitops.dev/managed-by", "value": "ecs-gitops"} in live["tags"]
    assert live["desiredCount"] == 2
    primary = live["taskSets"][0]
    assert primary["runningCount"] == 2
    assert primary["stabilityStatus"] == "STEADY_STATE"
    scaling = boto3.client("application-autoscaling", endpoint_url=endpoint, region_name=REGION)
    target = scaling.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=["service/prod-cluster/myapp"]
    )["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in target] == [(2, 10)]
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId="service/prod-cluster/myapp"
    )["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["cpu60"]
    config = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 60.0
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ECSServiceAverageCPUUtilization"
    )
    assert await diff_text(endpoint, root) == ""

    quickstart(tmp_path, "v2")
    assert "myapp:v2" in await diff_text(endpoint, root)
    outcome, _ = await sync(endpoint, root)
    assert outcome.ok, outcome.statuses
    assert task_sets(endpoint) == [("PRIMARY", "myapp:2")]
    assert revisions(endpoint) == ["myapp:1", "myapp:2"]

    outcome, aws = await sync(endpoint, root)
    assert outcome.ok
    assert aws.stats.total(mutating=True) == 0, aws.stats.by_operation(mutating=True)
    # a no-op resync of one cluster and one service: 1 DescribeClusters, 1 DescribeServices,
    # and the autoscaling target and policies
    assert aws.stats.by_operation() == {
        "ecs:DescribeClusters": 1,
        "ecs:DescribeServices": 1,
        "application-autoscaling:DescribeScalableTargets": 1,
        "application-autoscaling:DescribeScalingPolicies": 1,
    }
    assert await diff_text(endpoint, root) == ""
    assert revisions(endpoint) == ["myapp:1", "myapp:2"]


async def test_crash_looping_image_never_becomes_primary(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = quickstart(tmp_path, "v1")
    outcome, _ = await sync(endpoint, root)
    assert outcome.ok

    quickstart(tmp_path, "v2-crashloop")
    outcome, _ = await sync(endpoint, root)
    assert not outcome.ok
    status = next(s for k, s in outcome.statuses.items() if k.kind == "EcsService")
    assert status.health_status == "Degraded"
    assert "Essential container in task exited" in status.message
    assert status.stopped_reasons
    assert task_sets(endpoint) == [("PRIMARY", "myapp:1")]
    assert service(endpoint)["runningCount"] >= 2

    # the failed revision is remembered in ECS: a resync does not try it again
    outcome, aws = await sync(endpoint, root)
    assert aws.stats.total(mutating=True) == 0, aws.stats.by_operation(mutating=True)
    assert task_sets(endpoint) == [("PRIMARY", "myapp:1")]

    # a fix rolls out normally and clears the failure
    quickstart(tmp_path, "v3")
    outcome, _ = await sync(endpoint, root)
    assert outcome.ok, outcome.statuses
    assert task_sets(endpoint) == [("PRIMARY", "myapp:3")]
    tags = {t["key"] for t in service(endpoint)["tags"]}
    assert not any(k.startswith("ecs-gitops.dev/failed") for k in tags)


async def test_image_that_cannot_be_pulled_is_rolled_back(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = quickstart(tmp_path, "v1")
    assert (await sync(endpoint, root))[0].ok
    quickstart(tmp_path, "v2-pullfail")
    outcome, _ = await sync(endpoint, root)
    status = next(s for k, s in outcome.statuses.items() if k.kind == "EcsService")
    assert status.health_status == "Degraded"
    assert "CannotPullContainerError" in status.message
    assert task_sets(endpoint) == [("PRIMARY", "myapp:1")]


def create_by_hand(endpoint: str) -> None:
    """prod-cluster, and in it a service `myapp` that someone else made (not ours)."""
    client = ecs(endpoint)
    client.create_cluster(clusterName="prod-cluster")
    client.create_service(
        cluster="prod-cluster",
        serviceName="myapp",
        desiredCount=1,
        deploymentController={"type": "EXTERNAL"},
        tags=[{"key": "owner", "value": "someone-else"}],
    )


async def test_service_created_by_hand_is_left_untouched(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    create_by_hand(endpoint)
    before = service(endpoint)
    root = quickstart(tmp_path, "v1")
    outcome, aws = await sync(endpoint, root)
    status = next(s for k, s in outcome.statuses.items() if k.kind == "EcsService")
    assert not outcome.ok
    assert "not created by ecs-gitops" in (status.last_error or "")
    assert any(c.type == "Stalled" and c.status == "True" for c in status.conditions)
    after = service(endpoint)
    assert after["tags"] == before["tags"]
    assert after["desiredCount"] == 1
    assert after.get("taskSets", []) == []
    touched = {
        op for op in aws.stats.by_operation(mutating=True) if "Service" in op or "TaskSet" in op
    }
    assert touched == set()


def make_network(endpoint: str) -> tuple[str, str]:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    return subnet, group


async def test_plain_moto_the_seed_task_definition_still_deploys(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """Plain moto answers CreateTaskSet for the seed task definition (no container memory)
    with HTTP 500 after storing the task set. The controller treats it like a lost
    response: the next reconcile adopts the set by its externalId; no duplicate is left."""
    subnet, group = make_network(aws_endpoint)
    root = quickstart(tmp_path, "v1")
    spec = root / "myapp.yaml"
    spec.write_text(
        spec.read_text()
        .replace("subnets: [subnet-aaa, subnet-bbb]", f"subnets: [{subnet}]")
        .replace("securityGroups: [sg-xxx]", f"securityGroups: [{group}]")
    )
    outcome, aws = await sync(aws_endpoint, root)
    assert outcome.ok, outcome.statuses
    assert task_sets(aws_endpoint) == [("PRIMARY", "myapp:1")]
    assert aws.stats.by_operation(mutating=True)["ecs:CreateTaskSet"] == 1
    quickstart(tmp_path, "v2")
    outcome, _ = await sync(aws_endpoint, root)
    assert outcome.ok, outcome.statuses
    assert task_sets(aws_endpoint) == [("PRIMARY", "myapp:2")]
    assert revisions(aws_endpoint) == ["myapp:1", "myapp:2"]
    outcome, aws = await sync(aws_endpoint, root)
    assert aws.stats.total(mutating=True) == 0


@pytest.mark.parametrize("dry_run", [True], ids=["dry-run"])
async def test_dry_run_changes_nothing(emulated: Any, tmp_path: Path, dry_run: bool) -> None:
    endpoint = emulated.endpoint_url
    root = quickstart(tmp_path, "v1")
    outcome, aws = await sync_with(endpoint, root, within=10, dry_run=dry_run)
    assert aws.stats.total(mutating=True) == 0
    assert not outcome.ok
    assert ecs(endpoint).describe_clusters(clusters=["prod-cluster"])["clusters"] == []


async def test_services_of_the_multi_service_example_converge(emulated: Any) -> None:
    endpoint = emulated.endpoint_url
    resources = [
        r
        for r in load(REPO / "examples" / "multi-service")
        if not isinstance(r, EcsService) or r.metadata.name != "api"  # canary: issue 5
    ]
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        outcome = await sync_all(resources, Context(aws), within=60)
    assert outcome.ok, {str(k): s.message or s.last_error for k, s in outcome.statuses.items()}


async def test_a_revert_reuses_the_revision_it_reverts_to(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = quickstart(tmp_path, "v1")
    assert (await sync(endpoint, root))[0].ok
    quickstart(tmp_path, "v2")
    assert (await sync(endpoint, root))[0].ok
    quickstart(tmp_path, "v1")
    outcome, aws = await sync(endpoint, root)
    assert outcome.ok
    assert "ecs:RegisterTaskDefinition" not in aws.stats.by_operation(mutating=True)
    assert task_sets(endpoint) == [("PRIMARY", "myapp:1")]
    assert revisions(endpoint) == ["myapp:1", "myapp:2"]


def test_cli_sync_twice_then_diff(emulated: Any, tmp_path: Path) -> None:
    """The must-show flow through the real command line."""
    from tests.conftest import run_cli

    endpoint = emulated.endpoint_url
    root = quickstart(tmp_path, "v1")
    args = ("--endpoint-url", endpoint, "--region", REGION, "--source", str(root))
    first = run_cli("sync", *args, "--timeout", "60")
    assert first.returncode == 0, first.stderr
    assert "2/2 Synced and Healthy" in first.stderr
    assert task_sets(endpoint) == [("PRIMARY", "myapp:1")]
    quickstart(tmp_path, "v2")
    changed = run_cli("diff", *args)
    assert changed.returncode == 1
    assert (
        "-    image: 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:v1" in changed.stdout
    )
    assert (
        "+    image: 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:v2" in changed.stdout
    )
    assert "\x1b[" not in changed.stdout  # no colour when not a terminal
    second = run_cli("sync", *args, "--timeout", "60")
    assert second.returncode == 0, second.stderr
    assert task_sets(endpoint) == [("PRIMARY", "myapp:2")]
    assert revisions(endpoint) == ["myapp:1", "myapp:2"]
    third = run_cli("sync", *args, "--timeout", "60")
    assert third.returncode == 0
    assert "(0 mutating)" in third.stderr
    same = run_cli("diff", *args)
    assert (same.returncode, same.stdout) == (0, "in sync: 2 resources, no difference\n")


async def test_a_cluster_made_late_is_waited_for_not_a_stall(emulated: Any, tmp_path: Path) -> None:
    """`sync` runs on run's work queue: NotReady (the service's cluster is not there yet,
    and not in the source) backs off and is tried again until the deadline, as `run`
    does, instead of ending the service Stalled at once."""
    import asyncio

    endpoint = emulated.endpoint_url
    root = quickstart(tmp_path, "v1")
    (root / "cluster.yaml").unlink()  # someone else creates prod-cluster, a little later
    seen: list[str] = []
    missed = asyncio.Event()  # the service was found waiting for its cluster

    def on_status(key: Any, status: Any) -> None:
        seen.append(status.message)
        if "does not exist (yet)" in status.message:
            missed.set()

    async def create_cluster_later() -> None:  # after sync has seen it missing, not by a clock
        await asyncio.wait_for(missed.wait(), 30)
        await asyncio.sleep(1.0)  # a retry or two in between
        await asyncio.to_thread(ecs(endpoint).create_cluster, clusterName="prod-cluster")

    later = asyncio.create_task(create_cluster_later())
    outcome, _ = await sync_with(endpoint, root, within=40, on_status=on_status)
    await later
    assert outcome.ok, {str(k): s.message for k, s in outcome.statuses.items()}
    assert any("prod-cluster does not exist (yet)" in m for m in seen), seen
    assert task_sets(endpoint) == [("PRIMARY", "myapp:1")]


async def test_a_terminal_error_ends_that_resource_at_once(emulated: Any, tmp_path: Path) -> None:
    """On the shared work queue a terminal error (Conflict: the service is not ours) is
    not retried: the service is reconciled once and ends Stalled, and the sync ends
    there, long before its deadline, as `run` stops that key."""
    endpoint = emulated.endpoint_url
    create_by_hand(endpoint)
    attempts: list[str] = []

    def record(key: ResourceKey, status: ResourceStatus) -> None:
        if key.kind == "EcsService":
            attempts.append(status.last_error or status.message)

    root = quickstart(tmp_path, "v1")
    outcome, aws = await sync_with(endpoint, root, within=60, on_status=record)
    assert not outcome.timed_out
    assert len(attempts) == 1, attempts
    assert "not created by ecs-gitops" in attempts[0]
    by_kind = {k.kind: s for k, s in outcome.statuses.items()}
    stalled = [c for c in by_kind["EcsService"].conditions if c.type == "Stalled"]
    assert [(c.status, c.reason) for c in stalled] == [("True", "Conflict")]
    assert aws.stats.total(mutating=True) == 0  # neither the cluster nor the service is ours
