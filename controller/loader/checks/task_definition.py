"""Checks of a task definition alone: its containers, their sizes against the task's, its roles.

check_task_definition is the entry for a task definition file; services and tasks call it
again with what their placement says about Fargate, which adds fargate.py's rules. Every
finding here is located in the task definition file (in_task_definition).
"""

from __future__ import annotations

from controller.api import TaskDefinitionInput
from controller.api.ecs_shapes import ContainerDefinition
from controller.api.secretnames import looks_secret
from controller.api.units import cpu_units, memory_mib
from controller.loader.checks.fargate import check_fargate
from controller.loader.checks.findings import DocPath, Finding, parse_size, td_finding

MAX_CONTAINERS = 10
ADD_ROLE = (
    "add executionRoleArn (a role with AmazonECSTaskExecutionRolePolicy, e.g. ecsTaskExecutionRole)"
)


def check_task_definition(td: TaskDefinitionInput, *, fargate: bool | None = None) -> list[Finding]:
    """Checks of a task definition alone; fargate=None means as its requiresCompatibilities say."""
    out: list[Finding] = []
    if fargate is None:
        fargate = "FARGATE" in (td.requires_compatibilities or [])
    containers = td.container_definitions
    out += _check_containers(td, containers)
    cpu = parse_size(out, td.cpu, ("cpu",), cpu_units)
    memory = parse_size(out, td.memory, ("memory",), memory_mib)
    if fargate:
        out += check_fargate(td, cpu, memory)
    out += _check_container_sizes(
        containers, cpu, memory, needs_container_memory=td.memory is None and not fargate
    )
    out += _check_roles(td, containers, fargate)
    return out


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
        out.append(
            td_finding(("containerDefinitions",), "a task definition needs at least one container")
        )
    if len(containers) > MAX_CONTAINERS:
        out.append(
            td_finding(
                ("containerDefinitions",),
                f"ECS allows at most {MAX_CONTAINERS} containers in a task definition, not {len(containers)}",
            )
        )
    for i, c in enumerate(containers):
        at: DocPath = ("containerDefinitions", i)
        if not c.name:
            out.append(td_finding(at, "container has no name"))
        elif c.name in names:
            out.append(
                td_finding(
                    (*at, "name"),
                    f"container name {c.name!r} is used twice (also container #{names[c.name] + 1}): names must be unique within a task definition",
                )
            )
        else:
            names[c.name] = i
        if not c.image:
            out.append(td_finding(at, f"container {c.name or i!r} has no image"))
        if c.links and mode == "awsvpc":
            out.append(
                td_finding(
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
                    td_finding(
                        (*pat, "hostPort"),
                        f"under networkMode {mode} hostPort must equal containerPort ({pm.container_port}) or be left out, not {pm.host_port}",
                    )
                )
            if shared_namespace:
                key = (pm.container_port, protocol)
                if key in ports:
                    out.append(
                        td_finding(
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
                        td_finding(
                            (*pat, "hostPort"),
                            f"host port {key[0]}/{key[1]} is mapped twice in one task (also by container {host_ports[key]!r}); leave hostPort out (or 0) for a dynamic host port",
                        )
                    )
                else:
                    host_ports[key] = c.name or str(i)
        for j, mp in enumerate(c.mount_points or []):
            if mp.source_volume and mp.source_volume not in volumes:
                out.append(
                    td_finding(
                        (*at, "mountPoints", j, "sourceVolume"),
                        f"mount point uses volume {mp.source_volume!r}, which the task definition's volumes do not declare",
                    )
                )
        env_names: set[str] = set()
        for j, env in enumerate(c.environment or []):
            if env.name in env_names:
                out.append(
                    td_finding(
                        (*at, "environment", j, "name"),
                        f"environment variable {env.name!r} is set twice in container {c.name!r}",
                    )
                )
            env_names.add(env.name or "")
            if env.name and env.value and looks_secret(env.name):
                out.append(
                    td_finding(
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
                    td_finding(
                        (*at, "dependsOn", j, "containerName"),
                        f"dependsOn names container {dep.container_name!r}, which is not in this task definition",
                    )
                )
        for j, vf in enumerate(c.volumes_from or []):
            if vf.source_container and vf.source_container not in all_names:
                out.append(
                    td_finding(
                        (*at, "volumesFrom", j, "sourceContainer"),
                        f"volumesFrom names container {vf.source_container!r}, which is not in this task definition",
                    )
                )
    firelens = any(c.firelens_configuration for c in containers)
    for i, c in enumerate(containers):
        log = c.log_configuration
        if log is not None and log.log_driver == "awsfirelens" and not firelens:
            out.append(
                td_finding(
                    ("containerDefinitions", i, "logConfiguration", "logDriver"),
                    f"container {c.name!r} logs to awsfirelens, but no container has firelensConfiguration: add the log router container (e.g. aws-for-fluent-bit with firelensConfiguration {{type: fluentbit}})",
                )
            )
    if containers and all(c.essential is False for c in containers):
        out.append(
            td_finding(("containerDefinitions",), "at least one container must be essential")
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
                td_finding(
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
                td_finding(
                    (*at, "memoryReservation"),
                    f"container {c.name!r} has memoryReservation {c.memory_reservation} MiB above its memory limit {c.memory}: the reservation must not exceed the limit",
                )
            )
        if memory is None:
            if needs_container_memory and c.memory is None and c.memory_reservation is None:
                out.append(
                    td_finding(
                        at,
                        f"container {c.name!r} needs memory or memoryReservation (MiB), since the task definition sets no task-level memory",
                    )
                )
            continue
        if c.memory is not None and c.memory > memory:
            over_limit = True
            out.append(
                td_finding(
                    (*at, "memory"),
                    f"container {c.name!r} has memory {c.memory} MiB, more than the task's {memory}",
                )
            )
        reserved += c.memory_reservation or c.memory or 0
    if memory is not None and reserved > memory and not over_limit:
        out.append(
            td_finding(
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
                td_finding(
                    path, f"{what}, but the task definition has no executionRoleArn: {ADD_ROLE}"
                )
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
            td_finding(
                ("taskRoleArn",),
                "taskRoleArn is the same role as executionRoleArn: the execution role is for ECS (image pull, logs, secrets), the task role for your code; sharing one gives your code ECS's permissions (give the task its own least-privilege role)",
                "warning",
            )
        )
    return out
