"""Reconcile one EcsService: create it, keep its fields, roll out its revisions.

The rollout itself is the Deployer's (reconcile/deployers/), chosen once per service by
spec.deploymentController: task sets we drive (EXTERNAL) or the deployment ECS runs
(ECS). Order of steps within one reconcile, each skipped when live already matches:
  1. the service is missing      -> create it (the file's controller, managed-by tag)
  2. it is not ours, or runs     -> adopt.take_over: Conflict (terminal, untouched) unless
     another controller             its file says syncPolicy.adopt (then it is tagged); a
                                    live controller other than the file's is switched in
                                    place, or Stalled where ECS forbids the switch
     another live writer holds   -> left alone, WriterConflict, looked at again when its
     its rollout                    claim would lapse (rollout/claim.py)
  3. in-place fields differ      -> one UpdateService (EXTERNAL: desiredCount, grace
                                    period, ...; ECS sends them with its rollout step)
  4. tags differ                 -> TagResource / UntagResource
  5. the revision differs        -> preSync hooks (hooks.py), then one rollout step
                                    (the deployer decides); postSync hooks after it
  6. autoscaling differs         -> register the target, put or delete policies
The live state is read at the start of every call; nothing is remembered between calls.
"""

from __future__ import annotations

import structlog

from controller.api.common import TAG_PREFIX
from controller.api.service import EcsService
from controller.api.status import ResourceStatus, RolloutStatus, TaskCounts
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService
from controller.aws.signals import Signals
from controller.errors import AwsNotFound, Conflict, NotReady
from controller.reconcile import adopt, hooks
from controller.reconcile.autoscaling import reconcile_autoscaling
from controller.reconcile.conditions import conditions_for, set_cost
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.deployers import deployer_for
from controller.reconcile.deployers.base import PRUNE_TAG, desired_tags
from controller.reconcile.ownership import check_owner
from controller.reconcile.result import Result, RolloutEvent
from controller.reconcile.retention import enforce_retention
from controller.reconcile.rollout import claim
from controller.reconcile.rollout.base import RolloutInput, Step
from controller.reconcile.rollout.state import ROLLOUT_TAG
from controller.reconcile.secrets import desired_task_set
from controller.runtime.writer import Stamp

log = structlog.get_logger(__name__)


def ensure_ours(live: LiveService, instance: str, what: str, controller: str = "EXTERNAL") -> None:
    check_owner(live.tags, instance, what)
    if live.deployment_controller != controller:
        raise Conflict(
            f"{what} uses the {live.deployment_controller} deployment controller and its "
            f"file says {controller}: set `deploymentController: "
            f"{{type: {live.deployment_controller}}}` to manage it as it is"
        )


def _tag_changes(
    svc: EcsService, live: LiveService, ctx: Context
) -> tuple[dict[str, str], list[str]]:
    want = desired_tags(svc, ctx.instance, ctx.source_id)
    add = {k: v for k, v in want.items() if live.tags.get(k) != v}
    remove = [
        k
        for k in live.tags
        if k not in want and not k.startswith(TAG_PREFIX) and not k.startswith("aws:")
    ]
    if PRUNE_TAG in live.tags and PRUNE_TAG not in want:
        remove.append(PRUNE_TAG)
    return add, remove


