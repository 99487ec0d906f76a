"""Checks of which deployment controller takes which field, and of ECS's own rollout settings.

One file format serves two controllers (spec.deploymentController.type): EXTERNAL rolls
out through task sets with our `deployment:` strategies, ECS runs its own deployment
from `deploymentConfiguration`. A field the chosen controller does not take is an error
at that field naming the controller that takes it, since ECS would refuse it on the
first call (Service Connect on a task-set service) or ignore it silently (our canary
steps on a service ECS rolls out). On type ECS, deploymentConfiguration must be one ECS
accepts: each strategy's own settings only with that strategy, as its API reference says.
"""

from __future__ import annotations

from controller.api import EcsService, TaskDefinitionInput
from controller.api.service import ECS_ONLY_FIELDS
from controller.loader.checks.findings import DocPath, Finding

_WHY = {
    "deploymentConfiguration": "it configures the deployment ECS runs; a task-set rollout "
    "is configured by `deployment:`",
    "serviceConnectConfiguration": "ECS refuses Service Connect on a service whose "
    "deployment controller is EXTERNAL",
    "vpcLatticeConfigurations": "ECS refuses VPC Lattice on a service whose deployment "
    "controller is EXTERNAL",
    "volumeConfigurations": "task sets take no volume configurations",
    "availabilityZoneRebalancing": "ECS rebalances only the services it deploys itself",
}

_STRATEGY_SETTINGS = {
    "linearConfiguration": "LINEAR",
    "canaryConfiguration": "CANARY",
}


def check_deployment_controller(svc: EcsService, td: TaskDefinitionInput) -> list[Finding]:
    if svc.spec.controller == "EXTERNAL":
        return _check_external(svc)
    return _check_ecs(svc, td)


def _set_fields(svc: EcsService) -> list[str]:
    """The ECS-only fields the file gives a value (an empty list is no value)."""
    api = svc.spec.to_api()
    return [f for f in ECS_ONLY_FIELDS if api.get(f) not in (None, [], {})]


def _check_external(svc: EcsService) -> list[Finding]:
    return [
        Finding(
            ("spec", field),
            f"{field} is taken only by ECS's own deployment controller ({_WHY[field]}): "
            "set `deploymentController: {type: ECS}` to let ECS deploy this service, "
            f"or remove {field}",
        )
        for field in _set_fields(svc)
    ]


def _check_ecs(svc: EcsService, td: TaskDefinitionInput) -> list[Finding]:
    out: list[Finding] = []
    spec = svc.spec
    if "deployment" in spec.model_fields_set:
        out.append(
            Finding(
                ("spec", "deployment"),
                "deployment: holds ecs-gitops's task-set strategies, which run only with "
                "`deploymentController: {type: EXTERNAL}`; with type ECS, ECS runs the "
                "rollout: say how in deploymentConfiguration (strategy ROLLING | BLUE_GREEN "
                "| LINEAR | CANARY, minimumHealthyPercent, maximumPercent, "
                "deploymentCircuitBreaker, alarms, bakeTimeInMinutes, lifecycleHooks)",
            )
        )
    out += _check_configuration(svc)
    ports = {
        pm.name
        for c in td.container_definitions
        for pm in c.port_mappings or []
        if pm.name is not None
    }
    connect = spec.service_connect_configuration
    for i, service in enumerate((connect.services or []) if connect else []):
        out += _check_port_name(
            ("spec", "serviceConnectConfiguration", "services", i, "portName"),
            "Service Connect",
            service.port_name,
            ports,
        )
    for i, lattice in enumerate(spec.vpc_lattice_configurations):
        out += _check_port_name(
            ("spec", "vpcLatticeConfigurations", i, "portName"),
            "VPC Lattice",
            lattice.port_name,
            ports,
        )
    return out


def _check_port_name(at: DocPath, what: str, name: str, ports: set[str]) -> list[Finding]:
    if name in ports:
        return []
    named = ", ".join(sorted(repr(p) for p in ports)) or "none"
    return [
        Finding(
            at,
            f"{what} names port {name!r}, which no portMappings entry of the task definition "
            f'is named (named ports: {named}): add `"name": "{name}"` to the container\'s '
            "portMapping",
        )
    ]


def _check_configuration(svc: EcsService) -> list[Finding]:
    spec = svc.spec
    config = spec.deployment_configuration
    if config is None:
        return []
    at: DocPath = ("spec", "deploymentConfiguration")
    strategy = config.strategy or "ROLLING"
    given = config.to_api()
    out: list[Finding] = []
    for field, owner in _STRATEGY_SETTINGS.items():
        if field in given and strategy != owner:
            out.append(
                Finding(
                    (*at, field),
                    f"{field} is only valid with strategy {owner} (this one is {strategy})",
                )
            )
    if config.deployment_circuit_breaker is not None and strategy != "ROLLING":
        out.append(
            Finding(
                (*at, "deploymentCircuitBreaker"),
                "the deployment circuit breaker is only for strategy ROLLING; "
                f"{strategy} rolls back on alarms and lifecycle hooks",
            )
        )
    if strategy != "ROLLING":
        for i, lb in enumerate(spec.load_balancers):
            adv = lb.advanced_configuration
            if adv is None or not (
                adv.alternate_target_group_arn and adv.production_listener_rule and adv.role_arn
            ):
                out.append(
                    Finding(
                        ("spec", "loadBalancers", i),
                        f"strategy {strategy} shifts traffic between two target groups: give "
                        "this load balancer advancedConfiguration {alternateTargetGroupArn, "
                        "productionListenerRule, roleArn}",
                    )
                )
    linear = config.linear_configuration
    step = linear.step_percent if linear is not None else None
    if step is not None and not 3.0 <= step <= 100.0:
        out.append(
            Finding(
                (*at, "linearConfiguration", "stepPercent"),
                f"stepPercent {step:g} is outside ECS's 3.0..100.0",
            )
        )
    canary = config.canary_configuration
    share = canary.canary_percent if canary is not None else None
    if share is not None and not 0.1 <= share <= 100.0:
        out.append(
            Finding(
                (*at, "canaryConfiguration", "canaryPercent"),
                f"canaryPercent {share:g} is outside ECS's 0.1..100.0",
            )
        )
    return out
