"""Prune: delete a managed service that left the source, one safe step at a time.

Only a service carrying our managed-by tag for this instance and the prune tag (written
while its spec said `syncPolicy.prune: true`, so the policy outlives the spec) is ever
deleted, and only by the source that manages it: a service whose source tag names
another source (two sources under one instance name) is refused and reported; one
without the tag (written by an older version) counts as ours. A service whose rollout
another live controller is writing waits until that writer's claim lapses. Steps: desiredCount and every task set to 0, then delete the task sets, then
the autoscaling target, then the service. Whether pruning is allowed at all (a complete,
non-empty source) is the caller's decision; this module only carries it out.
"""

from __future__ import annotations

import structlog

from controller.api import ResourceKey
from controller.api.common import SOURCE_TAG
from controller.api.status import ResourceStatus
from controller.aws.autoscaling import resource_id
from controller.aws.client import read_only
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService
from controller.reconcile.conditions import conditions_for
from controller.reconcile.context import Context
from controller.reconcile.deployers.base import PRUNE_TAG
from controller.reconcile.ownership import owns
from controller.reconcile.result import Result
from controller.reconcile.rollout import claim

log = structlog.get_logger(__name__)


def _prune_tagged(live: LiveService, instance: str) -> bool:
    return owns(live.tags, instance) and live.tags.get(PRUNE_TAG) == "true"


def other_source(live: LiveService, source_id: str | None) -> str | None:
    """The id of the other source that manages live; None when it is ours (or untagged)."""
    theirs = live.tags.get(SOURCE_TAG)
    return theirs if source_id is not None and theirs not in (None, source_id) else None


def prunable(live: LiveService, instance: str, source_id: str | None = None) -> bool:
    return _prune_tagged(live, instance) and other_source(live, source_id) is None


def _refused(live: LiveService, cluster: str, source_id: str | None) -> str:
    theirs = other_source(live, source_id)
    log.warning(
        "prune_refused",
        cluster=cluster,
        service=live.service_name,
        managed_by_source=theirs,
        source=source_id,
    )
    return f"source {theirs} manages it, not this one ({source_id}): not pruned"


async def find_prunable(
    ecs: Ecs, cluster: str, keep: set[str], instance: str, source_id: str | None = None
) -> list[LiveService]:
    """Managed, prune-tagged services of a cluster that the source no longer names; those
    another source manages are left out, and reported."""
    names = [n for n in await ecs.list_service_names(cluster) if n not in keep]
    live = await ecs.describe_services(cluster, names)
    found = []
    for service in live.values():
        if prunable(service, instance, source_id):
            found.append(service)
        elif _prune_tagged(service, instance):
            _refused(service, cluster, source_id)
    return found


async def reconcile_prune(key: ResourceKey, ctx: Context) -> Result:
    with read_only(ctx.dry_run):  # a dry run's prune is refused where the calls leave
        return await _prune(key, ctx)


async def _prune(key: ResourceKey, ctx: Context) -> Result:
    region = ctx.region_of(key.region or None)
    ecs = ctx.ecs(region)
    status = ResourceStatus.of(
        key,
        region=region,
        sync_status="OutOfSync",
        health_status="Progressing",
        message="removed from the source: pruning",
    )
    live = (await ecs.describe_services(key.cluster, [key.name])).get(key.name)
    if live is None:
        status.health_status, status.message = "Missing", "pruned"
        return _finish(status)
    if not _prune_tagged(live, ctx.instance):
        status.sync_status, status.health_status = "OutOfSync", "Unknown"
        status.message = "removed from the source; not pruned (prune is off or not ours)"
        return _finish(status)
    if other_source(live, ctx.source_id) is not None:
        status.sync_status, status.health_status = "OutOfSync", "Unknown"
        status.message = "removed from the source; " + _refused(live, key.cluster, ctx.source_id)
        return _finish(status)
    held = claim.held_elsewhere(live.tags, ctx)
    if held is not None:  # its rollout is another controller's: not deleted under it
        status.message = "removed from the source; " + claim.conflict_message(*held, ctx.clock())
        return _finish(status, requeue_after=min(held[1] + 1.0, ctx.writer.lease))
    if ctx.dry_run:
        status.message = "removed from the source: would delete it (prune)"
        return _finish(status)
    active = [ts for ts in live.task_sets if ts.status != "DRAINING"]
    if live.desired_count > 0 or any(ts.scale_percent > 0 for ts in active):
        if live.desired_count > 0:
            await ecs.update_service(key.cluster, key.name, desiredCount=0)
        for ts in active:
            if ts.scale_percent > 0:
                await ecs.update_task_set_scale(key.cluster, key.name, ts.task_set_arn, 0.0)
        log.info("prune_scaled_down", service=key.name)
        return _finish(status, requeue_after=1.0, changed=True)
    if active:
        for ts in active:
            await ecs.delete_task_set(key.cluster, key.name, ts.task_set_arn)
        return _finish(status, requeue_after=1.0, changed=True)
    scaling = ctx.autoscaling(region)
    rid = resource_id(key.cluster, key.name)
    if await scaling.describe_target(rid) is not None:
        await scaling.deregister_target(rid)
    await ecs.delete_service(key.cluster, key.name)
    log.warning("service_pruned", cluster=key.cluster, service=key.name)
    status.health_status, status.message = "Missing", "pruned: deleted from ECS"
    return _finish(status, changed=True)


def _finish(
    status: ResourceStatus, requeue_after: float | None = None, changed: bool = False
) -> Result:
    status.conditions = conditions_for(status)
    return Result(status, requeue_after, changed)
