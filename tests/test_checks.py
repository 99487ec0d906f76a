"""Semantic checks, end to end: real files in a tmp tree, loaded like `validate` loads them.

Every test lists each diagnostic it expects as `file:line:col: severity: part of the
message` (the shape `validate` prints) and fails on any other, so a check that fires
twice or points at the wrong place fails here. The Fargate size table is written out
again from AWS's "Task CPU and memory" table instead of imported, so that a wrong entry
in checks.py cannot hide behind its own data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.api import EcsService, ResourceKey, TaskDefinitionInput
from controller.loader import LoadResult, load_tree
from controller.loader.checks import check_task_definition
from controller.sources.directory import DirectoryTree
from tests.conftest import run_cli

WriteTree = Callable[[dict[str, str | bytes]], Path]

EXEC_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
TASK_ROLE = "arn:aws:iam::123456789012:role/web-task"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-AbCdEf"

# AWS Fargate task sizes, independently of controller.loader.checks.
FARGATE_TABLE: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: [1024, 2048, 3072, 4096],
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}

WEB_KEY = ResourceKey("EcsService", "", "prod", "web")


def load(root: Path) -> LoadResult:
    return load_tree(DirectoryTree(root))


_EXPECTED = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): (?P<part>.+)$"
)


def assert_diagnostics(result: LoadResult, root: Path, *expected: str) -> None:
    """Exactly the expected diagnostics, each written `file:line:col: severity: message part`."""
    got = [
        (d.file.removeprefix(f"{root}/"), d.line, d.col, d.severity, d.message)
        for d in result.diagnostics
    ]
    shown = "\n".join(f"{f}:{ln}:{c}: {s}: {m}" for f, ln, c, s, m in got) or "(none)"
    unmatched = list(got)
    for want in expected:
        match = _EXPECTED.match(want)
        assert match, f"bad expectation {want!r}"
        place = (match["file"], int(match["line"]), int(match["col"]), match["sev"])
        for item in unmatched:
            if item[:4] == place and match["part"] in item[4]:
                unmatched.remove(item)
                break
        else:
            raise AssertionError(f"expected {want!r}; got:\n{shown}")
    assert not unmatched, f"unexpected diagnostics:\n{shown}"


# --- The task definition file most tests start from ------------------------------------
# One slot per line (an empty slot leaves a blank line), so positions stay put:
#   3 networkMode (value col 18)       4 requiresCompatibilities (col 30)
#   5 cpu (col 10)                     6 memory (col 13)
#   7 executionRoleArn (col 23)        8 taskRoleArn (col 18)
#   9 anything else                    10 containerDefinitions, containers from line 11
TD = """\
{{
  "family": "web",
  {network}
  {compat}
  "cpu": {cpu},
  "memory": {memory},
  {execution_role}
  {task_role}
  {extra}
  "containerDefinitions": [
{containers}
  ]
}}
"""


def container(*fields: str) -> str:
    """A container, one field a line: `{` on the first line, field k on the (k+1)th, each
    key at column 7 and its value at 7 + len(quoted key) + 2."""
    body = ",\n".join(f"      {field}" for field in fields)
    return "    {\n" + body + "\n    }"


NAME_WEB = '"name": "web"'
NGINX = '"image": "nginx:1.27"'
PORT_8000 = '"portMappings": [{"containerPort": 8000}]'
# lines 11 `{`, 12 name, 13 image, 14 portMappings, 15 extra field (col 7 key), 16 `}`
WEB = container(NAME_WEB, NGINX, PORT_8000)


def td(
    *,
    cpu: str = '"512"',
    memory: str = '"1024"',
    network: str = '"networkMode": "awsvpc",',
    compat: str = '"requiresCompatibilities": ["FARGATE"],',
    execution_role: str = f'"executionRoleArn": "{EXEC_ROLE}",',
    task_role: str = f'"taskRoleArn": "{TASK_ROLE}",',
    extra: str = "",
    containers: str = WEB,
) -> str:
    return TD.format(
        cpu=cpu,
        memory=memory,
        network=network,
        compat=compat,
        execution_role=execution_role,
        task_role=task_role,
        extra=extra,
        containers=containers,
    )


def web_with(*fields: str) -> str:
    """The web container with more fields, the first of them on line 15."""
    return container(NAME_WEB, NGINX, PORT_8000, *fields)


# --- The service most tests start from --------------------------------------------------
#   6 taskDefinition (value col 19)   7 launchType (col 15)   8 networkConfiguration (col 25)
#   10 the load balancer (col 7)      11 its containerName (col 22)   12 containerPort (col 22)
#   13 on: whatever a test adds
SERVICE = f"""\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: web}}
spec:
  cluster: prod
  taskDefinition: td.json
  launchType: FARGATE
  networkConfiguration: {{awsvpcConfiguration: {{subnets: [subnet-a], securityGroups: [sg-a]}}}}
  loadBalancers:
    - targetGroupArn: {TG}
      containerName: web
      containerPort: 8000
