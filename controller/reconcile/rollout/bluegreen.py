"""Blue/green, all at once: the new task set at 100%, healthy, PRIMARY, then the old go.

Each call looks at the live task sets and takes the next step:
  no set with the desired externalId  -> create it at 100% (after registering the
                                         task definition if its content is new)
  duplicates of it (a retried create)  -> delete all but the oldest
  it is failing its health gates       -> roll back: delete it, record the failure in
                                         service tags, stay on the old set (Degraded)
  it is healthy but not PRIMARY        -> make it PRIMARY
  it is PRIMARY, others remain         -> scale each other to 0, then delete it
A failed externalId is not tried again until the spec changes. Deleted sets stay
DRAINING until ECS has stopped their tasks; they are left to ECS.
"""

from __future__ import annotations

import structlog

from controller.api.common import MANAGED_BY_TAG, SPEC_HASH_TAG
from controller.api.status import RolloutStatus
from controller.aws.models import LiveTaskSet
from controller.reconcile.rollout.base import (
    FAILED_REASON_TAG,
    FAILED_TAG,
    RolloutInput,
    Step,
    tag_safe,
)
from controller.reconcile.rollout.health import judge
from controller.reconcile.taskset import ensure_task_definition, find_task_definition

log = structlog.get_logger(__name__)


