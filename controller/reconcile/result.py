"""How a reconcile ends: a status, when to look again, and what finished.

controller-runtime's contract: a reconcile returns (done, or requeue after N seconds
while ECS works) or raises (retryable: backoff; terminal: Stalled until the input
changes). `changed` says whether this call mutated anything; `events` carries rollouts
that ended in this call, for the history, the metrics and notifications; `notices`
the other deploy events (a rollout started, a hook failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from controller.api.status import ResourceStatus
from controller.notify.events import Event

RolloutResult = Literal["succeeded", "rolled_back", "failed", "aborted"]


@dataclass(frozen=True)
class RolloutEvent:
    """A rollout that ended: succeeded, rolled back, failed or aborted."""

    strategy: str
    result: RolloutResult
    finished_at: datetime
    started_at: datetime | None = None
    revision: str | None = None
    task_definition: str | None = None
    reason: str = ""

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


@dataclass(frozen=True)
class Result:
    status: ResourceStatus
    requeue_after: float | None = None
    changed: bool = False
    events: list[RolloutEvent] = field(default_factory=list)
    notices: list[Event] = field(default_factory=list)
    """Deploy events that do not end a rollout (rollout started, hook failed), for the
    Notifier; finished rollouts reach it through notify.from_rollout(key, event)."""

    @property
    def done(self) -> bool:
        return self.requeue_after is None
