"""Fargate's own limits on a task definition: its task sizes and the parameters it refuses.

FARGATE_SIZES is the AWS table "Task CPU and memory"; fargate_size_problem answers for a task
definition and for a task's overrides alike (placement.check_task). The refused parameters are
the ones the Fargate guide lists as not valid in Fargate tasks.
"""

from __future__ import annotations

from controller.api import TaskDefinitionInput
from controller.loader.checks.findings import DocPath, Finding, td_finding

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


def _fargate_memory_choices(cpu: int) -> str:
    choices = FARGATE_SIZES[cpu]
    if len(choices) <= 6:
        return ", ".join(str(m) for m in choices)
    step = choices[1] - choices[0]
    return f"{choices[0]} to {choices[-1]} in steps of {step}"


def fargate_size_problem(cpu: int, memory: int) -> tuple[str, str] | None:
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


def check_fargate(td: TaskDefinitionInput, cpu: int | None, memory: int | None) -> list[Finding]:
    out: list[Finding] = []
    if td.network_mode != "awsvpc":
        where: DocPath = ("networkMode",) if td.network_mode else ("requiresCompatibilities",)
        got = (
            f"networkMode {td.network_mode!r}"
            if td.network_mode
            else "no networkMode (ECS's default is bridge)"
        )
        out.append(
            td_finding(
                where, f"Fargate requires networkMode 'awsvpc', but the task definition has {got}"
            )
        )
    if td.cpu is None or td.memory is None:
        missing = " and ".join(f for f, v in (("cpu", td.cpu), ("memory", td.memory)) if v is None)
        out.append(
            td_finding(
                ("requiresCompatibilities",) if td.requires_compatibilities else (),
                f"Fargate requires task-level {missing} (for example cpu '512' and memory '1024')",
            )
        )
    elif cpu is not None and memory is not None:
        problem = fargate_size_problem(cpu, memory)
        if problem is not None:
            out.append(td_finding((problem[0],), problem[1]))
        platform = td.runtime_platform
        family = platform.operating_system_family if platform else None
        if family and family.startswith("WINDOWS") and cpu < 1024:
            out.append(
                td_finding(
                    ("cpu",),
                    f"Windows containers on Fargate need at least 1 vCPU (cpu 1024), not {cpu}",
                )
            )
    out += _fargate_unsupported(td)
    if td.ephemeral_storage is not None and not 21 <= td.ephemeral_storage.size_in_gi_b <= 200:
        out.append(
            td_finding(
                ("ephemeralStorage", "sizeInGiB"),
                f"Fargate ephemeral storage is 21 to 200 GiB, not {td.ephemeral_storage.size_in_gi_b}",
            )
        )
    return out


def _fargate_unsupported(td: TaskDefinitionInput) -> list[Finding]:
    """Parameters the Fargate guide lists as not valid in Fargate tasks."""
    out: list[Finding] = []

    def refuse(path: DocPath, what: str) -> None:
        out.append(td_finding(path, f"Fargate does not support {what}: remove it, or run on EC2"))

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
