"""Manual gates of a running rollout: promote a paused step, or abort.

On task sets (EXTERNAL) both only write a service tag (the rollout's state lives in
ECS); the next reconcile acts on it. Promote names the exact step it releases, so a
promote meant for one step never releases a later one; abort names the task set to roll
back. On ECS's own controller, abort tags the revision in flight too (the next reconcile
calls StopServiceDeployment with a ROLLBACK and records the revision failed); promote
continues the deployment ECS holds at a PAUSE lifecycle hook (ContinueServiceDeployment
with the hook's id): ECS offers no other pause to release, so without one it says so.
"""

from __future__ import annotations

from controller.api import EcsService
from controller.aws.models import LiveService
from controller.errors import Conflict, NotReady
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.deployers.ecs import DEPLOYING_TAG
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


async def _live(svc: EcsService, ctx: Context) -> LiveService:
    region = ctx.region_of(svc.spec.region)
    cluster = cluster_name(svc.spec.cluster)
    live = (await ctx.ecs(region).describe_services(cluster, [svc.metadata.name])).get(
        svc.metadata.name
    )
    if live is None:
        raise NotReady(f"service {svc.metadata.name} does not exist in {cluster}")
    ensure_ours(live, ctx.instance, f"service {svc.metadata.name}", svc.spec.controller)
    return live


async def _ecs_deployment(svc: EcsService, ctx: Context) -> tuple[LiveService, str]:
    live = await _live(svc, ctx)
    primary = live.primary_deployment
    arn = live.current_service_deployment
    if primary is None or primary.rollout_state != "IN_PROGRESS" or arn is None:
        raise Conflict(f"service {svc.metadata.name} has no ECS deployment in progress")
    return live, arn


async def promote(svc: EcsService, ctx: Context) -> str:
    if svc.spec.controller == "ECS":
        return await _continue(svc, ctx)
    arn, state = await _active(svc, ctx)
    await ctx.ecs(ctx.region_of(svc.spec.region)).tag(
        arn, {PROMOTE_TAG: f"{state.external_id}/{state.step}"}
    )
    return f"promoted step {state.step + 1} of {svc.metadata.name}"


async def _continue(svc: EcsService, ctx: Context) -> str:
    _, arn = await _ecs_deployment(svc, ctx)
    ecs = ctx.ecs(ctx.region_of(svc.spec.region))
    found = await ecs.describe_service_deployment(arn)
    hook = found.paused_hook if found is not None else None
    if hook is None:
        raise Conflict(
            f"ECS is not holding the deployment of {svc.metadata.name}: ECS pauses a "
            "deployment only at a lifecycle hook of targetType PAUSE "
            "(deploymentConfiguration.lifecycleHooks), and none awaits action; its bake "
            "times and canary or linear steps run on their own"
        )
    await ecs.continue_service_deployment(arn, hook.hook_id)
    stage = f" at {found.lifecycle_stage}" if found and found.lifecycle_stage else ""
    return f"continued the ECS deployment of {svc.metadata.name}{stage}"


async def abort(svc: EcsService, ctx: Context) -> str:
    if svc.spec.controller == "ECS":
        live, _ = await _ecs_deployment(svc, ctx)
        revision = live.tags.get(DEPLOYING_TAG)
        if revision is None:
            raise Conflict(f"service {svc.metadata.name} has no rollout of ours in progress")
        await ctx.ecs(ctx.region_of(svc.spec.region)).tag(live.service_arn, {ABORT_TAG: revision})
        return f"abort requested for {svc.metadata.name}: ECS rolls the deployment back"
    arn, state = await _active(svc, ctx)
    await ctx.ecs(ctx.region_of(svc.spec.region)).tag(arn, {ABORT_TAG: state.external_id})
    return f"abort requested for {svc.metadata.name}: rolling back"
