"""Application Auto Scaling for a service, exactly as the seed's two commands set it up.

register-scalable-target (min..max) and one TargetTrackingScaling policy per entry;
policies of the service's target that the spec no longer names are deleted. With
autoScaling set, the service's live desiredCount belongs to autoscaling, not to us.
"""

from __future__ import annotations

from typing import Any

import structlog

from controller.api.service import EcsService, TargetTrackingPolicy
from controller.aws.autoscaling import resource_id
from controller.reconcile.context import Context

log = structlog.get_logger(__name__)


def policy_config(policy: TargetTrackingPolicy) -> dict[str, Any]:
    metric: dict[str, Any] = {"PredefinedMetricType": policy.predefined_metric}
    if policy.resource_label:
        metric["ResourceLabel"] = policy.resource_label
    config: dict[str, Any] = {
        "TargetValue": float(policy.target_value),
        "PredefinedMetricSpecification": metric,
        "DisableScaleIn": policy.disable_scale_in,
    }
    if policy.scale_in_cooldown is not None:
        config["ScaleInCooldown"] = policy.scale_in_cooldown
    if policy.scale_out_cooldown is not None:
        config["ScaleOutCooldown"] = policy.scale_out_cooldown
    return config


def _comparable(config: dict[str, Any] | None) -> dict[str, Any]:
    config = dict(config or {})
    config["TargetValue"] = float(config.get("TargetValue", 0))
    config.setdefault("DisableScaleIn", False)
    return {k: v for k, v in config.items() if v is not None}


async def reconcile_autoscaling(ctx: Context, region: str, cluster: str, svc: EcsService) -> bool:
    """One pass; True when something differed (and, unless dry-run, was changed)."""
    spec = svc.spec.auto_scaling
    if spec is None:
        return False
    api = ctx.autoscaling(region)
    rid = resource_id(cluster, svc.metadata.name)
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
    live = {p.policy_name: p for p in await api.describe_policies(rid)} if target else {}
    wanted = {p.name: p for p in spec.target_tracking}
    for name, policy in wanted.items():
        config = policy_config(policy)
        current = live.get(name)
        if (
            current is None
            or current.policy_type != "TargetTrackingScaling"
            or _comparable(current.target_tracking_scaling_policy_configuration)
            != _comparable(config)
        ):
            changed = True
            if not ctx.dry_run:
                await api.put_target_tracking(rid, name, config)
                log.info("scaling_policy_put", policy=name)
    for name in live.keys() - wanted.keys():
        changed = True
        if not ctx.dry_run:
            await api.delete_policy(rid, name)
            log.info("scaling_policy_deleted", policy=name)
    return changed
