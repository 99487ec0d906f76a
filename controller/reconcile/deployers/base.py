"""The Deployer interface: what differs between a rollout we drive and one ECS runs.

Like a rollout Strategy, a Deployer keeps nothing in memory: each call reads the live
service (its task sets, or its deployments and tags) and takes at most one safe step,
so a controller killed at any instant resumes from what ECS shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from controller.api.common import MANAGED_BY_TAG, SOURCE_TAG, TAG_PREFIX
from controller.api.service import ControllerType, EcsService, EcsServiceSpec
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService
from controller.reconcile.context import Context
from controller.reconcile.rollout.base import RolloutInput, Step
from controller.reconcile.taskset import DesiredTaskSet

PRUNE_TAG = f"{TAG_PREFIX}prune"
"""Set on services whose spec allows pruning: the policy must outlive the spec's removal."""


def desired_tags(svc: EcsService, instance: str, source_id: str | None = None) -> dict[str, str]:
    tags = {**svc.spec.tags, MANAGED_BY_TAG: instance}
    if source_id is not None:  # which source manages it: another source never prunes it
        tags[SOURCE_TAG] = source_id
    if svc.spec.sync_policy.prune:
        tags[PRUNE_TAG] = "true"
    return tags


def create_params(svc: EcsService, ctx: Context) -> dict[str, Any]:
    """The CreateService fields both controllers take (the service's own settings)."""
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
    return params


@dataclass(frozen=True)
class Settled:
    """The service once nothing is left to roll out."""

    steady: bool
    task_definition: str | None
    message: str = ""


class Deployer(Protocol):
    controller: ControllerType

    def strategy(self, spec: EcsServiceSpec) -> str:
        """The strategy's name in the status and the rollout metrics (a closed set)."""
        ...

    async def create(self, svc: EcsService, ctx: Context, ecs: Ecs, cluster: str) -> None:
        """CreateService, tagged ours, on this controller."""
        ...

    def updates(self, svc: EcsService, live: LiveService) -> dict[str, Any]:
        """UpdateService fields to send before (and apart from) any rollout."""
        ...

    async def step(self, r: RolloutInput) -> Step | None:
        """One step toward the desired revision; None when it is rolled out."""
        ...

    def rolled_out(self, live: LiveService, want: DesiredTaskSet) -> bool:
        """The desired revision is all that runs (postSync hooks may start)."""
        ...

    def settled(self, live: LiveService) -> Settled: ...
