"""Reconcile one EcsCluster: create it, then keep settings, capacity providers and tags.

A cluster that exists without our managed-by tag is used as it is (services may live
in clusters made by other tools) but never changed: that is reported, not fixed.
"""

from __future__ import annotations

import structlog

from controller.api.cluster import EcsCluster
from controller.api.common import MANAGED_BY_TAG, TAG_PREFIX
from controller.api.status import ResourceStatus
from controller.reconcile.conditions import conditions_for
from controller.reconcile.context import Context
from controller.reconcile.normalize import compare_cluster
from controller.reconcile.ownership import owns
from controller.reconcile.result import Result

log = structlog.get_logger(__name__)


async def reconcile_cluster(cluster: EcsCluster, ctx: Context) -> Result:
    spec = cluster.spec
    name = cluster.metadata.name
    region = ctx.region_of(spec.region)
    status = ResourceStatus(
        kind="EcsCluster", name=name, region=region, last_attempted_revision=ctx.revision
    )
    structlog.contextvars.bind_contextvars(resource=f"EcsCluster/{name}")
    if spec.sync_policy.suspend:
        status.health_status = "Suspended"
        return _finish(status)
    ecs = ctx.ecs(region)
    live = await ecs.describe_cluster(name)
    tags = {**spec.tags, MANAGED_BY_TAG: ctx.instance}
    if live is None:
        status.sync_status, status.health_status = "OutOfSync", "Missing"
        if ctx.dry_run:
            status.message = "cluster does not exist; would create it"
            return _finish(status)
        await ecs.create_cluster(
            name,
            settings=spec.settings,
            capacity_providers=spec.capacity_providers,
            default_strategy=spec.default_capacity_provider_strategy,
            configuration=spec.configuration,
            tags=tags,
            service_connect_namespace=(
                spec.service_connect_defaults.namespace if spec.service_connect_defaults else None
            ),
        )
        log.info("cluster_created", cluster=name)
        status.message = "created the cluster"
        return _finish(status, requeue_after=0, changed=True)
    have, want = compare_cluster(spec, live)
    if not owns(live.tags, ctx.instance):
        same = {k: v for k, v in want.items() if k != "tags"} == {
            k: v for k, v in have.items() if k != "tags"
        }
        status.sync_status = "Synced" if same else "OutOfSync"
        status.health_status = "Healthy" if live.status == "ACTIVE" else "Progressing"
        status.message = (
            ""
            if same
            else f"cluster exists without tag {MANAGED_BY_TAG}={ctx.instance}: not changed"
        )
        return _finish(status)
    changed = False
    if want.get("settings") != have.get("settings") and spec.settings:
        changed = True
        if not ctx.dry_run:
            await ecs.update_cluster_settings(name, spec.settings)
    if (want.get("capacityProviders"), want.get("defaultCapacityProviderStrategy")) != (
        have.get("capacityProviders"),
        have.get("defaultCapacityProviderStrategy"),
    ):
        changed = True
        if not ctx.dry_run:
            await ecs.put_cluster_capacity_providers(
                name, spec.capacity_providers, spec.default_capacity_provider_strategy
            )
    namespace = spec.service_connect_defaults.namespace if spec.service_connect_defaults else None
    # a namespace given by name cannot be compared to the ARN ECS reports without Cloud
    # Map: only an ARN that differs, or a namespace where there is none, is a change
    namespace_differs = namespace is not None and (
        live.service_connect_namespace is None
        or (namespace.startswith("arn:") and namespace != live.service_connect_namespace)
    )
    if (want.get("configuration") != have.get("configuration") and spec.configuration) or (
        namespace_differs
    ):
        changed = True
        if not ctx.dry_run:
            await ecs.update_cluster(
                name,
                configuration=spec.configuration,
                service_connect_namespace=namespace if namespace_differs else None,
            )
    add = {k: v for k, v in tags.items() if live.tags.get(k) != v}
    remove = [k for k in live.tags if k not in tags and not k.startswith((TAG_PREFIX, "aws:"))]
    if add or remove:
        changed = True
        if not ctx.dry_run:
            await ecs.tag(live.cluster_arn, add)
            await ecs.untag(live.cluster_arn, remove)
    if changed:
        status.sync_status, status.health_status = "OutOfSync", "Progressing"
        status.message = "cluster differs" if ctx.dry_run else "updated the cluster"
        return _finish(status, requeue_after=None if ctx.dry_run else 0, changed=not ctx.dry_run)
    status.sync_status = "Synced"
    status.health_status = "Healthy" if live.status == "ACTIVE" else "Progressing"
    status.last_applied_revision = ctx.revision
    return _finish(status, requeue_after=None if live.status == "ACTIVE" else 5)


def _finish(
    status: ResourceStatus, requeue_after: float | None = None, changed: bool = False
) -> Result:
    status.conditions = conditions_for(status)
    return Result(status, requeue_after, changed)
