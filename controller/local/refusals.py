"""What real ECS refuses about a service's deployment controller, with ECS's error codes.

Design: pure checks over the request's parameters (camelCase, as the API takes them) and
moto's `Service`, raising moto's serializable exceptions so a client sees the error code and
message ECS answers with. The rules, from the ECS API reference and the developer guide:
- Service Connect, VPC Lattice and EBS volume configurations exist only on services that use
  the ECS deployment controller (CreateService / UpdateService on an EXTERNAL service).
- CreateService on EXTERNAL takes no task definition, network configuration or load
  balancers: those are each task set's.
- Task-set calls need the EXTERNAL controller (patches.py raises that one, worded by ECS).
- UpdateService on an EXTERNAL service updates only the desired count, placement constraints
  and strategies, health check grace period, managed tags and propagate tags (and, since
  2025, the deployment controller itself); a task definition, network configuration, load
  balancers, platform version or capacity providers need a new task set.
- Changing the deployment controller in place is refused while Service Connect or VPC Lattice
  is configured, while a deployment is in progress, and (EXTERNAL -> ECS) unless exactly one
  task set exists and it is the primary one.
Messages quoted in ECS's docs are used verbatim; the others follow ECS's wording for the
CODE_DEPLOY controller ("Unable to update ... on services with a ... deployment controller").
"""

from __future__ import annotations

from typing import Any

from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import Service

ECS_ONLY = ("serviceConnectConfiguration", "vpcLatticeConfigurations", "volumeConfigurations")
"""Request fields ECS accepts only on services whose deployment controller is ECS."""

EXTERNAL_UPDATABLE = frozenset(
    {
        "cluster",
        "service",
        "desiredCount",
        "placementConstraints",
        "placementStrategy",
        "healthCheckGracePeriodSeconds",
        "enableECSManagedTags",
        "propagateTags",
        "enableExecuteCommand",
        "deploymentController",
    }
)
"""UpdateService fields an EXTERNAL service takes (enableExecuteCommand: ECS applies it to the
tasks the next task set starts, so it is not a task-set field and is accepted)."""

NEEDS_TASK_SET = {
    "taskDefinition": "task definition",
    "networkConfiguration": "network parameters",
    "platformVersion": "platform version",
    "loadBalancers": "load balancers",
    "capacityProviderStrategy": "capacity provider strategy",
    "serviceRegistries": "service registries",
    "deploymentConfiguration": "deployment configuration",
    "forceNewDeployment": "forceNewDeployment",
    "availabilityZoneRebalancing": "availability zone rebalancing",
}

MULTIPLE_TASK_SETS = (
    "Updating the deployment controller is not supported when there are multiple tasksets in "
    "the service. Please ensure your service has only one taskset and try again."
)
NO_PRIMARY_TASK_SET = (
    "Updating the deployment controller requires a primary taskset in the service. Please "
    "ensure your service has a primary taskset and try again."
)


class ClientException(ECSException):
    code = "ClientException"

    def __init__(self, message: str):
        super().__init__(message)


def controller_of(params: dict[str, Any] | None) -> str:
    """The deployment controller type a request names (ECS when it names none, as in ECS)."""
    return str((params or {}).get("type") or "ECS")


def check_create(params: dict[str, Any]) -> None:
    """CreateService: fields that the requested controller does not take."""
    controller = controller_of(params.get("deploymentController"))
    if controller == "EXTERNAL":
        _refuse_ecs_only(params, controller)
        if params.get("taskDefinition"):
            raise InvalidParameterException("TaskDefinition must be blank.")
        # where the tasks run and what they serve belong to each task set (CreateTaskSet);
        # ECS's own words, as CloudFormation and Terraform users have quoted them
        if params.get("networkConfiguration"):
            raise InvalidParameterException("NetworkConfiguration must be null.")
        if params.get("loadBalancers"):
            raise InvalidParameterException("LoadBalancers must be empty or null.")


def check_update(service: Service, params: dict[str, Any]) -> None:
    """UpdateService on `service` with the request's (camelCase, non-null) parameters."""
    current = controller_of(service.deployment_controller)
    wanted = controller_of(params.get("deploymentController") or service.deployment_controller)
    if wanted != current:
        check_controller_switch(service, current, wanted)
    if wanted == "EXTERNAL":
        _refuse_ecs_only(params, wanted)
        if current == "EXTERNAL":
            for field in params:
                if field in EXTERNAL_UPDATABLE:
                    continue
                what = NEEDS_TASK_SET.get(field, field)
                raise InvalidParameterException(
                    f"Unable to update {what} on services with a EXTERNAL deployment "
                    "controller. Use a new task set (CreateTaskSet) to change it."
                )


def check_controller_switch(service: Service, current: str, wanted: str) -> None:
    if current not in ("ECS", "EXTERNAL") or wanted not in ("ECS", "EXTERNAL"):
        raise InvalidParameterException(
            f"Updating the deployment controller from {current} to {wanted} is not supported."
        )
    if _enabled(getattr(service, "service_connect_configuration", None)):
        raise InvalidParameterException(
            "Updating the deployment controller is not supported for services that use "
            "Service Connect. Remove the Service Connect configuration and try again."
        )
    if getattr(service, "vpc_lattice_configurations", None):
        raise InvalidParameterException(
            "Updating the deployment controller is not supported for services that use "
            "VPC Lattice. Remove the VPC Lattice configurations and try again."
        )
    if current == "ECS":
        deployments: list[dict[str, Any]] = service.deployments
        if len(deployments) > 1 or any(d.get("rolloutState") == "IN_PROGRESS" for d in deployments):
            raise InvalidParameterException(
                "Updating the deployment controller is not supported while a deployment is in "
                "progress. Wait for the deployment to complete and try again."
            )
        return
    live = [ts for ts in service.task_sets if ts.status != "DRAINING"]
    if len(service.task_sets) > 1:
        raise InvalidParameterException(MULTIPLE_TASK_SETS)
    if not live or live[0].status != "PRIMARY":
        raise InvalidParameterException(NO_PRIMARY_TASK_SET)


def _refuse_ecs_only(params: dict[str, Any], controller: str) -> None:
    for field in ECS_ONLY:
        value = params.get(field)
        if field == "serviceConnectConfiguration" and not _enabled(value):
            continue
        if value:
            raise InvalidParameterException(
                f"{field} is not supported for services that use the {controller} deployment "
                "controller. Use the ECS deployment controller (deploymentController type ECS)."
            )


def _enabled(service_connect: Any) -> bool:
    return isinstance(service_connect, dict) and bool(service_connect.get("enabled"))
