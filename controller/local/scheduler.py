"""The emulated ECS service scheduler: one `tick` makes moto's services behave like Fargate.

Design: a pure function of moto's current state plus the `TaskBook`, run every tick by a
background thread of `EmulatedAws` with the emulator's lock held (the same lock every moto
request takes, so a tick never sees half a request). Per tick, for every ECS backend moto
holds (any account, any region):
1. each task moves one step along its timeline (tasks.advance);
2. each EXTERNAL service's task sets are scaled to computedDesiredCount =
   ceil(desiredCount x scale% / 100) (0 once DRAINING or the service is deleted), stopped
   tasks are replaced like the ECS scheduler does, and pendingCount / runningCount /
   stabilityStatus are written onto moto's TaskSet; DRAINING sets without tasks vanish;
3. ECS-controller services get the same treatment through their `deployments`, whose
   rollout (min/max percent, traffic-shifting strategies, circuit breaker, rollback)
   deployments.py plans and follows;
4. tasks whose owner is gone are stopped, service and cluster counts are summed, service
   events are written the way ECS words them, and STOPPED tasks beyond the cap are dropped;
5. tasks past PENDING are registered on their owner's target groups and the rest
   deregistered (targets.py), as ECS does for services with loadBalancers.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from moto.core.utils import utcnow
from moto.ecs.models import (
    Cluster,
    EC2ContainerServiceBackend,
    Service,
    Task,
    TaskDefinition,
    TaskSet,
    ecs_backends,
)

from controller.local.config import (
    REASON_SCALING,
    STOP_CODE_SCHEDULER,
    EmulatorConfig,
    computed_desired_count,
)
from controller.local.deployments import EcsDeployments
from controller.local.deployments import start as start_deployment
from controller.local.network import network_present, precreate_network
from controller.local.targets import Targets
from controller.local.tasks import (
    PENDING_STATES,
    TaskBook,
    adopt,
    advance,
    begin_stop,
    launch_task,
    settled_running,
    wanted,
)

log = structlog.get_logger("controller.local")

Backend = EC2ContainerServiceBackend
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


@dataclass
class Placement:
    """Where and how a scheduler owner (task set or deployment) runs its tasks."""

    owner: str
    task_definition: str
    launch_type: str | None
    capacity_provider_strategy: list[dict[str, Any]]
    platform_version: str | None
    network_configuration: dict[str, Any] | None


@dataclass
class Counts:
    pending: int = 0
    running: int = 0
    settled: bool = True
    stopping: bool = False
    failed: int = 0


class Driver:
    """Holds no moto state between ticks, only the task book and event throttling."""

    def __init__(self, config: EmulatorConfig, book: TaskBook) -> None:
        self.config = config
        self.book = book
        self._steady: dict[str, bool] = {}
        self._last_placement_error: dict[str, str] = {}
        self.targets = Targets(book)
        self.rollouts = EcsDeployments(config, book, self._event)

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.ensure_network()
        backends = [b for per_account in list(ecs_backends.values()) for b in per_account.values()]
        for backend in backends:
            try:
                self._tick_backend(backend, now)
            except Exception:  # one broken backend must not stop the others
                log.exception("emulated_ecs_tick_failed", region=backend.region_name)
        self.book.retain({arn for b in backends for tasks in b.tasks.values() for arn in tasks})

    def forget(self) -> None:
        """Drop per-service memory (after a reset: the same ARNs may come back fresh)."""
        self._steady.clear()
        self._last_placement_error.clear()
        self.targets.forget()

    def ensure_network(self) -> None:
        cfg = self.config
        for region in cfg.regions:
            if not network_present(
                region=region,
                subnets=cfg.subnets,
                security_groups=cfg.security_groups,
                account_id=cfg.account_id,
            ):
                precreate_network(
                    region=region,
                    subnets=cfg.subnets,
                    security_groups=cfg.security_groups,
                    account_id=cfg.account_id,
                )

    def _tick_backend(self, backend: Backend, now: float) -> None:
        owned: dict[str, list[Task]] = defaultdict(list)
        for tasks in list(backend.tasks.values()):
            for task in list(tasks.values()):
                timeline = self.book.get(task)
                if timeline is None:
                    if task.last_status == "STOPPED":
                        continue
                    definition = _definition_of(backend, task)
                    if definition is None:
                        continue
                    timeline = adopt(task, definition, self.book, self.config, owner="")
                if task.last_status != "STOPPED":
                    event = advance(task, timeline, self.config, now)
                    if event is not None:
                        log.debug("emulated_task", task=task.id, step=event, owner=timeline.owner)
                if timeline.owner:
                    owned[timeline.owner].append(task)
        live: set[str] = set()
        for service in list(backend.services.values()):
            cluster = backend.clusters.get(service.cluster_name)
            if cluster is None:
                continue
            try:
                if service.deployment_controller.get("type") == "EXTERNAL":
                    counts = self._task_sets(backend, cluster, service, owned, live, now)
                else:
                    counts = self._deployments(backend, cluster, service, owned, live, now)
            except Exception as exc:  # one broken service must not stop the others
                live.update(ts.id for ts in service.task_sets)
                live.update(str(d.get("id")) for d in service.deployments)
                self._placement_failed(service, getattr(exc, "message", None) or repr(exc))
                continue
            self._service_counts(service, counts)
        for owner, orphans in owned.items():
            if owner not in live:
                for orphan in orphans:
                    self._stop(orphan, REASON_SCALING.format(deployment=owner), now)
        self._cluster_counts(backend)
        self._prune_stopped(backend)
        self.targets.sync(backend)

    def _task_sets(
        self,
        backend: Backend,
        cluster: Cluster,
        service: Service,
        owned: dict[str, list[Task]],
        live: set[str],
        now: float,
    ) -> list[Counts]:
        results = []
        for task_set in list(service.task_sets):
            live.add(task_set.id)
            if service.status != "ACTIVE" and task_set.status != "DRAINING":
                task_set.status = "DRAINING"
            computed = computed_desired_count(service.desired_count, task_set.scale)
            target = 0 if task_set.status == "DRAINING" else computed
            tasks = owned[task_set.id]
            placement = Placement(
                owner=task_set.id,
                task_definition=task_set.task_definition,
                launch_type=task_set.launch_type,
                capacity_provider_strategy=task_set.capacity_provider_strategy,
                platform_version=task_set.platform_version,
                network_configuration=task_set.network_configuration,
            )
            counts = self._scale(backend, cluster, service, placement, tasks, target, now)
            steady = (
                task_set.status != "DRAINING"
                and counts.running == computed
                and counts.pending == 0
                and counts.settled
                and not counts.stopping
            )
            _write_task_set(task_set, computed, counts, steady)
            if task_set.status == "DRAINING" and all(t.last_status == "STOPPED" for t in tasks):
                service.task_sets.remove(task_set)
            results.append(counts)
        steady_service = service.status == "ACTIVE" and all(
            ts.stabilityStatus == "STEADY_STATE" for ts in service.task_sets
        )
        self._note_steady(service, steady_service and bool(service.task_sets))
        return results

    def _deployments(
        self,
        backend: Backend,
        cluster: Cluster,
        service: Service,
        owned: dict[str, list[Task]],
        live: set[str],
        now: float,
    ) -> list[Counts]:
        if not service.deployments and service.task_definition and service.status == "ACTIVE":
            start_deployment(service)  # created before the emulator ran, or by stock moto
        results: list[Counts] = []
        observed: dict[str, tuple[int, int, int, bool]] = {}
        for deployment, target in self.rollouts.plan(service, owned):
            live.add(deployment["id"])
            placement = Placement(
                owner=deployment["id"],
                task_definition=deployment["taskDefinition"],
                launch_type=deployment.get("launchType"),
                capacity_provider_strategy=deployment.get("capacityProviderStrategy") or [],
                platform_version=deployment.get("platformVersion"),
                network_configuration=deployment.get("networkConfiguration") or None,
            )
            tasks = owned[deployment["id"]]
            counts = self._scale(backend, cluster, service, placement, tasks, target, now)
            observed[deployment["id"]] = (target, counts.running, counts.pending, counts.settled)
            results.append(counts)
        done = self.rollouts.observe(service, owned, observed, now)
        self._note_steady(service, done and service.status == "ACTIVE")
        return results

    def _scale(
        self,
        backend: Backend,
        cluster: Cluster,
        service: Service,
        placement: Placement,
        tasks: list[Task],
        target: int,
        now: float,
    ) -> Counts:
        alive = wanted(tasks)
        if len(alive) < target and service.status == "ACTIVE":
            started = self._launch(backend, cluster, service, placement, target - len(alive))
            tasks.extend(started)
            if started:
                ids = " ".join(f"(task {t.id})" for t in started)
                self._event(
                    service, f"(service {service.name}) has started {len(started)} tasks: {ids}."
                )
        elif len(alive) > target:
            # ECS scales in the tasks that are not running yet first, then the newest.
            victims = sorted(alive, key=_created, reverse=True)
            victims.sort(key=lambda t: t.last_status == "RUNNING")
            victims = victims[: len(alive) - target]
            for task in victims:
                self._stop(task, REASON_SCALING.format(deployment=placement.owner), now)
            ids = " ".join(f"(task {t.id})" for t in victims)
            self._event(
                service,
                f"(service {service.name}) has stopped {len(victims)} running tasks: {ids}.",
            )
        counts = Counts()
        for task in tasks:
            timeline = self.book.get(task)
            if timeline is not None and timeline.failed:
                counts.failed += 1
            if task.desired_status == "RUNNING" and task.last_status in PENDING_STATES:
                counts.pending += 1
            elif task.desired_status == "RUNNING" and task.last_status == "RUNNING":
                counts.running += 1
                counts.settled = counts.settled and self._settled_running(task)
            elif task.last_status != "STOPPED":
                counts.stopping = True
        return counts

    def _launch(
        self, backend: Backend, cluster: Cluster, service: Service, placement: Placement, count: int
    ) -> list[Task]:
        definition = backend.describe_task_definition(placement.task_definition)
        provider = next(
            (s.get("capacityProvider") for s in placement.capacity_provider_strategy), None
        )
        launch_type = placement.launch_type
        if launch_type is None:
            launch_type = "FARGATE" if provider in (None, *FARGATE_PROVIDERS) else "EC2"
        tags = _propagated_tags(service, definition.tags)
        started: list[Task] = []
        for _ in range(count):
            try:
                task = launch_task(
                    backend,
                    self.book,
                    self.config,
                    cluster=cluster,
                    task_definition=definition,
                    owner=placement.owner,
                    group=f"service:{service.name}",
                    launch_type=launch_type,
                    capacity_provider=provider,
                    platform_version=placement.platform_version,
                    network_configuration=placement.network_configuration,
                    tags=tags,
                )
            except Exception as exc:  # moto's own validation (subnets, network mode, ...)
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                self._placement_failed(service, message)
                break
            started.append(task)
        return started

    def _placement_failed(self, service: Service, message: str) -> None:
        if self._last_placement_error.get(service.arn) == message:
            return
        self._last_placement_error[service.arn] = message
        log.warning("emulated_task_placement_failed", service=service.name, reason=message)
        self._event(
            service, f"(service {service.name}) was unable to place a task. Reason: {message}."
        )

    def _stop(self, task: Task, reason: str, now: float) -> None:
        timeline = self.book.get(task)
        if timeline is None or task.desired_status == "STOPPED":
            return
        begin_stop(task, timeline, reason, STOP_CODE_SCHEDULER, 0, self.config, now)

    def _settled_running(self, task: Task) -> bool:
        return settled_running(task, self.book.get(task))

    def _note_steady(self, service: Service, steady: bool) -> None:
        if steady and not self._steady.get(service.arn, False):
            self._event(service, f"(service {service.name}) has reached a steady state.")
        self._steady[service.arn] = steady

    def _event(self, service: Service, message: str) -> None:
        event = {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": message}
        service.events.insert(0, event)
        del service.events[self.config.service_events_kept :]

    def _service_counts(self, service: Service, counts: list[Counts]) -> None:
        service.running_count = sum(c.running for c in counts)
        service.pending_count = sum(c.pending for c in counts)

    def _cluster_counts(self, backend: Backend) -> None:
        for cluster in list(backend.clusters.values()):
            tasks = list(backend.tasks.get(cluster.name, {}).values())
            cluster.running_tasks_count = sum(1 for t in tasks if t.last_status == "RUNNING")
            cluster.pending_tasks_count = sum(1 for t in tasks if t.last_status in PENDING_STATES)
            cluster.active_services_count = sum(
                1
                for s in backend.services.values()
                if s.cluster_name == cluster.name and s.status == "ACTIVE"
            )

    def _prune_stopped(self, backend: Backend) -> None:
        keep = self.config.stopped_tasks_kept
        for tasks in list(backend.tasks.values()):
            stopped = [(arn, t) for arn, t in tasks.items() if t.last_status == "STOPPED"]
            if len(stopped) <= keep:
                continue
            stopped.sort(key=lambda pair: getattr(pair[1], "stopped_at", None) or datetime.min)
            for arn, _ in stopped[: len(stopped) - keep]:
                del tasks[arn]


def _definition_of(backend: Backend, task: Task) -> TaskDefinition | None:
    """The task's definition, without raising (it may have been deleted)."""
    try:
        return backend.describe_task_definition(task.task_definition_arn)
    except Exception:
        return None


def _created(task: Task) -> datetime:
    created = getattr(task, "created_at", None)
    return created if isinstance(created, datetime) else datetime.min


def _write_task_set(task_set: TaskSet, computed: int, counts: Counts, steady: bool) -> None:
    status = "STEADY_STATE" if steady else "STABILIZING"
    task_set.computed_desired_count = computed  # type: ignore[attr-defined]
    task_set.pending_count = counts.pending  # type: ignore[attr-defined]
    task_set.running_count = counts.running  # type: ignore[attr-defined]
    if task_set.stabilityStatus != status:
        task_set.stabilityStatus = status
        task_set.stabilityStatusAt = utcnow()
        task_set.updatedAt = utcnow()


def _propagated_tags(
    service: Service, definition_tags: list[dict[str, str]]
) -> list[dict[str, str]]:
    if service.propagate_tags == "SERVICE":
        return list(service.tags)
    if service.propagate_tags == "TASK_DEFINITION":
        return list(definition_tags)
    return []
