"""Taking a service over: adopting one we did not create, and switching its controller.

take_over() is the one call the service reconcile makes right after reading the live
service, before anything may change it. A service without our managed-by tag stays
untouched (Conflict) unless its file says syncPolicy {adopt: true}: then it is tagged, and
managed from that reconcile on. When the live deployment controller differs from the
file's (ECS <-> EXTERNAL) it is switched in place with UpdateService, where ECS allows it;
where ECS forbids it (SWITCH_RULES) nothing changes and the service is Stalled with the
rule and the fix. ECS turns a switched ECS service's running deployment into its PRIMARY
task set, so its tasks keep serving; adopt_task_set() then recognises that set (or any
PRIMARY set someone else created) by its content, and a file that matches what runs
starts no rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import structlog

from controller.api.common import MANAGED_BY_TAG
from controller.api.service import EcsService
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService
from controller.errors import Conflict
from controller.reconcile.autoscaling import AUTOSCALING_TAG
from controller.reconcile.context import Context
from controller.reconcile.identity import EXTERNAL_ID_PREFIX
from controller.reconcile.normalize import compare_task_set
from controller.reconcile.ownership import check_owner
from controller.reconcile.taskset import DesiredTaskSet, holds

log = structlog.get_logger(__name__)

Phase = Literal["Adopted", "Switched", "SwitchBlocked"]


@dataclass(frozen=True)
class Takeover:
    """What take_over did or found; the reconcile reports it and returns."""

    phase: Phase
    message: str
    changed: bool
    requeue_after: float | None
    stalled_reason: str | None = None
    """Set when a rule of ECS blocks the switch: the service is Stalled until it changes."""


def file_controller(svc: EcsService) -> str:
    return svc.spec.deployment_controller.type


async def take_over(
    svc: EcsService, live: LiveService, ctx: Context, ecs: Ecs, tags: dict[str, str]
) -> Takeover | None:
    """None when the service is ours and on the file's controller: the reconcile goes on.
    Raises Conflict when it is not ours to take. tags: the service's desired tags (the
    service reconcile's tag rules), written when it is adopted."""
    what = f"service {live.service_name}"
    if live.managed_by is not None:
        check_owner(live.tags, ctx.instance, what)  # another instance's: a Conflict
    if live.deployment_controller == "CODE_DEPLOY":
        raise Conflict(
            f"{what} uses the CODE_DEPLOY deployment controller, which ecs-gitops does not "
            "drive; move it to ECS's own blue/green (deploymentController ECS, strategy "
            "BLUE_GREEN) to hand it over"
        )
    if not check_owner(live.tags, ctx.instance, what, adoptable=svc.spec.sync_policy.adopt):
        if svc.spec.auto_scaling is not None:
            # its scaling is ours from now on too: one TagResource says both
            tags = {**tags, AUTOSCALING_TAG: "true"}
        return await _adopt(live, ctx, ecs, tags)
    want = file_controller(svc)
    if live.deployment_controller == want:
        return None
    return await _switch(live, want, ctx, ecs)


async def _adopt(live: LiveService, ctx: Context, ecs: Ecs, tags: dict[str, str]) -> Takeover:
    if ctx.dry_run:
        return Takeover(
            "Adopted", "not managed yet; would adopt it (syncPolicy.adopt)", False, None
        )
    await ecs.tag(live.service_arn, tags)
    log.info(
        "service_adopted",
        service_arn=live.service_arn,
        deployment_controller=live.deployment_controller,
    )
    return Takeover(
        "Adopted",
        f"adopted: tagged {MANAGED_BY_TAG}={ctx.instance}; managed from now on",
        True,
        0,
    )


SWITCH_RULES = {
    "serviceConnect": (
        "ECS takes Service Connect only on its own controller, so an ECS service using it "
        "cannot move to EXTERNAL",
        "keep deploymentController {type: ECS} for it, or remove serviceConnectConfiguration "
        "(one deployment on ECS) before switching",
    ),
    "vpcLattice": (
        "ECS takes VPC Lattice only on its own controller, so an ECS service using it cannot "
        "move to EXTERNAL",
        "keep deploymentController {type: ECS} for it, or remove vpcLatticeConfigurations "
        "(one deployment on ECS) before switching",
    ),
    "deploymentInProgress": (
        "ECS does not switch a service's controller while a deployment is in progress",
        "wait for it to complete or roll back; the switch is tried again on its own",
    ),
    "taskSets": (
        "ECS switches a service's controller only with exactly one task set, the PRIMARY",
        "let the rollout in progress finish (or `ecs-gitops abort` it) so that one task set "
        "remains",
    ),
}
"""What ECS refuses when UpdateService changes deploymentController: why, and the fix."""


def switch_blocker(live: LiveService, want: str) -> str | None:
    """The SWITCH_RULES key that forbids moving live to controller `want`, or None."""
    if live.deployment_controller == "ECS" and want == "EXTERNAL":
        if any(d.service_connect_configuration for d in live.deployments):
            return "serviceConnect"
        if any(d.vpc_lattice_configurations for d in live.deployments):
            return "vpcLattice"
        if len(live.deployments) > 1 or any(
            d.rollout_state == "IN_PROGRESS" for d in live.deployments
        ):
            return "deploymentInProgress"
    if live.deployment_controller == "EXTERNAL":
        sets = [ts for ts in live.task_sets if ts.status != "DRAINING"]
        if len(sets) != 1 or live.primary_task_set is None:
            return "taskSets"
    return None


async def _switch(live: LiveService, want: str, ctx: Context, ecs: Ecs) -> Takeover:
    have = live.deployment_controller
    blocker = switch_blocker(live, want)
    if blocker is not None:
        why, fix = SWITCH_RULES[blocker]
        message = (
            f"cannot switch the deployment controller from {have} to {want}: {why}. Fix: {fix}"
        )
        log.warning("controller_switch_blocked", have=have, want=want, rule=blocker)
        retry = 30.0 if blocker in ("deploymentInProgress", "taskSets") else None
        return Takeover("SwitchBlocked", message, False, retry, stalled_reason="SwitchBlocked")
    if ctx.dry_run:
        return Takeover(
            "Switched", f"would switch the deployment controller from {have} to {want}", False, None
        )
    await ecs.update_service(_cluster(live), live.service_name, deploymentController={"type": want})
    log.info("deployment_controller_switched", have=have, want=want)
    return Takeover(
        "Switched",
        f"switched the deployment controller from {have} to {want}; the running tasks stay",
        True,
        1.0,
    )


def _cluster(live: LiveService) -> str:
    return live.cluster_arn.rsplit("/", 1)[-1]


async def adopt_task_set(
    ecs: Ecs, svc: EcsService, live: LiveService, want: DesiredTaskSet
) -> DesiredTaskSet:
    """want, taking the PRIMARY task set as its own when someone else created that set
    (an adopted service's, or the one ECS made of a switched service's deployment) and it
    runs what the file asks for: the same task definition content and task-set fields.
    A set of ours is recognised by its externalId and never by content."""
    primary = live.primary_task_set
    if primary is None or want.matches(primary):
        return want
    if (primary.external_id or "").startswith(EXTERNAL_ID_PREFIX):
        return want
    td = await ecs.describe_task_definition(primary.task_definition)
    if td is None or not holds(td, want.task_definition, want.spec_hash, want.identity):
        return want
    have, desired = compare_task_set(svc.spec, primary)
    if have != desired:
        return want
    log.info("task_set_adopted", task_set=primary.id, external_id=primary.external_id or None)
    return replace(want, task_set_id=primary.id)