class BlueGreen:
    name = "blueGreen"

    async def step(self, r: RolloutInput) -> Step | None:
        # DRAINING sets are already being deleted by ECS: nothing more to do with them
        sets = [ts for ts in r.live.task_sets if ts.status != "DRAINING"]
        primary = r.live.primary_task_set
        if primary is not None and r.want.matches(primary):
            return await self._converge(r, primary, sets)
        status = RolloutStatus(
            strategy=self.name,
            phase="Progressing",
            primary_task_set=primary.id if primary else None,
        )
        matching = sorted(
            (ts for ts in sets if r.want.matches(ts)),
            key=lambda ts: (ts.created_at is None, ts.created_at, ts.id),
        )
        if r.live.tags.get(FAILED_TAG) == r.want.external_id:
            return await self._stay_failed(r, status, matching)
        if len(matching) > 1:
            for extra in matching[1:]:
                await r.ecs.delete_task_set(r.cluster, r.live.service_name, extra.task_set_arn)
            log.warning("duplicate_task_sets_deleted", count=len(matching) - 1)
            return Step(status, requeue_after=0, changed=True)
        if not matching:
            return await self._create(r, status, sets)
        new = matching[0]
        status.new_task_set = new.id
        status.started_at = new.created_at
        verdict = await judge(
            r.ecs, r.cluster, r.service.spec, r.live.desired_count, new, r.ctx.clock()
        )
        status.new_counts = verdict.counts
        if verdict.failed:
            return await self._roll_back(r, status, new, verdict.reason, verdict.stopped_reasons)
        if not verdict.healthy:
            return Step(
                status,
                message=f"waiting for the new task set: {_counts(verdict)}",
                stopped_reasons=verdict.stopped_reasons,
                counts=verdict.counts,
            )
        if r.ctx.dry_run:
            return Step(status, message="would make the new task set PRIMARY", requeue_after=None)
        await r.ecs.set_primary_task_set(r.cluster, r.live.service_name, new.task_set_arn)
        log.info("task_set_promoted", task_set=new.id, external_id=new.external_id)
        status.phase = "Promoting"
        return Step(status, requeue_after=0, changed=True, counts=verdict.counts)

    async def _create(
        self, r: RolloutInput, status: RolloutStatus, sets: list[LiveTaskSet]
    ) -> Step:
        hints = [ts.task_definition for ts in sets]
        if r.ctx.dry_run:
            arn = await find_task_definition(r.ecs, r.want, hints)
            what = "a new task definition revision and " if arn is None else ""
            return Step(status, message=f"would create {what}a new task set", requeue_after=None)
        arn, _ = await ensure_task_definition(r.ecs, r.want, hints, r.ctx.instance)
        spec = r.service.spec
        created = await r.ecs.create_task_set(
            r.cluster,
            r.live.service_name,
            task_definition=arn,
            external_id=r.want.external_id,
            scale_percent=100.0,
            launch_type=spec.launch_type,
            capacity_provider_strategy=spec.capacity_provider_strategy,
            platform_version=spec.platform_version,
            network_configuration=spec.network_configuration,
            load_balancers=spec.load_balancers,
            service_registries=spec.service_registries,
            tags={MANAGED_BY_TAG: r.ctx.instance, SPEC_HASH_TAG: r.want.spec_hash},
        )
        log.info("task_set_created", task_set=created.id, task_definition=arn)
        status.phase = "Creating"
        status.new_task_set = created.id
        return Step(
            status, message=f"created task set {created.id}", requeue_after=1.0, changed=True
        )

    async def _roll_back(
        self,
        r: RolloutInput,
        status: RolloutStatus,
        new: LiveTaskSet,
        reason: str,
        stopped: list[str],
    ) -> Step:
        auto = r.service.spec.deployment.auto_rollback
        if r.ctx.dry_run or not auto:
            status.phase = "Failed"
            note = "" if auto else " (autoRollback is off: the new task set is left in place)"
            return Step(
                status, "Degraded", f"rollout failed: {reason}{note}", None, stopped_reasons=stopped
            )
        await r.ecs.tag(
            r.live.service_arn,
            {FAILED_TAG: r.want.external_id, FAILED_REASON_TAG: tag_safe(reason)},
        )
        await r.ecs.delete_task_set(r.cluster, r.live.service_name, new.task_set_arn)
        log.warning("rollout_rolled_back", task_set=new.id, reason=reason)
        status.phase = "RolledBack"
        return Step(
            status,
            "Degraded",
            f"rolled back: {reason}",
            requeue_after=None,
            changed=True,
            stopped_reasons=stopped,
        )

    async def _stay_failed(
        self, r: RolloutInput, status: RolloutStatus, matching: list[LiveTaskSet]
    ) -> Step:
        status.phase = "RolledBack"
        reason = r.live.tags.get(FAILED_REASON_TAG, "the health gates failed")
        if matching and not r.ctx.dry_run:
            for ts in matching:  # a rollback interrupted after tagging: finish it
                await r.ecs.delete_task_set(r.cluster, r.live.service_name, ts.task_set_arn)
            return Step(
                status, "Degraded", f"rolled back: {reason}", requeue_after=None, changed=True
            )
        return Step(
            status,
            "Degraded",
            f"this revision was rolled back ({reason}); commit a fix to roll out again",
            requeue_after=None,
        )

    async def _converge(
        self, r: RolloutInput, primary: LiveTaskSet, sets: list[LiveTaskSet]
    ) -> Step | None:
        others = [ts for ts in sets if ts.id != primary.id]
        if not others and primary.scale_percent == 100.0:
            return None
        status = RolloutStatus(strategy=self.name, phase="Cleaning", primary_task_set=primary.id)
        if r.ctx.dry_run:
            return Step(status, message="would remove old task sets", requeue_after=None)
        if primary.scale_percent != 100.0:
            await r.ecs.update_task_set_scale(
                r.cluster, r.live.service_name, primary.task_set_arn, 100.0
            )
        for old in others:
            if old.scale_percent > 0:
                await r.ecs.update_task_set_scale(
                    r.cluster, r.live.service_name, old.task_set_arn, 0.0
                )
            else:
                await r.ecs.delete_task_set(r.cluster, r.live.service_name, old.task_set_arn)
                log.info("task_set_deleted", task_set=old.id)
        return Step(status, message="removing old task sets", requeue_after=1.0, changed=True)


def _counts(verdict: object) -> str:
    counts = getattr(verdict, "counts", None)
    if counts is None:
        return "starting"
    return f"{counts.running}/{counts.desired} running, {counts.pending} pending"
