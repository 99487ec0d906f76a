"""The rollout steps all strategies share, decided from what ECS shows.

Each call looks at the live task sets and tags, and takes the next step:
  the desired set is PRIMARY          -> bake (blue/green), remove the others, then clear
                                         the rollout tags and report success (once)
  this revision failed before         -> stay on the old set, Degraded, until a new commit
  duplicates of the desired set       -> delete all but the oldest (a retried create)
  `abort` was asked for               -> roll back
  sets of an abandoned rollout        -> restore the PRIMARY set, remove them
  no desired set yet                  -> preflight (a blocking problem: Degraded, stop
                                         here), register the task definition if new,
                                         create the set at the strategy's first scale
                                         (tagged with its secrets' digests), tag the state
                                         and, when only secrets rotated, which ones
  the new set fails a health gate     -> roll back: old set to 100% and PRIMARY, new set
                                         deleted, failure recorded in tags (not retried)
  otherwise                           -> the listener weights the strategy asks for (two
                                         target groups), its next step, or make it PRIMARY
                                         (and tag when, if a bake will count from it)
A controller killed between any two calls resumes here from the same tags and sets. Tags
are written only for a fact that resuming needs and ECS does not show otherwise (the
rollout's state and its writer's claim, a step's or a bake's start, a failure); old task
sets go by DeleteTaskSet, which drains them, never first scaled to 0.
With two target groups (traffic.py) every path also sets the listener weights from what
it sees: traffic goes back to the old group first on any rollback (after the failure is
recorded), to the new group right after it becomes PRIMARY, and to the PRIMARY set's
group whenever no rollout is active.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from controller.api.status import RolloutStatus
from controller.aws.models import LiveTaskSet
from controller.reconcile.result import RolloutEvent, RolloutResult
from controller.reconcile.rollout import claim, traffic
from controller.reconcile.rollout.base import (
    FAILED_REASON_TAG,
    FAILED_TAG,
    FAILED_TAGS,
    RolloutInput,
    Step,
    Strategy,
    failed_stopped,
    failure_tags,
    from_tag,
)
from controller.reconcile.rollout.create import create, rotated_secret_names
from controller.reconcile.rollout.health import judge
from controller.reconcile.rollout.state import (
    ROLLOUT_TAG,
    ROLLOUT_TAGS,
    ROTATED_TAG,
    RolloutState,
    aborted,
    encode_rotated,
    read_state,
    rotation_reason,
)
from controller.reconcile.rollout.strategies import STRATEGIES

log = structlog.get_logger(__name__)


def _oldest_first(sets: list[LiveTaskSet]) -> list[LiveTaskSet]:
    return sorted(sets, key=lambda ts: (ts.created_at is None, ts.created_at, ts.id))


async def step(r: RolloutInput) -> Step | None:
    """One step of the rollout toward the desired task set; None when there is nothing to do."""
    strategy = STRATEGIES[r.service.spec.deployment.strategy]
    sets = [ts for ts in r.live.task_sets if ts.status != "DRAINING"]
    primary = r.live.primary_task_set
    matching = _oldest_first([ts for ts in sets if r.want.matches(ts)])
    others = [ts for ts in sets if ts is not primary and not r.want.matches(ts)]
    state = read_state(r.live.tags, r.want.external_id)
    now = r.ctx.clock()
    await claim.renew(r)  # a live holder keeps its claim through long waits
    if primary is not None and r.want.matches(primary):
        return await _finish(r, strategy, primary, others, state, now)
    status = RolloutStatus(
        strategy=strategy.name,
        phase="Progressing",
        primary_task_set=primary.id if primary else None,
        started_at=state.started if state else None,
        reason=rotation_reason(r.live.tags, r.want.external_id) or None,
    )
    if r.live.tags.get(FAILED_TAG) == r.want.external_id:
        return await _stay_failed(r, status, primary, matching)
    if len(matching) > 1:
        if r.ctx.dry_run:
            return Step(
                status, message="duplicate task sets; would delete all but one", requeue_after=None
            )
        for extra in matching[1:]:
            await r.ecs.delete_task_set(r.cluster, r.name, extra.task_set_arn)
        log.warning("duplicate_task_sets_deleted", count=len(matching) - 1)
        return Step(status, requeue_after=0, changed=True)
    new = matching[0] if matching else None
    if new is not None and aborted(r.live.tags, r.want.external_id):
        return await _roll_back(
            r, strategy, status, primary, new, state, "aborted by `ecs-gitops abort`", [], "aborted"
        )
    if others:
        return await _remove_abandoned(r, status, primary, others)
    if new is None:
        return await create(r, strategy, status, sets, now)
    status.new_task_set = new.id
    status.new_task_definition = new.task_definition
    status.new_images = r.want.images
    if state is None:
        if r.ctx.dry_run:
            return Step(status, message="a rollout is in progress", requeue_after=None)
        started = new.created_at or now
        state = RolloutState(r.want.external_id, 0, now, started)
        rotated = await rotated_secret_names(r)  # lost with the tags if the creating call died
        why = {ROTATED_TAG: encode_rotated(r.want.external_id, rotated)} if rotated else {}
        await claim.write(r, state, why)
        return Step(status, requeue_after=0, changed=True)
    status.started_at = state.started
    verdict = await judge(
        r.ecs,
        r.signals,
        r.cluster,
        r.service.spec,
        r.live.desired_count,
        new,
        now,
        since=state.step_started,
    )
    status.new_counts = verdict.counts
    if verdict.failed:
        return await _roll_back(
            r,
            strategy,
            status,
            primary,
            new,
            state,
            verdict.reason,
            verdict.stopped_reasons,
            "rolled_back",
        )
    if r.ctx.dry_run:
        return Step(
            status,
            message="a rollout is in progress",
            requeue_after=None,
            counts=verdict.counts,
            stopped_reasons=verdict.stopped_reasons,
        )
    weight = strategy.traffic_weight(r, state)
    shifted = await traffic.sync(r, primary, new, weight, may_raise=verdict.healthy)
    if shifted:  # a step's pause counts from when its traffic arrived
        await claim.write(r, state.at_step(state.step, now))
        status.phase = "Shifting"
        return Step(
            status,
            message="traffic: " + "; ".join(shifted),
            requeue_after=1.0,
            changed=True,
            counts=verdict.counts,
        )
    advanced = await strategy.advance(r, primary, new, state, verdict)
    if advanced is not None:
        advanced.rollout.new_counts = verdict.counts
        advanced.rollout.new_task_definition = status.new_task_definition
        advanced.rollout.new_images = status.new_images
        advanced.rollout.reason = status.reason
        return advanced
    reasserted = await _reassert_scale(r, status, new)
    if reasserted is not None:
        return reasserted
    await r.ecs.set_primary_task_set(r.cluster, r.name, new.task_set_arn)
    await traffic.sync(r, new, None)
    if strategy.bake_seconds(r) > 0:  # the bake counts from here, also after a restart
        await claim.write(r, state.at_step(state.step, now))
    log.info(
        "task_set_promoted", task_set=new.id, external_id=new.external_id, strategy=strategy.name
    )
    status.phase = "Promoted"
    return Step(
        status,
        message="the new task set is PRIMARY",
        requeue_after=0,
        changed=True,
        counts=verdict.counts,
    )


async def _reassert_scale(r: RolloutInput, status: RolloutStatus, new: LiveTaskSet) -> Step | None:
    """Before the new set becomes PRIMARY, read its scale back from ECS: a set someone
    scaled down (another writer, a person) would pass the health gate with no tasks at
    all. Not at 100%: scale it back and wait for health again instead of promoting."""
    fresh = next(
        (ts for ts in await r.ecs.describe_task_sets(r.cluster, r.name) if ts.id == new.id), None
    )
    if fresh is None:
        status.phase = "Progressing"
        return Step(status, message="the new task set is gone; looking again", requeue_after=1.0)
    if abs(fresh.scale_percent - 100.0) < 1e-6:
        return None
    await r.ecs.update_task_set_scale(r.cluster, r.name, new.task_set_arn, 100.0)
    log.warning("task_set_scale_reasserted", task_set=new.id, scale=fresh.scale_percent)
    status.phase = "Progressing"
    return Step(
        status,
        message=f"the new task set was at {fresh.scale_percent:g}%, not 100%: scaled it back "
        "up; promoting once it is healthy again",
        requeue_after=1.0,
        changed=True,
    )


async def _delete(r: RolloutInput, sets: list[LiveTaskSet]) -> None:
    """Delete task sets that are not PRIMARY, running or not: DeleteTaskSet (forced)
    drains a set's tasks itself, so a scale to 0 first would be one more change for
    nothing."""
    for old in sets:
        await r.ecs.delete_task_set(r.cluster, r.name, old.task_set_arn)
        log.info("task_set_deleted", task_set=old.id, scale=old.scale_percent)


async def _remove_abandoned(
    r: RolloutInput, status: RolloutStatus, primary: LiveTaskSet | None, others: list[LiveTaskSet]
) -> Step:
    status.phase = "Cleaning"
    if r.ctx.dry_run:
        return Step(
            status, message="would remove task sets of an abandoned rollout", requeue_after=None
        )
    await traffic.sync(r, primary, None)
    if primary is not None and primary.scale_percent != 100.0:
        await r.ecs.update_task_set_scale(r.cluster, r.name, primary.task_set_arn, 100.0)
        return Step(
            status, message="restoring the PRIMARY task set", requeue_after=1.0, changed=True
        )
    await _delete(r, others)
    return Step(
        status,
        message="removing task sets of an abandoned rollout",
        requeue_after=1.0,
        changed=True,
    )


async def _roll_back(
    r: RolloutInput,
    strategy: Strategy,
    status: RolloutStatus,
    primary: LiveTaskSet | None,
    new: LiveTaskSet,
    state: RolloutState | None,
    reason: str,
    stopped: list[str],
    result: RolloutResult,
) -> Step:
    auto = r.service.spec.deployment.auto_rollback or result == "aborted"
    if r.ctx.dry_run or not auto:
        status.phase = "Failed"
        note = "" if auto else " (autoRollback is off: the new task set is left in place)"
        return Step(
            status, "Degraded", f"rollout failed: {reason}{note}", None, stopped_reasons=stopped
        )
    await _restore(r, primary, new, reason, stopped, make_primary=False)
    log.warning("rollout_rolled_back", task_set=new.id, reason=reason, result=result)
    status.phase = "RolledBack" if result == "rolled_back" else "Aborted"
    event = RolloutEvent(
        strategy.name,
        result,
        r.ctx.clock(),
        state.started if state else new.created_at,
        r.ctx.revision,
        new.task_definition,
        reason,
    )
    return Step(
        status,
        "Degraded",
        f"rolled back: {reason}",
        requeue_after=None,
        changed=True,
        stopped_reasons=stopped,
        events=[event],
    )


async def _restore(
    r: RolloutInput,
    keep: LiveTaskSet | None,
    new: LiveTaskSet,
    reason: str,
    stopped: list[str],
    *,
    make_primary: bool,
) -> None:
    """The one rollback: record the revision as failed first (so a crash from here on
    resumes as a rollback, never as a new attempt), send the traffic back to `keep` at
    full scale (made PRIMARY again after a promotion), delete the new set and drop the
    rollout's tags."""
    await r.ecs.tag(r.live.service_arn, failure_tags(r.want.external_id, reason, stopped))
    await traffic.sync(r, keep, None)
    if keep is not None and keep.scale_percent != 100.0:
        await r.ecs.update_task_set_scale(r.cluster, r.name, keep.task_set_arn, 100.0)
    if keep is not None and make_primary:
        await r.ecs.set_primary_task_set(r.cluster, r.name, keep.task_set_arn)
    await r.ecs.delete_task_set(r.cluster, r.name, new.task_set_arn)
    await r.ecs.untag(
        r.live.service_arn, [t for t in ROLLOUT_TAGS if t in r.live.tags] or [ROLLOUT_TAG]
    )