"""
NETWORK_LINE = (
    "  networkConfiguration: {awsvpcConfiguration: {subnets: [subnet-a], securityGroups: [sg-a]}}\n"
)
LB_LINES = SERVICE[SERVICE.index("  loadBalancers:") :]


def service(*extra: str, name: str = "web", base: str = SERVICE) -> str:
    """The base service with more spec lines (indented under spec) from line 13 on."""
    text = base.replace("{name: web}", f"{{name: {name}}}")
    return text + "".join(f"  {line}\n" for line in extra)


def without(text: str, *parts: str) -> str:
    for part in parts:
        assert part in text
        text = text.replace(part, "")
    return text


def test_the_base_files_are_valid(write_tree: WriteTree) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td()})
    result = load(root)
    assert_diagnostics(result, root)
    assert [r.metadata.name for r in result.resources] == ["web"]


# --- Fargate task sizes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        pytest.param(cpu, memory, id=f"cpu{cpu}-mem{memory}")
        for cpu, memories in FARGATE_TABLE.items()
        for memory in memories
    ],
)
def test_every_fargate_size_is_accepted(write_tree: WriteTree, cpu: int, memory: int) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(cpu=f'"{cpu}"', memory=f'"{memory}"')})
    result = load(root)
    assert_diagnostics(result, root)
    assert result.loaded


INVALID_MEMORY = [
    (256, 1536, "512, 1024, 2048 MiB"),  # the one size without every 1 GB step
    (256, 4096, "512, 1024, 2048 MiB"),
    (512, 512, "1024, 2048, 3072, 4096 MiB"),
    (512, 1536, "1024, 2048, 3072, 4096 MiB"),
    (512, 5120, "1024, 2048, 3072, 4096 MiB"),
    (1024, 1024, "2048 to 8192 in steps of 1024 MiB"),
    (1024, 2560, "2048 to 8192 in steps of 1024 MiB"),
    (1024, 9216, "2048 to 8192 in steps of 1024 MiB"),
    (2048, 3072, "4096 to 16384 in steps of 1024 MiB"),
    (2048, 17408, "4096 to 16384 in steps of 1024 MiB"),
    (4096, 7168, "8192 to 30720 in steps of 1024 MiB"),
    (4096, 31744, "8192 to 30720 in steps of 1024 MiB"),
    (8192, 12288, "16384 to 61440 in steps of 4096 MiB"),
    (8192, 17408, "16384 to 61440 in steps of 4096 MiB"),  # a 1 GB step, not a 4 GB one
    (8192, 65536, "16384 to 61440 in steps of 4096 MiB"),
    (16384, 24576, "32768 to 122880 in steps of 8192 MiB"),
    (16384, 36864, "32768 to 122880 in steps of 8192 MiB"),  # a 4 GB step, not an 8 GB one
    (16384, 131072, "32768 to 122880 in steps of 8192 MiB"),
]


@pytest.mark.parametrize(
    ("cpu", "memory", "choices"),
    [pytest.param(*case, id=f"cpu{case[0]}-mem{case[1]}") for case in INVALID_MEMORY],
)
def test_fargate_memory_outside_the_cpu_size_is_an_error(
    write_tree: WriteTree, cpu: int, memory: int, choices: str
) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(cpu=f'"{cpu}"', memory=f'"{memory}"')})
    result = load(root)
    assert_diagnostics(
        result,
        root,
        f"td.json:6:13: error: Fargate cpu {cpu} ({cpu / 1024:g} vCPU) allows memory {choices}, not {memory}",
    )
    assert result.loaded == []
    assert WEB_KEY in result.rejected


@pytest.mark.parametrize("cpu", [128, 768, 3072, 32768], ids=lambda c: f"cpu{c}")
def test_a_cpu_fargate_does_not_offer_is_an_error(write_tree: WriteTree, cpu: int) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(cpu=f'"{cpu}"', memory='"2048"')})
    assert_diagnostics(
        load(root),
        root,
        f"td.json:5:10: error: Fargate has no task size with cpu {cpu}: use one of 256, 512, 1024, 2048, 4096, 8192, 16384 CPU units",
    )


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        pytest.param('"1 vCPU"', '"2 GB"', id="1-vCPU-2-GB"),
        pytest.param('"1 vcpu"', '"2GB"', id="lowercase-no-space"),
        pytest.param('"0.25 vCPU"', '"0.5 GB"', id="quarter-vCPU-half-GB"),
        pytest.param('".5 vCPU"', '"4 GB"', id="leading-dot"),
        pytest.param('"8 vCPU"', '"60 GB"', id="8-vCPU-60-GB"),
        pytest.param('"16 vCPU"', '"120 GB"', id="largest"),
        pytest.param("1024", "3072", id="json-numbers"),
        pytest.param('"4096"', '"30 GB"', id="units-and-gb"),
    ],
)
def test_unit_forms_of_a_valid_size(write_tree: WriteTree, cpu: str, memory: str) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(cpu=cpu, memory=memory)})
    assert_diagnostics(load(root), root)


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        pytest.param('"1 vCPU"', '"1 GB"', "td.json:6:13: error: Fargate cpu 1024 (1 vCPU) allows memory 2048 to 8192 in steps of 1024 MiB, not 1024", id="1-vCPU-1-GB"),
        pytest.param('"2 vCPU"', '"2 GB"', "td.json:6:13: error: Fargate cpu 2048 (2 vCPU) allows memory 4096 to 16384 in steps of 1024 MiB, not 2048", id="2-vCPU-2-GB"),
        pytest.param('"0.5 vCPU"', '"5 GB"', "td.json:6:13: error: Fargate cpu 512 (0.5 vCPU) allows memory 1024, 2048, 3072, 4096 MiB, not 5120", id="half-vCPU-5-GB"),
        pytest.param('"32 vCPU"', '"64 GB"', "td.json:5:10: error: Fargate has no task size with cpu 32768", id="32-vCPU"),
        pytest.param('"lots"', '"2 GB"', "td.json:5:10: error: 'lots' is not a CPU size (use units like 512 or '0.5 vCPU')", id="cpu-not-a-size"),
        pytest.param('"1 vCPU"', '"2 TB"', "td.json:6:13: error: '2 TB' is not a memory size (use MiB like 1024 or '1 GB')", id="memory-not-a-size"),
        pytest.param('"0.1 vCPU"', '"1 GB"', "td.json:5:10: error: '0.1 vCPU' is not a whole number of CPU units", id="fraction-of-a-unit"),
    ],
)  # fmt: skip
def test_unit_forms_of_an_invalid_size(
    write_tree: WriteTree, cpu: str, memory: str, expected: str
) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(cpu=cpu, memory=memory)})
    assert_diagnostics(load(root), root, expected)


def test_fargate_size_table_matches_aws_for_every_memory_value() -> None:
    """Every cpu size against every memory from 256 MiB to 128 GiB in 256 MiB steps."""
    base = TaskDefinitionInput.model_validate(
        {
            "family": "t",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "containerDefinitions": [{"name": "c", "image": "i"}],
        }
    )
    for cpu, memories in FARGATE_TABLE.items():
        for memory in range(256, 131072 + 1, 256):
            sized = base.model_copy(update={"cpu": str(cpu), "memory": str(memory)})
            problems = [f.message for f in check_task_definition(sized)]
            assert (problems == []) == (memory in memories), (cpu, memory, problems)


def test_fargate_without_task_size(write_tree: WriteTree) -> None:
    text = without(td(), '"cpu": "512",', '"memory": "1024",')
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:4:30: error: Fargate requires task-level cpu and memory (for example cpu '512' and memory '1024')",
    )


def test_windows_on_fargate_needs_a_whole_vcpu(write_tree: WriteTree) -> None:
    windows = '"runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"},'
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(extra=windows)})
    assert_diagnostics(
        load(root),
        root,
        "td.json:5:10: error: Windows containers on Fargate need at least 1 vCPU (cpu 1024), not 512",
    )


def test_a_task_definition_without_requires_compatibilities_is_not_checked_as_fargate_alone(
    write_tree: WriteTree,
) -> None:
    """On EC2, 256 cpu with 1536 MiB is fine: the Fargate table applies only to Fargate."""
    ec2 = service(base=SERVICE.replace("launchType: FARGATE", "launchType: EC2"))
    text = td(compat="", cpu='"256"', memory='"1536"')
    root = write_tree({"svc.yaml": ec2, "td.json": text})
    assert_diagnostics(load(root), root)


# --- Fargate and the network ------------------------------------------------------------


def test_fargate_with_bridge_network_mode(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            "svc.yaml": without(SERVICE, NETWORK_LINE),
            "td.json": td(network='"networkMode": "bridge",'),
        }
    )
    assert_diagnostics(
        load(root),
        root,
        "td.json:3:18: error: Fargate requires networkMode 'awsvpc', but the task definition has networkMode 'bridge'",
    )


def test_fargate_without_network_mode_points_at_requires_compatibilities(
    write_tree: WriteTree,
) -> None:
    root = write_tree({"svc.yaml": without(SERVICE, NETWORK_LINE), "td.json": td(network="")})
    assert_diagnostics(
        load(root),
        root,
        "td.json:4:30: error: Fargate requires networkMode 'awsvpc', but the task definition has no networkMode (ECS's default is bridge)",
    )


def test_fargate_by_launch_type_alone_checks_the_task_definition_as_fargate(
    write_tree: WriteTree,
) -> None:
    """No requiresCompatibilities and no networkMode: the service's launchType decides."""
    root = write_tree(
        {"svc.yaml": without(SERVICE, NETWORK_LINE), "td.json": td(network="", compat="")}
    )
    assert_diagnostics(
        load(root),
        root,
        # nothing in the file to point at, so its start
        "td.json:1:1: error: Fargate requires networkMode 'awsvpc'",
    )


