"""Checks of a service: load balancers and registries, deployment and autoscaling settings.

check_service first checks placement and the task definition (placement.py,
task_definition.py); then each load balancer or service registry must target a container
and port the task definition maps, each field must be one the service's deployment
controller takes (deployment_controller.py), and the deployment and autoscaling settings
must be ones ECS and Application Auto Scaling accept.
"""

from __future__ import annotations

from controller.api import EcsService, TaskDefinitionInput
from controller.api.ecs_shapes import ContainerDefinition, LoadBalancer
from controller.loader.checks.deployment_controller import check_deployment_controller
from controller.loader.checks.findings import DocPath, Finding
from controller.loader.checks.placement import check_placement
from controller.loader.checks.task_definition import check_task_definition


def _check_target(
    at: DocPath,
    what: str,
    name: str,
    port: int | None,
    containers: dict[str, ContainerDefinition],
) -> list[Finding]:
    """A container (and port) that a load balancer or registry sends traffic to."""
    container = containers.get(name)
    if container is None:
        known = ", ".join(repr(n) for n in containers) or "none"
        return [
            Finding(
                (*at, "containerName"),
                f"{what} targets container {name!r}, which the task definition does not have (containers: {known})",
            )
        ]
    ports = [pm.container_port for pm in container.port_mappings or [] if pm.container_port]
    if port is not None and port not in ports:
        maps = ", ".join(str(p) for p in ports) if ports else "no ports"
        return [
            Finding(
                (*at, "containerPort"),
                f"{what} targets port {port} of container {name!r}, which maps {maps}: add a portMapping with containerPort {port} or fix the port",
            )
        ]
    return []


def _check_alternate(at: DocPath, lb: LoadBalancer) -> list[Finding]:
    """Two target groups: task sets take turns on them, traffic moves by the production rule."""
    adv = lb.advanced_configuration
    if adv is None or not adv.alternate_target_group_arn:
        return []
    where: DocPath = (*at, "advancedConfiguration")
    out: list[Finding] = []
    if not adv.production_listener_rule:
        out.append(
            Finding(
                where,
                "alternateTargetGroupArn needs productionListenerRule: the listener or listener rule whose forward weights move traffic between the two target groups",
            )
        )
    if adv.alternate_target_group_arn == lb.target_group_arn:
        out.append(
            Finding(
                (*where, "alternateTargetGroupArn"),
                "alternateTargetGroupArn must differ from targetGroupArn: task sets take turns on the two groups",
            )
        )
    return out


def check_service(svc: EcsService, td: TaskDefinitionInput) -> list[Finding]:
    out, fargate = check_placement(svc, td)
    out += check_task_definition(td, fargate=fargate)
    s = svc.spec
    containers: dict[str, ContainerDefinition] = {}
    for c in td.container_definitions:  # the first of a duplicated name, as reported
        if c.name:
            containers.setdefault(c.name, c)
    for i, lb in enumerate(s.load_balancers):
        at: DocPath = ("spec", "loadBalancers", i)
        if not lb.target_group_arn and not lb.load_balancer_name:
            out.append(
                Finding(at, "a load balancer needs targetGroupArn (the ALB or NLB target group)")
            )
        if lb.load_balancer_name and fargate:
            out.append(
                Finding(
                    (*at, "loadBalancerName"),
                    "Fargate services cannot use a Classic Load Balancer: use an ALB or NLB targetGroupArn",
                )
            )
        if lb.container_name is None or lb.container_port is None:
            missing = " and ".join(
                f
                for f, v in (
                    ("containerName", lb.container_name),
                    ("containerPort", lb.container_port),
                )
                if v is None
            )
            out.append(
                Finding(
                    at,
                    f"a load balancer needs {missing}: the container and port the target group sends traffic to",
                )
            )
        if lb.container_name is not None:
            out += _check_target(
                at, "load balancer", lb.container_name, lb.container_port, containers
            )
        out += _check_alternate(at, lb)
    for i, reg in enumerate(s.service_registries):
        if reg.container_name is not None:
            at = ("spec", "serviceRegistries", i)
            out += _check_target(
                at, "service registry", reg.container_name, reg.container_port, containers
            )
    out += check_deployment_controller(svc, td)
    if svc.spec.controller == "EXTERNAL":  # on type ECS, `deployment:` is itself the error
        out += _check_deployment(svc)
    out += _check_autoscaling(svc)
    return out


def _check_deployment(svc: EcsService) -> list[Finding]:
    out: list[Finding] = []
    d = svc.spec.deployment
    at: DocPath = ("spec", "deployment")
    r = d.rolling
    if r.maximum_percent <= r.minimum_healthy_percent:
        out.append(
            Finding(
                (*at, "rolling"),
                f"maximumPercent ({r.maximum_percent}) must be above minimumHealthyPercent ({r.minimum_healthy_percent}), or no task could ever be replaced",
            )
        )
    if d.strategy == "canary":
        if d.canary is None:
            out.append(
                Finding(
                    (*at, "strategy"),
                    "strategy canary needs deployment.canary.steps, e.g. [{weight: 10, pauseSeconds: 60}]",
                )
            )
        else:
            last = 0
            for i, step in enumerate(d.canary.steps):
                if step.weight <= last:
                    out.append(
                        Finding(
                            (*at, "canary", "steps", i, "weight"),
                            f"canary weights must increase step by step: {step.weight} follows {last}",
                        )
                    )
                last = step.weight
    elif d.canary is not None:
        out.append(
            Finding(
                (*at, "canary"),
                f"canary settings are ignored: strategy is {d.strategy!r}",
                "warning",
            )
        )
    return out


def _check_autoscaling(svc: EcsService) -> list[Finding]:
    a = svc.spec.auto_scaling
    if a is None:
        return []
    out: list[Finding] = []
    at: DocPath = ("spec", "autoScaling")
    if a.min_capacity > a.max_capacity:
        out.append(
            Finding(
                (*at, "minCapacity"),
                f"minCapacity {a.min_capacity} is above maxCapacity {a.max_capacity}: Application Auto Scaling rejects the range",
            )
        )
    elif (
        "desired_count" in svc.spec.model_fields_set
        and not a.min_capacity <= svc.spec.desired_count <= a.max_capacity
    ):
        # Unset, desiredCount is just the first count and autoscaling owns it from there.
        out.append(
            Finding(
                ("spec", "desiredCount"),
                f"desiredCount {svc.spec.desired_count} is outside autoScaling's {a.min_capacity}..{a.max_capacity}; autoscaling will move it, so set it within the range (or leave it out)",
                "warning",
            )
        )
    names: set[str] = set()
    for i, p in enumerate(a.target_tracking):
        if p.name in names:
            out.append(
                Finding(
                    (*at, "targetTracking", i, "name"),
                    f"scaling policy name {p.name!r} is used twice",
                )
            )
        names.add(p.name)
        if p.predefined_metric == "ALBRequestCountPerTarget":
            if not p.resource_label:
                out.append(
                    Finding(
                        (*at, "targetTracking", i),
                        "ALBRequestCountPerTarget needs resourceLabel: app/<load-balancer>/<id>/targetgroup/<target-group>/<id>",
                    )
                )
            if not svc.spec.load_balancers:
                out.append(
                    Finding(
                        (*at, "targetTracking", i, "predefinedMetric"),
                        "ALBRequestCountPerTarget needs a load balancer on the service",
                        "warning",
                    )
                )
    return out
