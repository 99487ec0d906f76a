"""What `diff` shows: per resource, the live and desired documents side by side.

A service's document has three parts, each normalized the way ECS fills things in so
a service applied by us compares equal: the service's own fields, the fields of its
PRIMARY task set (launch type, network, load balancers), and the task definition that
set runs; plus autoscaling when the spec has it. Read-only: no mutating call is made.
"""

from __future__ import annotations

from typing import Any

from controller.api import EcsCluster, EcsService, Resource, resource_key
from controller.aws.autoscaling import resource_id
from controller.reconcile.autoscaling import comparable, desired_policies, live_config
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.diff import render_diff
from controller.reconcile.normalize import (
    canonical_task_definition,
    canonical_task_set_fields,
    compare_cluster,
    compare_service,
    compare_task_set,
)


async def plan_resource(resource: Resource, ctx: Context, *, color: bool = False) -> str:
    """The unified diff of one resource ("" when in sync)."""
    title = str(resource_key(resource))
    if isinstance(resource, EcsCluster):
        live, desired = await _cluster_docs(resource, ctx)
    elif isinstance(resource, EcsService):
        live, desired = await service_docs(resource, ctx)
    else:
        return ""
    return render_diff(title, live, desired, color)


async def _cluster_docs(
    cluster: EcsCluster, ctx: Context
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    ecs = ctx.ecs(ctx.region_of(cluster.spec.region))
    live = await ecs.describe_cluster(cluster.metadata.name)
    if live is None:
        from controller.reconcile.normalize import canonical_cluster

        return None, canonical_cluster(cluster.spec)
    return compare_cluster(cluster.spec, live)


async def service_docs(
    svc: EcsService, ctx: Context
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    spec = svc.spec
    region = ctx.region_of(spec.region)
    cluster = cluster_name(spec.cluster)
    ecs = ctx.ecs(region)
    desired: dict[str, Any] = {
        "taskDefinition": canonical_task_definition(spec.task_definition_input),
    }
    live_svc = (await ecs.describe_services(cluster, [svc.metadata.name])).get(svc.metadata.name)
    if spec.auto_scaling is not None:
        desired["autoScaling"] = {
            "minCapacity": spec.auto_scaling.min_capacity,
            "maxCapacity": spec.auto_scaling.max_capacity,
            "policies": {
                name: {"type": kind, **comparable(config)}
                for name, (kind, config) in desired_policies(svc).items()
            },
        }
    if live_svc is None:
        from controller.reconcile.normalize import canonical_service_fields

        desired["service"] = canonical_service_fields(
            spec, include_task_set_fields=False, include_desired_count=True
        )
        desired["taskSet"] = canonical_task_set_fields(spec)
        return None, desired
    have_service, want_service = compare_service(spec, live_svc)
    desired["service"] = want_service
    live: dict[str, Any] = {"service": have_service}
    primary = live_svc.primary_task_set
    if primary is None:
        desired["taskSet"] = canonical_task_set_fields(spec)
    else:
        live["taskSet"], desired["taskSet"] = compare_task_set(spec, primary)
        td = await ecs.describe_task_definition(primary.task_definition)
        if td is not None:
            live["taskDefinition"] = canonical_task_definition(td.input)
    others = [ts.id for ts in live_svc.task_sets if primary is None or ts.id != primary.id]
    if others:
        live["otherTaskSets"] = sorted(others)
    if spec.auto_scaling is not None:
        live["autoScaling"] = await _live_scaling(ctx, region, cluster, svc.metadata.name)
    return live, desired


async def _live_scaling(
    ctx: Context, region: str, cluster: str, name: str
) -> dict[str, Any] | None:
    api = ctx.autoscaling(region)
    rid = resource_id(cluster, name)
    target = await api.describe_target(rid)
    if target is None:
        return None
    policies = await api.describe_policies(rid)
    return {
        "minCapacity": target.min_capacity,
        "maxCapacity": target.max_capacity,
        "policies": {
            p.policy_name: {"type": p.policy_type, **comparable(live_config(p))} for p in policies
        },
    }
