"""In-process fixes to moto's ECS backend so the emulator's answers match real ECS.

Design: each fix wraps one method of moto's `EC2ContainerServiceBackend` and is installed
while an `EmulatedAws` runs (and removed by `uninstall`), so a plain moto server in the
same process behaves as stock moto again afterwards. What real ECS does, and moto did not:
- Fargate tasks size from the task-level cpu/memory; moto summed container memory and
  failed with HTTP 500 when a container had none (the quickstart's task definition).
- CreateTaskSet launches nothing itself here (the emulator's driver starts the tasks with
  startedBy = the task set id), honours clientToken, inherits the service's launch type
  and network configuration, and answers with computedDesiredCount and STABILIZING.
  Every task-set call refuses services that do not use the EXTERNAL controller, like ECS.
- DeleteTaskSet turns the set DRAINING (one not scaled down to zero only when forced, as in
  ECS); the scheduler stops its tasks, then forgets it.
- UpdateServicePrimaryTaskSet accepts a task set id as well as an ARN.
- UpdateService keeps the live runningCount (moto copied desiredCount into it).
- CreateService / UpdateService keep what moto drops, refuse what ECS refuses, and run
  ECS-controller deployments; the service deployment API is added (service_api.py).
- RunTask/StartTask tasks start PENDING; StopTask sets stopCode UserInitiated.
- ListTasks filters on serviceName and defaults desiredStatus to RUNNING.
moto's `ecs::task` state manager is set to manual progression, so tasks no longer drift
to STOPPED as they are described: their state is the scheduler's alone. ELBv2's target
health answers with the state the scheduler keeps for the targets it registers (targets.py).
All wrappers run inside moto's request threads with the emulator's lock already held.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.exceptions import (
    InvalidParameterException,
    ServiceNotFoundException,
    TaskSetNotFoundException,
)
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task, TaskDefinition, TaskSet
from moto.moto_api import state_manager

from controller.local.config import STOP_CODE_USER, EmulatorConfig, computed_desired_count
from controller.local.service_api import ServiceApi
from controller.local.targets import install as install_targets
from controller.local.targets import uninstall as uninstall_targets
from controller.local.tasks import TaskBook, adopt, stop_now

Backend = EC2ContainerServiceBackend
TASK_MODEL = "ecs::task"
NEVER = {"progression": "manual", "times": 2**62}


def resource_units(value: str | int | None) -> int:
    """'512', 512, '1 vCPU' (1024) or '2 GB' (2048) as ECS CPU units / MiB."""
    if value is None:
        return 0
    text = str(value).strip().lower()
    for suffix in ("vcpu", "gb"):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)].strip()) * 1024)
    return int(float(text))


def refresh_task_set(service: Service, task_set: TaskSet) -> None:
    """Recompute computedDesiredCount; a change makes the set STABILIZING at once."""
    computed = computed_desired_count(service.desired_count, task_set.scale)
    if getattr(task_set, "computed_desired_count", None) != computed:
        task_set.computed_desired_count = computed  # type: ignore[attr-defined]
        task_set.updatedAt = utcnow()
        if task_set.stabilityStatus != "STABILIZING":
            task_set.stabilityStatus = "STABILIZING"
            task_set.stabilityStatusAt = utcnow()


def find_service(backend: Backend, cluster: str, service: str) -> Service:
    cluster_name = backend._get_cluster(cluster).name
    found = backend.services.get(f"{cluster_name}:{service.split('/')[-1]}")
    if found is None:
        raise ServiceNotFoundException
    return found


def external_service(backend: Backend, cluster: str, service: str) -> Service:
    """The service of a task-set call, which ECS refuses unless its controller is EXTERNAL."""
    found = find_service(backend, cluster, service)
    if found.deployment_controller.get("type") != "EXTERNAL":
        raise InvalidParameterException(
            "Amazon ECS only supports task set management on services configured "
            "to use external deployment controllers."
        )
    return found


def find_task_set(service: Service, task_set: str) -> TaskSet:
    for candidate in service.task_sets:
        if task_set in (candidate.task_set_arn, candidate.id):
            return candidate
    raise TaskSetNotFoundException


class MotoPatches:
    """Installs and removes the wrappers; `book` receives the tasks RunTask creates."""

    def __init__(self, book: TaskBook, config: EmulatorConfig) -> None:
        self.book = book
        self.config = config
        self._originals: dict[str, Any] = {}
        self.service_api = ServiceApi(book)

    def install(self) -> None:
        if self._originals:
            return
        wrappers: dict[str, Callable[..., Any]] = {
            "create_task_set": self._create_task_set,
            "delete_task_set": self._delete_task_set,
            "update_task_set": self._update_task_set,
            "update_service_primary_task_set": self._update_primary,
            "create_service": self._create_service,
            "update_service": self._update_service,
            "run_task": self._run_task,
            "start_task": self._start_task,
            "stop_task": self._stop_task,
            "list_tasks": self._list_tasks,
        }
        for name, wrapper in wrappers.items():
            self._originals[name] = Backend.__dict__[name]
            setattr(Backend, name, _bind(wrapper))
        requirements = "_calculate_task_resource_requirements"
        self._originals[requirements] = Backend.__dict__[requirements]
        setattr(Backend, requirements, staticmethod(self._resource_requirements))
        state_manager.set_transition(TASK_MODEL, NEVER)
        install_targets()
        self.service_api.install()

    def uninstall(self) -> None:
        for name, original in self._originals.items():
            setattr(Backend, name, original)
        self._originals.clear()
        state_manager.unset_transition(TASK_MODEL)
        uninstall_targets()
        self.service_api.uninstall()

    def _call(self, name: str, backend: Backend, *args: Any, **kwargs: Any) -> Any:
        return self._originals[name](backend, *args, **kwargs)

    def _resource_requirements(self, task_definition: TaskDefinition) -> dict[str, Any]:
        containers: list[dict[str, Any]] = task_definition.container_definitions
        sized = all("memory" in c or "memoryReservation" in c for c in containers)
        fargate = "FARGATE" in (task_definition.requires_compatibilities or [])
        if task_definition.memory and (fargate or not sized):
            mappings: list[dict[str, Any]] = [
                m for c in containers for m in c.get("portMappings") or []
            ]
            ports = [m["hostPort"] for m in mappings if "hostPort" in m]
            return {
                "CPU": resource_units(task_definition.cpu),
                "MEMORY": resource_units(task_definition.memory),
                "PORTS": ports,
                "PORTS_UDP": [],
            }
        result: dict[str, Any] = self._originals["_calculate_task_resource_requirements"](
            task_definition
        )
        return result

    def _create_task_set(
        self, backend: Backend, service: str, cluster_str: str, task_definition: str, **kw: Any
    ) -> TaskSet:
        service_obj = external_service(backend, cluster_str, service)
        if service_obj.status != "ACTIVE":
            raise InvalidParameterException("Service must be ACTIVE.")
        token = kw.get("client_token")
        if token:
            for existing in service_obj.task_sets:
                if existing.client_token == token:
                    return existing
        scale = kw.pop("scale", None) or {"value": 100.0, "unit": "PERCENT"}
        strategy = kw.get("capacity_provider_strategy")
        if not kw.get("launch_type") and not strategy:
            kw["launch_type"] = service_obj.launch_type
        if not kw.get("network_configuration") and service_obj.network_configuration:
            kw["network_configuration"] = service_obj.network_configuration
        task_set: TaskSet = self._call(
            "create_task_set", backend, service, cluster_str, task_definition, scale=None, **kw
        )
        task_set.scale = {"value": float(scale.get("value", 100.0)), "unit": "PERCENT"}
        if strategy and not kw.get("launch_type"):
            task_set.launch_type = None
        task_set.pending_count = 0  # type: ignore[attr-defined]
        task_set.running_count = 0  # type: ignore[attr-defined]
        task_set.stabilityStatus = "STABILIZING"
        refresh_task_set(service_obj, task_set)
        return task_set

    def _delete_task_set(
        self, backend: Backend, cluster: str, service: str, task_set: str, force: bool = False
    ) -> TaskSet:
        service_obj = external_service(backend, cluster, service)
        found = find_task_set(service_obj, task_set)
        if not force and computed_desired_count(service_obj.desired_count, found.scale) > 0:
            raise InvalidParameterException(
                "The specified task set has not been scaled down to zero. "
                "Set force to true to delete it anyway."
            )
        if found.status != "DRAINING":
            found.status = "DRAINING"
            found.updatedAt = utcnow()
            found.stabilityStatus = "STABILIZING"
            found.stabilityStatusAt = utcnow()
        return found

    def _update_task_set(
        self, backend: Backend, cluster: str, service: str, task_set: str, scale: dict[str, Any]
    ) -> TaskSet:
        service_obj = external_service(backend, cluster, service)
        found = find_task_set(service_obj, task_set)
        found.scale = {"value": float(scale.get("value", 100.0)), "unit": "PERCENT"}
        found.updatedAt = utcnow()
        refresh_task_set(service_obj, found)
        return found

    def _update_primary(
        self, backend: Backend, cluster: str, service: str, primary_task_set: str
    ) -> TaskSet:
        service_obj = external_service(backend, cluster, service)
        found = find_task_set(service_obj, primary_task_set)
        if found.status == "DRAINING":
            raise InvalidParameterException("The specified task set is DRAINING.")
        draining = [ts for ts in service_obj.task_sets if ts.status == "DRAINING"]
        result: TaskSet = self._call(
            "update_service_primary_task_set", backend, cluster, service, found.task_set_arn
        )
        for ts in draining:
            ts.status = "DRAINING"
        found.updatedAt = utcnow()
        return result

    def _create_service(self, backend: Backend, *args: Any, **kwargs: Any) -> Service:
        service: Service = self._call("create_service", backend, *args, **kwargs)
        service.running_count = 0
        service.pending_count = 0
        service.created_at = utcnow()  # type: ignore[attr-defined]
        return service

    def _update_service(self, backend: Backend, properties: dict[str, Any]) -> Service:
        cluster = properties.get("cluster", "default")
        before = find_service(backend, cluster, str(properties.get("service", "")))
        running, pending = before.running_count, before.pending_count
        # moto renames the current deployment on forceNewDeployment; service_api.py starts
        # a new one instead, as ECS does.
        properties.pop("force_new_deployment", None)
        service: Service = self._call("update_service", backend, properties)
        service.running_count, service.pending_count = running, pending
        if service.task_definition and not service.task_definition.startswith("arn:"):
            service.task_definition = backend.describe_task_definition(service.task_definition).arn
        for task_set in service.task_sets:
            refresh_task_set(service, task_set)
        return service

    def _run_task(self, backend: Backend, *args: Any, **kwargs: Any) -> list[Task]:
        tasks: list[Task] = self._call("run_task", backend, *args, **kwargs)
        self._adopt_all(backend, tasks)
        return tasks

    def _start_task(self, backend: Backend, *args: Any, **kwargs: Any) -> list[Task]:
        tasks: list[Task] = self._call("start_task", backend, *args, **kwargs)
        self._adopt_all(backend, tasks)
        return tasks

    def _adopt_all(self, backend: Backend, tasks: list[Task]) -> None:
        for task in tasks:
            definition = backend.describe_task_definition(task.task_definition_arn)
            adopt(task, definition, self.book, self.config, owner="")

    def _stop_task(self, backend: Backend, cluster_str: str, task_str: str, reason: str) -> Task:
        cluster = backend._get_cluster(cluster_str)
        task_id = task_str.split("/")[-1]
        for arn, task in backend.tasks.get(cluster.name, {}).items():
            if arn.endswith(task_id):
                if task.last_status != "STOPPED":
                    exit_code = 0 if task.last_status == "RUNNING" else None
                    timeline = self.book.get(task)
                    stop_now(
                        task,
                        timeline,
                        reason or "Task stopped by user",
                        STOP_CODE_USER,
                        exit_code,
                        time.monotonic(),
                    )
                return task
        raise InvalidParameterException("The referenced task was not found.")

    def _list_tasks(
        self,
        backend: Backend,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desired_status: str | None = None,
    ) -> list[Task]:
        tasks: list[Task] = self._call(
            "list_tasks",
            backend,
            cluster_str,
            container_instance,
            family,
            started_by,
            None,
            desired_status or "RUNNING",
        )
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if t.group == group]
        return tasks


def _bind(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function (so it binds as a method) calling `wrapper(backend, ...)`."""

    def method(backend: Backend, *args: Any, **kwargs: Any) -> Any:
        return wrapper(backend, *args, **kwargs)

    method.__name__ = getattr(wrapper, "__name__", "method").lstrip("_")
    return method
