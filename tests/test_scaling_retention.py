"""Autoscaling exactly as the seed's CLI makes it, and task definition retention."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3

from controller.aws.client import AwsClients
from controller.reconcile.sync import SyncOutcome
from tests.conftest import REGION, REPO
from tests.emulated_ecs import sync_with

SEED_CPU60 = {
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    "TargetValue": 60.0,
}


async def sync(endpoint: str, root: Path, keep: int = 10) -> tuple[SyncOutcome, AwsClients]:
    return await sync_with(endpoint, root, within=60, keep_revisions=keep)


def scaling(endpoint: str) -> Any:
    return boto3.client("application-autoscaling", endpoint_url=endpoint, region_name=REGION)


def described(endpoint: str, resource: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    client = scaling(endpoint)
    targets = client.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])
    policies = client.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)
    return targets["ScalableTargets"], policies["ScalingPolicies"]


def comparable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drop = {"ResourceId", "CreationTime", "PolicyARN", "RoleARN", "Alarms", "ScalableTargetARN"}
    return [{k: v for k, v in item.items() if k not in drop} for item in items]


async def test_seed_autoscaling_matches_what_the_cli_creates(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    outcome, _ = await sync(endpoint, root)
    assert outcome.ok
    # what `aws application-autoscaling register-scalable-target` and `put-scaling-policy
    # --target-tracking-scaling-policy-configuration file://cpu-60.json` create
    boto3.client("ecs", endpoint_url=endpoint, region_name=REGION).create_service(
        cluster="prod-cluster", serviceName="by-hand", desiredCount=2
    )
    cli = scaling(endpoint)
    cli.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/prod-cluster/by-hand",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=10,
    )
    cli.put_scaling_policy(
        ServiceNamespace="ecs",
        ResourceId="service/prod-cluster/by-hand",
        ScalableDimension="ecs:service:DesiredCount",
        PolicyName="cpu60",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=SEED_CPU60,
    )
    ours = described(endpoint, "service/prod-cluster/myapp")
    theirs = described(endpoint, "service/prod-cluster/by-hand")
    assert comparable(ours[0]) == comparable(theirs[0])
    assert comparable(ours[1]) == comparable(theirs[1])
    assert ours[1][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 60.0


async def test_step_policy_and_removal(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    root = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    spec = root / "myapp.yaml"
    spec.write_text(
        spec.read_text().replace(
            "      - {name: cpu60, predefinedMetric: ECSServiceAverageCPUUtilization, targetValue: 60.0}",
            "      - {name: cpu60, predefinedMetric: ECSServiceAverageCPUUtilization, targetValue: 60.0}\n"
            "    stepScaling:\n"
            "      - name: queue-depth\n"
            "        adjustmentType: ChangeInCapacity\n"
            "        cooldown: 60\n"
            "        stepAdjustments:\n"
            "          - {metricIntervalLowerBound: 0, metricIntervalUpperBound: 100, scalingAdjustment: 1}\n"
            "          - {metricIntervalLowerBound: 100, scalingAdjustment: 3}",
        )
    )
    outcome, _ = await sync(endpoint, root)
    assert outcome.ok, outcome.statuses
    _, policies = described(endpoint, "service/prod-cluster/myapp")
    assert sorted((p["PolicyName"], p["PolicyType"]) for p in policies) == [
        ("cpu60", "TargetTrackingScaling"),
        ("queue-depth", "StepScaling"),
    ]
    outcome, aws = await sync(endpoint, root)
    assert aws.stats.total(mutating=True) == 0, aws.stats.by_operation(mutating=True)
    text = spec.read_text()
    spec.write_text(text[: text.index("  # aws application-autoscaling")])
    outcome, _ = await sync(endpoint, root)
    assert outcome.ok, outcome.statuses
    targets, _ = described(endpoint, "service/prod-cluster/myapp")
    assert targets == []
    outcome, aws = await sync(endpoint, root)
    assert "application-autoscaling:DescribeScalableTargets" not in aws.stats.by_operation()


async def test_ten_image_bumps_keep_three_revisions_and_the_one_in_use(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    td_file = root / "task-definition.json"
    td = json.loads(td_file.read_text())
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    # a revision someone else registered in the same family is never ours to remove
    foreign = ecs.register_task_definition(**{**td, "family": "myapp"})["taskDefinition"]
    # keep 3 (the default is 10): ten bumps show the rule as thirty did at the default
    for bump in range(1, 11):
        td["containerDefinitions"][0]["image"] = (
            f"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:v{bump}"
        )
        td_file.write_text(json.dumps(td))
        outcome, _ = await sync(endpoint, root, keep=3)
        assert outcome.ok, (bump, outcome.statuses)
    active = ecs.list_task_definitions(familyPrefix="myapp", status="ACTIVE")["taskDefinitionArns"]
    assert foreign["taskDefinitionArn"] in active
    ours = [a for a in active if a != foreign["taskDefinitionArn"]]
    assert len(ours) <= 4, ours  # three kept, and the one in use
    service = ecs.describe_services(cluster="prod-cluster", services=["myapp"])["services"][0]
    in_use = {ts["taskDefinition"] for ts in service["taskSets"]}
    assert in_use <= set(active)
    # v1 is the foreign revision's content: found by content and reused (an imported
    # service's revision must not be registered again), so v2..v10 are the 9 registered
    assert [
        ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][
            0
        ]["image"].rsplit(":", 1)[-1]
        for arn in in_use
    ] == ["v10"]
    assert any(a.endswith("myapp:10") for a in in_use)
