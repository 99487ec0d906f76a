"""Manual gates of a running rollout: promote a paused canary step, or abort.

Both only write a service tag (the rollout's state lives in ECS); the next reconcile
acts on it. Promote names the exact step it releases, so a promote meant for one step
never releases a later one; abort names the task set to roll back.
"""

from __future__ import annotations

from controller.api import EcsService
from controller.errors import Conflict, NotReady
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.rollout.state import ABORT_TAG, PROMOTE_TAG, ROLLOUT_TAG, RolloutState
from controller.reconcile.service import ensure_ours


async def _active(svc: EcsService, ctx: Context) -> tuple[str, RolloutState]:
    region = ctx.region_of(svc.spec.region)
    cluster = cluster_name(svc.spec.cluster)
    ecs = ctx.ecs(region)
    live = (await ecs.describe_services(cluster, [svc.metadata.name])).get(svc.metadata.name)
    if live is None:
        raise NotReady(f"service {svc.metadata.name} does not exist in {cluster}")
    ensure_ours(live, ctx.instance, f"service {svc.metadata.name}")
    state = RolloutState.decode(live.tags.get(ROLLOUT_TAG))
    primary = live.primary_task_set
    if state is None or (primary is not None and primary.external_id == state.external_id):
        raise Conflict(f"service {svc.metadata.name} has no rollout in progress")
    return live.service_arn, state


async def promote(svc: EcsService, ctx: Context) -> str:
    arn, state = await _active(svc, ctx)
    await ctx.ecs(ctx.region_of(svc.spec.region)).tag(
        arn, {PROMOTE_TAG: f"{state.external_id}/{state.step}"}
    )
    return f"promoted step {state.step + 1} of {svc.metadata.name}"


async def abort(svc: EcsService, ctx: Context) -> str:
    arn, state = await _active(svc, ctx)
    await ctx.ecs(ctx.region_of(svc.spec.region)).tag(arn, {ABORT_TAG: state.external_id})
    return f"abort requested for {svc.metadata.name}: rolling back"
