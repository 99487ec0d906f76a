"""Health gates of a new task set, read from ECS and CloudWatch on every reconcile.

A set is healthy when ECS says its tasks are up: runningCount reaches
computedDesiredCount (= ceil(desiredCount x scale)) with pendingCount 0 and a
STEADY_STATE stabilityStatus (endpoints that omit the counts, like moto, are judged by
stabilityStatus alone), and none of its load-balancer targets is unhealthy. It has
failed when:
  - one task stopped for a reason that will not heal by retrying (the image cannot be
    pulled, secrets cannot be injected, an essential container exited): fail fast;
  - `failureThreshold.stoppedTasks` tasks stopped for other reasons (health checks...);
  - a named CloudWatch alarm is in ALARM;
  - it is still not healthy after progressDeadlineSeconds.
Capacity problems (no Fargate capacity, Spot interruptions) are ECS's to retry: they
neither fail nor count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from controller.api.service import EcsServiceSpec
from controller.api.status import TaskCounts
from controller.aws.ecs import Ecs
from controller.aws.models import LiveTask, LiveTaskSet
from controller.aws.signals import Signals
from controller.errors import AwsError

FAIL_FAST = (
    "CannotPullContainerError",
    "ResourceInitializationError",
    "Essential container in task exited",
    "CannotStartContainerError",
    "InvalidParameterException",
)
CAPACITY = (
    "Capacity is unavailable",
    "RESOURCE:",
    "SpotInterruption",
    "Spot Task was interrupted",
    "TaskFailedToStart: Capacity",
)
SCALING_STOPS = ("ServiceSchedulerInitiated", "UserInitiated")


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    failed: bool = False
    reason: str = ""
    counts: TaskCounts | None = None
    stopped_reasons: list[str] = field(default_factory=list)


def expected_count(desired_count: int, scale_percent: float) -> int:
    return math.ceil(desired_count * scale_percent / 100 - 1e-9)


def describe_stop(task: LiveTask) -> str:
    parts = [task.stopped_reason or "stopped"]
    if task.stop_code:
        parts.append(f"stopCode {task.stop_code}")
    exits = [
        f"{c.name} exit {c.exit_code}"
        for c in task.containers
        if c.exit_code is not None and c.exit_code != 0
    ]
    if exits:
        parts.append(", ".join(exits))
    return "; ".join(parts)


def classify(task: LiveTask) -> str:
    """failure, fatal (fail fast), capacity (ignored) or scaling (ours, ignored)."""
    reason = task.stopped_reason or ""
    if task.stop_code in SCALING_STOPS and (
        "Scaling activity" in reason or task.stop_code == "UserInitiated"
    ):
        return "scaling"
    if any(marker in reason for marker in CAPACITY):
        return "capacity"
    if any(marker in reason for marker in FAIL_FAST):
        return "fatal"
    return "failure"


async def stopped_tasks(ecs: Ecs, cluster: str, task_set: LiveTaskSet) -> list[LiveTask]:
    arns = await ecs.list_task_arns(cluster, started_by=task_set.id, desired_status="STOPPED")
    if not arns:
        return []
    tasks = await ecs.describe_tasks(cluster, arns)
    return [
        t
        for t in tasks
        if t.started_by == task_set.id and t.task_definition_arn == task_set.task_definition
    ]


async def _alarm_failure(signals: Signals, names: list[str]) -> str | None:
    if not names:
        return None
    try:
        alarms = await signals.alarms(names)
    except AwsError as exc:
        if exc.retryable:
            raise
        return f"cannot read alarms {names}: {exc.message}"
    firing = [a for a in alarms if a.state == "ALARM"]
    if firing:
        return "alarm " + ", ".join(f"{a.name} is in ALARM ({a.reason})" for a in firing)
    return None


async def _target_state(
    ecs: Ecs, signals: Signals, cluster: str, spec: EcsServiceSpec, task_set: LiveTaskSet
) -> tuple[bool, str]:
    """(unhealthy, why) for the new set's registered targets; no targets seen: not unhealthy.
    The set's own target groups are read (with two, it is on one of the pair)."""
    lbs = task_set.load_balancers or spec.load_balancers
    groups = [lb.target_group_arn for lb in lbs if lb.target_group_arn]
    if not groups:
        return False, ""
    arns = await ecs.list_task_arns(cluster, started_by=task_set.id, desired_status="RUNNING")
    ips = {
        ip
        for t in (await ecs.describe_tasks(cluster, arns) if arns else [])
        for ip in t.private_ips
    }
    if not ips:
        return False, ""
    for group in groups:
        try:
            targets = await signals.target_health(group)
        except AwsError as exc:
            if exc.retryable:
                raise
            continue  # a target group we cannot read is not a verdict on the tasks
        bad = [t for t in targets if t.target_id in ips and t.state == "unhealthy"]
        if bad:
            return True, f"{len(bad)} targets unhealthy in the load balancer: {bad[0].reason}"
    return False, ""


