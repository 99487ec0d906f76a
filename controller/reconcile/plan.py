"""What `diff` shows: per resource, the live and desired documents side by side.

A service's document has three parts, each normalized the way ECS fills things in so
a service applied by us compares equal: the service's own fields, the fields of its
PRIMARY task set (launch type, network, load balancers), and the task definition that
set runs; plus autoscaling when the spec has it. A service ECS deploys (type ECS) has no
task set: its service part holds everything, deployment-level fields read on the PRIMARY
deployment, and its task definition is the PRIMARY deployment's. Read-only: no mutating
call is made.
"""

from __future__ import annotations

from typing import Any

from controller.api import EcsCluster, EcsService, Resource, resource_key
from controller.api.service import ECS_ONLY_FIELDS
from controller.aws.models import LiveService
from controller.reconcile.autoscaling import comparable, desired_policies, live_config, read_live
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.diff import render_diff
from controller.reconcile.normalize import (
    canonical_task_definition,
    canonical_task_set_fields,
    compare_cluster,
    compare_ecs_service,
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

        on_service = spec.controller == "ECS"  # ECS: no task sets, the service holds all
        desired["service"] = canonical_service_fields(
            spec, include_task_set_fields=on_service, include_desired_count=True
        )
        if on_service:
            api = spec.to_api()
            desired["service"].update(
                {k: api[k] for k in ECS_ONLY_FIELDS if api.get(k) not in (None, [], {})}
            )
        else:
            desired["taskSet"] = canonical_task_set_fields(spec)
        return None, desired
    if spec.controller == "ECS":
        return await _ecs_service_docs(svc, ctx, live_svc, desired)
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
    found = await read_live(ctx, region, cluster, name)
    if found is None:
        return None
    target, policies = found
    return {
        "minCapacity": target.min_capacity,
        "maxCapacity": target.max_capacity,
        "policies": {
            p.policy_name: {"type": p.policy_type, **comparable(live_config(p))} for p in policies
        },
    }


async def _ecs_service_docs(
    svc: EcsService, ctx: Context, live_svc: LiveService, desired: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A service ECS deploys: its fields as compare_ecs_service reads them (the
    deployment-level ones on the PRIMARY deployment), and the PRIMARY's task definition."""
    spec = svc.spec
    ecs = ctx.ecs(ctx.region_of(spec.region))
    have, want = compare_ecs_service(spec, live_svc)
    desired["service"] = want
    live: dict[str, Any] = {"service": have}
    primary = live_svc.primary_deployment
    if primary is not None and primary.task_definition:
        td = await ecs.describe_task_definition(primary.task_definition)
        if td is not None:
            live["taskDefinition"] = canonical_task_definition(td.input)
    others = [d.id for d in live_svc.deployments if primary is None or d.id != primary.id]
    if others:
        live["otherDeployments"] = sorted(others)
    if spec.auto_scaling is not None:
        live["autoScaling"] = await _live_scaling(
            ctx, ctx.region_of(spec.region), cluster_name(spec.cluster), svc.metadata.name
        )
    return live, desired