def test_awsvpc_service_without_network_configuration(write_tree: WriteTree) -> None:
    root = write_tree({"svc.yaml": without(SERVICE, NETWORK_LINE), "td.json": td()})
    assert_diagnostics(
        load(root),
        root,
        # a missing field is reported at its parent mapping, whose first key is on line 5
        "svc.yaml:5:3: error: the task definition uses networkMode awsvpc: spec.networkConfiguration.awsvpcConfiguration needs subnets",
    )


def test_awsvpc_service_with_empty_subnets(write_tree: WriteTree) -> None:
    text = SERVICE.replace("subnets: [subnet-a]", "subnets: []")
    root = write_tree({"svc.yaml": text, "td.json": td()})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:8:57: error: networkMode awsvpc: spec.networkConfiguration.awsvpcConfiguration needs subnets",
    )


def test_network_configuration_on_a_bridge_task(write_tree: WriteTree) -> None:
    text = SERVICE.replace("launchType: FARGATE", "launchType: EC2")
    bridge = td(network='"networkMode": "bridge",', compat='"requiresCompatibilities": ["EC2"],')
    root = write_tree({"svc.yaml": without(text, LB_LINES), "td.json": bridge})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:8:25: error: networkConfiguration applies only to awsvpc tasks; the task definition's networkMode is 'bridge'",
    )


def test_fargate_service_with_an_ec2_only_task_definition(write_tree: WriteTree) -> None:
    text = td(compat='"requiresCompatibilities": ["EC2"],')
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:7:15: error: this runs on Fargate but the task definition's requiresCompatibilities is ['EC2']: add 'FARGATE'",
    )


def test_platform_version_with_ec2(write_tree: WriteTree) -> None:
    text = service("platformVersion: LATEST", base=SERVICE.replace("FARGATE", "EC2"))
    root = write_tree({"svc.yaml": text, "td.json": td(compat="")})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:13:20: error: platformVersion applies to Fargate only: remove it for launchType EC2",
    )


@pytest.mark.parametrize(
    ("field", "col", "message"),
    [
        pytest.param('"privileged": true', 21, "Fargate does not support privileged containers", id="privileged"),
        pytest.param('"dnsServers": ["10.0.0.2"]', 21, "Fargate does not support dnsServers", id="dnsServers"),
        pytest.param('"extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.3"}]', 21, "Fargate does not support extraHosts", id="extraHosts"),
        pytest.param('"dockerSecurityOptions": ["no-new-privileges"]', 32, "Fargate does not support dockerSecurityOptions", id="dockerSecurityOptions"),
        pytest.param('"linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}]}', 38, "Fargate does not support linuxParameters.devices", id="devices"),
        pytest.param('"linuxParameters": {"sharedMemorySize": 64}', 47, "Fargate does not support linuxParameters.sharedMemorySize", id="sharedMemorySize"),
        pytest.param('"resourceRequirements": [{"type": "GPU", "value": "1"}]', 41, "Fargate does not support GPUs", id="gpu"),
    ],
)  # fmt: skip
def test_container_settings_fargate_refuses(
    write_tree: WriteTree, field: str, col: int, message: str
) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(containers=web_with(field))})
    assert_diagnostics(
        load(root), root, f"td.json:15:{col}: error: {message}: remove it, or run on EC2"
    )


