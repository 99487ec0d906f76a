"""One emulated Fargate task's life: PENDING -> RUNNING (-> settled) -> STOPPING -> STOPPED.

Design: tasks are real moto `Task` objects stored in moto's ECS backend, so DescribeTasks
and ListTasks show them exactly as moto serializes them; this module only sets the
attributes ECS would (lastStatus, desiredStatus, timestamps, stopCode, stoppedReason,
container exit codes, health) from a `Timeline` that the emulator keeps beside each task,
keyed by task ARN in a `TaskBook`. A timeline records what the task's image will do (its
`FailureMode`) and when it entered its current phase; `advance` moves a task at most one
step per call, so every phase is visible to clients for at least one tick.

"Settled" is the emulator's stand-in for "passed its health checks": a RUNNING task
settles after start_delay x settle_factor. Crash-looping images die before that, so their
task sets never reach STEADY_STATE. Nothing here locks: callers hold the emulator's lock.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ecs.models import Cluster, Container, EC2ContainerServiceBackend, Task, TaskDefinition

from controller.local.config import (
    REASON_ESSENTIAL_EXITED,
    REASON_HEALTH_CHECKS,
    REASON_PULL_FAILED,
    STOP_CODE_ESSENTIAL_EXITED,
    STOP_CODE_FAILED_TO_START,
    STOP_CODE_SCHEDULER,
    EmulatorConfig,
    FailureMode,
    failure_mode_for_images,
)

PENDING_STATES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})


@dataclass
class Timeline:
    """What the emulator knows about one task beyond moto's attributes."""

    arn: str
    mode: FailureMode
    owner: str
    """The task set or deployment id that started it; '' for RunTask/StartTask tasks."""
    since: float = field(default_factory=time.monotonic)
    """When the task entered its current phase (monotonic seconds)."""
    settled: bool = False
    failed: bool = False
    """Stopped because of its image (crash, pull failure, health), not by the scheduler."""
    pending_stop: tuple[str, str, int | None] | None = None
    """(reason, stopCode, exit code) to apply when STOPPING ends."""
    stopped_at: float | None = None


@dataclass
class TaskBook:
    """Timelines by task ARN; forgets tasks moto no longer has (after a reset)."""

    timelines: dict[str, Timeline] = field(default_factory=dict)

    def get(self, task: Task) -> Timeline | None:
        return self.timelines.get(task.task_arn)

    def add(self, timeline: Timeline) -> None:
        self.timelines[timeline.arn] = timeline

    def retain(self, arns: set[str]) -> None:
        for arn in [a for a in self.timelines if a not in arns]:
            del self.timelines[arn]


def wanted(tasks: list[Task]) -> list[Task]:
    """The tasks a scheduler still counts: meant to run and not stopped yet."""
    return [t for t in tasks if t.desired_status == "RUNNING" and t.last_status != "STOPPED"]


def settled_running(task: Task, timeline: Timeline | None) -> bool:
    """RUNNING, meant to keep running, and past its health checks (settled)."""
    return (
        task.last_status == "RUNNING"
        and task.desired_status == "RUNNING"
        and timeline is not None
        and timeline.settled
    )


def task_images(task_definition: TaskDefinition) -> list[str]:
    essential = [c for c in task_definition.container_definitions if c.get("essential", True)]
    return [str(c.get("image", "")) for c in essential or task_definition.container_definitions]


def mode_for(task_definition: TaskDefinition, config: EmulatorConfig) -> FailureMode:
    return failure_mode_for_images(task_images(task_definition), config.failure_modes)


def launch_task(
    backend: EC2ContainerServiceBackend,
    book: TaskBook,
    config: EmulatorConfig,
    *,
    cluster: Cluster,
    task_definition: TaskDefinition,
    owner: str,
    group: str,
    launch_type: str | None,
    capacity_provider: str | None,
    platform_version: str | None,
    network_configuration: dict[str, Any] | None,
    tags: list[dict[str, str]],
) -> Task:
    """A new PENDING task in moto's backend (may raise what moto raises, e.g. bad subnet)."""
    task = Task(
        cluster=cluster,
        task_definition=task_definition,
        container_instance_arn=None,
        resource_requirements=None,
        backend=backend,
        group=group,
        launch_type=launch_type or "",
        started_by=owner,
        tags=tags,
        networking_configuration=network_configuration,
        platform_version=platform_version or "LATEST",
        capacity_provider_name=capacity_provider,
    )
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    adopt(task, task_definition, book, config, owner=owner)
    return task


