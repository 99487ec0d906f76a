"""CreateService / UpdateService as ECS takes them, and the service deployment API moto lacks.

Design: wrappers around moto's ECS *response* methods (where the request's parameters are
still whole: moto's backend never sees the fields it drops), installed and removed with the
other patches. CreateService and UpdateService check ECS's refusals (refusals.py) before
moto acts, then keep every field moto dropped on moto's `Service` under its snake_case name,
where moto's serializer shows it if ECS's Service shape has it (deployment-level fields such
as serviceConnectConfiguration appear only on deployments[]). On an ECS-controller service a
new task definition, a changed revision field or forceNewDeployment starts a deployment
(deployments.py); a deploymentController change converts the running tasks in place (the
deployment becomes the primary task set, or the primary task set the deployment), so not one
task stops. ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment and
ContinueServiceDeployment are added as new response methods; their results are shaped by
botocore's model. DeleteTaskSet hands the backend the `force` moto's response drops.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskSet
from moto.ecs.responses import EC2ContainerServiceResponse as Response

from controller.local import deployment_records as records
from controller.local import deployments
from controller.local.refusals import check_create, check_update, controller_of
from controller.local.tasks import TaskBook

KEPT_ON_CREATE = (
    "deploymentConfiguration",
    "capacityProviderStrategy",
    "placementConstraints",
    "placementStrategy",
    "healthCheckGracePeriodSeconds",
    "enableECSManagedTags",
    "enableExecuteCommand",
    "availabilityZoneRebalancing",
    *records.DEPLOYMENT_ONLY,
)
"""CreateService fields moto drops and ECS keeps."""
NOT_FIELDS = frozenset(
    {"cluster", "service", "forceNewDeployment", "deploymentController", "taskDefinition"}
)
"""Request fields that are not service fields, or that moto (patches.py) already stores."""


class ConflictException(ECSException):
    code = "ConflictException"

    def __init__(self, message: str):
        super().__init__(message)


class ServiceDeploymentNotFoundException(ECSException):
    code = "ServiceDeploymentNotFoundException"

    def __init__(self, message: str):
        super().__init__(message)


class ServiceApi:
    """Installs the response wrappers; `book` lets a controller switch re-own tasks."""

    def __init__(self, book: TaskBook) -> None:
        self.book = book
        self._originals: dict[str, Any] = {}

    def install(self) -> None:
        if self._originals:
            return
        methods: dict[str, Callable[[Response], ActionResult]] = {
            "create_service": self._create_service,
            "update_service": self._update_service,
            "delete_task_set": self._delete_task_set,
            "list_service_deployments": _list_service_deployments,
            "describe_service_deployments": _describe_service_deployments,
            "stop_service_deployment": _stop_service_deployment,
            "continue_service_deployment": _continue_service_deployment,
        }
        for name, method in methods.items():
            self._originals[name] = Response.__dict__.get(name)
            setattr(Response, name, _bind(method))

    def uninstall(self) -> None:
        for name, original in self._originals.items():
            if original is None:
                delattr(Response, name)
            else:
                setattr(Response, name, original)
        self._originals.clear()

    def _create_service(self, response: Response) -> ActionResult:
        params = plain(response._get_params())
        check_create(params)
        result: ActionResult = self._originals["create_service"](response)
        service = _service(response.ecs_backend, params.get("cluster"), params["serviceName"])
        for name in KEPT_ON_CREATE:
            if params.get(name) is not None:
                records.set_field(service, name, params[name])
        if controller_of(service.deployment_controller) == "ECS":
            settings = records.configuration(service)
            records.set_field(service, "deploymentConfiguration", settings)
            service.deployments.clear()  # moto's own, which ignores most of the fields
            if service.task_definition:
                deployments.start(service)
        return result

    def _delete_task_set(self, response: Response) -> ActionResult:
        """moto's response drops `force`: this one hands it to the backend, whose
        wrapper (patches.py) refuses, as ECS does, a set not scaled down to zero
        unless forced."""
        params = plain(response._get_params())
        # patches.py's wrapper, installed with this one, takes the `force` moto's lacks
        delete: Callable[..., TaskSet] = response.ecs_backend.delete_task_set
        task_set = delete(
            params.get("cluster"),
            params.get("service"),
            params.get("taskSet"),
            force=bool(params.get("force")),
        )
        return ActionResult({"taskSet": task_set})

    def _update_service(self, response: Response) -> ActionResult:
        params = plain(response._get_params())
        backend = response.ecs_backend
        service = _service(backend, params.get("cluster"), params["service"])
        given = {k: v for k, v in params.items() if v is not None}
        check_update(service, given)
        before = records.revision_fields(service)
        settings = records.get_field(service, "deploymentConfiguration") or {}
        current = controller_of(service.deployment_controller)
        result: ActionResult = self._originals["update_service"](response)
        for name, value in given.items():
            if name not in NOT_FIELDS:
                records.set_field(service, name, value)
        if "deploymentConfiguration" in given:
            merged = {**settings, **given["deploymentConfiguration"]}
            records.set_field(service, "deploymentConfiguration", merged)
        wanted = controller_of(given.get("deploymentController") or {"type": current})
        service.deployment_controller = {"type": current}
        if wanted != current:
            self._switch(backend, service, current, wanted)
        elif wanted == "ECS":
            changed = records.revision_fields(service) != before
            if changed or given.get("forceNewDeployment"):
                deployments.start(service)
        return result

    def _switch(
        self, backend: EC2ContainerServiceBackend, service: Service, current: str, wanted: str
    ) -> None:
        """Hand the running tasks from one controller's unit to the other's, as ECS does."""
        service.deployment_controller = {"type": wanted}
        if wanted == "EXTERNAL":
            running: list[dict[str, Any]] = service.deployments
            deployment = running[0] if running else None
            service.deployments = []
            if deployment is None:
                return
            task_set = TaskSet(
                service.name,
                service.cluster_name,
                deployment["taskDefinition"],
                service.region_name,
                service._account_id,
                load_balancers=service.load_balancers,
                service_registries=service.service_registries,
                launch_type=deployment.get("launchType"),
                capacity_provider_strategy=deployment.get("capacityProviderStrategy"),
                platform_version=deployment.get("platformVersion"),
                network_configuration=deployment.get("networkConfiguration"),
            )
            task_set.status = "PRIMARY"
            task_set.scale = {"value": 100.0, "unit": "PERCENT"}
            task_set.stabilityStatus = "STEADY_STATE"
            task_set.computed_desired_count = service.desired_count  # type: ignore[attr-defined]
            task_set.running_count = deployment["runningCount"]  # type: ignore[attr-defined]
            task_set.pending_count = deployment["pendingCount"]  # type: ignore[attr-defined]
            service.task_sets = [task_set]
            records.set_field(service, "deploymentConfiguration", None)
            self._reown(deployment["id"], task_set.id)
            return
        task_set = service.task_sets[0]
        service.task_definition = task_set.task_definition
        records.set_field(service, "networkConfiguration", task_set.network_configuration)
        records.set_field(service, "launchType", task_set.launch_type)
        records.set_field(service, "platformVersion", task_set.platform_version)
        service.task_sets = []
        settings = records.configuration(service)
        records.set_field(service, "deploymentConfiguration", settings)
        started = deployments.start(service)
        self._reown(task_set.id, started["id"])

    def _reown(self, old_owner: str, new_owner: str) -> None:
        for timeline in self.book.timelines.values():
            if timeline.owner == old_owner:
                timeline.owner = new_owner


def _list_service_deployments(response: Response) -> ActionResult:
    params = plain(response._get_params())
    service = _service(response.ecs_backend, params.get("cluster"), params["service"])
    statuses = set(params.get("status") or [])
    window = params.get("createdAt") or {}
    found = []
    for record in reversed(records.history(service).records):
        if statuses and record.status not in statuses:
            continue
        if not _within(record.created_at, window):
            continue
        found.append(records.brief(service, record))
    limit = int(params.get("maxResults") or 20)
    offset = int(params.get("nextToken") or 0)
    page = found[offset : offset + limit]
    token = str(offset + limit) if offset + limit < len(found) else None
    return ActionResult({"serviceDeployments": page, "nextToken": token})


def _describe_service_deployments(response: Response) -> ActionResult:
    params = plain(response._get_params())
    arns: list[str] = list(params.get("serviceDeploymentArns") or [])
    if not arns:
        raise InvalidParameterException("serviceDeploymentArns cannot be empty.")
    found, failures = [], []
    for arn in arns:
        located = _locate(response.ecs_backend, arn)
        if located is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(records.describe(*located))
    return ActionResult({"serviceDeployments": found, "failures": failures})


def _stop_service_deployment(response: Response) -> ActionResult:
    params = plain(response._get_params())
    arn = str(params["serviceDeploymentArn"])
    stop_type = str(params.get("stopType") or "ROLLBACK")
    located = _locate(response.ecs_backend, arn)
    if located is None:
        raise ServiceDeploymentNotFoundException(f"The service deployment {arn} does not exist.")
    _, record = located
    if record.status != "IN_PROGRESS":
        raise ConflictException(
            "The request could not be processed because of conflict in the current state of "
            f"the resource: the service deployment is {record.status}, not IN_PROGRESS."
        )
    record.requested = stop_type
    record.set("ROLLBACK_REQUESTED" if stop_type == "ROLLBACK" else "STOP_REQUESTED")
    return ActionResult({"serviceDeploymentArn": arn})


def _continue_service_deployment(response: Response) -> ActionResult:
    params = plain(response._get_params())
    arn = str(params["serviceDeploymentArn"])
    located = _locate(response.ecs_backend, arn)
    if located is None:
        raise ServiceDeploymentNotFoundException(f"The service deployment {arn} does not exist.")
    hook_id = str(params["hookId"])
    if not records.continue_deployment(
        located[1], hook_id, str(params.get("action") or "CONTINUE")
    ):
        raise InvalidParameterException(
            f"The lifecycle hook {hook_id} of service deployment {arn} is not awaiting action."
        )
    return ActionResult({"serviceDeploymentArn": arn})


def _locate(backend: EC2ContainerServiceBackend, arn: str) -> tuple[Service, records.Record] | None:
    for service in backend.services.values():
        for record in records.history(service).records:
            if record.arn == arn:
                return service, record
    return None


def _within(created: datetime, window: dict[str, Any]) -> bool:
    before, after = window.get("before"), window.get("after")
    stamp = created.timestamp()
    if isinstance(before, datetime) and stamp >= before.timestamp():
        return False
    return not (isinstance(after, datetime) and stamp <= after.timestamp())


def _service(backend: EC2ContainerServiceBackend, cluster: str | None, name: str) -> Service:
    service: Service = backend._get_service(cluster or "default", str(name).split("/")[-1])
    return service


def plain(value: Any) -> Any:
    """moto's parsed parameters (mappings keyed by snake_case) as the request's camelCase."""
    original = getattr(value, "original_dict", None)
    if original is not None:
        value = original()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _bind(method: Callable[[Response], ActionResult]) -> Callable[[Response], ActionResult]:
    def action(response: Response) -> ActionResult:
        return method(response)

    action.__name__ = getattr(method, "__name__", "action").lstrip("_")
    return action
