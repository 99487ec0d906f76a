"""Where work runs: launch type or capacity provider strategy, and network; tasks and clusters.

check_placement is shared by services and tasks and tells whether the work runs on Fargate,
so the task definition is checked under Fargate's rules when it does. check_task adds a
task's overrides (sized against Fargate's table); check_cluster its capacity providers and
default strategy, which check_strategy checks as it does a service's or a task's.
"""

from __future__ import annotations

from controller.api import EcsCluster, EcsService, EcsTask, TaskDefinitionInput
from controller.api.ecs_shapes import CapacityProviderStrategyItem, NetworkConfiguration
from controller.api.units import cpu_units, memory_mib
from controller.loader.checks.fargate import fargate_size_problem
from controller.loader.checks.findings import DocPath, Finding, Parser, parse_size
from controller.loader.checks.task_definition import check_task_definition

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def _uses_fargate(launch_type: str | None, strategy: list[CapacityProviderStrategyItem]) -> bool:
    return launch_type == "FARGATE" or any(
        i.capacity_provider in FARGATE_PROVIDERS for i in strategy
    )


def check_strategy(items: list[CapacityProviderStrategyItem], at: DocPath) -> list[Finding]:
    """A capacity provider strategy as ECS accepts it (services, tasks, cluster default)."""
    out: list[Finding] = []
    seen: set[str] = set()
    based: str | None = None
    for i, item in enumerate(items):
        name = item.capacity_provider
        if name in seen:
            out.append(
                Finding((*at, i, "capacityProvider"), f"capacity provider {name!r} is listed twice")
            )
        seen.add(name)
        if item.base:
            if based is not None:
                out.append(
                    Finding(
                        (*at, i, "base"),
                        f"only one capacity provider of a strategy can have a base, and {based!r} already has one",
                    )
                )
            based = based or name
    if len(items) > 1 and all(not item.weight for item in items):
        out.append(
            Finding(
                at,
                "every capacity provider has weight 0, so ECS can place no task: give at least one a weight above 0",
            )
        )
    fargate = seen & set(FARGATE_PROVIDERS)
    if fargate and seen - fargate:
        out.append(
            Finding(
                at,
                f"a strategy cannot mix Fargate ({', '.join(sorted(fargate))}) with Auto Scaling group capacity providers ({', '.join(sorted(seen - fargate))})",
            )
        )
    return out


def check_placement(
    spec: EcsService | EcsTask, td: TaskDefinitionInput
) -> tuple[list[Finding], bool]:
    out: list[Finding] = []
    s = spec.spec
    strategy_at: DocPath = ("spec", "capacityProviderStrategy")
    if s.launch_type is not None and s.capacity_provider_strategy:
        out.append(
            Finding(
                strategy_at,
                "set launchType or capacityProviderStrategy, not both (ECS rejects the pair)",
            )
        )
    out += check_strategy(s.capacity_provider_strategy, strategy_at)
    fargate = _uses_fargate(s.launch_type, s.capacity_provider_strategy)
    compat = td.requires_compatibilities or []
    if fargate and compat and "FARGATE" not in compat:
        out.append(
            Finding(
                ("spec", "launchType") if s.launch_type else strategy_at,
                f"this runs on Fargate but the task definition's requiresCompatibilities is {compat}: add 'FARGATE'",
            )
        )
    if s.launch_type == "EC2" and s.platform_version:
        out.append(
            Finding(
                ("spec", "platformVersion"),
                "platformVersion applies to Fargate only: remove it for launchType EC2",
            )
        )
    if (
        fargate is False
        and s.launch_type is None
        and not s.capacity_provider_strategy
        and "FARGATE" in compat
    ):
        fargate = True  # runs where the task definition says, checked as Fargate
    out += _check_network(td, s.network_configuration)
    return out, fargate


_SUBNETS_PATH: DocPath = ("spec", "networkConfiguration", "awsvpcConfiguration", "subnets")


