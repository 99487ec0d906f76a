"""What the controller knows of each resource: its last status, rollout history and the
revision it last applied, and the commits those revisions were.

One store, written by the reconciles and read by the HTTP view (endpoints.ControllerView)
and the metrics: a status replaces the previous one but carries its rollout history (newest
first, at most HISTORY_LIMIT) and its last cost figure over, and each finished rollout is
counted once in the metrics as it is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from controller.api import ResourceKey
from controller.api.status import ResourceStatus, RolloutRecord
from controller.observability.metrics import Metrics
from controller.reconcile.result import RolloutEvent
from controller.sources.base import Artifact

log = structlog.get_logger(__name__)

HISTORY_LIMIT = 10
COMMITS_KEPT = 20


class StatusStore:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.statuses: dict[ResourceKey, ResourceStatus] = {}
        self.applied: dict[ResourceKey, str] = {}
        """The revision each resource was last Synced on."""
        self.commits: dict[str, dict[str, str | None]] = {}
        """The last revisions loaded (at most COMMITS_KEPT): subject and author, so the
        status page names the commit each service runs, not only its hash."""

    def commit_seen(self, artifact: Artifact) -> None:
        self.commits[artifact.revision] = {"subject": artifact.subject, "author": artifact.author}
        while len(self.commits) > COMMITS_KEPT:
            del self.commits[next(iter(self.commits))]

    def put(
        self, key: ResourceKey, status: ResourceStatus, events: Iterable[RolloutEvent] = ()
    ) -> None:
        """Keep status as key's; carry the rollout history over and add finished rollouts
        (newest first, at most HISTORY_LIMIT), counting them in the metrics."""
        previous = self.statuses.get(key)
        history = list(status.history or (previous.history if previous is not None else []))
        if status.cost_description is None and previous is not None:
            # an error or a dependsOn wait says nothing new about the cost: keep the last
            status.estimated_monthly_cost = previous.estimated_monthly_cost
            status.cost_description = previous.cost_description
        for event in sorted(events, key=lambda e: e.finished_at):
            self.metrics.rollout_finished(event.strategy, event.result, event.duration_seconds)
            log.info(
                "rollout_finished",
                strategy=event.strategy,
                result=event.result,
                seconds=event.duration_seconds,
                reason=event.reason or None,
            )
            record = _record(event)
            if record not in history:
                history.insert(0, record)
        status.history = history[:HISTORY_LIMIT]
        self.statuses[key] = status

    def drop(self, key: ResourceKey) -> None:
        """The resource is gone (pruned, or left the source)."""
        self.statuses.pop(key, None)
        self.metrics.forget(str(key))


def _record(event: RolloutEvent) -> RolloutRecord:
    return RolloutRecord(
        revision=event.revision,
        strategy=event.strategy,
        result=event.result,
        started_at=event.started_at,
        finished_at=event.finished_at,
        duration_seconds=event.duration_seconds,
        task_definition=event.task_definition,
        reason=event.reason,
    )
