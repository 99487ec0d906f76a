"""Semantic checks: what AWS would reject only at deploy time, caught at validate time.

Each check returns Findings with a path into the document (the resource, or the task
definition file it references), so the loader can report file:line:col. Pure functions
over validated models; the rules follow the ECS API reference and the seed's pitfalls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from controller.api import EcsCluster, EcsService, EcsTask, TaskDefinitionInput
from controller.api.ecs_shapes import (
    CapacityProviderStrategyItem,
    ContainerDefinition,
    LoadBalancer,
    NetworkConfiguration,
)
from controller.api.units import cpu_units, memory_mib

Severity = Literal["error", "warning"]
DocPath = tuple[str | int, ...]
Parser = Callable[[str | int], int]

# Fargate's task sizes: cpu units -> the memory (MiB) each allows. From the AWS table
# "Task CPU and memory": 0.25 vCPU takes 0.5, 1 or 2 GB; from 0.5 vCPU on, memory is a
# range in 1 GB steps (4 GB steps at 8 vCPU, 8 GB steps at 16 vCPU).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
# What the Fargate guide lists as not valid in Fargate tasks (links are refused under
# awsvpc anyway, and Fargate requires awsvpc).
FARGATE_UNSUPPORTED_TASK_FIELDS = ("ipcMode", "placementConstraints")
FARGATE_UNSUPPORTED_CONTAINER_FIELDS = (
    "privileged",
    "disableNetworking",
    "dnsServers",
    "dnsSearchDomains",
    "extraHosts",
    "dockerSecurityOptions",
)
FARGATE_UNSUPPORTED_LINUX_PARAMETERS = (
    "devices",
    "sharedMemorySize",
    "tmpfs",
    "maxSwap",
    "swappiness",
)
MAX_CONTAINERS = 10
ADD_ROLE = (
    "add executionRoleArn (a role with AmazonECSTaskExecutionRolePolicy, e.g. ecsTaskExecutionRole)"
)
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL)", re.I
)


@dataclass(frozen=True, slots=True)
class Finding:
    path: DocPath
    message: str
    severity: Severity = "error"
    in_task_definition: bool = False


def _td(path: DocPath, message: str, severity: Severity = "error") -> Finding:
    return Finding(path, message, severity, in_task_definition=True)


def _fargate_memory_choices(cpu: int) -> str:
    choices = FARGATE_SIZES[cpu]
    if len(choices) <= 6:
        return ", ".join(str(m) for m in choices)
    step = choices[1] - choices[0]
    return f"{choices[0]} to {choices[-1]} in steps of {step}"


def _fargate_size_problem(cpu: int, memory: int) -> tuple[str, str] | None:
    """("cpu" or "memory", what is wrong) when Fargate has no such task size."""
    if cpu not in FARGATE_SIZES:
        sizes = ", ".join(str(c) for c in FARGATE_SIZES)
        return (
            "cpu",
            f"Fargate has no task size with cpu {cpu}: use one of {sizes} CPU units (0.25 to 16 vCPU)",
        )
    if memory not in FARGATE_SIZES[cpu]:
        return (
            "memory",
            f"Fargate cpu {cpu} ({cpu / 1024:g} vCPU) allows memory {_fargate_memory_choices(cpu)} MiB, not {memory}",
        )
    return None


def check_task_definition(td: TaskDefinitionInput, *, fargate: bool | None = None) -> list[Finding]:
    """Checks of a task definition alone; fargate=None means as its requiresCompatibilities say."""
    out: list[Finding] = []
    if fargate is None:
        fargate = "FARGATE" in (td.requires_compatibilities or [])
    containers = td.container_definitions
    out += _check_containers(td, containers)
    cpu = _size(out, td.cpu, ("cpu",), cpu_units)
    memory = _size(out, td.memory, ("memory",), memory_mib)
    if fargate:
        out += _check_fargate(td, cpu, memory)
    out += _check_container_sizes(
        containers, cpu, memory, needs_container_memory=td.memory is None and not fargate
    )
    out += _check_roles(td, containers, fargate)
    return out


def _size(
    out: list[Finding],
    value: str | int | None,
    path: DocPath,
    parse: Parser,
    *,
    in_td: bool = True,
) -> int | None:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        out.append(Finding(path, str(exc), in_task_definition=in_td))
        return None


def _check_containers(
    td: TaskDefinitionInput, containers: list[ContainerDefinition]
) -> list[Finding]:
    out: list[Finding] = []
    names: dict[str, int] = {}
    ports: dict[tuple[int, str], str] = {}
    host_ports: dict[tuple[int, str], str] = {}
    volumes = {v.name for v in td.volumes or [] if v.name}
    mode = td.network_mode or "bridge"
    shared_namespace = mode in ("awsvpc", "host")
    if not containers:
        out.append(_td(("containerDefinitions",), "a task definition needs at least one container"))
    if len(containers) > MAX_CONTAINERS:
        out.append(
            _td(
                ("containerDefinitions",),
                f"ECS allows at most {MAX_CONTAINERS} containers in a task definition, not {len(containers)}",
            )
        )
    for i, c in enumerate(containers):
        at: DocPath = ("containerDefinitions", i)
        if not c.name:
            out.append(_td(at, "container has no name"))
        elif c.name in names:
            out.append(
                _td(
                    (*at, "name"),
                    f"container name {c.name!r} is used twice (also container #{names[c.name] + 1}): names must be unique within a task definition",
                )
            )
        else:
            names[c.name] = i
        if not c.image:
            out.append(_td(at, f"container {c.name or i!r} has no image"))
        if c.links and mode == "awsvpc":
            out.append(
                _td(
                    (*at, "links"),
                    "links are not supported under networkMode awsvpc: containers of the task reach each other on localhost",
                )
            )
        for j, pm in enumerate(c.port_mappings or []):
            pat: DocPath = (*at, "portMappings", j)
            if pm.container_port is None:
                continue
            protocol = pm.protocol or "tcp"
            if shared_namespace and pm.host_port not in (None, pm.container_port):
                out.append(
                    _td(
                        (*pat, "hostPort"),
                        f"under networkMode {mode} hostPort must equal containerPort ({pm.container_port}) or be left out, not {pm.host_port}",
                    )
                )
            if shared_namespace:
                key = (pm.container_port, protocol)
                if key in ports:
                    out.append(
                        _td(
                            (*pat, "containerPort"),
                            f"port {key[0]}/{key[1]} is mapped twice in one task (also by container {ports[key]!r}); containers of a task with networkMode {mode} share one network namespace, so give each its own port",
                        )
                    )
                else:
                    ports[key] = c.name or str(i)
            elif mode == "bridge" and pm.host_port:
                key = (pm.host_port, protocol)
                if key in host_ports:
                    out.append(
                        _td(
                            (*pat, "hostPort"),
                            f"host port {key[0]}/{key[1]} is mapped twice in one task (also by container {host_ports[key]!r}); leave hostPort out (or 0) for a dynamic host port",
                        )
                    )
                else:
                    host_ports[key] = c.name or str(i)
        for j, mp in enumerate(c.mount_points or []):
            if mp.source_volume and mp.source_volume not in volumes:
                out.append(
                    _td(
                        (*at, "mountPoints", j, "sourceVolume"),
                        f"mount point uses volume {mp.source_volume!r}, which the task definition's volumes do not declare",
                    )
                )
        env_names: set[str] = set()
        for j, env in enumerate(c.environment or []):
            if env.name in env_names:
                out.append(
                    _td(
                        (*at, "environment", j, "name"),
                        f"environment variable {env.name!r} is set twice in container {c.name!r}",
                    )
                )
            env_names.add(env.name or "")
            if env.name and env.value and SECRET_NAME.search(env.name):
                out.append(
                    _td(
                        (*at, "environment", j, "value"),
                        f"environment variable {env.name!r} looks like a secret in plain text: move it to `secrets` (Secrets Manager or SSM)",
                        "warning",
                    )
                )
    all_names = set(names)
    for i, c in enumerate(containers):
        at = ("containerDefinitions", i)
        for j, dep in enumerate(c.depends_on or []):
            if dep.container_name not in all_names:
                out.append(
                    _td(
                        (*at, "dependsOn", j, "containerName"),
                        f"dependsOn names container {dep.container_name!r}, which is not in this task definition",
                    )
                )
        for j, vf in enumerate(c.volumes_from or []):
            if vf.source_container and vf.source_container not in all_names:
                out.append(
                    _td(
                        (*at, "volumesFrom", j, "sourceContainer"),
                        f"volumesFrom names container {vf.source_container!r}, which is not in this task definition",
                    )
                )
    firelens = any(c.firelens_configuration for c in containers)
    for i, c in enumerate(containers):
        log = c.log_configuration
        if log is not None and log.log_driver == "awsfirelens" and not firelens:
            out.append(
                _td(
                    ("containerDefinitions", i, "logConfiguration", "logDriver"),
                    f"container {c.name!r} logs to awsfirelens, but no container has firelensConfiguration: add the log router container (e.g. aws-for-fluent-bit with firelensConfiguration {{type: fluentbit}})",
                )
            )
    if containers and all(c.essential is False for c in containers):
        out.append(_td(("containerDefinitions",), "at least one container must be essential"))
    return out


def _check_fargate(td: TaskDefinitionInput, cpu: int | None, memory: int | None) -> list[Finding]:
    out: list[Finding] = []
    if td.network_mode != "awsvpc":
        where: DocPath = ("networkMode",) if td.network_mode else ("requiresCompatibilities",)
        got = (
            f"networkMode {td.network_mode!r}"
            if td.network_mode
            else "no networkMode (ECS's default is bridge)"
        )
        out.append(
            _td(where, f"Fargate requires networkMode 'awsvpc', but the task definition has {got}")
        )
    if td.cpu is None or td.memory is None:
        missing = " and ".join(f for f, v in (("cpu", td.cpu), ("memory", td.memory)) if v is None)
        out.append(
            _td(
                ("requiresCompatibilities",) if td.requires_compatibilities else (),
                f"Fargate requires task-level {missing} (for example cpu '512' and memory '1024')",
            )
        )
    elif cpu is not None and memory is not None:
        problem = _fargate_size_problem(cpu, memory)
        if problem is not None:
            out.append(_td((problem[0],), problem[1]))
        platform = td.runtime_platform
        family = platform.operating_system_family if platform else None
        if family and family.startswith("WINDOWS") and cpu < 1024:
            out.append(
                _td(
                    ("cpu",),
                    f"Windows containers on Fargate need at least 1 vCPU (cpu 1024), not {cpu}",
                )
            )
    out += _fargate_unsupported(td)
    if td.ephemeral_storage is not None and not 21 <= td.ephemeral_storage.size_in_gi_b <= 200:
        out.append(
            _td(
                ("ephemeralStorage", "sizeInGiB"),
                f"Fargate ephemeral storage is 21 to 200 GiB, not {td.ephemeral_storage.size_in_gi_b}",
            )
        )
    return out


def _fargate_unsupported(td: TaskDefinitionInput) -> list[Finding]:
    """Parameters the Fargate guide lists as not valid in Fargate tasks."""
    out: list[Finding] = []

    def refuse(path: DocPath, what: str) -> None:
        out.append(_td(path, f"Fargate does not support {what}: remove it, or run on EC2"))

    task_fields = td.to_api()
    for name in FARGATE_UNSUPPORTED_TASK_FIELDS:
        if task_fields.get(name):
            refuse((name,), name)
    for i, c in enumerate(td.container_definitions):
        at: DocPath = ("containerDefinitions", i)
        fields = c.to_api()
        for name in FARGATE_UNSUPPORTED_CONTAINER_FIELDS:
            if fields.get(name):
                refuse((*at, name), "privileged containers" if name == "privileged" else name)
        linux = fields.get("linuxParameters") or {}
        for name in FARGATE_UNSUPPORTED_LINUX_PARAMETERS:
            if name in linux:
                refuse((*at, "linuxParameters", name), f"linuxParameters.{name}")
        for j, req in enumerate(c.resource_requirements or []):
            if req.type == "GPU":
                refuse((*at, "resourceRequirements", j, "type"), "GPUs")
    for i, v in enumerate(td.volumes or []):
        if v.docker_volume_configuration is not None:
            refuse(("volumes", i, "dockerVolumeConfiguration"), "Docker volumes")
        if v.host is not None and v.host.source_path:
            refuse(
                ("volumes", i, "host", "sourcePath"),
                "host paths (a bind mount volume takes a name only)",
            )
    return out


def _check_container_sizes(
    containers: list[ContainerDefinition],
    cpu: int | None,
    memory: int | None,
    *,
    needs_container_memory: bool,
) -> list[Finding]:
    out: list[Finding] = []
    if cpu is not None:
        total = sum(c.cpu or 0 for c in containers)
        if total > cpu:
            out.append(
                _td(
                    ("containerDefinitions",),
                    f"containers reserve {total} CPU units in all, more than the task's {cpu}",
                )
            )
    reserved = 0
    over_limit = False
    for i, c in enumerate(containers):
        at: DocPath = ("containerDefinitions", i)
        if c.memory is not None and (c.memory_reservation or 0) > c.memory:
            out.append(
                _td(
                    (*at, "memoryReservation"),
                    f"container {c.name!r} has memoryReservation {c.memory_reservation} MiB above its memory limit {c.memory}: the reservation must not exceed the limit",
                )
            )
        if memory is None:
            if needs_container_memory and c.memory is None and c.memory_reservation is None:
                out.append(
                    _td(
                        at,
                        f"container {c.name!r} needs memory or memoryReservation (MiB), since the task definition sets no task-level memory",
                    )
                )
            continue
        if c.memory is not None and c.memory > memory:
            over_limit = True
            out.append(
                _td(
                    (*at, "memory"),
                    f"container {c.name!r} has memory {c.memory} MiB, more than the task's {memory}",
                )
            )
        reserved += c.memory_reservation or c.memory or 0
    if memory is not None and reserved > memory and not over_limit:
        out.append(
            _td(
                ("containerDefinitions",),
                f"containers reserve {reserved} MiB of memory in all, more than the task's {memory}",
            )
        )
    return out


def _check_roles(
    td: TaskDefinitionInput, containers: list[ContainerDefinition], fargate: bool
) -> list[Finding]:
    out: list[Finding] = []
    if td.execution_role_arn is None:

        def needs_role(path: DocPath, what: str) -> None:
            out.append(
                _td(path, f"{what}, but the task definition has no executionRoleArn: {ADD_ROLE}")
            )

        for i, c in enumerate(containers):
            at: DocPath = ("containerDefinitions", i)
            if c.secrets:
                needs_role(
                    (*at, "secrets"),
                    f"container {c.name!r} has secrets, which ECS fetches with the execution role before the container starts (it needs secretsmanager:GetSecretValue / ssm:GetParameters on them)",
                )
            if c.log_configuration and c.log_configuration.secret_options:
                needs_role(
                    (*at, "logConfiguration", "secretOptions"),
                    f"container {c.name!r} has log secretOptions, which ECS fetches with the execution role",
                )
            if c.repository_credentials:
                needs_role(
                    (*at, "repositoryCredentials"),
                    f"container {c.name!r} has repositoryCredentials, which ECS reads with the execution role",
                )
            if c.environment_files:
                needs_role(
                    (*at, "environmentFiles"),
                    f"container {c.name!r} has environmentFiles, which ECS downloads from S3 with the execution role",
                )
            if fargate and c.log_configuration and c.log_configuration.log_driver == "awslogs":
                needs_role(
                    (*at, "logConfiguration", "logDriver"),
                    "Fargate requires an execution role for the awslogs driver (logs:CreateLogStream, logs:PutLogEvents)",
                )
            if fargate and c.image and ".dkr.ecr." in c.image:
                needs_role(
                    (*at, "image"),
                    "Fargate requires an execution role to pull ECR images",
                )
    elif td.task_role_arn is not None and td.task_role_arn == td.execution_role_arn:
        out.append(
            _td(
                ("taskRoleArn",),
                "taskRoleArn is the same role as executionRoleArn: the execution role is for ECS (image pull, logs, secrets), the task role for your code; sharing one gives your code ECS's permissions (give the task its own least-privilege role)",
                "warning",
            )
        )
    return out


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


def _check_placement(
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
    out, fargate = _check_placement(svc, td)
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


def check_task(task: EcsTask, td: TaskDefinitionInput) -> list[Finding]:
    out, fargate = _check_placement(task, td)
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
                return _size([], td_value, (), parse)
            return _size(out, value, (*at, field), parse, in_td=False)

        cpu = size(overrides.cpu, td.cpu, "cpu", cpu_units)
        memory = size(overrides.memory, td.memory, "memory", memory_mib)
        problem = _fargate_size_problem(cpu, memory) if cpu and memory else None
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