def test_fargate_settings_are_fine_on_ec2(write_tree: WriteTree) -> None:
    ec2 = SERVICE.replace("launchType: FARGATE", "launchType: EC2")
    fields = ('"privileged": true', '"linuxParameters": {"sharedMemorySize": 64}')
    root = write_tree({"svc.yaml": ec2, "td.json": td(compat="", containers=web_with(*fields))})
    assert_diagnostics(load(root), root)


@pytest.mark.parametrize(
    ("extra", "col", "message"),
    [
        pytest.param('"volumes": [{"name": "data", "dockerVolumeConfiguration": {"scope": "task"}}],', 61, "Fargate does not support Docker volumes", id="docker-volume"),
        pytest.param('"volumes": [{"name": "data", "host": {"sourcePath": "/var/data"}}],', 55, "Fargate does not support host paths", id="host-path"),
        pytest.param('"ipcMode": "task",', 14, "Fargate does not support ipcMode", id="ipcMode"),
        pytest.param('"placementConstraints": [{"type": "memberOf", "expression": "attribute:x == y"}],', 27, "Fargate does not support placementConstraints", id="placementConstraints"),
        pytest.param('"ephemeralStorage": {"sizeInGiB": 500},', 37, "Fargate ephemeral storage is 21 to 200 GiB, not 500", id="ephemeral-storage"),
    ],
)  # fmt: skip
def test_task_settings_fargate_refuses(
    write_tree: WriteTree, extra: str, col: int, message: str
) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(extra=extra)})
    assert_diagnostics(load(root), root, f"td.json:9:{col}: error: {message}")


def test_a_bind_mount_volume_is_fine_on_fargate(write_tree: WriteTree) -> None:
    volume = '"volumes": [{"name": "scratch", "host": {}}],'
    mount = '"mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}]'
    root = write_tree(
        {"svc.yaml": SERVICE, "td.json": td(extra=volume, containers=web_with(mount))}
    )
    assert_diagnostics(load(root), root)


# --- Roles and secrets ------------------------------------------------------------------


def test_container_secrets_without_execution_role(write_tree: WriteTree) -> None:
    secrets = f'"secrets": [{{"name": "DATABASE_URL", "valueFrom": "{SECRET}"}}]'
    text = td(execution_role="", containers=web_with(secrets))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    result = load(root)
    assert_diagnostics(
        result,
        root,
        "td.json:15:18: error: container 'web' has secrets, which ECS fetches with the execution role before the container starts (it needs secretsmanager:GetSecretValue / ssm:GetParameters on them), but the task definition has no executionRoleArn: add executionRoleArn",
    )
    assert WEB_KEY in result.rejected


def test_log_secret_options_without_execution_role(write_tree: WriteTree) -> None:
    log = f'"logConfiguration": {{"logDriver": "splunk", "options": {{"splunk-url": "https://splunk:8088"}}, "secretOptions": [{{"name": "splunk-token", "valueFrom": "{SECRET}"}}]}}'
    text = td(execution_role="", containers=web_with(log))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:15:118: error: container 'web' has log secretOptions, which ECS fetches with the execution role, but the task definition has no executionRoleArn",
    )


def test_secrets_with_an_execution_role_are_fine(write_tree: WriteTree) -> None:
    secrets = f'"secrets": [{{"name": "DATABASE_URL", "valueFrom": "{SECRET}"}}]'
    log = '"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}'
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(containers=web_with(secrets, log))})
    assert_diagnostics(load(root), root)


@pytest.mark.parametrize(
    ("field", "col", "message"),
    [
        pytest.param('"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}', 41, "Fargate requires an execution role for the awslogs driver", id="awslogs"),
        pytest.param('"repositoryCredentials": {"credentialsParameter": "' + SECRET + '"}', 32, "container 'web' has repositoryCredentials", id="repositoryCredentials"),
        pytest.param('"environmentFiles": [{"value": "arn:aws:s3:::bucket/web.env", "type": "s3"}]', 27, "container 'web' has environmentFiles", id="environmentFiles"),
    ],
)  # fmt: skip
def test_what_else_needs_an_execution_role(
    write_tree: WriteTree, field: str, col: int, message: str
) -> None:
    text = td(execution_role="", containers=web_with(field))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(load(root), root, f"td.json:15:{col}: error: {message}")


def test_ecr_image_on_fargate_without_execution_role(write_tree: WriteTree) -> None:
    ecr = '"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"'
    text = td(execution_role="", containers=container(NAME_WEB, ecr, PORT_8000))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:13:16: error: Fargate requires an execution role to pull ECR images, but the task definition has no executionRoleArn",
    )


def test_same_role_for_execution_and_task_is_a_warning(write_tree: WriteTree) -> None:
    text = td(task_role=f'"taskRoleArn": "{EXEC_ROLE}",')
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    result = load(root)
    assert_diagnostics(
        result,
        root,
        "td.json:8:18: warning: taskRoleArn is the same role as executionRoleArn: the execution role is for ECS (image pull, logs, secrets), the task role for your code",
    )
    assert [r.metadata.name for r in result.resources] == ["web"]  # a warning still loads

    plain = run_cli("validate", str(root))
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"{root}/td.json:8:18: warning: taskRoleArn is the same role" in plain.stdout
    assert "0 errors, 1 warnings" in plain.stderr
    strict = run_cli("validate", "--strict", str(root))
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert f"{root}/td.json:8:18: warning:" in strict.stdout


def test_secret_looking_environment_variable_is_a_warning(write_tree: WriteTree) -> None:
    env = '"environment": [{"name": "ENV", "value": "prod"}, {"name": "DB_PASSWORD", "value": "hunter2"}]'
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(containers=web_with(env))})
    assert_diagnostics(
        load(root),
        root,
        "td.json:15:90: warning: environment variable 'DB_PASSWORD' looks like a secret in plain text: move it to `secrets`",
    )


# --- Containers and ports ---------------------------------------------------------------


def test_duplicate_container_names(write_tree: WriteTree) -> None:
    text = td(containers=two_containers(NAME_WEB, '"image": "envoyproxy/envoy:v1.31"'))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        # the second container: `{` on line 16, its name on line 17
        "td.json:17:15: error: container name 'web' is used twice (also container #1): names must be unique within a task definition",
    )