async def _stay_failed(
    r: RolloutInput,
    status: RolloutStatus,
    primary: LiveTaskSet | None,
    matching: list[LiveTaskSet],
) -> Step:
    status.phase = "RolledBack"
    reason = from_tag(r.live.tags, FAILED_REASON_TAG, "the health gates failed")
    if not r.ctx.dry_run:
        await traffic.sync(r, primary, None)
    if matching and not r.ctx.dry_run:
        for ts in matching:  # a rollback interrupted after tagging: finish it
            await r.ecs.delete_task_set(r.cluster, r.name, ts.task_set_arn)
        return Step(status, "Degraded", f"rolled back: {reason}", requeue_after=None, changed=True)
    return Step(
        status,
        "Degraded",
        f"this revision was rolled back ({reason}); commit a fix to roll out again",
        requeue_after=None,
        stopped_reasons=failed_stopped(r.live.tags),
    )


async def _finish(
    r: RolloutInput,
    strategy: Strategy,
    primary: LiveTaskSet,
    others: list[LiveTaskSet],
    state: RolloutState | None,
    now: datetime,
) -> Step | None:
    reason = rotation_reason(r.live.tags, r.want.external_id)
    status = RolloutStatus(
        strategy=strategy.name,
        phase="Baking",
        primary_task_set=primary.id,
        started_at=state.started if state else None,
        reason=reason or None,
    )
    if others and state is not None and r.live.tags.get(FAILED_TAG) == r.want.external_id:
        reason = from_tag(r.live.tags, FAILED_REASON_TAG, "the health gates failed")
        if not r.ctx.dry_run:  # a rollback during the bake was interrupted: finish it
            return await _roll_back_after_promotion(
                r, strategy, status, primary, others, state, reason, []
            )
    shifted = await traffic.sync(r, primary, None)
    if shifted:
        status.phase = "Shifting"
        verb = "would shift" if r.ctx.dry_run else "shifted"
        return Step(
            status,
            message=f"{verb} traffic to the PRIMARY task set: " + "; ".join(shifted),
            requeue_after=None if r.ctx.dry_run else 1.0,
            changed=not r.ctx.dry_run,
        )
    bake = strategy.bake_seconds(r)
    if others and state is not None and bake > 0:
        baked = (now - state.step_started).total_seconds()
        if baked < bake:
            verdict = await judge(
                r.ecs,
                r.signals,
                r.cluster,
                r.service.spec,
                r.live.desired_count,
                primary,
                now,
                since=state.step_started,
            )
            if verdict.failed and not r.ctx.dry_run and r.service.spec.deployment.auto_rollback:
                return await _roll_back_after_promotion(
                    r,
                    strategy,
                    status,
                    primary,
                    others,
                    state,
                    verdict.reason,
                    verdict.stopped_reasons,
                )
            return Step(
                status,
                "Progressing",
                f"baking: old task set kept {bake - baked:.0f} s more",
                requeue_after=min(5.0, bake - baked),
                counts=verdict.counts,
            )
    if others or primary.scale_percent != 100.0:
        status.phase = "Cleaning"
        if r.ctx.dry_run:
            return Step(status, message="would remove old task sets", requeue_after=None)
        if primary.scale_percent != 100.0:  # the old sets' tasks stay until it is whole
            await r.ecs.update_task_set_scale(r.cluster, r.name, primary.task_set_arn, 100.0)
            return Step(
                status, message="PRIMARY task set back to 100%", requeue_after=1.0, changed=True
            )
        await _delete(r, others)
        return Step(status, message="removing old task sets", requeue_after=1.0, changed=True)
    leftover = [t for t in (*ROLLOUT_TAGS, *FAILED_TAGS) if t in r.live.tags]
    if not leftover:
        return None
    if r.ctx.dry_run:
        return None
    await r.ecs.untag(r.live.service_arn, leftover)
    if state is None:
        return Step(status, requeue_after=0, changed=True)
    status.phase = "Succeeded"
    event = RolloutEvent(
        strategy.name,
        "succeeded",
        now,
        state.started,
        r.ctx.revision,
        primary.task_definition,
        reason,
    )
    log.info(
        "rollout_succeeded",
        strategy=strategy.name,
        seconds=event.duration_seconds,
        reason=reason or None,
    )
    done = f"rollout succeeded ({reason})" if reason else "rollout succeeded"
    return Step(status, "Progressing", done, requeue_after=0, changed=True, events=[event])


async def _roll_back_after_promotion(
    r: RolloutInput,
    strategy: Strategy,
    status: RolloutStatus,
    new: LiveTaskSet,
    others: list[LiveTaskSet],
    state: RolloutState,
    reason: str,
    stopped: list[str],
) -> Step:
    old = _oldest_first(others)[-1]
    await _restore(r, old, new, reason, stopped, make_primary=True)
    log.warning("rollout_rolled_back", task_set=new.id, reason=reason, during="bake")
    status.phase = "RolledBack"
    event = RolloutEvent(
        strategy.name,
        "rolled_back",
        r.ctx.clock(),
        state.started,
        r.ctx.revision,
        new.task_definition,
        reason,
    )
    return Step(
        status,
        "Degraded",
        f"rolled back during the bake: {reason}",
        requeue_after=None,
        changed=True,
        stopped_reasons=stopped,
        events=[event],
    )
