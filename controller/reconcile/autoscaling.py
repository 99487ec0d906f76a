"""Application Auto Scaling for a service, exactly as the quickstart's commands set it up.

register-scalable-target (min..max) and one policy per entry: TargetTrackingScaling
(predefined metric, with the resource label ALBRequestCountPerTarget needs) or
StepScaling. Policies of the target that the spec no longer names are deleted; removing
autoScaling deregisters the target. Which services we gave a target is remembered in a
service tag, so services without autoscaling cost no Application Auto Scaling call. With
autoScaling set, the service's live desiredCount belongs to autoscaling, not to us.
"""

from __future__ import annotations

from typing import Any

import structlog

from controller.api.common import TAG_PREFIX
from controller.api.service import EcsService, StepScalingPolicy, TargetTrackingPolicy
from controller.aws.autoscaling import resource_id
from controller.aws.models import LiveService, ScalableTarget, ScalingPolicy
from controller.reconcile.context import Context

log = structlog.get_logger(__name__)

AUTOSCALING_TAG = f"{TAG_PREFIX}autoscaling"
"""Service tag: this controller registered the service's scalable target."""


def policy_config(policy: TargetTrackingPolicy) -> dict[str, Any]:
    metric: dict[str, Any] = {"PredefinedMetricType": policy.predefined_metric}
    if policy.resource_label:
        metric["ResourceLabel"] = policy.resource_label
    config: dict[str, Any] = {
        "TargetValue": float(policy.target_value),
        "PredefinedMetricSpecification": metric,
    }
    if policy.disable_scale_in:  # left out otherwise, exactly as the quickstart's cpu-60.json
        config["DisableScaleIn"] = True
    if policy.scale_in_cooldown is not None:
        config["ScaleInCooldown"] = policy.scale_in_cooldown
    if policy.scale_out_cooldown is not None:
        config["ScaleOutCooldown"] = policy.scale_out_cooldown
    return config


def step_config(policy: StepScalingPolicy) -> dict[str, Any]:
    steps = []
    for step in policy.step_adjustments:
        item: dict[str, Any] = {"ScalingAdjustment": step.scaling_adjustment}
        if step.metric_interval_lower_bound is not None:
            item["MetricIntervalLowerBound"] = float(step.metric_interval_lower_bound)
        if step.metric_interval_upper_bound is not None:
            item["MetricIntervalUpperBound"] = float(step.metric_interval_upper_bound)
        steps.append(item)
    config: dict[str, Any] = {"AdjustmentType": policy.adjustment_type, "StepAdjustments": steps}
    if policy.cooldown is not None:
        config["Cooldown"] = policy.cooldown
    if policy.metric_aggregation_type is not None:
        config["MetricAggregationType"] = policy.metric_aggregation_type
    if policy.min_adjustment_magnitude is not None:
        config["MinAdjustmentMagnitude"] = policy.min_adjustment_magnitude
    return config


def comparable(config: dict[str, Any] | None) -> dict[str, Any]:
    """A policy configuration as Application Auto Scaling reports it back."""
    config = dict(config or {})
    if "TargetValue" in config:
        config["TargetValue"] = float(config["TargetValue"])
        config.setdefault("DisableScaleIn", False)
    if "StepAdjustments" in config:
        config["StepAdjustments"] = sorted(
            (
                {k: float(v) if k.startswith("MetricInterval") else v for k, v in s.items()}
                for s in config["StepAdjustments"]
            ),
            key=lambda s: (s.get("MetricIntervalLowerBound", float("-inf")),),
        )
    return {k: v for k, v in config.items() if v is not None}


def desired_policies(svc: EcsService) -> dict[str, tuple[str, dict[str, Any]]]:
    """Policy name -> (policy type, configuration)."""
    spec = svc.spec.auto_scaling
    if spec is None:
        return {}
    out: dict[str, tuple[str, dict[str, Any]]] = {
        p.name: ("TargetTrackingScaling", policy_config(p)) for p in spec.target_tracking
    }
    out.update({p.name: ("StepScaling", step_config(p)) for p in spec.step_scaling})
    return out


async def read_live(
    ctx: Context, region: str, cluster: str, name: str
) -> tuple[ScalableTarget, list[ScalingPolicy]] | None:
    """A service's scalable target and its policies as Application Auto Scaling has them,
    or None without a target: the one reader for diff (plan) and import (snapshot)."""
    api = ctx.autoscaling(region)
    rid = resource_id(cluster, name)
    target = await api.describe_target(rid)
    if target is None:
        return None
    return target, await api.describe_policies(rid)


def live_config(policy: ScalingPolicy) -> dict[str, Any] | None:
    if policy.policy_type == "StepScaling":
        return policy.step_scaling_policy_configuration
    return policy.target_tracking_scaling_policy_configuration


async def reconcile_autoscaling(
    ctx: Context, region: str, cluster: str, svc: EcsService, live_service: LiveService
) -> bool:
    """One pass; True when something differed (and, unless dry-run, was changed)."""
    spec = svc.spec.auto_scaling
    api = ctx.autoscaling(region)
    rid = resource_id(cluster, svc.metadata.name)
    ecs = ctx.ecs(region)
    if spec is None:
        if live_service.tags.get(AUTOSCALING_TAG) != "true":
            return False
        if not ctx.dry_run:
            if await api.describe_target(rid) is not None:
                await api.deregister_target(rid)
                log.info("scalable_target_deregistered")
            await ecs.untag(live_service.service_arn, [AUTOSCALING_TAG])
        return True
    changed = False
    target = await api.describe_target(rid)
    if target is None or (target.min_capacity, target.max_capacity) != (
        spec.min_capacity,
        spec.max_capacity,
    ):
        changed = True
        if not ctx.dry_run:
            await api.register_target(rid, spec.min_capacity, spec.max_capacity)
            log.info("scalable_target_registered", min=spec.min_capacity, max=spec.max_capacity)
    if live_service.tags.get(AUTOSCALING_TAG) != "true":
        changed = True
        if not ctx.dry_run:
            await ecs.tag(live_service.service_arn, {AUTOSCALING_TAG: "true"})
    live = {p.policy_name: p for p in await api.describe_policies(rid)} if target else {}
    wanted = desired_policies(svc)
    for name, (kind, config) in wanted.items():
        current = live.get(name)
        if (
            current is None
            or current.policy_type != kind
            or comparable(live_config(current)) != comparable(config)
        ):
            changed = True
            if not ctx.dry_run:
                await api.put_policy(rid, name, kind, config)
                log.info("scaling_policy_put", policy=name, policy_type=kind)
    for name in live.keys() - wanted.keys():
        changed = True
        if not ctx.dry_run:
            await api.delete_policy(rid, name)
            log.info("scaling_policy_deleted", policy=name)
    return changed
