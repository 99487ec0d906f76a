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
    NetworkConfiguration,
)
from controller.api.units import cpu_units, memory_mib

Severity = Literal["error", "warning"]
DocPath = tuple[str | int, ...]

# Fargate's task sizes (Linux): cpu units -> allowed memory in MiB.
FARGATE_SIZES: dict[int, range] = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
    8192: range(16384, 61441, 4096),
    16384: range(32768, 122881, 8192),
}
FARGATE_256_MEMORY = (512, 1024, 2048)
MAX_CONTAINERS = 10
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
    choices = FARGATE_256_MEMORY if cpu == 256 else tuple(FARGATE_SIZES[cpu])
    if len(choices) <= 6:
        return ", ".join(str(m) for m in choices)
    step = choices[1] - choices[0]
    return f"{choices[0]} to {choices[-1]} in steps of {step}"


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
    out += _check_container_sizes(containers, cpu, memory)
    out += _check_roles(td, containers, fargate)
    return out


def _size(
    out: list[Finding], value: str | int | None, path: DocPath, parse: Callable[[str | int], int]
) -> int | None:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        out.append(_td(path, str(exc)))
        return None


def _check_containers(
    td: TaskDefinitionInput, containers: list[ContainerDefinition]
) -> list[Finding]:
    out: list[Finding] = []
    names: dict[str, int] = {}
    ports: dict[tuple[int, str], str] = {}
    volumes = {v.name for v in td.volumes or [] if v.name}
    awsvpc = td.network_mode == "awsvpc"
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
                    f"container name {c.name!r} is used twice (also container #{names[c.name] + 1})",
                )
            )
        else:
            names[c.name] = i
        if not c.image:
            out.append(_td(at, f"container {c.name or i!r} has no image"))
        for j, pm in enumerate(c.port_mappings or []):
            pat: DocPath = (*at, "portMappings", j)
            if pm.container_port is None:
                continue
            if awsvpc and pm.host_port not in (None, pm.container_port):
                out.append(
                    _td(
                        (*pat, "hostPort"),
                        f"under awsvpc hostPort must equal containerPort ({pm.container_port}) or be left out, not {pm.host_port}",
                    )
                )
            if awsvpc or td.network_mode == "host":
                key = (pm.container_port, pm.protocol or "tcp")
                if key in ports:
                    out.append(
                        _td(
                            (*pat, "containerPort"),
                            f"port {key[0]}/{key[1]} is mapped twice in one task (also by container {ports[key]!r}); containers of an {td.network_mode} task share one network namespace",
                        )
                    )
                else:
                    ports[key] = c.name or str(i)
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
        if cpu not in FARGATE_SIZES:
            sizes = ", ".join(str(c) for c in FARGATE_SIZES)
            out.append(
                _td(
                    ("cpu",),
                    f"Fargate has no task size with cpu {cpu}: use one of {sizes} CPU units (0.25 to 16 vCPU)",
                )
            )
        else:
            allowed = FARGATE_256_MEMORY if cpu == 256 else FARGATE_SIZES[cpu]
            if memory not in allowed:
                out.append(
                    _td(
                        ("memory",),
                        f"Fargate cpu {cpu} ({cpu / 1024:g} vCPU) allows memory {_fargate_memory_choices(cpu)} MiB, not {memory}",
                    )
                )
    for i, c in enumerate(td.container_definitions):
        if c.privileged:
            out.append(
                _td(
                    ("containerDefinitions", i, "privileged"),
                    "Fargate does not run privileged containers",
                )
            )
    if td.ephemeral_storage is not None and not 21 <= td.ephemeral_storage.size_in_gi_b <= 200:
        out.append(
            _td(
                ("ephemeralStorage", "sizeInGiB"),
                f"Fargate ephemeral storage is 21 to 200 GiB, not {td.ephemeral_storage.size_in_gi_b}",
            )
        )
    return out