def two_containers(*second: str, first: str = WEB) -> str:
    """WEB (lines 11-15), then a second container from line 16: `{`, fields from 17."""
    return first.rstrip("}").rstrip() + "\n    },\n" + container(*second)


SIDECAR = ('"name": "sidecar"', '"image": "envoyproxy/envoy:v1.31"')


def test_duplicate_ports_under_awsvpc(write_tree: WriteTree) -> None:
    text = td(containers=two_containers(*SIDECAR, PORT_8000))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:19:42: error: port 8000/tcp is mapped twice in one task (also by container 'web'); containers of a task with networkMode awsvpc share one network namespace",
    )


def test_duplicate_ports_in_one_container(write_tree: WriteTree) -> None:
    ports = '"portMappings": [{"containerPort": 8000}, {"containerPort": 8000}]'
    text = td(containers=container(NAME_WEB, NGINX, ports))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root), root, "td.json:14:67: error: port 8000/tcp is mapped twice in one task"
    )


def test_same_port_number_with_another_protocol_is_fine(write_tree: WriteTree) -> None:
    udp = '"portMappings": [{"containerPort": 8000, "protocol": "udp"}]'
    root = write_tree(
        {"svc.yaml": SERVICE, "td.json": td(containers=two_containers(*SIDECAR, udp))}
    )
    assert_diagnostics(load(root), root)


BRIDGE_SERVICE = without(SERVICE.replace("launchType: FARGATE", "launchType: EC2"), NETWORK_LINE)
BRIDGE = '"networkMode": "bridge",'


def test_bridge_containers_may_share_a_container_port_with_dynamic_host_ports(
    write_tree: WriteTree,
) -> None:
    text = td(network=BRIDGE, compat="", containers=two_containers(*SIDECAR, PORT_8000))
    root = write_tree({"svc.yaml": BRIDGE_SERVICE, "td.json": text})
    assert_diagnostics(load(root), root)


def test_bridge_containers_cannot_share_a_host_port(write_tree: WriteTree) -> None:
    fixed = '"portMappings": [{"containerPort": 8000, "hostPort": 80}]'
    other = '"portMappings": [{"containerPort": 9000, "hostPort": 80}]'
    first = container(NAME_WEB, NGINX, fixed)
    text = td(network=BRIDGE, compat="", containers=two_containers(*SIDECAR, other, first=first))
    root = write_tree({"svc.yaml": BRIDGE_SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:19:60: error: host port 80/tcp is mapped twice in one task (also by container 'web'); leave hostPort out (or 0) for a dynamic host port",
    )


@pytest.mark.parametrize("mode", ["awsvpc", "host"])
def test_host_port_must_equal_container_port(write_tree: WriteTree, mode: str) -> None:
    ports = '"portMappings": [{"containerPort": 8000, "hostPort": 80}]'
    text = td(
        network=f'"networkMode": "{mode}",', compat="", containers=container(NAME_WEB, NGINX, ports)
    )
    svc = SERVICE.replace("launchType: FARGATE", "launchType: EC2")
    root = write_tree(
        {"svc.yaml": svc if mode == "awsvpc" else without(svc, NETWORK_LINE), "td.json": text}
    )
    assert_diagnostics(
        load(root),
        root,
        f"td.json:14:60: error: under networkMode {mode} hostPort must equal containerPort (8000) or be left out, not 80",
    )


def test_host_port_equal_to_container_port_is_fine(write_tree: WriteTree) -> None:
    ports = '"portMappings": [{"containerPort": 8000, "hostPort": 8000}]'
    root = write_tree(
        {"svc.yaml": SERVICE, "td.json": td(containers=container(NAME_WEB, NGINX, ports))}
    )
    assert_diagnostics(load(root), root)


def test_links_under_awsvpc(write_tree: WriteTree) -> None:
    text = td(containers=two_containers(*SIDECAR, '"links": ["web"]'))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:19:16: error: links are not supported under networkMode awsvpc: containers of the task reach each other on localhost",
    )


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param('"dependsOn": [{"containerName": "db", "condition": "START"}]', "td.json:15:39: error: dependsOn names container 'db', which is not in this task definition", id="dependsOn"),
        pytest.param('"volumesFrom": [{"sourceContainer": "data"}]', "td.json:15:43: error: volumesFrom names container 'data'", id="volumesFrom"),
        pytest.param('"mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}]', "td.json:15:40: error: mount point uses volume 'data', which the task definition's volumes do not declare", id="mountPoints"),
        pytest.param('"essential": false', "td.json:10:27: error: at least one container must be essential", id="no-essential"),
        pytest.param('"logConfiguration": {"logDriver": "awsfirelens"}', "td.json:15:41: error: container 'web' logs to awsfirelens, but no container has firelensConfiguration", id="firelens-without-router"),
        pytest.param('"memory": 2048', "td.json:15:17: error: container 'web' has memory 2048 MiB, more than the task's 1024", id="container-memory-above-task"),
        pytest.param('"cpu": 1024', "td.json:10:27: error: containers reserve 1024 CPU units in all, more than the task's 512", id="container-cpu-above-task"),
        pytest.param('"memory": 256, "memoryReservation": 512', "td.json:15:43: error: container 'web' has memoryReservation 512 MiB above its memory limit 256", id="reservation-above-limit"),
    ],
)  # fmt: skip
def test_container_references_and_sizes(write_tree: WriteTree, field: str, expected: str) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(containers=web_with(field))})
    assert_diagnostics(load(root), root, expected)


