"""What is running, as desired state: the documents `ecs-gitops import` writes.

A cluster and its services are read through the aws layer and written back in the file
format, field by field as ECS reports them (EXTERNAL services: the task-set fields of their
PRIMARY task set; ECS services: the service's, and what ECS shows on the PRIMARY
deployment). Nothing is normalized here: normalize.py decides equality for diff and sync
alike, so a document written as ECS reports it compares equal to what is running. Each
service document is validated as the loader would load it; what the file format cannot say
(a CODE_DEPLOY service, an EXTERNAL service without a task set) is refused with the reason,
and what it cannot keep (a scaling policy type ecs-gitops does not manage) is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controller.api import EcsCluster, EcsService
from controller.api.common import API_VERSION
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.aws.models import LiveCluster, LiveService, ScalingPolicy
from controller.reconcile.autoscaling import read_live
from controller.reconcile.context import Context
from controller.reconcile.normalize import prune, user_tags

PREDEFINED_METRICS = (
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
)
"""The target-tracking metrics the autoScaling block names (api.service.PredefinedMetric)."""


@dataclass
class ServiceDocument:
    name: str
    document: dict[str, Any]
    """The EcsService as it is written; spec.taskDefinition names task_definition_file."""
    task_definition_arn: str
    task_definition: dict[str, Any]
    """register-task-definition input: exactly the JSON of the task definition file."""
    task_definition_file: str = ""


@dataclass
class Snapshot:
    cluster: dict[str, Any]
    services: list[ServiceDocument] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Services that were not written, each with why."""
    warnings: list[str] = field(default_factory=list)
    """What was written but differs from what runs, or will once synced."""


def cluster_document(live: LiveCluster, region: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "region": region,
        "settings": [s.to_api() for s in live.settings],
        "capacityProviders": list(live.capacity_providers),
        "defaultCapacityProviderStrategy": [
            s.to_api() for s in live.default_capacity_provider_strategy
        ],
        "configuration": live.configuration.to_api() if live.configuration else None,
        "serviceConnectDefaults": (
            {"namespace": live.service_connect_namespace}
            if live.service_connect_namespace
            else None
        ),
        "tags": user_tags(live.tags),
    }
    doc = {
        "apiVersion": API_VERSION,
        "kind": "EcsCluster",
        "metadata": {"name": live.cluster_name},
        "spec": prune(spec),
    }
    EcsCluster.model_validate(doc)
    return doc


async def snapshot(
    ctx: Context, region: str, cluster: str, names: list[str] | None = None
) -> Snapshot | None:
    """The cluster and its services (all of them, or those named) as documents; None
    when the cluster does not exist. Read-only."""
    ecs = ctx.ecs(region)
    live_cluster = await ecs.describe_cluster(cluster)
    if live_cluster is None:
        return None
    result = Snapshot(cluster_document(live_cluster, region))
    wanted = names if names else await ecs.list_service_names(cluster)
    live = await ecs.describe_services(cluster, wanted)
    for name in wanted:
        if name not in live:
            result.refused.append(f"service {name}: not found in cluster {cluster}")
    for name in sorted(live):
        service = await service_document(ctx, region, cluster, live[name], result.warnings)
        if isinstance(service, str):
            result.refused.append(f"service {name}: {service}")
        else:
            result.services.append(service)
    return result


async def service_document(
    ctx: Context, region: str, cluster: str, live: LiveService, warnings: list[str]
) -> ServiceDocument | str:
    """live as an EcsService document with syncPolicy {adopt: true}, or why it cannot be one."""
    name = live.service_name
    controller = live.deployment_controller
    if controller == "CODE_DEPLOY":
        return (
            "uses the CODE_DEPLOY deployment controller, which ecs-gitops does not drive; "
            "move it to ECS's own blue/green (deploymentController ECS with "
            "deploymentConfiguration.strategy BLUE_GREEN) and import it again"
        )
    placed: Any = live
    if controller == "EXTERNAL":
        placed = live.primary_task_set
        if placed is None:
            return (
                "EXTERNAL service without a PRIMARY task set: nothing says which task "
                "definition it runs (make one task set PRIMARY, then import it again)"
            )
        others = [ts.id for ts in live.task_sets if ts is not placed and ts.status != "DRAINING"]
        if others:
            warnings.append(
                f"service {name}: written from its PRIMARY task set {placed.id}; "
                f"task sets {', '.join(others)} are a rollout in progress, which a sync "
                "would remove"
            )
    arn = placed.task_definition
    if not arn:
        return "ECS shows no task definition for it"
    td = await ctx.ecs(region).describe_task_definition(arn)
    if td is None:
        return f"its task definition {arn} cannot be described"
    spec: dict[str, Any] = {
        "cluster": cluster,
        "region": region,
        "desiredCount": live.desired_count,
        "taskDefinition": "task-definition.json",  # the writer names the file
        **_placement(placed),
        "placementConstraints": [p.to_api() for p in live.placement_constraints],
        "placementStrategy": [p.to_api() for p in live.placement_strategy],
        "healthCheckGracePeriodSeconds": live.health_check_grace_period_seconds or None,
        "enableExecuteCommand": live.enable_execute_command or None,
        "enableECSManagedTags": live.enable_ecs_managed_tags or None,
        "propagateTags": live.propagate_tags if live.propagate_tags != "NONE" else None,
        "tags": user_tags(live.tags),
        **ecs_controller_fields(live),
        "autoScaling": await _auto_scaling(ctx, region, cluster, name, warnings),
        "syncPolicy": {"adopt": True},
    }
    doc = {
        "apiVersion": API_VERSION,
        "kind": "EcsService",
        "metadata": {"name": name},
        "spec": prune(spec),
    }
    try:
        EcsService.model_validate(doc)
    except ValidationError as exc:
        return f"cannot be written as an EcsService: {_first_error(exc)}"
    body = prune(td.input.to_api())
    tags = user_tags(td.tags)
    if tags:
        body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    TaskDefinitionInput.model_validate(body)
    return ServiceDocument(name, doc, td.arn, body)