def adopt(
    task: Task,
    task_definition: TaskDefinition,
    book: TaskBook,
    config: EmulatorConfig,
    *,
    owner: str,
) -> Timeline:
    """Make a moto task look like a fresh Fargate task and start its timeline."""
    now = utcnow()
    task.last_status = "PENDING"
    task.desired_status = "RUNNING"
    _set(
        task,
        created_at=now,
        version=1,
        cpu=task_definition.cpu,
        memory=task_definition.memory,
        platform_family="Linux",
        health_status="UNKNOWN",
        connectivity="CONNECTED",
        connectivity_at=now,
        availability_zone=_availability_zone(task),
        platform_version=_resolved_platform(task.platform_version),
        stopped_reason=None,
    )
    task.containers = [
        _container(task, task_definition, c) for c in task_definition.container_definitions
    ]
    timeline = Timeline(arn=task.task_arn, mode=mode_for(task_definition, config), owner=owner)
    book.add(timeline)
    return timeline


def _container(
    task: Task, task_definition: TaskDefinition, definition: dict[str, Any]
) -> Container:
    container = Container(task_definition)  # type: ignore[abstract]
    container.task_arn = task.task_arn
    container.name = definition.get("name")
    container.image = definition.get("image")
    container.cpu = str(definition.get("cpu", 0))
    container.memory = definition.get("memory")
    container.environment = definition.get("environment")
    container.command = definition.get("command")
    container.last_status = "PENDING"
    container.exitCode = None  # type: ignore[assignment]
    container.health_status = "UNKNOWN"
    container.network_interfaces = [
        {"attachmentId": a["id"], "privateIpv4Address": detail(a, "privateIPv4Address")}
        for a in task.attachments
    ]
    _set(
        container,
        has_health_check="healthCheck" in definition,
        essential=definition.get("essential", True),
    )
    return container


def advance(task: Task, timeline: Timeline, config: EmulatorConfig, now: float) -> str | None:
    """Move `task` at most one step along its timeline; returns a short event name or None."""
    unit = config.task_start_delay
    elapsed = now - timeline.since
    mode = timeline.mode
    status = task.last_status
    if status in PENDING_STATES:
        if elapsed < unit * mode.start_delay_factor:
            return None
        if mode.pull_fails:
            reason = REASON_PULL_FAILED.format(image=_first_image(task))
            stop_now(task, timeline, reason, STOP_CODE_FAILED_TO_START, None, now, failed=True)
            for container in task.containers:
                _set(container, reason=reason)
            return "failed_to_start"
        _to_running(task, timeline, now)
        return "running"
    if status == "RUNNING" and task.desired_status == "RUNNING":
        if mode.crash_after_factor is not None and elapsed >= unit * mode.crash_after_factor:
            reason, code = REASON_ESSENTIAL_EXITED, STOP_CODE_ESSENTIAL_EXITED
            stop_now(task, timeline, reason, code, mode.exit_code, now, failed=True)
            return "crashed"
        if not timeline.settled and elapsed >= unit * config.settle_factor:
            if not mode.unhealthy:
                timeline.settled = True
                _settle_health(task)
                return "settled"
            if getattr(task, "health_status", None) != "UNHEALTHY":
                _set(task, health_status="UNHEALTHY")
                for container in task.containers:
                    container.health_status = "UNHEALTHY"
            if timeline.owner:  # RunTask tasks live on regardless of health, as in ECS
                begin_stop(
                    task, timeline, REASON_HEALTH_CHECKS, STOP_CODE_SCHEDULER, 143, config, now
                )
                timeline.failed = True
                return "unhealthy"
        if (
            not timeline.owner
            and config.standalone_task_seconds is not None
            and elapsed >= config.standalone_task_seconds
        ):
            stop_now(task, timeline, REASON_ESSENTIAL_EXITED, STOP_CODE_ESSENTIAL_EXITED, 0, now)
            return "exited"
        return None
    stopping = status != "STOPPED" and task.desired_status == "STOPPED"
    if stopping and timeline.pending_stop is not None and elapsed >= config.effective_stop_delay:
        reason, code, exit_code = timeline.pending_stop
        stop_now(task, timeline, reason, code, exit_code, now, failed=timeline.failed)
        return "stopped"
    return None


