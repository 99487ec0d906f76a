"""Reconcile one EcsService: create it, keep its fields, roll out its task sets.

Order of steps within one reconcile, each skipped when live already matches:
  1. the service is missing      -> create it (EXTERNAL controller, managed-by tag)
  2. it is not ours              -> Conflict (terminal: never touched), unless its file
                                    says syncPolicy.adopt: then adopt.py tags it; a live
                                    controller other than the file's is switched there
     another live writer holds   -> left alone, WriterConflict, looked at again when its
     its rollout                    claim would lapse (rollout/claim.py)
  3. in-place fields differ      -> one UpdateService (desiredCount, grace period, ...)
  4. tags differ                 -> TagResource / UntagResource
  5. the task set differs        -> preSync hooks (hooks.py), then one rollout step
                                    (the strategy decides); postSync hooks after it
  6. autoscaling differs         -> register the target, put or delete policies
The live state is read at the start of every call; nothing is remembered between calls.
"""

from __future__ import annotations

from typing import Any

import structlog

from controller.api.common import MANAGED_BY_TAG, SOURCE_TAG, TAG_PREFIX
from controller.api.service import EcsService
from controller.api.status import ResourceStatus, RolloutStatus, TaskCounts
from controller.aws.models import LiveService
from controller.aws.signals import Signals
from controller.errors import AwsNotFound, Conflict, NotReady
from controller.reconcile import adopt, hooks
from controller.reconcile.autoscaling import reconcile_autoscaling
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.normalize import compare_service
from controller.reconcile.result import Result, RolloutEvent
from controller.reconcile.retention import enforce_retention
from controller.reconcile.rollout import claim, driver
from controller.reconcile.rollout.base import RolloutInput, Step
from controller.reconcile.rollout.state import ROLLOUT_TAG
from controller.reconcile.secrets import desired_task_set
from controller.reconcile.status import conditions_for, set_cost
from controller.runtime.writer import Stamp

log = structlog.get_logger(__name__)

IN_PLACE = {
    "desiredCount": "desiredCount",
    "healthCheckGracePeriodSeconds": "healthCheckGracePeriodSeconds",
    "placementConstraints": "placementConstraints",
    "placementStrategy": "placementStrategy",
    "enableExecuteCommand": "enableExecuteCommand",
    "propagateTags": "propagateTags",
    "enableECSManagedTags": "enableECSManagedTags",
}


PRUNE_TAG = f"{TAG_PREFIX}prune"
"""Set on services whose spec allows pruning: the policy must outlive the spec's removal."""


def desired_tags(svc: EcsService, instance: str, source_id: str | None = None) -> dict[str, str]:
    tags = {**svc.spec.tags, MANAGED_BY_TAG: instance}
    if source_id is not None:  # which source manages it: another source never prunes it
        tags[SOURCE_TAG] = source_id
    if svc.spec.sync_policy.prune:
        tags[PRUNE_TAG] = "true"
    return tags


def ensure_ours(live: LiveService, instance: str, what: str) -> None:
    owner = live.managed_by
    if owner is None:
        raise Conflict(
            f"{what} exists but was not created by ecs-gitops (no tag {MANAGED_BY_TAG}); "
            "it is left untouched. Delete it, or tag it to hand it over."
        )
    if owner != instance:
        raise Conflict(f"{what} is managed by ecs-gitops instance {owner!r}, not {instance!r}")
    if live.deployment_controller != "EXTERNAL":
        raise Conflict(
            f"{what} uses the {live.deployment_controller} deployment controller; "
            "ecs-gitops deploys through task sets and needs EXTERNAL"
        )


def _create_params(svc: EcsService, ctx: Context) -> dict[str, Any]:
    spec = svc.spec
    tags = desired_tags(svc, ctx.instance, ctx.source_id)
    params: dict[str, Any] = {
        "desiredCount": spec.desired_count,
        "tags": [{"key": k, "value": v} for k, v in sorted(tags.items())],
        "enableExecuteCommand": spec.enable_execute_command,
        "enableECSManagedTags": spec.enable_ecs_managed_tags,
    }
    if spec.health_check_grace_period_seconds is not None and spec.load_balancers:
        params["healthCheckGracePeriodSeconds"] = spec.health_check_grace_period_seconds
    if spec.placement_constraints:
        params["placementConstraints"] = [p.to_api() for p in spec.placement_constraints]
    if spec.placement_strategy:
        params["placementStrategy"] = [p.to_api() for p in spec.placement_strategy]
    if spec.propagate_tags:
        params["propagateTags"] = spec.propagate_tags
    if spec.service_connect_configuration is not None:
        params["serviceConnectConfiguration"] = spec.service_connect_configuration.to_api()
    return params