async def reconcile_service(svc: EcsService, ctx: Context) -> Result:
    spec = svc.spec
    region = ctx.region_of(spec.region)
    cluster = cluster_name(spec.cluster)
    name = svc.metadata.name
    status = ResourceStatus(
        kind="EcsService",
        name=name,
        cluster=cluster,
        region=region,
        last_attempted_revision=ctx.revision,
    )
    set_cost(status, spec)
    structlog.contextvars.bind_contextvars(resource=f"EcsService/{cluster}/{name}")
    if spec.sync_policy.suspend:
        status.health_status = "Suspended"
        status.message = "syncPolicy.suspend is set: not reconciled"
        return _finish(status)
    ecs = ctx.ecs(region)
    deployer = deployer_for(spec)  # chosen once: task sets we drive, or ECS's deployment
    live = (await ecs.describe_services(cluster, [name])).get(name)
    if live is None:
        status.sync_status, status.health_status = "OutOfSync", "Missing"
        if ctx.dry_run:
            status.message = "service does not exist; would create it"
            return _finish(status)
        try:
            await deployer.create(svc, ctx, ecs, cluster)
        except AwsNotFound as exc:
            if "Cluster" not in exc.code and "cluster" not in exc.message.lower():
                raise
            raise NotReady(f"cluster {cluster} does not exist (yet) in {region}") from None
        log.info("service_created", cluster=cluster, service=name)
        status.health_status = "Progressing"
        status.message = "created the service"
        return _finish(status, requeue_after=0, changed=True)
    taken = await adopt.take_over(
        svc, live, ctx, ecs, desired_tags(svc, ctx.instance, ctx.source_id)
    )
    if taken is not None:
        return _from_takeover(status, taken, live, deployer.strategy(spec))
    ensure_ours(live, ctx.instance, f"service {name} in cluster {cluster}", spec.controller)
    status.counts = TaskCounts(
        desired=live.desired_count, running=live.running_count, pending=live.pending_count
    )
    set_cost(status, spec, live.desired_count)  # the count autoscaling moved, if it did
    _running(status, ecs, deployer.settled(live).task_definition)
    if live.status == "DRAINING":
        status.sync_status, status.health_status = "OutOfSync", "Progressing"
        status.message = "the service is draining"
        return _finish(status, requeue_after=5)
    held = claim.held_elsewhere(live.tags, ctx)
    if held is not None:
        return _writer_conflict(status, live, deployer.strategy(spec), *held, ctx)
    if live.tags.get(ROLLOUT_TAG) is None:
        ctx.claims.pop(live.service_arn, None)  # nothing of ours to release any more

    updates = deployer.updates(svc, live)
    add, remove = _tag_changes(svc, live, ctx)
    if updates or add or remove:
        status.sync_status, status.health_status = "OutOfSync", "Progressing"
        status.message = "would update " + ", ".join(
            [*updates, *(["tags"] if add or remove else [])]
        )
        if ctx.dry_run:
            return _finish(status)
        if updates:
            await ecs.update_service(cluster, name, **updates)
            log.info("service_updated", fields=sorted(updates))
        await ecs.tag(live.service_arn, add)
        await ecs.untag(live.service_arn, remove)
        status.message = status.message.replace("would update", "updated")
        return _finish(status, requeue_after=0, changed=True)

    want = await desired_task_set(ctx, region, spec, live)  # with its secrets' versions
    if spec.controller == "EXTERNAL":
        want = await adopt.adopt_task_set(ecs, svc, live, want)
    signals = Signals(ctx.aws, region)
    hook_tasks = hooks.tasks_for(svc, ctx)
    pre = await hooks.reconcile_pre_sync(ctx, svc, hook_tasks, live, want)
    if pre is not None:
        return _from_hook(status, pre, live, deployer.strategy(spec))
    step = await deployer.step(RolloutInput(ctx, ecs, signals, cluster, svc, live, want))
    if step is not None:
        if any(e.result == "succeeded" for e in step.events) and not ctx.dry_run:
            in_use = {ts.task_definition for ts in live.task_sets} | {
                d.task_definition for d in live.deployments if d.task_definition
            }
            await enforce_retention(
                ecs, want.task_definition.family, in_use, ctx.keep_revisions, ctx.instance
            )
        result = _from_step(status, step)
        # a rollout's first step: its new task set, or the UpdateService asking ECS for it
        # (after preSync hooks, their first run announced it)
        first = step.rollout.phase in ("Creating", "Deploying")
        if first and step.changed and not spec.hooks.pre_sync:
            result.notices.append(hooks.rollout_started(ctx, svc, step.message))
        return result

    post = await hooks.reconcile_post_sync(
        ctx, svc, hook_tasks, live, want, deployer.rolled_out(live, want)
    )
    if post is not None:
        return _from_hook(status, post, live, deployer.strategy(spec))
    scaling_changed = await reconcile_autoscaling(ctx, region, cluster, svc, live)
    if scaling_changed:
        status.sync_status, status.health_status = "OutOfSync", "Progressing"
        status.message = "autoscaling " + ("differs" if ctx.dry_run else "updated")
        return _finish(status, requeue_after=None if ctx.dry_run else 0, changed=not ctx.dry_run)

    status.sync_status = "Synced"
    status.last_applied_revision = ctx.revision
    settled = deployer.settled(live)
    if not status.images:  # Synced: the PRIMARY runs the spec's task definition content
        status.images = want.images
    steady = settled.steady
    status.health_status = "Healthy" if steady else "Progressing"
    status.message = settled.message
    return _finish(status, requeue_after=None if steady else 5)


