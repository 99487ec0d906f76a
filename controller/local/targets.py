"""Load-balancer targets of emulated tasks, registered and deregistered as ECS does.

Design: ECS registers every task of a task set (or deployment) with loadBalancers on the
set's target groups once the task is RUNNING, and deregisters it when the task stops or
the set goes. `Targets.sync` does that once per tick for a whole ECS backend: it computes
what should be registered (ip target groups: the task's private IP at the containerPort;
instance target groups: the task's container instance, which Fargate tasks do not have)
and diffs it against what it registered itself on earlier ticks, through moto's ELBv2
backend of the same account and region. Targets registered by anyone else are left alone.

moto reports every registered ip target as `healthy`, so the state an ALB would report is
kept beside the target group (`HEALTH_ATTR`) and a wrapper of moto's `health_for`
(`install` / `uninstall`, run with the other patches) answers with it:
`initial` (Elb.RegistrationInProgress) until the task settles, then `healthy`; `unhealthy`
(Target.FailedHealthChecks) once the task's failure mode fails health checks; `draining`
(Target.DeregistrationInProgress) while a healthy task is stopping.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from moto.ecs.models import EC2ContainerServiceBackend, Task
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup, elbv2_backends

from controller.local.tasks import PENDING_STATES, TaskBook, Timeline, detail

log = structlog.get_logger("controller.local")

HEALTH_ATTR = "_ecs_gitops_health"
"""Attribute of a moto FakeTargetGroup: {target id: (state, reason, description)}."""

Health = tuple[str, str | None, str | None]
INITIAL: Health = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
HEALTHY: Health = ("healthy", None, None)
UNHEALTHY: Health = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
DRAINING: Health = (
    "draining",
    "Target.DeregistrationInProgress",
    "Target deregistration is in progress",
)

PATCHED = "health_for"
"""The FakeTargetGroup method wrapped (by name: its signature is moto's to change)."""
_original_health_for: Any = None


def install() -> None:
    """Make DescribeTargetHealth report the emulator's state for the targets it registered."""
    global _original_health_for
    if _original_health_for is not None:
        return
    _original_health_for = FakeTargetGroup.__dict__[PATCHED]
    original = _original_health_for

    def health_for(group: FakeTargetGroup, target: dict[str, Any], ec2: Any) -> FakeHealthStatus:
        status: FakeHealthStatus = original(group, target, ec2)
        override = getattr(group, HEALTH_ATTR, {}).get(status.instance_id)
        # Only registered targets are ours to describe; moto answers for the others.
        if override is not None and status.instance_id in group.targets:
            status.status, status.reason, status.description = override
        return status

    setattr(FakeTargetGroup, PATCHED, health_for)


def uninstall() -> None:
    global _original_health_for
    if _original_health_for is not None:
        setattr(FakeTargetGroup, PATCHED, _original_health_for)
        _original_health_for = None


@dataclass
class Targets:
    """What the emulator registered, per (account, region): {target group ARN: ids}."""

    book: TaskBook
    registered: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)

    def forget(self) -> None:
        self.registered.clear()

    def sync(self, backend: EC2ContainerServiceBackend) -> None:
        elb = elbv2_backends[backend.account_id][backend.region_name]
        wanted: dict[str, dict[str, tuple[int | None, Health]]] = {}
        by_owner: dict[str, list[Task]] = {}
        for task in _tasks(backend):
            timeline = self.book.get(task)
            if timeline is not None and timeline.owner:
                by_owner.setdefault(timeline.owner, []).append(task)
        for owner, balancers in _owners(backend):
            tasks = by_owner.get(owner, [])
            for lb in balancers:
                arn = str(lb.get("targetGroupArn") or "")
                group = elb.target_groups.get(arn)
                if group is None:
                    continue
                port = lb.get("containerPort")
                for task in tasks:
                    target_id = _target_id(backend, group, task)
                    timeline = self.book.get(task)
                    if target_id is not None and timeline is not None:
                        health = _health(task, timeline)
                        wanted.setdefault(arn, {})[target_id] = (port, health)
        key = (backend.account_id, backend.region_name)
        before = self.registered.get(key, {})
        for arn, ids in before.items():
            group = elb.target_groups.get(arn)
            gone = ids - set(wanted.get(arn, {}))
            if group is None or not gone:
                continue
            states: dict[str, Health] = getattr(group, HEALTH_ATTR, {})
            for target_id in gone:
                states.pop(target_id, None)
                if target_id in group.targets:
                    group.deregister([{"Id": target_id}])
        for arn, targets in wanted.items():
            group = elb.target_groups[arn]
            new = [{"Id": i, "Port": p} for i, (p, _) in targets.items() if i not in group.targets]
            try:
                if new:
                    group.register([{k: v for k, v in t.items() if v is not None} for t in new])
            except Exception as exc:  # e.g. a stopped EC2 instance: ELB refuses, ECS retries
                log.warning("emulated_target_registration_failed", group=arn, error=repr(exc))
                for target in new:
                    targets.pop(str(target["Id"]), None)
            if not hasattr(group, HEALTH_ATTR):
                setattr(group, HEALTH_ATTR, {})
            getattr(group, HEALTH_ATTR).update({i: h for i, (_, h) in targets.items()})
        self.registered[key] = {arn: set(t) for arn, t in wanted.items() if t}


def _owners(backend: EC2ContainerServiceBackend) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(task set or deployment id, its loadBalancers) of every service."""
    for service in list(backend.services.values()):
        if service.deployment_controller.get("type") == "EXTERNAL":
            for task_set in list(service.task_sets):
                yield task_set.id, list(task_set.load_balancers or [])
        else:
            for deployment in list(service.deployments):
                yield str(deployment.get("id")), list(service.load_balancers or [])


def _tasks(backend: EC2ContainerServiceBackend) -> Iterator[Task]:
    """Tasks that reached RUNNING and are not STOPPED yet (stopping ones still drain)."""
    for tasks in list(backend.tasks.values()):
        for task in list(tasks.values()):
            if task.last_status not in PENDING_STATES and task.last_status != "STOPPED":
                yield task


def _target_id(
    backend: EC2ContainerServiceBackend, group: FakeTargetGroup, task: Task
) -> str | None:
    if group.target_type == "ip":
        return next((ip for a in task.attachments if (ip := detail(a, "privateIPv4Address"))), None)
    if group.target_type == "instance" and task.container_instance_arn:
        # Fargate tasks have no instance; ECS refuses such a pairing at CreateService.
        instance_id = task.container_instance_arn.rsplit("/", 1)[-1]
        for instances in backend.container_instances.values():
            found = instances.get(task.container_instance_arn) or instances.get(instance_id)
            if found is not None:
                return str(found.ec2_instance_id)
    return None


def _health(task: Task, timeline: Timeline) -> Health:
    fails = timeline.mode.unhealthy or timeline.mode.target_unhealthy
    if fails and getattr(task, "health_status", None) == "UNHEALTHY":
        return UNHEALTHY  # the ELB marked it so; that is why the scheduler stops it
    if task.desired_status != "RUNNING":
        return DRAINING
    if timeline.settled:
        return UNHEALTHY if timeline.mode.target_unhealthy else HEALTHY
    return INITIAL
