"""What the rollout tests deploy to the emulated AWS, and how they sync it and read it back.

`write_web` writes the one service most of them roll out (EcsService `web` in
prod-cluster, image web:<tag>, under a given deployment strategy); `nginx_service` is the
smaller one the `ecs-gitops run` tests commit. `sync` runs the real driver in process
over HTTP; `ecs`, `describe` and `task_set_revisions` read ECS back with boto3, as an
operator would; `gate` tags a rollout as `ecs-gitops promote|abort` does, and
`make_alarm` / `set_alarm` give a deployment a CloudWatch alarm to watch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from controller.api import Resource, ResourceKey
from controller.api.status import ResourceStatus
from controller.aws.client import AwsClients, AwsSettings
from controller.loader import load_tree
from controller.reconcile.context import Context
from controller.reconcile.rollout.state import ROLLOUT_TAG, RolloutState
from controller.reconcile.sync import SyncOutcome, sync_all
from controller.sources.directory import DirectoryTree
from tests.conftest import REGION

ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"

WEB = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {{name: prod-cluster}}
---
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: web}}
spec:
  cluster: prod-cluster
  desiredCount: {count}
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa, subnet-bbb], securityGroups: [sg-xxx]}}
{spec}  deployment: {deployment}
  taskDefinition:
    family: web
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    containerDefinitions:
      - name: web
        image: "{ecr}/web:{tag}"
        portMappings: [{{containerPort: 8080}}]
"""

NGINX = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {{name: {cluster}}}
---
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: web}}
spec:
  cluster: {cluster}
  desiredCount: 2
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa], securityGroups: [sg-xxx]}}
  deployment: {deployment}
  taskDefinition:
    family: {cluster}-web
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {{name: web, image: "public.ecr.aws/nginx/nginx:{tag}"}}
"""


def write_web(
    root: Path, tag: str, deployment: str, *, count: int = 2, spec: str = "", more: str = ""
) -> Path:
    """root/web.yaml: prod-cluster and its EcsService `web` running web:tag, then the
    documents in more; spec is more of the service's spec (lines indented two spaces),
    placed just before its deployment. Returns root."""
    root.mkdir(parents=True, exist_ok=True)
    text = WEB.format(count=count, spec=spec, deployment=deployment, ecr=ECR, tag=tag)
    (root / "web.yaml").write_text(text + more)
    return root


def nginx_service(cluster: str, tag: str, deployment: str) -> str:
    """A cluster and its EcsService `web` (two nginx:tag tasks, family <cluster>-web)."""
    return NGINX.format(cluster=cluster, tag=tag, deployment=deployment)


def load(root: Path) -> list[Resource]:
    result = load_tree(DirectoryTree(root))
    assert result.errors == [], result.errors
    return result.resources


async def sync_with(
    endpoint: str,
    root: Path,
    *,
    within: float = 40.0,
    on_status: Callable[[ResourceKey, ResourceStatus], None] | None = None,
    dry_run: bool = False,
    revision: str | None = None,
    keep_revisions: int = 10,
) -> tuple[SyncOutcome, AwsClients]:
    """sync_all over root's resources against endpoint: its outcome, and the (closed)
    clients, whose stats count the calls it made."""
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        ctx = Context(aws, dry_run=dry_run, revision=revision, keep_revisions=keep_revisions)
        outcome = await sync_all(load(root), ctx, within=within, on_status=on_status)
    return outcome, aws


async def sync(
    endpoint: str,
    root: Path,
    *,
    within: float = 40.0,
    on_status: Callable[[ResourceKey, ResourceStatus], None] | None = None,
) -> SyncOutcome:
    outcome, _ = await sync_with(endpoint, root, within=within, on_status=on_status)
    return outcome


def service_status(outcome: SyncOutcome) -> ResourceStatus:
    return next(s for k, s in outcome.statuses.items() if k.kind == "EcsService")


def ecs(endpoint: str) -> Any:
    return boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)


def describe(endpoint: str) -> dict[str, Any]:
    """The service `web` of prod-cluster, with its tags."""
    resp = ecs(endpoint).describe_services(
        cluster="prod-cluster", services=["web"], include=["TAGS"]
    )
    service: dict[str, Any] = resp["services"][0]
    return service


def gate(endpoint: str, key: str, value: Callable[[RolloutState], str]) -> None:
    """Tag web as `ecs-gitops promote|abort` does: key, and value(its rollout state)."""
    service = describe(endpoint)
    state = RolloutState.decode({t["key"]: t["value"] for t in service["tags"]}[ROLLOUT_TAG])
    assert state is not None
    tags = [{"key": key, "value": value(state)}]
    ecs(endpoint).tag_resource(resourceArn=service["serviceArn"], tags=tags)


def make_alarm(endpoint: str) -> None:
    """The CloudWatch alarm web-5xx (the ALB's 5xx count above 1), not in ALARM yet."""
    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="web-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )


def set_alarm(endpoint: str) -> None:
    """web-5xx goes into ALARM."""
    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=REGION)
    cloudwatch.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="5xx spike")


def task_set_revisions(endpoint: str) -> list[str]:
    """ "STATUS:family:revision" of each of web's task sets ECS is not draining away."""
    return sorted(
        f"{ts['status']}:{ts['taskDefinition'].rsplit('/', 1)[-1]}"
        for ts in describe(endpoint)["taskSets"]
        if ts["status"] != "DRAINING"
    )