def _updates(svc: EcsService, live: LiveService) -> dict[str, Any]:
    have, want = compare_service(svc.spec, live)
    params: dict[str, Any] = {}
    for key, param in IN_PLACE.items():
        if want.get(key) != have.get(key):
            value = want.get(key)
            if value is None:
                value = [] if key.startswith("placement") else _reset_value(key)
            params[param] = value
    return params


def _reset_value(key: str) -> Any:
    return {
        "healthCheckGracePeriodSeconds": 0,
        "enableExecuteCommand": False,
        "propagateTags": "NONE",
        "enableECSManagedTags": False,
    }.get(key)


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
    live = (await ecs.describe_services(cluster, [name])).get(name)
    if live is None:
        status.sync_status, status.health_status = "OutOfSync", "Missing"
        if ctx.dry_run:
            status.message = "service does not exist; would create it"
            return _finish(status)
        try:
            await ecs.create_service(cluster, name, **_create_params(svc, ctx))
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
        return _from_takeover(status, taken, live, spec.deployment.strategy)
    ensure_ours(live, ctx.instance, f"service {name} in cluster {cluster}")
    status.counts = TaskCounts(
        desired=live.desired_count, running=live.running_count, pending=live.pending_count
    )
    set_cost(status, spec, live.desired_count)  # the count autoscaling moved, if it did
    if live.status == "DRAINING":
        status.sync_status, status.health_status = "OutOfSync", "Progressing"
        status.message = "the service is draining"
        return _finish(status, requeue_after=5)
    held = claim.held_elsewhere(live.tags, ctx)
    if held is not None:
        return _writer_conflict(status, live, spec.deployment.strategy, *held, ctx)
    if live.tags.get(ROLLOUT_TAG) is None:
        ctx.claims.pop(live.service_arn, None)  # nothing of ours to release any more

    updates = _updates(svc, live)
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

    want = await adopt.adopt_task_set(
        ecs, svc, live, await desired_task_set(ctx, region, spec, live)
    )
    signals = Signals(ctx.aws, region)
    hook_tasks = hooks.tasks_for(svc, ctx)
    pre = await hooks.reconcile_pre_sync(ctx, svc, hook_tasks, live, want)
    if pre is not None:
        return _from_hook(status, pre, live, spec.deployment.strategy)
    step = await driver.step(RolloutInput(ctx, ecs, signals, cluster, svc, live, want))
    if step is not None:
        if any(e.result == "succeeded" for e in step.events) and not ctx.dry_run:
            in_use = {ts.task_definition for ts in live.task_sets}
            await enforce_retention(
                ecs, want.task_definition.family, in_use, ctx.keep_revisions, ctx.instance
            )
        result = _from_step(status, step)
        if step.rollout.phase == "Creating" and step.changed and not spec.hooks.pre_sync:
            result.notices.append(hooks.rollout_started(ctx, svc, step.message))
        return result

    post = await hooks.reconcile_post_sync(ctx, svc, hook_tasks, live, want)
    if post is not None:
        return _from_hook(status, post, live, spec.deployment.strategy)
    primary = live.primary_task_set
    scaling_changed = await reconcile_autoscaling(ctx, region, cluster, svc, live)
    if scaling_changed:
        status.sync_status, status.health_status = "OutOfSync", "Progressing"
        status.message = "autoscaling " + ("differs" if ctx.dry_run else "updated")
        return _finish(status, requeue_after=None if ctx.dry_run else 0, changed=not ctx.dry_run)

    status.sync_status = "Synced"
    status.last_applied_revision = ctx.revision
    status.task_definition = primary.task_definition if primary else None
    steady = primary is not None and (
        primary.stability_status in (None, "STEADY_STATE")
        and (
            primary.running_count is None
            or primary.running_count >= (primary.computed_desired_count or 0)
        )
    )
    status.health_status = "Healthy" if steady else "Progressing"
    status.message = "" if steady else "waiting for the service's tasks to be steady"
    return _finish(status, requeue_after=None if steady else 5)


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
    status.sync_status = "OutOfSync" if hook.phase == "preSync" else "Synced"
    status.health_status = hook.health
    status.message = hook.message
    status.hooks = hook.hooks
    status.stopped_reasons = hook.stopped_reasons
    status.rollout = RolloutStatus(
        strategy=strategy,
        phase="PreSync" if hook.phase == "preSync" else "PostSync",
        primary_task_set=primary.id if primary else None,
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
