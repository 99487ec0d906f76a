"""ECS: ECS runs the rollout; ecs-gitops registers the revision, asks once and follows.

One reconcile, from what DescribeServices shows (deployment-level fields are read on the
PRIMARY deployment, as ECS reports them there):
  `abort` was asked for this revision -> StopServiceDeployment (ROLLBACK), record it failed
  the PRIMARY deployment is the desired one:
     IN_PROGRESS                      -> Progressing (Paused when a PAUSE lifecycle hook
                                         waits for `promote`: ContinueServiceDeployment)
     FAILED                           -> Degraded with ECS's reason, recorded (once)
     COMPLETED, a secret rotated      -> one UpdateService with forceNewDeployment (the
                                         versions are kept in SECRETS_TAG, written with
                                         DEPLOYING_TAG: asked once)
     COMPLETED, service fields differ -> one UpdateService with them (no new deployment)
     COMPLETED                        -> report success once, clear the in-flight tag
  it is not, and:
     this revision failed before      -> Degraded until a new commit (never retried)
     we asked ECS for it (tag)        -> ECS rolled it back (circuit breaker, alarm):
                                         Degraded with ECS's reason, recorded (once)
     otherwise                        -> register the task definition if its content is
                                         new, then ONE UpdateService carrying every changed
                                         field, then tag the revision as in flight
A revision is the digest of the task set id (task definition and placement fields) and
the deployment-level fields, kept in the service's tags (DEPLOYING_TAG, FAILED_TAG); the
tag is written after UpdateService, and a controller killed in between finds the PRIMARY
deployment already desired and only writes the tag: no second UpdateService.
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog

from controller.api.common import TAG_PREFIX
from controller.api.service import ControllerType, EcsService, EcsServiceSpec
from controller.api.status import RolloutStatus, TaskCounts
from controller.aws.ecs import Ecs
from controller.aws.models import LiveDeployment, LiveService, LiveServiceDeployment
from controller.errors import AwsError
from controller.reconcile.context import Context
from controller.reconcile.deployers.base import Settled, create_params
from controller.reconcile.normalize import (
    DEPLOYMENT_FIELDS,
    ECS_OFF,
    canonical_json,
    compare_ecs_service,
)
from controller.reconcile.result import RolloutEvent, RolloutResult
from controller.reconcile.rollout.base import (
    FAILED_REASON_TAG,
    FAILED_TAG,
    FAILED_TAGS,
    RolloutInput,
    Step,
    failure_tags,
    from_tag,
)
from controller.reconcile.rollout.state import ABORT_TAG, aborted
from controller.reconcile.secrets import SECRETS_TAG, rotation_reason, secret_versions_tag
from controller.reconcile.taskset import (
    DesiredTaskSet,
    ensure_task_definition,
    find_task_definition,
    holds,
)

log = structlog.get_logger(__name__)

DEPLOYING_TAG = f"{TAG_PREFIX}deploying"
"""Service tag: the revision ecs-gitops asked ECS to deploy and has not seen finish."""

STRATEGY_NAMES = {
    "ROLLING": "ecsRolling",
    "BLUE_GREEN": "ecsBlueGreen",
    "LINEAR": "ecsLinear",
    "CANARY": "ecsCanary",
}

UPDATABLE = (
    "desiredCount",
    "capacityProviderStrategy",
    "deploymentConfiguration",
    "availabilityZoneRebalancing",
    "networkConfiguration",
    "placementConstraints",
    "placementStrategy",
    "platformVersion",
    "healthCheckGracePeriodSeconds",
    "enableExecuteCommand",
    "enableECSManagedTags",
    "loadBalancers",
    "propagateTags",
    "serviceRegistries",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
)
"""What UpdateService takes on an ECS-controller service (launchType is not among them)."""

_RESET: dict[str, Any] = {
    "healthCheckGracePeriodSeconds": 0,
    "enableExecuteCommand": False,
    "propagateTags": "NONE",
    "enableECSManagedTags": False,
    "placementConstraints": [],
    "placementStrategy": [],
    "loadBalancers": [],
    "serviceRegistries": [],
    **ECS_OFF,
}
"""What a field the spec no longer sets goes back to (ECS's default, or off)."""


def revision_of(spec: EcsServiceSpec, want: DesiredTaskSet) -> str:
    """The id of what one deployment rolls out: the task set id (task definition,
    network, capacity) and the deployment-level settings ECS deploys with it."""
    api = spec.to_api()
    fields = {k: api[k] for k in DEPLOYMENT_FIELDS if k in api}
    digest = hashlib.sha256(f"{want.external_id}\n{canonical_json(fields)}".encode()).hexdigest()
    return f"ecs-{digest[:24]}"


def _changes(svc: EcsService, live: LiveService) -> dict[str, Any]:
    have, want = compare_ecs_service(svc.spec, live)
    params: dict[str, Any] = {}
    for key in UPDATABLE:
        if want.get(key) != have.get(key):
            value = want.get(key)
            if value is None:
                if key not in _RESET:
                    continue  # left open in the spec: ECS keeps what it has
                value = _RESET[key]
            params[key] = value
    return params


class EcsDeployer:
    controller: ControllerType = "ECS"

    def strategy(self, spec: EcsServiceSpec) -> str:
        config = spec.deployment_configuration
        return STRATEGY_NAMES[(config.strategy if config else None) or "ROLLING"]

    async def create(self, svc: EcsService, ctx: Context, ecs: Ecs, cluster: str) -> None:
        spec = svc.spec
        want = DesiredTaskSet.from_spec(spec, identity=ctx.identity)
        arn, _ = await ensure_task_definition(
            ecs,
            want.task_definition,
            want.spec_hash,
            [],
            instance=ctx.instance,
            registrations=ctx.registrations,
            identity=want.identity,
        )
        params = create_params(svc, ctx)
        api = spec.to_api()
        for key in (*UPDATABLE, "launchType"):
            if key not in params and api.get(key) not in (None, [], {}):
                params[key] = api[key]
        if spec.hooks.pre_sync:
            # preSync hooks run before any task of the revision starts: the count follows
            # in the UpdateService after them
            params["desiredCount"] = 0
        params["taskDefinition"] = arn
        params["tags"] = [
            *params["tags"],
            {"key": DEPLOYING_TAG, "value": revision_of(spec, want)},
        ]
        await ecs.create_service(cluster, svc.metadata.name, "ECS", **params)

    def updates(self, svc: EcsService, live: LiveService) -> dict[str, Any]:
        return {}  # every field goes in the one UpdateService of step()

    def rolled_out(self, live: LiveService, want: DesiredTaskSet) -> bool:
        # asked after step() found nothing to do: the PRIMARY deployment is the desired one
        primary = live.primary_deployment
        return (
            primary is not None
            and primary.rollout_state in (None, "COMPLETED")
            and len(live.deployments) == 1
        )

    def settled(self, live: LiveService) -> Settled:
        primary = live.primary_deployment
        steady = (
            primary is not None
            and primary.rollout_state in (None, "COMPLETED")
            and len(live.deployments) == 1
            and primary.running_count >= primary.desired_count
        )
        return Settled(
            steady,
            primary.task_definition if primary else None,
            "" if steady else "waiting for ECS's deployment to reach a steady state",
        )

    async def step(self, r: RolloutInput) -> Step | None:
        spec = r.service.spec
        live = r.live
        primary = live.primary_deployment
        revision = revision_of(spec, r.want)
        status = RolloutStatus(strategy=self.strategy(spec), phase="Progressing")
        if primary is not None:
            status.new_task_set = primary.id
            status.started_at = primary.created_at
            status.new_counts = _counts(primary)
        ours = primary is not None and await _runs(r, primary)
        if ours and primary is not None:
            status.new_task_definition = primary.task_definition
            status.new_images = r.want.images
            return await self._follow(r, primary, revision, status)
        if live.tags.get(FAILED_TAG) == revision:
            status.phase = "RolledBack"
            reason = from_tag(live.tags, FAILED_REASON_TAG, "ECS rolled it back")
            return Step(
                status,
                "Degraded",
                f"this revision was rolled back ({reason}); commit a fix to roll out again",
                requeue_after=None,
            )
        if live.tags.get(DEPLOYING_TAG) == revision:
            reason = await _failure_reason(r, revision)
            return await self._failed(r, status, revision, reason, "rolled_back")
        return await self._deploy(r, status, revision)

    async def _deploy(
        self, r: RolloutInput, status: RolloutStatus, revision: str, rotated: str | None = None
    ) -> Step:
        """The one UpdateService of a revision: the task definition and every changed field;
        forceNewDeployment when only a secret's version moved (rotated says which)."""
        changes = _changes(r.service, r.live)
        if rotated is not None:
            changes["forceNewDeployment"] = True
            status.reason = rotated
        want = r.want
        hints = [d.task_definition for d in r.live.deployments if d.task_definition]
        status.phase = "Deploying"
        if r.ctx.dry_run:
            arn = await find_task_definition(
                r.ecs, want.task_definition, want.spec_hash, hints, want.identity
            )
            what = ["a new task definition revision" if arn is None else "taskDefinition"]
            return Step(
                status,
                message="would update " + ", ".join([*what, *changes]),
                requeue_after=None,
            )
        arn, _ = await ensure_task_definition(
            r.ecs,
            want.task_definition,
            want.spec_hash,
            hints,
            instance=r.ctx.instance,
            registrations=r.ctx.registrations,
            identity=want.identity,
        )
        await r.ecs.update_service(r.cluster, r.name, taskDefinition=arn, **changes)
        await r.ecs.tag(r.live.service_arn, _in_flight(r, revision))
        stale = [t for t in (*FAILED_TAGS, ABORT_TAG) if t in r.live.tags]
        await r.ecs.untag(r.live.service_arn, stale)  # a new revision clears an old failure
        log.info("ecs_deployment_requested", task_definition=arn, fields=sorted(changes))
        status.started_at = r.ctx.clock()
        # ECS names the new deployment at its next DescribeServices: until then the one
        # seen is the previous deployment, which is not what this rollout runs
        status.new_task_set, status.new_counts = None, None
        status.new_task_definition, status.new_images = arn, want.images
        why = f" ({rotated})" if rotated else ""
        return Step(
            status,
            message=f"asked ECS to deploy {arn.rsplit('/', 1)[-1]}{why}",
            requeue_after=2.0,
            changed=True,
        )

    async def _follow(
        self, r: RolloutInput, primary: LiveDeployment, revision: str, status: RolloutStatus
    ) -> Step | None:
        live = r.live
        tagged = live.tags.get(DEPLOYING_TAG) == revision
        if primary.rollout_state == "IN_PROGRESS":
            if aborted(live.tags, r.want.external_id) or aborted(live.tags, revision):
                return await self._abort(r, status, revision)
            if not tagged and not r.ctx.dry_run:  # the UpdateService's caller died: resume
                await r.ecs.tag(live.service_arn, _in_flight(r, revision))
            return await _progress(r, primary, status)
        if primary.rollout_state == "FAILED":
            if live.tags.get(FAILED_TAG) == revision:
                status.phase = "Failed"
                reason = from_tag(live.tags, FAILED_REASON_TAG, "the deployment failed")
                return Step(status, "Degraded", f"deployment failed: {reason}", None)
            reason = primary.rollout_state_reason or "ECS reports the deployment FAILED"
            return await self._failed(r, status, revision, reason, "failed")
        changes = _changes(r.service, live)
        rotated = await self._rotation(r, primary)
        if rotated is not None:
            return await self._deploy(r, status, revision, rotated)
        if changes:
            status.phase = "Updating"
            if r.ctx.dry_run:
                return Step(
                    status, message="would update " + ", ".join(changes), requeue_after=None
                )
            await r.ecs.update_service(r.cluster, r.name, **changes)
            log.info("service_updated", fields=sorted(changes))
            return Step(
                status, message="updated " + ", ".join(changes), requeue_after=2.0, changed=True
            )
        if not tagged or r.ctx.dry_run:
            return None
        await r.ecs.untag(live.service_arn, [DEPLOYING_TAG, ABORT_TAG])
        status.phase = "Succeeded"
        event = RolloutEvent(
            status.strategy,
            "succeeded",
            r.ctx.clock(),
            primary.created_at,
            r.ctx.revision,
            primary.task_definition,
        )
        log.info("rollout_succeeded", strategy=status.strategy, seconds=event.duration_seconds)
        return Step(
            status,
            "Progressing",
            "rollout succeeded",
            requeue_after=0,
            changed=True,
            events=[event],
        )

    async def _rotation(self, r: RolloutInput, primary: LiveDeployment) -> str | None:
        """Why the completed deployment must start again: a secret it read has a new
        version ("secret rotated: <names>"); None otherwise. A service that has no record
        of its versions yet (created before they were tracked) gets one, and no rollout."""
        versions = r.want.secret_versions
        if not versions or (r.ctx.dry_run and SECRETS_TAG not in r.live.tags):
            return None
        region = r.ctx.region_of(r.service.spec.region)
        if SECRETS_TAG not in r.live.tags:
            await r.ecs.tag(r.live.service_arn, secret_versions_tag(versions, region))
            return None
        reason = rotation_reason(r.live.tags, versions, region)
        if reason is not None:
            log.info("secret_rotated", reason=reason, deployment=primary.id)
        return reason

    async def _abort(self, r: RolloutInput, status: RolloutStatus, revision: str) -> Step:
        arn = r.live.current_service_deployment
        if arn is None:
            status.phase = "Progressing"
            return Step(status, message="abort asked: waiting for ECS to name the deployment")
        await r.ecs.stop_service_deployment(arn, "ROLLBACK")
        return await self._failed(r, status, revision, "aborted by `ecs-gitops abort`", "aborted")

    async def _failed(
        self,
        r: RolloutInput,
        status: RolloutStatus,
        revision: str,
        reason: str,
        result: RolloutResult,
    ) -> Step:
        """Record the revision as failed (tags: never retried until a new commit) and
        report it once, Degraded with ECS's own reason."""
        status.phase = {"aborted": "Aborted", "failed": "Failed"}.get(result, "RolledBack")
        if r.ctx.dry_run:
            return Step(status, "Degraded", f"rolled back: {reason}", None)
        await r.ecs.tag(r.live.service_arn, failure_tags(revision, reason, []))
        await r.ecs.untag(r.live.service_arn, [DEPLOYING_TAG, ABORT_TAG])
        log.warning("rollout_rolled_back", reason=reason, result=result, revision=revision)
        primary = r.live.primary_deployment
        event = RolloutEvent(
            status.strategy,
            result,
            r.ctx.clock(),
            primary.created_at if primary else None,
            r.ctx.revision,
            None,
            reason,
        )
        verb = {"aborted": "aborted", "failed": "deployment failed"}.get(result, "rolled back")
        return Step(
            status,
            "Degraded",
            f"{verb}: {reason}",
            requeue_after=None,
            changed=True,
            events=[event],
        )


def _in_flight(r: RolloutInput, revision: str) -> dict[str, str]:
    """The tags of a revision ECS was asked for: the revision and the secret versions its
    tasks start with (what a later rotation is measured against)."""
    region = r.ctx.region_of(r.service.spec.region)
    return {DEPLOYING_TAG: revision, **secret_versions_tag(r.want.secret_versions, region)}


def _counts(d: LiveDeployment) -> TaskCounts:
    return TaskCounts(desired=d.desired_count, running=d.running_count, pending=d.pending_count)


async def _runs(r: RolloutInput, primary: LiveDeployment) -> bool:
    """The PRIMARY deployment runs the desired task definition content. Only the task
    definition decides: a deployment-level field that differs is sent by _follow's
    UpdateService, never taken for ECS having rolled the revision back."""
    if primary.task_definition is None:
        return False
    td = await r.ecs.describe_task_definition(primary.task_definition)
    want = r.want
    # holds(): a revision someone else registered (an adopted service's) has no spec-hash
    # tag and is recognised by its content, as find_task_definition does
    return td is not None and holds(td, want.task_definition, want.spec_hash, want.identity)


async def _service_deployment(r: RolloutInput) -> LiveServiceDeployment | None:
    """The service deployment ECS runs now, where the API has it (None otherwise)."""
    arn = r.live.current_service_deployment
    if arn is None:
        return None
    try:
        return await r.ecs.describe_service_deployment(arn)
    except AwsError as exc:  # an endpoint without the service deployment APIs
        log.debug("service_deployment_unavailable", error=str(exc))
        return None


async def _progress(r: RolloutInput, primary: LiveDeployment, status: RolloutStatus) -> Step:
    counts = _counts(primary)
    found = await _service_deployment(r)
    hook = found.paused_hook if found is not None else None
    if hook is not None:
        status.phase = "Paused"
        stage = f" at {found.lifecycle_stage}" if found and found.lifecycle_stage else ""
        return Step(
            status,
            message=f"ECS holds the deployment{stage} (a PAUSE lifecycle hook) until "
            f"`ecs-gitops promote {r.name}`",
            requeue_after=5.0,
            counts=counts,
        )
    stage = f", {found.lifecycle_stage}" if found and found.lifecycle_stage else ""
    return Step(
        status,
        message=f"ECS deployment {primary.id} in progress{stage}: "
        f"{primary.running_count}/{primary.desired_count} running, "
        f"{primary.pending_count} pending, {primary.failed_tasks} failed",
        requeue_after=5.0,
        counts=counts,
    )


async def _failure_reason(r: RolloutInput, revision: str) -> str:
    """Why ECS no longer runs the revision we asked for, in ECS's words: the FAILED
    deployment's rolloutStateReason, else the service deployment's statusReason."""
    for d in r.live.deployments:
        if d.rollout_state == "FAILED" and d.rollout_state_reason:
            return d.rollout_state_reason
    found = await _service_deployment(r)
    if found is not None and found.status_reason:
        return found.status_reason
    return "ECS rolled the deployment back"
