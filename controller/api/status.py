"""The status of a resource as the controller reports it (a contract: the status API, `status -o json` and the page show it).

Flux-style conditions: Ready, Reconciling and Stalled, each with a reason word and a
message for people. Built by the reconcile layer, read by the CLI, HTTP API and page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field

from controller.api.base import Model
from controller.api.common import ResourceKey

SyncStatus = Literal["Synced", "OutOfSync", "Unknown"]
HealthStatus = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]
ConditionType = Literal["Ready", "Reconciling", "Stalled"]


class StatusModel(Model):
    model_config = ConfigDict(strict=False, frozen=False, validate_by_name=True)


class Condition(StatusModel):
    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime | None = None


class TaskCounts(StatusModel):
    desired: int = 0
    running: int = 0
    pending: int = 0


class RolloutStatus(StatusModel):
    strategy: str
    phase: str
    """Idle, Registering, Creating, Progressing, Promoting, Cleaning, RolledBack, Failed."""
    step: int | None = None
    primary_task_set: str | None = None
    new_task_set: str | None = None
    started_at: datetime | None = None
    """When the rollout began: its first preSync hook, else its new task set (or ECS's
    deployment)."""
    step_started_at: datetime | None = None
    """When the current step began (task-set strategies)."""
    new_counts: TaskCounts | None = None
    new_task_definition: str | None = None
    """The revision the new task set (or ECS's deployment) runs."""
    new_images: list[str] | None = None
    """The container images of new_task_definition, in its order."""
    reason: str | None = None
    """Why this rollout exists when not a commit: "secret rotated: <names>"."""


class RolloutRecord(StatusModel):
    """One finished rollout, for the history (last 10 per service)."""

    revision: str | None = None
    strategy: str
    result: str
    """succeeded, rolled_back, failed or aborted."""
    started_at: datetime | None = None
    finished_at: datetime
    duration_seconds: float | None = None
    task_definition: str | None = None
    reason: str = ""


class HookStatus(StatusModel):
    """The last run of one preSync or postSync hook of a service (its EcsTask)."""

    name: str
    phase: Literal["preSync", "postSync"]
    state: str
    """Started, Succeeded or Failed."""
    task_arn: str | None = None
    task_url: str | None = None
    """The task in the ECS console."""
    exit_codes: dict[str, int | None] = Field(default_factory=dict)
    """Essential container -> exit code (None: it never ran)."""
    stopped_reason: str | None = None
    message: str = ""
    started_at: datetime | None = None
    """When ECS created the hook's task (None: not described in this status)."""
    stopped_at: datetime | None = None


class ResourceStatus(StatusModel):
    kind: str
    name: str
    cluster: str = ""
    region: str = ""
    sync_status: SyncStatus = "Unknown"
    health_status: HealthStatus = "Unknown"
    message: str = ""
    last_applied_revision: str | None = None
    last_attempted_revision: str | None = None
    task_definition: str | None = None
    images: list[str] = Field(default_factory=list)
    """The container images of task_definition (what the service runs), in its order."""
    counts: TaskCounts | None = None
    rollout: RolloutStatus | None = None
    conditions: list[Condition] = Field(default_factory=list)
    last_error: str | None = None
    stopped_reasons: list[str] = Field(default_factory=list)
    history: list[RolloutRecord] = Field(default_factory=list)
    """Finished rollouts, newest first (at most 10)."""
    hooks: list[HookStatus] | None = None
    """A service's hook runs for its current revision (None when it has no hooks)."""
    estimated_monthly_cost: float | None = None
    """EcsService: its monthly Fargate cost in USD at the live task count (the spec's
    desiredCount before the service exists), from approximate list prices; None when not
    estimated (not Fargate, no task size) or not known in this status."""
    cost_description: str | None = None
    """The estimate for people ("$44.97/month (2..10 tasks: $44.97..$224.84)") or why
    there is none; None when this status did not look (an error before the service)."""

    @classmethod
    def of(cls, key: ResourceKey, *, region: str | None = None, **fields: Any) -> Self:
        """The status of the resource `key` names, in `region` when given (a key's own
        region is empty for the controller's default), with these fields set."""
        where = key.region if region is None else region
        return cls(kind=key.kind, name=key.name, cluster=key.cluster, region=where, **fields)

    @property
    def ready(self) -> bool:
        return self.sync_status == "Synced" and self.health_status == "Healthy"

    def ready_at(self, revision: str | None) -> bool:
        """Synced and Healthy as found by a reconcile of `revision`: a status from the
        previous commit says nothing of this one's rollout (it may not have started)."""
        return self.ready and self.last_attempted_revision == revision