async def judge(
    ecs: Ecs,
    signals: Signals,
    cluster: str,
    spec: EcsServiceSpec,
    service_desired_count: int,
    task_set: LiveTaskSet,
    now: datetime,
    *,
    since: datetime | None = None,
) -> Verdict:
    """The health of task_set; `since` is when its rollout began (for the deadline)."""
    stopped = await stopped_tasks(ecs, cluster, task_set)
    classes = [(classify(t), t) for t in stopped]
    failures = [t for c, t in classes if c in ("failure", "fatal")]
    reasons = [describe_stop(t) for t in failures][:10]
    want = expected_count(service_desired_count, task_set.scale_percent)
    counts = TaskCounts(
        desired=task_set.computed_desired_count
        if task_set.computed_desired_count is not None
        else want,
        running=task_set.running_count or 0,
        pending=task_set.pending_count or 0,
    )
    fatal = [t for c, t in classes if c == "fatal"]
    if fatal:
        return Verdict(False, True, f"a task stopped: {describe_stop(fatal[0])}", counts, reasons)
    threshold = spec.deployment.failure_threshold.stopped_tasks
    if len(failures) >= threshold:
        return Verdict(False, True, f"{len(failures)} tasks stopped: {reasons[0]}", counts, reasons)
    alarm = await _alarm_failure(signals, spec.deployment.alarms)
    if alarm is not None:
        return Verdict(False, True, alarm, counts, reasons)
    if task_set.computed_desired_count is None:
        healthy = task_set.stability_status == "STEADY_STATE"
    else:
        healthy = (
            task_set.computed_desired_count == want
            and task_set.running_count == want
            and task_set.pending_count == 0
            and task_set.stability_status in (None, "STEADY_STATE")
        )
    why = ""
    if healthy and want > 0:
        unhealthy, why = await _target_state(ecs, signals, cluster, spec, task_set)
        if unhealthy:
            healthy = False
            # "unhealthy" is already the load balancer's verdict after its own threshold
            # of failed checks; like ECS, it counts once the grace period has passed since
            # the set's tasks started (not since the current canary step)
            grace = spec.health_check_grace_period_seconds or 0
            born = task_set.created_at or since
            if born is not None and (now - born).total_seconds() > grace:
                return Verdict(False, True, why, counts, reasons)
    if healthy:
        return Verdict(True, counts=counts, stopped_reasons=reasons)
    deadline = spec.deployment.progress_deadline_seconds
    started = since or task_set.created_at
    if started is not None and (now - started).total_seconds() > deadline:
        return Verdict(
            False,
            True,
            f"not healthy after progressDeadlineSeconds ({deadline} s): "
            f"{counts.running}/{counts.desired} running, {counts.pending} pending"
            + (f"; {why}" if why else ""),
            counts,
            reasons,
        )
    return Verdict(False, counts=counts, stopped_reasons=reasons)
