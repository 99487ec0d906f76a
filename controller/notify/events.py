"""Deploy events: what happened to which resource at which revision, for people and bots.

Design: an Event is a plain value built by the reconcile layer (rollout started, hook
failed), by the controller (drift detected) or from a finished rollout's RolloutEvent
(succeeded, rolled back, failed). This package sits beside observability, below the
reconcile layer, so it cannot import RolloutEvent: `from_rollout` takes anything shaped
like one (a Protocol). Each Event carries an id that every retry of every delivery
repeats, so receivers can drop duplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from controller.api.common import ResourceKey
from controller.api.notifications import EventName

TITLES: dict[str, str] = {
    "rollout_started": "rollout started",
    "rollout_succeeded": "rollout succeeded",
    "rollout_rolled_back": "rolled back",
    "rollout_failed": "rollout failed",
    "drift_detected": "drift detected",
    "hook_failed": "hook failed",
}
ROLLOUT_RESULTS: dict[str, EventName] = {
    "succeeded": "rollout_succeeded",
    "rolled_back": "rollout_rolled_back",
    "aborted": "rollout_rolled_back",
    "failed": "rollout_failed",
}


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Event:
    type: EventName
    resource: ResourceKey
    revision: str | None
    message: str
    at: datetime
    strategy: str | None = None
    task_definition: str | None = None
    hook: str | None = None
    """For hook_failed: the EcsTask's name."""
    task_arn: str | None = None
    id: str = field(default_factory=_new_id)

    @property
    def title(self) -> str:
        return TITLES[self.type]

    @property
    def short_revision(self) -> str:
        return (self.revision or "unknown")[:12]

    def to_json(self) -> dict[str, Any]:
        """The event as webhook receivers get it (camelCase, like the status API)."""
        out: dict[str, Any] = {
            "id": self.id,
            "event": self.type,
            "resource": {
                "kind": self.resource.kind,
                "cluster": self.resource.cluster,
                "name": self.resource.name,
                "region": self.resource.region,
            },
            "revision": self.revision,
            "message": self.message,
            "time": self.at.isoformat(),
        }
        extra = {
            "strategy": self.strategy,
            "taskDefinition": self.task_definition,
            "hook": self.hook,
            "taskArn": self.task_arn,
        }
        out.update({k: v for k, v in extra.items() if v is not None})
        return out


class RolloutLike(Protocol):
    """The shape of controller.reconcile.result.RolloutEvent."""

    @property
    def strategy(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def finished_at(self) -> datetime: ...
    @property
    def revision(self) -> str | None: ...
    @property
    def task_definition(self) -> str | None: ...
    @property
    def reason(self) -> str: ...


def from_rollout(key: ResourceKey, rollout: RolloutLike) -> Event:
    """The event for a finished rollout (succeeded, rolled back, aborted, failed)."""
    kind = ROLLOUT_RESULTS.get(rollout.result, "rollout_failed")
    td = (rollout.task_definition or "").rsplit("/", 1)[-1] or None
    if kind == "rollout_succeeded":
        message = f"{td or 'the new task set'} is PRIMARY ({rollout.strategy})"
        if rollout.reason:  # why it rolled without a commit ("secret rotated: db")
            message += f": {rollout.reason}"
    else:
        message = rollout.reason or rollout.result.replace("_", " ")
        if rollout.result == "aborted":
            message = f"aborted: {message}"
    return Event(
        kind,
        key,
        rollout.revision,
        message,
        rollout.finished_at,
        strategy=rollout.strategy,
        task_definition=rollout.task_definition,
    )


def drift_detected(key: ResourceKey, revision: str | None, message: str, at: datetime) -> Event:
    """Live state moved away from the applied revision (someone changed it by hand)."""
    return Event("drift_detected", key, revision, message, at)
