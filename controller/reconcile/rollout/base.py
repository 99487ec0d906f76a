"""The strategy interface: one step of a rollout, decided from what ECS shows now.

A strategy gets the live service (its task sets, externalIds, scales and tags) and the
task set the spec asks for, takes at most one safe step, and says what it did and when
to look again. It keeps nothing in memory, so a controller killed at any instant
resumes where ECS says it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from controller.api.common import TAG_PREFIX
from controller.api.service import EcsService
from controller.api.status import HealthStatus, RolloutStatus, TaskCounts
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService
from controller.reconcile.context import Context
from controller.reconcile.taskset import DesiredTaskSet

FAILED_TAG = f"{TAG_PREFIX}failed-task-set"
"""Service tag: the externalId of a task set that failed its gates and was rolled back."""
FAILED_REASON_TAG = f"{TAG_PREFIX}failed-reason"


@dataclass
class RolloutInput:
    ctx: Context
    ecs: Ecs
    cluster: str
    service: EcsService
    live: LiveService
    want: DesiredTaskSet


@dataclass
class Step:
    """What a strategy did (or found) this reconcile."""

    rollout: RolloutStatus
    health: HealthStatus = "Progressing"
    message: str = ""
    requeue_after: float | None = 2.0
    changed: bool = False
    stopped_reasons: list[str] = field(default_factory=list)
    counts: TaskCounts | None = None


class Strategy(Protocol):
    name: str

    async def step(self, rollout: RolloutInput) -> Step | None:
        """One step toward the desired task set being the only, PRIMARY one; None when it is."""
        ...


def tag_safe(text: str, limit: int = 250) -> str:
    """Tag values allow letters, digits, spaces and _ . : / = + - @ only."""
    allowed = "".join(c if c.isalnum() or c in " _.:/=+-@" else " " for c in text)
    return " ".join(allowed.split())[:limit]