def test_reservations_of_all_containers_above_the_task_memory(write_tree: WriteTree) -> None:
    first = web_with('"memoryReservation": 768')
    text = td(containers=two_containers(*SIDECAR, '"memoryReservation": 512', first=first))
    root = write_tree({"svc.yaml": SERVICE, "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:10:27: error: containers reserve 1280 MiB of memory in all, more than the task's 1024",
    )


def test_ec2_task_without_any_memory(write_tree: WriteTree) -> None:
    text = without(td(compat=""), '"memory": "1024",')
    text = text.replace(WEB, two_containers(*SIDECAR, '"memoryReservation": 128'))
    root = write_tree({"svc.yaml": SERVICE.replace("FARGATE", "EC2"), "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:11:5: error: container 'web' needs memory or memoryReservation (MiB), since the task definition sets no task-level memory",
    )


def test_too_many_containers(write_tree: WriteTree) -> None:
    many = ",\n".join(
        f'    {{"name": "c{i}", "image": "busybox", "essential": {str(i == 0).lower()}}}'
        for i in range(11)
    )
    text = td(containers=many)
    root = write_tree({"svc.yaml": without(SERVICE, LB_LINES), "td.json": text})
    assert_diagnostics(
        load(root),
        root,
        "td.json:10:27: error: ECS allows at most 10 containers in a task definition, not 11",
    )


# --- Load balancers and service registries ----------------------------------------------


def test_load_balancer_names_a_missing_container(write_tree: WriteTree) -> None:
    text = SERVICE.replace("containerName: web", "containerName: api")
    root = write_tree({"svc.yaml": text, "td.json": td()})
    result = load(root)
    assert_diagnostics(
        result,
        root,
        "svc.yaml:11:22: error: load balancer targets container 'api', which the task definition does not have (containers: 'web')",
    )
    assert WEB_KEY in result.rejected


def test_load_balancer_port_the_container_does_not_map(write_tree: WriteTree) -> None:
    text = SERVICE.replace("containerPort: 8000", "containerPort: 80")
    root = write_tree({"svc.yaml": text, "td.json": td()})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:12:22: error: load balancer targets port 80 of container 'web', which maps 8000: add a portMapping with containerPort 80 or fix the port",
    )


def test_load_balancer_on_a_container_without_ports(write_tree: WriteTree) -> None:
    root = write_tree({"svc.yaml": SERVICE, "td.json": td(containers=container(NAME_WEB, NGINX))})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:12:22: error: load balancer targets port 8000 of container 'web', which maps no ports",
    )


def test_load_balancer_without_container_port(write_tree: WriteTree) -> None:
    text = without(SERVICE, "      containerPort: 8000\n")
    root = write_tree({"svc.yaml": text, "td.json": td()})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:10:7: error: a load balancer needs containerPort: the container and port the target group sends traffic to",
    )


def test_service_registry_names_a_missing_container(write_tree: WriteTree) -> None:
    registry = "serviceRegistries: [{registryArn: 'arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1', containerName: api, containerPort: 8000}]"
    root = write_tree({"svc.yaml": service(registry), "td.json": td()})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:13:117: error: service registry targets container 'api', which the task definition does not have",
    )


# --- Inline and shared task definitions -------------------------------------------------

INLINE = f"""\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: web}}
spec:
  cluster: prod
  launchType: FARGATE
  networkConfiguration: {{awsvpcConfiguration: {{subnets: [subnet-a]}}}}
  taskDefinition:
    family: web
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: 256
    memory: 1536
    executionRoleArn: {EXEC_ROLE}
    containerDefinitions:
      - name: web
        image: nginx:1.27
        portMappings: [{{containerPort: 8000}}]
      - name: web
        image: busybox
"""


def test_inline_task_definition_is_located_in_the_service_file(write_tree: WriteTree) -> None:
    root = write_tree({"svc.yaml": INLINE})
    result = load(root)
    assert_diagnostics(
        result,
        root,
        "svc.yaml:13:13: error: Fargate cpu 256 (0.25 vCPU) allows memory 512, 1024, 2048 MiB, not 1536",
        "svc.yaml:19:15: error: container name 'web' is used twice",
    )
    assert WEB_KEY in result.rejected


def test_inline_task_definition_without_task_size(write_tree: WriteTree) -> None:
    text = without(
        INLINE,
        "    cpu: 256\n",
        "    memory: 1536\n",
        "      - name: web\n        image: busybox\n",
    )
    root = write_tree({"svc.yaml": text})
    assert_diagnostics(
        load(root), root, "svc.yaml:11:30: error: Fargate requires task-level cpu and memory"
    )


def test_valid_inline_task_definition_is_loaded_as_the_model(write_tree: WriteTree) -> None:
    text = INLINE.replace("memory: 1536", "memory: 2 GB").replace(
        "      - name: web\n        image: busybox\n", ""
    )
    root = write_tree({"svc.yaml": text})
    result = load(root)
    assert_diagnostics(result, root)
    (svc,) = result.resources
    assert isinstance(svc, EcsService)
    assert svc.spec.task_definition_input.memory == "2 GB"
    assert result.loaded[0].task_definition_file is None


def test_shared_task_definition_problem_is_reported_once(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            "a.yaml": service(name="a"),
            "b.yaml": service(name="b"),
            "td.json": td(memory='"8192"'),
        }
    )
    result = load(root)
    assert_diagnostics(
        result,
        root,
        "td.json:6:13: error: Fargate cpu 512 (0.5 vCPU) allows memory 1024, 2048, 3072, 4096 MiB, not 8192",
    )
    assert result.loaded == []
    assert {k.name for k in result.rejected} == {"a", "b"}


def test_shared_task_definition_warning_is_reported_once_and_both_load(
    write_tree: WriteTree,
) -> None:
    same = td(task_role=f'"taskRoleArn": "{EXEC_ROLE}",')
    root = write_tree({"a.yaml": service(name="a"), "b.yaml": service(name="b"), "td.json": same})
    result = load(root)
    assert_diagnostics(result, root, "td.json:8:18: warning: taskRoleArn is the same role")
    assert sorted(r.metadata.name for r in result.resources) == ["a", "b"]
    assert {item.task_definition_file for item in result.loaded} == {f"{root}/td.json"}