def _placement(source: Any) -> dict[str, Any]:
    """Where the tasks run, from the PRIMARY task set (EXTERNAL) or the service (ECS)."""
    strategy = [s.to_api() for s in source.capacity_provider_strategy]
    return {
        "launchType": None if strategy else source.launch_type,
        "capacityProviderStrategy": strategy,
        "platformVersion": source.platform_version,
        "networkConfiguration": (
            source.network_configuration.to_api() if source.network_configuration else None
        ),
        "loadBalancers": [lb.to_api() for lb in source.load_balancers],
        "serviceRegistries": [r.to_api() for r in source.service_registries],
    }


def ecs_controller_fields(live: LiveService) -> dict[str, Any]:
    """deploymentController, and for an ECS service the fields only ECS's controller
    takes, from where DescribeServices shows them."""
    if live.deployment_controller == "EXTERNAL":
        return {"deploymentController": {"type": "EXTERNAL"}}
    # ECS shows these per deployment: the PRIMARY one is what the service runs
    primary = live.primary_deployment
    config = live.deployment_configuration
    connect = primary.service_connect_configuration if primary else None
    return {
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": _deployment_configuration(config.to_api()) if config else None,
        "serviceConnectConfiguration": connect.to_api() if connect else None,
        "vpcLatticeConfigurations": [c.to_api() for c in primary.vpc_lattice_configurations]
        if primary
        else [],
        "volumeConfigurations": [c.to_api() for c in primary.volume_configurations]
        if primary
        else [],
        "availabilityZoneRebalancing": live.availability_zone_rebalancing,
    }


def _deployment_configuration(shown: dict[str, Any]) -> dict[str, Any]:
    """ECS's deploymentConfiguration as a file says it: alarms that are off and name no
    alarm are how ECS shows "no alarms" (an empty alarmNames, which ECS's shape requires
    and a written file would lose), so they are left out."""
    alarms = shown.get("alarms")
    if alarms is not None and not alarms.get("enable") and not alarms.get("alarmNames"):
        shown = {k: v for k, v in shown.items() if k != "alarms"}
    return shown


async def _auto_scaling(
    ctx: Context, region: str, cluster: str, name: str, warnings: list[str]
) -> dict[str, Any] | None:
    found = await read_live(ctx, region, cluster, name)
    if found is None:
        return None
    target, policies = found
    tracking: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for policy in sorted(policies, key=lambda p: p.policy_name):
        written = _target_tracking(policy) or _step_scaling(policy)
        if isinstance(written, str) or written is None:
            why = written or f"its type {policy.policy_type} is not one ecs-gitops manages"
            warnings.append(
                f"service {name}: scaling policy {policy.policy_name!r} is not written ({why}); "
                "a sync deletes it unless it is added to autoScaling by hand"
            )
        elif policy.policy_type == "StepScaling":
            steps.append(written)
        else:
            tracking.append(written)
    return {
        "minCapacity": target.min_capacity,
        "maxCapacity": target.max_capacity,
        "targetTracking": tracking,
        "stepScaling": steps,
    }


def _target_tracking(policy: ScalingPolicy) -> dict[str, Any] | str | None:
    config = policy.target_tracking_scaling_policy_configuration
    if policy.policy_type != "TargetTrackingScaling" or config is None:
        return None
    metric = config.get("PredefinedMetricSpecification") or {}
    kind = metric.get("PredefinedMetricType")
    if kind not in PREDEFINED_METRICS:
        return "a customized metric" if kind is None else f"predefined metric {kind}"
    written: dict[str, Any] = prune(
        {
            "name": policy.policy_name,
            "predefinedMetric": kind,
            "targetValue": float(config["TargetValue"]),
            "resourceLabel": metric.get("ResourceLabel"),
            "scaleInCooldown": config.get("ScaleInCooldown"),
            "scaleOutCooldown": config.get("ScaleOutCooldown"),
            "disableScaleIn": config.get("DisableScaleIn") or None,
        }
    )
    return written


def _step_scaling(policy: ScalingPolicy) -> dict[str, Any] | None:
    config = policy.step_scaling_policy_configuration
    if policy.policy_type != "StepScaling" or config is None:
        return None
    written: dict[str, Any] = prune(
        {
            "name": policy.policy_name,
            "adjustmentType": config.get("AdjustmentType"),
            "stepAdjustments": [
                {
                    "scalingAdjustment": s["ScalingAdjustment"],
                    "metricIntervalLowerBound": s.get("MetricIntervalLowerBound"),
                    "metricIntervalUpperBound": s.get("MetricIntervalUpperBound"),
                }
                for s in config.get("StepAdjustments", [])
            ],
            "cooldown": config.get("Cooldown"),
            "metricAggregationType": config.get("MetricAggregationType"),
            "minAdjustmentMagnitude": config.get("MinAdjustmentMagnitude"),
        }
    )
    return written


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}"