def _running(status: ResourceStatus, ecs: Ecs, task_definition: str | None) -> None:
    """What the service runs now (its PRIMARY's revision, and its images when this process
    has described that revision), in every status, a rollout's included. No call is made
    for the images: a resync costs what it did (a Synced service gets them from its spec)."""
    status.task_definition = task_definition
    known = ecs.known_task_definition(task_definition) if task_definition else None
    if known is not None:
        status.images = [c.image or "" for c in known.input.container_definitions]


def _from_takeover(
    status: ResourceStatus, taken: adopt.Takeover, live: LiveService, strategy: str
) -> Result:
    """Adopted or switched in this call (look again at once), or a switch ECS forbids
    (Stalled: nothing changed, the message says the rule and the fix)."""
    primary = live.primary_task_set
    status.sync_status = "OutOfSync"
    serving = live.running_count >= live.desired_count
    status.health_status = "Healthy" if serving and not taken.changed else "Progressing"
    status.message = taken.message
    status.rollout = RolloutStatus(
        strategy=strategy, phase=taken.phase, primary_task_set=primary.id if primary else None
    )
    if taken.stalled_reason is None:
        return _finish(status, taken.requeue_after, taken.changed)
    status.last_error = taken.message
    status.conditions = conditions_for(status, stalled_reason=taken.stalled_reason)
    return Result(status, taken.requeue_after, taken.changed)


def _from_step(status: ResourceStatus, step: Step) -> Result:
    status.sync_status = "OutOfSync"
    status.health_status = step.health
    status.rollout = step.rollout
    status.message = step.message
    status.stopped_reasons = step.stopped_reasons
    phase = step.rollout.phase
    stalled = None
    if step.health == "Degraded" and phase in ("RolledBack", "Aborted", "Failed"):
        stalled = phase
    elif phase == "Blocked":  # preflight: looked at again, but stuck until fixed
        stalled = "PreflightFailed"
    if stalled is None:
        return _finish(status, step.requeue_after, step.changed, step.events)
    status.conditions = conditions_for(status, stalled_reason=stalled)
    return Result(status, step.requeue_after, step.changed, step.events)


def _writer_conflict(
    status: ResourceStatus,
    live: LiveService,
    strategy: str,
    stamp: Stamp,
    left: float,
    ctx: Context,
) -> Result:
    """Another live controller writes this service's rollout: change nothing, say so, and
    look again just after its claim would lapse (a dead writer is taken over then)."""
    primary = live.primary_task_set
    status.sync_status, status.health_status = "Unknown", "Progressing"
    status.message = claim.conflict_message(stamp, left, ctx.clock())
    status.rollout = RolloutStatus(
        strategy=strategy,
        phase="WriterConflict",
        primary_task_set=primary.id if primary else None,
    )
    log.warning(
        "writer_conflict",
        other_writer=stamp.writer,
        other_instance=stamp.instance or None,
        claim_left_seconds=round(left, 1),
        writer=ctx.writer.identity,
    )
    status.conditions = conditions_for(status, waiting_reason="WriterConflict")
    return Result(status, requeue_after=min(left + 1.0, ctx.writer.lease))


def _from_hook(
    status: ResourceStatus, hook: hooks.HookStep, live: LiveService, strategy: str
) -> Result:
    """A hook is running or failed: preSync holds the rollout back (OutOfSync); postSync
    runs after it, on the new revision (Synced, not yet Healthy)."""
    primary = live.primary_task_set
    starts = [h.started_at for h in hook.hooks if h.started_at is not None]
    status.sync_status = "OutOfSync" if hook.phase == "preSync" else "Synced"
    status.health_status = hook.health
    status.message = hook.message
    status.hooks = hook.hooks
    status.stopped_reasons = hook.stopped_reasons
    status.rollout = RolloutStatus(
        strategy=strategy,
        phase="PreSync" if hook.phase == "preSync" else "PostSync",
        primary_task_set=primary.id if primary else None,
        # a rollout starts with its first preSync hook (as its rollout_started notice does)
        started_at=min(starts) if hook.phase == "preSync" and starts else None,
    )
    if hook.state == "failed":
        status.last_error = hook.message
        status.conditions = conditions_for(status, stalled_reason="HookFailed")
        return Result(status, None, hook.changed, [], hook.notices)
    result = _finish(status, hook.requeue_after, hook.changed)
    result.notices.extend(hook.notices)
    return result


def _finish(
    status: ResourceStatus,
    requeue_after: float | None = None,
    changed: bool = False,
    events: list[RolloutEvent] | None = None,
) -> Result:
    status.conditions = conditions_for(status)
    return Result(status, requeue_after, changed, events or [])