def _check_container_sizes(
    containers: list[ContainerDefinition], cpu: int | None, memory: int | None
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
    if memory is not None:
        reserved = 0
        for i, c in enumerate(containers):
            if c.memory is not None and c.memory > memory:
                out.append(
                    _td(
                        ("containerDefinitions", i, "memory"),
                        f"container {c.name!r} has memory {c.memory} MiB, more than the task's {memory}",
                    )
                )
            reserved += c.memory_reservation or c.memory or 0
        if reserved > memory:
            out.append(
                _td(
                    ("containerDefinitions",),
                    f"containers reserve {reserved} MiB of memory in all, more than the task's {memory}",
                )
            )
    elif any(c.memory is None and c.memory_reservation is None for c in containers):
        out.append(
            _td(
                ("containerDefinitions",),
                "without task-level memory every container needs memory or memoryReservation",
            )
        )
    return out


def _check_roles(
    td: TaskDefinitionInput, containers: list[ContainerDefinition], fargate: bool
) -> list[Finding]:
    out: list[Finding] = []
    if td.execution_role_arn is None:
        for i, c in enumerate(containers):
            at: DocPath = ("containerDefinitions", i)
            if c.secrets:
                out.append(
                    _td(
                        (*at, "secrets"),
                        f"container {c.name!r} has secrets but the task definition has no executionRoleArn: ECS fetches secrets with the execution role before the container starts (it needs secretsmanager:GetSecretValue / ssm:GetParameters on them)",
                    )
                )
            if c.log_configuration and c.log_configuration.secret_options:
                out.append(
                    _td(
                        (*at, "logConfiguration", "secretOptions"),
                        "log secretOptions require an executionRoleArn",
                    )
                )
            if c.repository_credentials:
                out.append(
                    _td(
                        (*at, "repositoryCredentials"),
                        "repositoryCredentials require an executionRoleArn",
                    )
                )
            if fargate and c.log_configuration and c.log_configuration.log_driver == "awslogs":
                out.append(
                    _td(
                        (*at, "logConfiguration"),
                        "on Fargate the awslogs driver needs an executionRoleArn (logs:CreateLogStream, logs:PutLogEvents)",
                        "warning",
                    )
                )
            if fargate and c.image and ".dkr.ecr." in c.image:
                out.append(
                    _td(
                        (*at, "image"),
                        "Fargate pulls private ECR images with the execution role; without executionRoleArn the task fails with CannotPullContainerError",
                        "warning",
                    )
                )
    elif td.task_role_arn is not None and td.task_role_arn == td.execution_role_arn:
        out.append(
            _td(
                ("taskRoleArn",),
                "taskRoleArn is the same role as executionRoleArn: the execution role is for ECS (image pull, logs, secrets), the task role for your code; sharing one gives your code ECS's permissions",
                "warning",
            )
        )
    return out


def _uses_fargate(launch_type: str | None, strategy: list[CapacityProviderStrategyItem]) -> bool:
    return launch_type == "FARGATE" or any(
        i.capacity_provider in ("FARGATE", "FARGATE_SPOT") for i in strategy
    )


def _check_placement(
    spec: EcsService | EcsTask, td: TaskDefinitionInput
) -> tuple[list[Finding], bool]:
    out: list[Finding] = []
    s = spec.spec
    if s.launch_type is not None and s.capacity_provider_strategy:
        out.append(
            Finding(
                ("spec", "capacityProviderStrategy"),
                "set launchType or capacityProviderStrategy, not both (ECS rejects the pair)",
            )
        )
    fargate = _uses_fargate(s.launch_type, s.capacity_provider_strategy)
    compat = td.requires_compatibilities or []
    if fargate and compat and "FARGATE" not in compat:
        out.append(
            Finding(
                ("spec", "launchType") if s.launch_type else ("spec", "capacityProviderStrategy"),
                f"the service runs on Fargate but the task definition's requiresCompatibilities is {compat}: add 'FARGATE'",
            )
        )
    if s.launch_type == "EC2" and s.platform_version:
        out.append(Finding(("spec", "platformVersion"), "platformVersion applies to Fargate only"))
    if (
        fargate is False
        and s.launch_type is None
        and not s.capacity_provider_strategy
        and "FARGATE" in compat
    ):
        fargate = True  # runs where the task definition says, checked as Fargate
    out += _check_network(td, s.network_configuration)
    return out, fargate


def _check_network(td: TaskDefinitionInput, net: NetworkConfiguration | None) -> list[Finding]:
    awsvpc_cfg = net.awsvpc_configuration if net else None
    if td.network_mode == "awsvpc" and (awsvpc_cfg is None or not awsvpc_cfg.subnets):
        return [
            Finding(
                ("spec",),
                "the task definition uses networkMode awsvpc: spec.networkConfiguration.awsvpcConfiguration needs subnets (and securityGroups)",
            )
        ]
    if td.network_mode != "awsvpc" and awsvpc_cfg is not None:
        return [
            Finding(
                ("spec", "networkConfiguration"),
                f"networkConfiguration applies only to awsvpc tasks; the task definition's networkMode is {td.network_mode or 'bridge'!r}",
            )
        ]
    return []


def check_service(svc: EcsService, td: TaskDefinitionInput) -> list[Finding]:
    out, fargate = _check_placement(svc, td)
    out += check_task_definition(td, fargate=fargate)
    s = svc.spec
    containers = {c.name: c for c in td.container_definitions if c.name}
    for i, lb in enumerate(s.load_balancers):
        at: DocPath = ("spec", "loadBalancers", i)
        if not lb.target_group_arn and not lb.load_balancer_name:
            out.append(Finding(at, "a load balancer needs targetGroupArn"))
        if lb.load_balancer_name and fargate:
            out.append(
                Finding(
                    (*at, "loadBalancerName"),
                    "Fargate services cannot use a Classic Load Balancer: use an ALB or NLB targetGroupArn",
                )
            )
        container = containers.get(lb.container_name or "")
        if container is None:
            known = ", ".join(repr(n) for n in containers) or "none"
            out.append(
                Finding(
                    (*at, "containerName"),
                    f"load balancer targets container {lb.container_name!r}, which the task definition does not have (containers: {known})",
                )
            )
        elif lb.container_port is not None:
            ports = [pm.container_port for pm in container.port_mappings or []]
            if lb.container_port not in ports:
                out.append(
                    Finding(
                        (*at, "containerPort"),
                        f"load balancer targets port {lb.container_port} of container {lb.container_name!r}, which maps {ports or 'no ports'}",
                    )
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
                f"minCapacity {a.min_capacity} is above maxCapacity {a.max_capacity}",
            )
        )
    elif not a.min_capacity <= svc.spec.desired_count <= a.max_capacity:
        out.append(
            Finding(
                ("spec", "desiredCount"),
                f"desiredCount {svc.spec.desired_count} is outside autoScaling's {a.min_capacity}..{a.max_capacity}; autoscaling will move it",
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
    return out + check_task_definition(td, fargate=fargate)


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
    for i, item in enumerate(s.default_capacity_provider_strategy):
        if item.capacity_provider not in s.capacity_providers:
            out.append(
                Finding(
                    ("spec", "defaultCapacityProviderStrategy", i, "capacityProvider"),
                    f"default strategy uses {item.capacity_provider!r}, which is not in capacityProviders {s.capacity_providers}",
                )
            )
    return out