def begin_stop(
    task: Task,
    timeline: Timeline,
    reason: str,
    stop_code: str,
    exit_code: int | None,
    config: EmulatorConfig,
    now: float,
) -> None:
    """The scheduler (or a user) stops the task: STOPPING now, STOPPED after the stop delay."""
    if task.desired_status == "STOPPED":
        return
    if task.last_status in PENDING_STATES or config.effective_stop_delay <= 0:
        stop_now(
            task,
            timeline,
            reason,
            stop_code,
            None if task.last_status in PENDING_STATES else exit_code,
            now,
        )
        return
    task.desired_status = "STOPPED"
    task.last_status = "DEACTIVATING"
    _set(task, stopping_at=utcnow(), stop_code=stop_code, stopped_reason=reason)
    _bump(task)
    timeline.since = now
    timeline.pending_stop = (reason, stop_code, exit_code)


def stop_now(
    task: Task,
    timeline: Timeline | None,
    reason: str,
    stop_code: str,
    exit_code: int | None,
    now: float,
    *,
    failed: bool = False,
) -> None:
    """STOPPED at once, with ECS's reason and code; the task's ENI is released."""
    stamp = utcnow()
    was_running = task.last_status not in PENDING_STATES
    task.desired_status = "STOPPED"
    task.last_status = "STOPPED"
    task.stopped_reason = reason
    _set(task, stop_code=stop_code, stopped_at=stamp, execution_stopped_at=stamp)
    if getattr(task, "stopping_at", None) is None:
        _set(task, stopping_at=stamp)
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = exit_code if was_running else None  # type: ignore[assignment]
    _release_network(task)
    _bump(task)
    if timeline is not None:
        timeline.since = now
        timeline.stopped_at = now
        timeline.pending_stop = None
        timeline.failed = timeline.failed or failed


def _to_running(task: Task, timeline: Timeline, now: float) -> None:
    stamp = utcnow()
    task.last_status = "RUNNING"
    _set(task, pull_started_at=stamp, pull_stopped_at=stamp, started_at=stamp)
    for container in task.containers:
        container.last_status = "RUNNING"
        digest = hashlib.sha256(str(container.image).encode()).hexdigest()
        _set(container, image_digest=f"sha256:{digest}", runtime_id=f"{task.id[:32]}-{digest[:10]}")
    _bump(task)
    timeline.since = now


def _settle_health(task: Task) -> None:
    checked = [c for c in task.containers if getattr(c, "has_health_check", False)]
    for container in checked:
        container.health_status = "HEALTHY"
    if checked:
        _set(task, health_status="HEALTHY")


def _release_network(task: Task) -> None:
    ec2 = ec2_backends[task._account_id][task.region_name]
    for attachment in task.attachments:
        if attachment.get("status") == "DELETED":
            continue
        attachment["status"] = "DELETED"
        eni_id = detail(attachment, "networkInterfaceId")
        if eni_id:
            ec2.enis.pop(eni_id, None)


def _availability_zone(task: Task) -> str | None:
    subnet_id = next((detail(a, "subnetId") for a in task.attachments), None)
    if not subnet_id:
        return f"{task.region_name}a"
    ec2 = ec2_backends[task._account_id][task.region_name]
    for per_zone in ec2.subnets.values():
        if subnet_id in per_zone:
            return str(per_zone[subnet_id].availability_zone)
    return None


def _resolved_platform(version: str | None) -> str:
    """Fargate resolves LATEST to a concrete platform version on each task."""
    return "1.4.0" if version in (None, "", "LATEST") else str(version)


def detail(attachment: dict[str, Any], name: str) -> str | None:
    for detail in attachment.get("details", []):
        if detail.get("name") == name:
            return str(detail.get("value"))
    return None


def _first_image(task: Task) -> str:
    for container in task.containers:
        if getattr(container, "essential", True):
            return str(container.image)
    return str(task.containers[0].image) if task.containers else ""


def _bump(task: Task) -> None:
    _set(task, version=int(getattr(task, "version", 1)) + 1)


def _set(obj: object, **attributes: Any) -> None:
    """Set attributes moto's classes do not declare (moto serializes them by name)."""
    for name, value in attributes.items():
        setattr(obj, name, value)
