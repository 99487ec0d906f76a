"""A rollout's first step: its new task set, once nothing stops it.

Before the set: which secrets rotated (the reason a rollout with an unchanged task
definition exists: "secret rotated: <name>"), and the preflight as ctx.preflight says
(auto, block, warn, off; a blocking problem returns a Degraded, Blocked step and creates
nothing, to be checked again a minute later). Then the task definition revision
(registered only when its content is new), the task set at the strategy's first scale,
tagged with our instance, its spec hash and its secrets' version digests, and the
rollout state on the service's tags, so a controller killed right after resumes from ECS.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from controller.api import resource_key
from controller.api.common import MANAGED_BY_TAG, SPEC_HASH_TAG
from controller.api.status import RolloutStatus
from controller.aws.models import LiveTaskSet
from controller.errors import AwsError
from controller.reconcile.preflight import preflight, summary
from controller.reconcile.rollout import claim, traffic
from controller.reconcile.rollout.base import (
    RolloutInput,
    Step,
    Strategy,
)
from controller.reconcile.rollout.state import (
    ROTATED_TAG,
    RolloutState,
    encode_rotated,
)
from controller.reconcile.secrets import rotated_secrets, secret_versions_tag
from controller.reconcile.taskset import ensure_task_definition, find_task_definition

log = structlog.get_logger(__name__)


async def create(
    r: RolloutInput,
    strategy: Strategy,
    status: RolloutStatus,
    sets: list[LiveTaskSet],
    now: datetime,
) -> Step:
    hints = [ts.task_definition for ts in sets]
    rotated = await rotated_secret_names(r)
    why = f" (secret rotated: {', '.join(rotated)})" if rotated else ""
    if rotated:
        status.reason = f"secret rotated: {', '.join(rotated)}"
    if r.ctx.dry_run:
        want = r.want
        arn = await find_task_definition(
            r.ecs, want.task_definition, want.spec_hash, hints, want.identity
        )
        what = "a new task definition revision and " if arn is None else ""
        return Step(status, message=f"would create {what}a new task set{why}", requeue_after=None)
    note = ""
    if r.ctx.preflight != "off":
        blocked, note = await _preflight(r)
        if blocked:
            # not a failed rollout: fixing it in AWS (pushing the image, say) unblocks it
            status.phase = "Blocked"
            return Step(status, "Degraded", blocked, requeue_after=60.0)
    arn, _ = await ensure_task_definition(
        r.ecs,
        r.want.task_definition,
        r.want.spec_hash,
        hints,
        instance=r.ctx.instance,
        registrations=r.ctx.registrations,
        identity=r.want.identity,
    )
    spec = r.service.spec
    created = await r.ecs.create_task_set(
        r.cluster,
        r.name,
        task_definition=arn,
        external_id=r.want.external_id,
        scale_percent=strategy.initial_scale(r),
        launch_type=spec.launch_type,
        capacity_provider_strategy=spec.capacity_provider_strategy,
        platform_version=spec.platform_version,
        network_configuration=spec.network_configuration,
        load_balancers=traffic.task_set_load_balancers(
            spec, r.live.primary_task_set, alternate=strategy.alternates
        ),
        service_registries=spec.service_registries,
        tags={
            MANAGED_BY_TAG: r.ctx.instance,
            SPEC_HASH_TAG: r.want.spec_hash,
            **secret_versions_tag(r.want.secret_versions, r.ctx.region_of(spec.region)),
        },
    )
    state = RolloutState(r.want.external_id, 0, now, now)
    # the old set's tags say why only while it exists: keep the reason
    extra = {ROTATED_TAG: encode_rotated(r.want.external_id, rotated)} if rotated else {}
    await claim.write(r, state, extra)
    log.info("task_set_created", task_set=created.id, task_definition=arn, strategy=strategy.name)
    for name in rotated:
        log.info(
            "secret_rotated", service=r.name, cluster=r.cluster, secret=name, task_set=created.id
        )
    status.phase = "Creating"
    status.new_task_set = created.id
    status.started_at = now
    created_text = f"created task set {created.id}{why}"
    message = "; ".join(part for part in (created_text, note) if part)
    return Step(status, message=message, requeue_after=1.0, changed=True)


async def rotated_secret_names(r: RolloutInput) -> list[str]:
    """The secrets whose rotation alone calls for a new task set: those recorded on the
    PRIMARY set (its secret-versions tag) with another version now, when the task
    definition is the same (a commit that also changed it is a commit's rollout)."""
    primary = r.live.primary_task_set
    if primary is None or not r.want.secret_versions:
        return []
    tags = primary.tags
    if MANAGED_BY_TAG not in tags:  # DescribeServices need not carry task set tags
        described = await r.ecs.describe_task_sets(r.cluster, r.name)
        tags = next((ts.tags for ts in described if ts.id == primary.id), {})
    want = r.want
    if not want.identity.same_task_definition(
        tags.get(SPEC_HASH_TAG), want.task_definition, want.spec_hash
    ):
        return []
    return rotated_secrets(tags, r.want.secret_versions, r.ctx.region_of(r.service.spec.region))


async def _preflight(r: RolloutInput) -> tuple[str, str]:
    """Run the preflight before a new task set, as ctx.preflight says: (the Degraded
    message when it blocks, else ""; a note for the status when problems were let through).

    auto blocks like block, unless nothing the task definition names exists in the account
    (preflight.PreflightResult.provisioned): on an emulator or an empty account every
    check fails, and blocking there would stop the walkthrough's example everywhere it is
    tried, while any one thing found makes the others' absence a real mistake. A
    preflight that cannot run (AWS kept failing) stops only block mode: the rollout's own
    health gates still guard the others."""
    mode = r.ctx.preflight
    origin = r.ctx.origins.get(resource_key(r.service))
    try:
        result = await preflight(r.ctx, r.service, origin)
    except AwsError as exc:
        if mode == "block":
            raise
        log.warning("preflight_unavailable", error=str(exc), mode=mode)
        return "", ""
    problems = result.errors
    if not problems:
        return "", ""
    region = r.ctx.region_of(r.service.spec.region)
    enforced = mode == "block" or (mode == "auto" and result.provisioned)
    if mode == "block":
        reason = "--preflight block"
    elif mode == "auto" and result.provisioned:
        reason = f"the account is provisioned ({result.evidence[0]} exists)"
    elif mode == "auto":
        reason = (
            "nothing the task definition names (ECR repository, role, secret, log group) "
            f"exists in {region}: taken for an emulator or an unprovisioned account"
        )
    else:
        reason = "--preflight warn"
    log.warning(
        "preflight_failed",
        problems=summary(problems, blocked=enforced),
        mode=mode,
        enforced=enforced,
        reason=reason,
    )
    if enforced:
        return summary(problems), ""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    why = "nothing it names exists here" if mode == "auto" else "--preflight warn"
    return "", f"preflight found {count}, not enforced ({why}): see `ecs-gitops verify`"
