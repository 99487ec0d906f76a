"""Health gates of a new task set, read from ECS each time (nothing kept in memory).

A set is healthy when ECS says its tasks are up: runningCount reaches
computedDesiredCount (= ceil(desiredCount x scale)) with pendingCount 0 and a
STEADY_STATE stabilityStatus. Endpoints that omit the counts (moto) are judged by
stabilityStatus alone. It has failed when it stopped `failureThreshold.stoppedTasks`
tasks for reasons other than scaling, or when it is still not healthy after
progressDeadlineSeconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from controller.api.service import EcsServiceSpec
from controller.api.status import TaskCounts
from controller.aws.ecs import Ecs
from controller.aws.models import LiveTask, LiveTaskSet

SCALING_STOPS = ("ServiceSchedulerInitiated", "UserInitiated")


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    failed: bool = False
    reason: str = ""
    counts: TaskCounts | None = None
    stopped_reasons: list[str] = field(default_factory=list)


def expected_count(desired_count: int, scale_percent: float) -> int:
    return math.ceil(desired_count * scale_percent / 100)


def describe_stop(task: LiveTask) -> str:
    parts = [task.stopped_reason or "stopped"]
    if task.stop_code:
        parts.append(f"stopCode {task.stop_code}")
    exits = [
        f"{c.name} exit {c.exit_code}" + (f" ({c.reason})" if c.reason else "")
        for c in task.containers
        if c.exit_code is not None or c.reason
    ]
    if exits:
        parts.append(", ".join(exits))
    return "; ".join(parts)


def is_failure(task: LiveTask) -> bool:
    if task.stop_code in SCALING_STOPS and "Scaling activity" in (task.stopped_reason or ""):
        return False
    return task.stop_code != "UserInitiated"


async def failed_tasks(ecs: Ecs, cluster: str, task_set: LiveTaskSet) -> list[LiveTask]:
    arns = await ecs.list_task_arns(cluster, started_by=task_set.id, desired_status="STOPPED")
    if not arns:
        return []
    tasks = await ecs.describe_tasks(cluster, arns)
    return [
        t
        for t in tasks
        if t.started_by == task_set.id
        and t.task_definition_arn == task_set.task_definition
        and is_failure(t)
    ]


async def judge(
    ecs: Ecs,
    cluster: str,
    spec: EcsServiceSpec,
    service_desired_count: int,
    task_set: LiveTaskSet,
    now: datetime,
) -> Verdict:
    stopped = await failed_tasks(ecs, cluster, task_set)
    reasons = [describe_stop(t) for t in stopped][:10]
    counts = TaskCounts(
        desired=task_set.computed_desired_count
        if task_set.computed_desired_count is not None
        else expected_count(service_desired_count, task_set.scale_percent),
        running=task_set.running_count or 0,
        pending=task_set.pending_count or 0,
    )
    threshold = spec.deployment.failure_threshold.stopped_tasks
    if len(stopped) >= threshold:
        return Verdict(
            False,
            True,
            f"{len(stopped)} tasks of the new task set stopped: {reasons[0]}",
            counts,
            reasons,
        )
    if task_set.computed_desired_count is None:
        healthy = task_set.stability_status == "STEADY_STATE"
    else:
        want = expected_count(service_desired_count, task_set.scale_percent)
        healthy = (
            task_set.computed_desired_count == want
            and task_set.running_count == want
            and task_set.pending_count == 0
            and task_set.stability_status in (None, "STEADY_STATE")
        )
    if healthy:
        return Verdict(True, counts=counts, stopped_reasons=reasons)
    deadline = spec.deployment.progress_deadline_seconds
    if task_set.created_at is not None and (now - task_set.created_at).total_seconds() > deadline:
        return Verdict(
            False,
            True,
            f"the new task set is not healthy after progressDeadlineSeconds ({deadline} s): "
            f"{counts.running}/{counts.desired} running, {counts.pending} pending",
            counts,
            reasons,
        )
    return Verdict(False, counts=counts, stopped_reasons=reasons)