def test_shared_task_definition_checked_per_service(write_tree: WriteTree) -> None:
    """Fargate's table applies to the Fargate service only; service-level problems stay with
    the service that has them."""
    ec2 = service(name="b", base=SERVICE.replace("launchType: FARGATE", "launchType: EC2"))
    bad_lb = service(name="c").replace("containerPort: 8000", "containerPort: 9000")
    root = write_tree(
        {
            "a.yaml": service(name="a"),
            "b.yaml": ec2,
            "c.yaml": bad_lb.replace("launchType: FARGATE", "launchType: EC2"),
            "td.json": td(compat="", cpu='"256"', memory='"1536"'),
        }
    )
    result = load(root)
    assert_diagnostics(
        result,
        root,
        "td.json:6:13: error: Fargate cpu 256 (0.25 vCPU) allows memory 512, 1024, 2048 MiB, not 1536",
        "c.yaml:12:22: error: load balancer targets port 9000 of container 'web'",
    )
    assert [r.metadata.name for r in result.resources] == ["b"]
    assert {k.name for k in result.rejected} == {"a", "c"}


# --- Placement --------------------------------------------------------------------------


def test_launch_type_and_capacity_provider_strategy(write_tree: WriteTree) -> None:
    text = service("capacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1}]")
    root = write_tree({"svc.yaml": text, "td.json": td()})
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:13:29: error: set launchType or capacityProviderStrategy, not both (ECS rejects the pair)",
    )


STRATEGY_SERVICE = SERVICE.replace(
    "  launchType: FARGATE\n", "  capacityProviderStrategy:\nSTRATEGY"
)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param(["{capacityProvider: FARGATE, weight: 1, base: 1}", "{capacityProvider: FARGATE_SPOT, weight: 3}"], [], id="valid"),
        pytest.param(["{capacityProvider: FARGATE, weight: 1}", "{capacityProvider: FARGATE, weight: 2}"], ["svc.yaml:9:26: error: capacity provider 'FARGATE' is listed twice"], id="listed-twice"),
        pytest.param(["{capacityProvider: FARGATE, base: 1, weight: 1}", "{capacityProvider: FARGATE_SPOT, base: 2, weight: 1}"], ["svc.yaml:9:46: error: only one capacity provider of a strategy can have a base, and 'FARGATE' already has one"], id="two-bases"),
        pytest.param(["{capacityProvider: FARGATE, weight: 0}", "{capacityProvider: FARGATE_SPOT}"], ["svc.yaml:8:5: error: every capacity provider has weight 0, so ECS can place no task"], id="all-weights-zero"),
        pytest.param(["{capacityProvider: FARGATE, weight: 1}", "{capacityProvider: my-asg, weight: 1}"], ["svc.yaml:8:5: error: a strategy cannot mix Fargate (FARGATE) with Auto Scaling group capacity providers (my-asg)"], id="fargate-and-asg"),
    ],
)  # fmt: skip
def test_capacity_provider_strategy(
    write_tree: WriteTree, strategy: list[str], expected: list[str]
) -> None:
    text = STRATEGY_SERVICE.replace("STRATEGY", "".join(f"    - {item}\n" for item in strategy))
    root = write_tree({"svc.yaml": text, "td.json": td()})
    assert_diagnostics(load(root), root, *expected)


# --- Deployment -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        pytest.param("{strategy: canary, canary: {steps: [{weight: 10, pauseSeconds: 60}, {weight: 50}]}}", [], id="valid-canary"),
        pytest.param("{strategy: canary}", ["svc.yaml:13:26: error: strategy canary needs deployment.canary.steps, e.g. [{weight: 10, pauseSeconds: 60}]"], id="canary-without-steps"),
        pytest.param("{strategy: canary, canary: {steps: [{weight: 50}, {weight: 20}]}}", ["svc.yaml:13:74: error: canary weights must increase step by step: 20 follows 50"], id="decreasing-weights"),
        pytest.param("{strategy: canary, canary: {steps: [{weight: 30}, {weight: 30}]}}", ["svc.yaml:13:74: error: canary weights must increase step by step: 30 follows 30"], id="repeated-weight"),
        pytest.param("{strategy: rolling, canary: {steps: [{weight: 10}]}}", ["svc.yaml:13:43: warning: canary settings are ignored: strategy is 'rolling'"], id="canary-settings-unused"),
        pytest.param("{rolling: {minimumHealthyPercent: 100, maximumPercent: 100}}", ["svc.yaml:13:25: error: maximumPercent (100) must be above minimumHealthyPercent (100), or no task could ever be replaced"], id="rolling-cannot-move"),
        pytest.param("{rolling: {minimumHealthyPercent: 0, maximumPercent: 100}}", [], id="rolling-stop-then-start"),
    ],
)  # fmt: skip
def test_deployment(write_tree: WriteTree, deployment: str, expected: list[str]) -> None:
    root = write_tree({"svc.yaml": service(f"deployment: {deployment}"), "td.json": td()})
    assert_diagnostics(load(root), root, *expected)


# --- Autoscaling ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(["desiredCount: 2", "autoScaling: {minCapacity: 2, maxCapacity: 10}"], [], id="valid"),
        pytest.param(["autoScaling: {minCapacity: 2, maxCapacity: 10}"], [], id="desired-count-unset"),
        pytest.param(["desiredCount: 3", "autoScaling: {minCapacity: 5, maxCapacity: 2}"], ["svc.yaml:14:30: error: minCapacity 5 is above maxCapacity 2"], id="min-above-max"),
        pytest.param(["desiredCount: 1", "autoScaling: {minCapacity: 2, maxCapacity: 10}"], ["svc.yaml:13:17: warning: desiredCount 1 is outside autoScaling's 2..10; autoscaling will move it"], id="desired-below-min"),
        pytest.param(["desiredCount: 12", "autoScaling: {minCapacity: 2, maxCapacity: 10}"], ["svc.yaml:13:17: warning: desiredCount 12 is outside autoScaling's 2..10"], id="desired-above-max"),
        pytest.param(["autoScaling: {minCapacity: 1, maxCapacity: 4, targetTracking: [{name: cpu, predefinedMetric: ECSServiceAverageCPUUtilization, targetValue: 60}, {name: cpu, predefinedMetric: ECSServiceAverageMemoryUtilization, targetValue: 70}]}"], ["svc.yaml:13:154: error: scaling policy name 'cpu' is used twice"], id="policy-name-twice"),
        pytest.param(["autoScaling: {minCapacity: 1, maxCapacity: 4, targetTracking: [{name: rps, predefinedMetric: ALBRequestCountPerTarget, targetValue: 100}]}"], ["svc.yaml:13:66: error: ALBRequestCountPerTarget needs resourceLabel"], id="alb-metric-without-label"),
    ],
)  # fmt: skip
def test_autoscaling(write_tree: WriteTree, lines: list[str], expected: list[str]) -> None:
    root = write_tree({"svc.yaml": service(*lines), "td.json": td()})
    assert_diagnostics(load(root), root, *expected)


