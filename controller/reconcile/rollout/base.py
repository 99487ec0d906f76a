"""The strategy interface: one step of a rollout, decided from what ECS shows now.

A strategy gets the live service (its task sets, externalIds, scales and tags) and the
task set the spec asks for, takes at most one safe step, and says what it did and when
to look again. It keeps nothing in memory, so a controller killed at any instant
resumes where ECS says it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from controller.api import tagtext
from controller.api.common import TAG_PREFIX
from controller.api.service import EcsService
from controller.api.status import HealthStatus, RolloutStatus, TaskCounts
from controller.aws.ecs import Ecs
from controller.aws.models import LiveService, LiveTaskSet
from controller.aws.signals import Signals
from controller.reconcile.context import Context
from controller.reconcile.result import RolloutEvent
from controller.reconcile.rollout.health import Verdict
from controller.reconcile.rollout.state import RolloutState
from controller.reconcile.taskset import DesiredTaskSet

FAILED_TAG = f"{TAG_PREFIX}failed-task-set"
"""Service tag: the externalId of a task set that failed its gates and was rolled back."""
FAILED_REASON_TAG = f"{TAG_PREFIX}failed-reason"
FAILED_STOPPED_TAG = f"{TAG_PREFIX}failed-stopped"
"""The stoppedReasons of the failed revision's tasks, one per line (tag_safe)."""
FAILED_TAGS = (FAILED_TAG, FAILED_REASON_TAG, FAILED_STOPPED_TAG)


@dataclass
class RolloutInput:
    ctx: Context
    ecs: Ecs
    signals: Signals
    cluster: str
    service: EcsService
    live: LiveService
    want: DesiredTaskSet

    @property
    def name(self) -> str:
        return self.live.service_name


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
    events: list[RolloutEvent] = field(default_factory=list)


class Strategy(Protocol):
    """What differs between rolling, blue/green and canary; the shared steps (steps.py) do the rest."""

    name: str
    alternates: bool
    """With two target groups: True puts the new set on the group the PRIMARY set does not
    use, and traffic moves by the listener weights; False shares the PRIMARY's group."""

    def initial_scale(self, r: RolloutInput) -> float:
        """The new task set's scale (percent) when it is created."""
        ...

    def bake_seconds(self, r: RolloutInput) -> float:
        """How long the old set is kept, ready, after the new one became PRIMARY."""
        ...

    def traffic_weight(self, r: RolloutInput, state: RolloutState) -> float | None:
        """With two target groups: the new set's share (percent) of production traffic
        before it is PRIMARY; None for its share of the capacity."""
        ...

    async def advance(
        self,
        r: RolloutInput,
        primary: LiveTaskSet | None,
        new: LiveTaskSet,
        state: RolloutState,
        verdict: Verdict,
    ) -> Step | None:
        """The next step of a healthy-so-far rollout; None when the new set may become PRIMARY."""
        ...


def tag_safe(text: str, limit: int = tagtext.LIMIT) -> str:
    """text as a tag value that comes back exactly (api/tagtext.py; decode with
    from_tag)."""
    return tagtext.encode(text, limit)


def failure_tags(revision: str, reason: str, stopped: list[str]) -> dict[str, str]:
    """The tags that record a failed revision: never retried until a new commit, and its
    reason and stopped tasks shown as they were at every later reconcile."""
    tags = {FAILED_TAG: revision, FAILED_REASON_TAG: tag_safe(reason)}
    distinct = list(dict.fromkeys(stopped))[:5]  # tasks of one revision stop alike
    if distinct:
        tags[FAILED_STOPPED_TAG] = tag_safe("\n".join(distinct))
    return tags


def failed_stopped(tags: Mapping[str, str]) -> list[str]:
    """The stoppedReasons failure_tags kept."""
    text = from_tag(tags, FAILED_STOPPED_TAG, "")
    return [line for line in text.split("\n") if line]


def from_tag(tags: Mapping[str, str], key: str, default: str) -> str:
    """The text tag_safe stored under key, as it was written; default without the tag."""
    value = tags.get(key)
    return default if value is None else tagtext.decode(value)