def _check_network(td: TaskDefinitionInput, net: NetworkConfiguration | None) -> list[Finding]:
    awsvpc_cfg = net.awsvpc_configuration if net else None
    if td.network_mode == "awsvpc" and (awsvpc_cfg is None or not awsvpc_cfg.subnets):
        return [
            Finding(
                ("spec", "networkConfiguration", "awsvpcConfiguration", "subnets"),
                "the task definition uses networkMode awsvpc: spec.networkConfiguration.awsvpcConfiguration needs subnets (and securityGroups)",
            )
        ]
    if td.network_mode != "awsvpc" and awsvpc_cfg is not None:
        return [
            Finding(
                ("spec", "networkConfiguration"),
                f"networkConfiguration applies only to awsvpc tasks; the task definition's networkMode is {td.network_mode or 'bridge'!r}: remove it, or use networkMode awsvpc",
            )
        ]
    return []


def check_task(task: EcsTask, td: TaskDefinitionInput) -> list[Finding]:
    out, fargate = check_placement(task, td)
    # A hook task may take its service's network: loader/references.py checks that one
    # is there, once it knows which services name the task.
    out = [f for f in out if f.path != _SUBNETS_PATH]
    out += check_task_definition(td, fargate=fargate)
    overrides = task.spec.overrides
    if overrides is None:
        return out
    at: DocPath = ("spec", "overrides")
    names = [c.name for c in td.container_definitions if c.name]
    for i, co in enumerate(overrides.container_overrides or []):
        if co.name not in names:
            out.append(
                Finding(
                    (*at, "containerOverrides", i, "name"),
                    f"containerOverrides names container {co.name!r}, which the task definition does not have (containers: {', '.join(repr(n) for n in names) or 'none'})",
                )
            )
    if fargate and (overrides.cpu is not None or overrides.memory is not None):

        def size(
            value: str | int | None, td_value: str | int | None, field: str, parse: Parser
        ) -> int | None:
            if value is None:  # the task definition's own, already checked there
                return parse_size([], td_value, (), parse)
            return parse_size(out, value, (*at, field), parse, in_td=False)

        cpu = size(overrides.cpu, td.cpu, "cpu", cpu_units)
        memory = size(overrides.memory, td.memory, "memory", memory_mib)
        problem = fargate_size_problem(cpu, memory) if cpu and memory else None
        if problem is not None:
            field, message = problem
            if field == "memory" and overrides.memory is None:
                field = "cpu"  # the task definition's memory does not fit the cpu override
            out.append(Finding((*at, field), f"with overrides: {message}"))
    return out


def check_cluster(cluster: EcsCluster) -> list[Finding]:
    out: list[Finding] = []
    s = cluster.spec
    seen: set[str] = set()
    for i, setting in enumerate(s.settings):
        at: DocPath = ("spec", "settings", i)
        if setting.name in seen:
            out.append(Finding((*at, "name"), f"setting {setting.name!r} is given twice"))
        seen.add(setting.name or "")
        if setting.name == "containerInsights" and setting.value not in (
            "enabled",
            "disabled",
            "enhanced",
        ):
            out.append(
                Finding(
                    (*at, "value"),
                    f"containerInsights is 'enabled', 'enhanced' or 'disabled', not {setting.value!r}",
                )
            )
    providers: set[str] = set()
    for i, name in enumerate(s.capacity_providers):
        if name in providers:
            out.append(
                Finding(
                    ("spec", "capacityProviders", i), f"capacity provider {name!r} is listed twice"
                )
            )
        providers.add(name)
    strategy_at: DocPath = ("spec", "defaultCapacityProviderStrategy")
    for i, item in enumerate(s.default_capacity_provider_strategy):
        if item.capacity_provider not in providers:
            out.append(
                Finding(
                    (*strategy_at, i, "capacityProvider"),
                    f"default strategy uses {item.capacity_provider!r}, which is not in capacityProviders {s.capacity_providers}: add it there",
                )
            )
    out += check_strategy(s.default_capacity_provider_strategy, strategy_at)
    return out