def test_alb_metric_without_a_load_balancer_is_a_warning(write_tree: WriteTree) -> None:
    policy = "autoScaling: {minCapacity: 1, maxCapacity: 4, targetTracking: [{name: rps, predefinedMetric: ALBRequestCountPerTarget, targetValue: 100, resourceLabel: app/web/1/targetgroup/web/2}]}"
    root = write_tree(
        {"svc.yaml": service(policy, base=without(SERVICE, LB_LINES)), "td.json": td()}
    )
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:9:96: warning: ALBRequestCountPerTarget needs a load balancer on the service",
    )


# --- Clusters ---------------------------------------------------------------------------

CLUSTER = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {name: prod}
spec:
"""


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(["settings: [{name: containerInsights, value: enhanced}]", "capacityProviders: [FARGATE, FARGATE_SPOT]", "defaultCapacityProviderStrategy: [{capacityProvider: FARGATE_SPOT, weight: 1}]"], [], id="valid"),
        pytest.param(["settings: [{name: containerInsights, value: full}]"], ["cluster.yaml:5:47: error: containerInsights is 'enabled', 'enhanced' or 'disabled', not 'full'"], id="container-insights-value"),
        pytest.param(["settings: [{name: containerInsights, value: enabled}, {name: containerInsights, value: disabled}]"], ["cluster.yaml:5:64: error: setting 'containerInsights' is given twice"], id="setting-twice"),
        pytest.param(["capacityProviders: [FARGATE, FARGATE_SPOT, FARGATE]"], ["cluster.yaml:5:46: error: capacity provider 'FARGATE' is listed twice"], id="provider-twice"),
        pytest.param(["capacityProviders: [FARGATE]", "defaultCapacityProviderStrategy: [{capacityProvider: FARGATE_SPOT, weight: 1}]"], ["cluster.yaml:6:56: error: default strategy uses 'FARGATE_SPOT', which is not in capacityProviders ['FARGATE']: add it there"], id="strategy-provider-not-on-cluster"),
        pytest.param(["capacityProviders: [FARGATE, FARGATE_SPOT]", "defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, base: 1, weight: 1}, {capacityProvider: FARGATE_SPOT, base: 1, weight: 1}]"], ["cluster.yaml:6:125: error: only one capacity provider of a strategy can have a base"], id="strategy-two-bases"),
    ],
)  # fmt: skip
def test_cluster(write_tree: WriteTree, spec: list[str], expected: list[str]) -> None:
    root = write_tree({"cluster.yaml": CLUSTER + "".join(f"  {line}\n" for line in spec)})
    result = load(root)
    assert_diagnostics(result, root, *expected)
    assert bool(result.loaded) == (not expected)


# --- One-shot tasks ---------------------------------------------------------------------

TASK = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsTask
metadata: {name: migrate}
spec:
  cluster: prod
  taskDefinition: td.json
  launchType: FARGATE
  networkConfiguration: {awsvpcConfiguration: {subnets: [subnet-a]}}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(TASK + "  overrides: {containerOverrides: [{name: web, command: [./migrate]}]}\n", [], id="valid"),
        pytest.param(without(TASK, "  networkConfiguration: {awsvpcConfiguration: {subnets: [subnet-a]}}\n"), ["task.yaml:5:3: error: the task definition uses networkMode awsvpc: spec.networkConfiguration.awsvpcConfiguration needs subnets"], id="awsvpc-without-network"),
        pytest.param(TASK + "  overrides: {containerOverrides: [{name: migrations, command: [./migrate]}]}\n", ["task.yaml:9:43: error: containerOverrides names container 'migrations', which the task definition does not have (containers: 'web')"], id="override-unknown-container"),
        pytest.param(TASK + "  overrides: {cpu: '1024', memory: '1024'}\n", ["task.yaml:9:36: error: with overrides: Fargate cpu 1024 (1 vCPU) allows memory 2048 to 8192"], id="override-invalid-size"),
        pytest.param(TASK + "  overrides: {cpu: '1 vCPU', memory: '4 GB'}\n", [], id="override-valid-size"),
        pytest.param(TASK + "  overrides: {cpu: '2048'}\n", ["task.yaml:9:20: error: with overrides: Fargate cpu 2048 (2 vCPU) allows memory 4096 to 16384 in steps of 1024 MiB, not 1024"], id="override-cpu-against-task-memory"),
        pytest.param(TASK + "  overrides: {memory: '8192'}\n", ["task.yaml:9:23: error: with overrides: Fargate cpu 512 (0.5 vCPU) allows memory 1024, 2048, 3072, 4096 MiB, not 8192"], id="override-memory-against-task-cpu"),
        pytest.param(TASK + "  capacityProviderStrategy: [{capacityProvider: FARGATE_SPOT, weight: 1}]\n", ["task.yaml:9:29: error: set launchType or capacityProviderStrategy, not both"], id="launch-type-and-strategy"),
    ],
)  # fmt: skip
def test_task(write_tree: WriteTree, text: str, expected: list[str]) -> None:
    root = write_tree({"task.yaml": text, "td.json": td()})
    result = load(root)
    assert_diagnostics(result, root, *expected)
    assert bool(result.loaded) == (not expected)


def test_task_shares_a_task_definition_with_a_service(write_tree: WriteTree) -> None:
    root = write_tree({"task.yaml": TASK, "svc.yaml": SERVICE, "td.json": td(memory='"512"')})
    result = load(root)
    assert_diagnostics(
        result,
        root,
        "td.json:6:13: error: Fargate cpu 512 (0.5 vCPU) allows memory 1024, 2048, 3072, 4096 MiB, not 512",
    )
    assert {k.kind for k in result.rejected} == {"EcsTask", "EcsService"}
