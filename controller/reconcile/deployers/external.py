"""EXTERNAL: ecs-gitops drives the rollout itself, through task sets.

The service holds only its own settings (count, grace period, placement, tags); every
revision is a task set that the rollout steps (reconcile/rollout/) create, gates on
health and makes PRIMARY with the strategy in `deployment:`.
"""

from __future__ import annotations

from typing import Any

from controller.api.service import ControllerType, EcsService, EcsServiceSpec
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService
from controller.reconcile.context import Context
from controller.reconcile.deployers.base import Settled, create_params
from controller.reconcile.normalize import compare_service
from controller.reconcile.rollout import steps
from controller.reconcile.rollout.base import RolloutInput, Step
from controller.reconcile.taskset import DesiredTaskSet

IN_PLACE = (
    "desiredCount",
    "healthCheckGracePeriodSeconds",
    "placementConstraints",
    "placementStrategy",
    "enableExecuteCommand",
    "propagateTags",
    "enableECSManagedTags",
)
"""What UpdateService changes on an EXTERNAL service; the rest lives on task sets."""

_RESET = {
    "healthCheckGracePeriodSeconds": 0,
    "enableExecuteCommand": False,
    "propagateTags": "NONE",
    "enableECSManagedTags": False,
}


def in_place_updates(svc: EcsService, live: LiveService, fields: tuple[str, ...]) -> dict[str, Any]:
    """UpdateService parameters for those of `fields` that differ; a field the spec no
    longer sets goes back to ECS's default."""
    have, want = compare_service(svc.spec, live)
    params: dict[str, Any] = {}
    for key in fields:
        if want.get(key) != have.get(key):
            value = want.get(key)
            if value is None:
                value = [] if key.startswith("placement") else _RESET.get(key)
            params[key] = value
    return params


class TaskSetDeployer:
    controller: ControllerType = "EXTERNAL"

    def strategy(self, spec: EcsServiceSpec) -> str:
        return spec.deployment.strategy

    async def create(self, svc: EcsService, ctx: Context, ecs: Ecs, cluster: str) -> None:
        # no task definition yet: the first task set brings it on the next reconcile
        await ecs.create_service(cluster, svc.metadata.name, "EXTERNAL", **create_params(svc, ctx))

    def updates(self, svc: EcsService, live: LiveService) -> dict[str, Any]:
        return in_place_updates(svc, live, IN_PLACE)

    async def step(self, r: RolloutInput) -> Step | None:
        return await steps.step(r)

    def rolled_out(self, live: LiveService, want: DesiredTaskSet) -> bool:
        primary = live.primary_task_set
        others = [ts for ts in live.task_sets if ts.status != "DRAINING" and ts is not primary]
        return primary is not None and want.matches(primary) and not others

    def settled(self, live: LiveService) -> Settled:
        primary = live.primary_task_set
        steady = primary is not None and (
            primary.stability_status in (None, "STEADY_STATE")
            and (
                primary.running_count is None
                or primary.running_count >= (primary.computed_desired_count or 0)
            )
        )
        return Settled(
            steady,
            primary.task_definition if primary else None,
            "" if steady else "waiting for the service's tasks to be steady",
        )
