"""Normalization: what ECS fills in or reorders never shows as a difference; real changes do.

Table tests pin each rule; hypothesis shows canonical_task_definition is idempotent and
blind to the order of set-like lists; the moto server round trips (every example, then
generated task definitions) show desired -> register -> describe diffs empty.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api.cluster import EcsClusterSpec
from controller.api.common import MANAGED_BY_TAG, SPEC_HASH_TAG
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsService, EcsServiceSpec
from controller.api.task import EcsTask
from controller.aws.models import LiveCluster, LiveService, LiveTaskSet
from controller.loader import load_tree
from controller.reconcile.diff import render_diff
from controller.reconcile.identity import spec_hash
from controller.reconcile.normalize import (
    canonical_cluster,
    canonical_live_cluster,
    canonical_live_service_fields,
    canonical_live_task_set_fields,
    canonical_service_fields,
    canonical_task_definition,
    canonical_task_set_fields,
    compare_cluster,
    compare_service,
    compare_task_set,
    normalize_task_definition,
    strip_server_fields,
)
from controller.sources.directory import DirectoryTree
from tests.conftest import REPO

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
PROPERTY = settings(deadline=None, max_examples=100)
ROUND_TRIP = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


def td(**fields: Any) -> dict[str, Any]:
    """A register-task-definition input with one container `web`, overridden by fields."""
    base: dict[str, Any] = {
        "family": "myapp",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "containerDefinitions": [container()],
    }
    base.update(fields)
    return base


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "image": "repo/myapp:v1", **fields}


def canon(raw: dict[str, Any]) -> dict[str, Any]:
    """Both ways in: as a validated model (desired or parsed live) and as a raw dict."""
    model = TaskDefinitionInput.model_validate(strip_server_fields(raw), extra="ignore")
    from_model = canonical_task_definition(model)
    assert normalize_task_definition(raw) == from_model
    return from_model


# -- each rule, as (desired, what ECS reports back) -----------------------------------------

EQUAL = [
    pytest.param(td(cpu=512, memory=1024), td(), id="cpu-memory-numbers-vs-strings"),
    pytest.param(
        td(cpu="1 vCPU", memory="2 GB"), td(cpu="1024", memory="2048"), id="vcpu-gb-units"
    ),
    pytest.param(
        td(cpu=".25 vcpu", memory="0.5GB"), td(cpu="256", memory="512"), id="fractional-units"
    ),
    pytest.param(td(), td(containerDefinitions=[container(cpu=0)]), id="container-cpu-0-added"),
    pytest.param(
        td(), td(containerDefinitions=[container(essential=True)]), id="essential-default-true"
    ),
    pytest.param(
        td(containerDefinitions=[container(portMappings=[{"containerPort": 80}])]),
        td(
            containerDefinitions=[
                container(portMappings=[{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}])
            ]
        ),
        id="awsvpc-hostport-and-tcp",
    ),
    pytest.param(
        td(
            networkMode="host",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[container(portMappings=[{"containerPort": 80}])],
        ),
        td(
            networkMode="host",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[container(portMappings=[{"containerPort": 80, "hostPort": 80}])],
        ),
        id="host-mode-hostport",
    ),
    pytest.param(
        td(
            networkMode="bridge",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[container(portMappings=[{"containerPort": 80}])],
        ),
        td(
            networkMode="bridge",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[
                container(portMappings=[{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}])
            ],
        ),
        id="bridge-dynamic-hostport-0",
    ),
    pytest.param(td(networkMode=None), td(), id="fargate-implies-awsvpc"),
    pytest.param(
        td(networkMode=None, requiresCompatibilities=None),
        td(networkMode="bridge", requiresCompatibilities=None),
        id="default-network-mode-bridge",
    ),
    pytest.param(
        td(),
        td(
            containerDefinitions=[
                container(
                    portMappings=[],
                    environment=[],
                    secrets=[],
                    mountPoints=[],
                    volumesFrom=[],
                    ulimits=[],
                    systemControls=[],
                    environmentFiles=[],
                    dockerLabels={},
                )
            ],
            volumes=[],
            placementConstraints=[],
        ),
        id="empty-lists-dropped",
    ),
    pytest.param(
        td(
            containerDefinitions=[
                container(environment=[{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
            ]
        ),
        td(
            containerDefinitions=[
                container(environment=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
            ]
        ),
        id="environment-order",
    ),
    pytest.param(
        td(
            containerDefinitions=[
                container(
                    secrets=[
                        {"name": "Z", "valueFrom": "arn:z"},
                        {"name": "Y", "valueFrom": "arn:y"},
                    ]
                )
            ]
        ),
        td(
            containerDefinitions=[
                container(
                    secrets=[
                        {"name": "Y", "valueFrom": "arn:y"},
                        {"name": "Z", "valueFrom": "arn:z"},
                    ]
                )
            ]
        ),
        id="secrets-order",
    ),
    pytest.param(
        td(
            containerDefinitions=[
                container(portMappings=[{"containerPort": 8080}, {"containerPort": 80}])
            ]
        ),
        td(
            containerDefinitions=[
                container(portMappings=[{"containerPort": 80}, {"containerPort": 8080}])
            ]
        ),
        id="port-mappings-order",
    ),
    pytest.param(
        td(
            volumes=[{"name": "b"}, {"name": "a"}],
            containerDefinitions=[
                container(
                    mountPoints=[
                        {"sourceVolume": "b", "containerPath": "/b"},
                        {"sourceVolume": "a", "containerPath": "/a", "readOnly": False},
                    ]
                )
            ],
        ),
        td(
            volumes=[{"name": "a", "host": {}}, {"name": "b", "host": {}}],
            containerDefinitions=[
                container(
                    mountPoints=[
                        {"sourceVolume": "a", "containerPath": "/a"},
                        {"sourceVolume": "b", "containerPath": "/b"},
                    ]
                )
            ],
        ),
        id="volumes-mounts-order-and-bind-host",
    ),
    pytest.param(
        td(containerDefinitions=[container(name="b"), container(name="a")]),
        td(containerDefinitions=[container(name="a"), container(name="b")]),
        id="containers-by-name",
    ),
    pytest.param(
        td(requiresCompatibilities=["FARGATE", "EC2"]),
        td(requiresCompatibilities=["EC2", "FARGATE"]),
        id="requires-compatibilities-order",
    ),
    pytest.param(
        td(
            containerDefinitions=[
                container(
                    ulimits=[
                        {"name": "nproc", "softLimit": 1, "hardLimit": 2},
                        {"name": "nofile", "softLimit": 3, "hardLimit": 4},
                    ]
                )
            ]
        ),
        td(
            containerDefinitions=[
                container(
                    ulimits=[
                        {"name": "nofile", "softLimit": 3, "hardLimit": 4},
                        {"name": "nproc", "softLimit": 1, "hardLimit": 2},
                    ]
                )
            ]
        ),
        id="ulimits-order",
    ),
    pytest.param(
        td(containerDefinitions=[container(healthCheck={"command": ["CMD", "true"]})]),
        td(
            containerDefinitions=[
                container(
                    healthCheck={
                        "command": ["CMD", "true"],
                        "interval": 30,
                        "timeout": 5,
                        "retries": 3,
                    }
                )
            ]
        ),
        id="health-check-defaults",
    ),
    pytest.param(
        td(volumes=[{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]),
        td(
            volumes=[
                {
                    "name": "efs",
                    "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/"},
                }
            ]
        ),
        id="efs-root-directory",
    ),
    pytest.param(
        td(
            containerDefinitions=[
                container(logConfiguration={"logDriver": "awslogs", "options": {"a": "b"}})
            ]
        ),
        td(
            containerDefinitions=[
                container(
                    logConfiguration={
                        "logDriver": "awslogs",
                        "options": {"a": "b"},
                        "secretOptions": [],
                    }
                )
            ]
        ),
        id="log-secret-options-empty",
    ),
    pytest.param(td(tags=[{"key": "team", "value": "web"}]), td(), id="tags-not-content"),
    pytest.param(
        td(containerDefinitions=[container(restartPolicy={"enabled": True})]),
        td(
            containerDefinitions=[
                container(
                    restartPolicy={
                        "enabled": True,
                        "restartAttemptPeriod": 300,
                        "ignoredExitCodes": [],
                    }
                )
            ]
        ),
        id="restart-policy-defaults",
    ),
    pytest.param(
        td(volumes=[{"name": "d", "dockerVolumeConfiguration": {"driver": "local"}}]),
        td(
            volumes=[
                {
                    "name": "d",
                    "dockerVolumeConfiguration": {"driver": "local", "scope": "task"},
                    "configuredAtLaunch": False,
                }
            ]
        ),
        id="docker-volume-scope-task",
    ),
    pytest.param(
        td(),
        td(containerDefinitions=[container(versionConsistency="enabled")]),
        id="version-consistency-enabled",
    ),
    pytest.param(td(), td(enableFaultInjection=False), id="fault-injection-false"),
    pytest.param(
        td(),
        td(
            taskDefinitionArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/myapp:7",
            revision=7,
            status="ACTIVE",
            registeredAt="2026-01-01T00:00:00Z",
            registeredBy=f"arn:aws:iam::{ACCOUNT}:root",
            requiresAttributes=[{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
            compatibilities=["EC2", "FARGATE"],
        ),
        id="server-only-fields",
    ),
]

DIFFERENT = [
    pytest.param(td(), td(containerDefinitions=[container(image="repo/myapp:v2")]), id="image"),
    pytest.param(
        td(containerDefinitions=[container(environment=[{"name": "A", "value": "1"}])]),
        td(containerDefinitions=[container(environment=[{"name": "A", "value": "2"}])]),
        id="environment-value",
    ),
    pytest.param(
        td(containerDefinitions=[container(command=["a", "b"])]),
        td(containerDefinitions=[container(command=["b", "a"])]),
        id="command-order-matters",
    ),
    pytest.param(
        td(containerDefinitions=[container(entryPoint=["sh", "-c"])]),
        td(containerDefinitions=[container(entryPoint=["-c", "sh"])]),
        id="entrypoint-order-matters",
    ),
    pytest.param(
        td(containerDefinitions=[container(dnsServers=["10.0.0.2", "1.1.1.1"])]),
        td(containerDefinitions=[container(dnsServers=["1.1.1.1", "10.0.0.2"])]),
        id="dns-servers-order-matters",
    ),
    pytest.param(td(), td(containerDefinitions=[container(essential=False)]), id="essential-false"),
    pytest.param(td(), td(containerDefinitions=[container(cpu=256)]), id="container-cpu"),
    pytest.param(td(), td(cpu="1024"), id="task-cpu"),
    pytest.param(
        td(
            networkMode="bridge",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[container(portMappings=[{"containerPort": 80}])],
        ),
        td(
            networkMode="bridge",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[
                container(portMappings=[{"containerPort": 80, "hostPort": 8080}])
            ],
        ),
        id="bridge-static-hostport",
    ),
    pytest.param(
        td(containerDefinitions=[container(portMappings=[{"containerPort": 80}])]),
        td(
            containerDefinitions=[
                container(portMappings=[{"containerPort": 80, "protocol": "udp"}])
            ]
        ),
        id="protocol-udp",
    ),
    pytest.param(
        td(containerDefinitions=[container(secrets=[{"name": "A", "valueFrom": "arn:1"}])]),
        td(containerDefinitions=[container(secrets=[{"name": "A", "valueFrom": "arn:2"}])]),
        id="secret-reference",
    ),
    pytest.param(
        td(volumes=[{"name": "v", "host": {"sourcePath": "/a"}}]),
        td(volumes=[{"name": "v", "host": {"sourcePath": "/b"}}]),
        id="host-source-path",
    ),
    pytest.param(
        td(
            containerDefinitions=[
                container(mountPoints=[{"sourceVolume": "v", "containerPath": "/v"}])
            ]
        ),
        td(
            containerDefinitions=[
                container(
                    mountPoints=[{"sourceVolume": "v", "containerPath": "/v", "readOnly": True}]
                )
            ]
        ),
        id="mount-read-only",
    ),
    pytest.param(td(), td(containerDefinitions=[container(name="api")]), id="container-renamed"),
    pytest.param(td(), td(executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/x"), id="execution-role"),
]


@pytest.mark.parametrize(("desired", "live"), EQUAL)
def test_what_ecs_fills_in_is_no_difference(desired: dict[str, Any], live: dict[str, Any]) -> None:
    assert canon(desired) == canon(live)
    assert spec_hash(TaskDefinitionInput.model_validate(desired)) == spec_hash(
        TaskDefinitionInput.model_validate(strip_server_fields(live), extra="ignore")
    )


@pytest.mark.parametrize(("desired", "live"), DIFFERENT)
def test_real_changes_stay_visible(desired: dict[str, Any], live: dict[str, Any]) -> None:
    assert canon(desired) != canon(live)
    assert spec_hash(TaskDefinitionInput.model_validate(desired)) != spec_hash(
        TaskDefinitionInput.model_validate(live)
    )


def test_spec_hash_is_short_hex_and_stable() -> None:
    model = TaskDefinitionInput.model_validate(td())
    digest = spec_hash(model)
    assert len(digest) == 16
    assert int(digest, 16) >= 0
    assert digest == spec_hash(TaskDefinitionInput.model_validate(td(cpu=512, memory="1 GB")))


def test_strip_server_fields_drops_host_port_range() -> None:
    raw = td(
        containerDefinitions=[
            container(
                portMappings=[{"containerPortRange": "8000-8010", "hostPortRange": "8000-8010"}]
            )
        ]
    )
    assert canon(raw)["containerDefinitions"][0]["portMappings"] == [
        {"containerPortRange": "8000-8010", "protocol": "tcp"}
    ]


# -- generated task definitions ---------------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,9}", fullmatch=True)
ENV_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,11}", fullmatch=True)
VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
PATHS = st.from_regex(r"/[a-z]{1,6}(/[a-z]{1,6})?", fullmatch=True)
IMAGES = st.from_regex(r"[a-z]{1,8}/[a-z]{1,8}:v[0-9]{1,2}", fullmatch=True)
ARNS = NAMES.map(lambda n: f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{n}")


@st.composite
def port_mappings(draw: st.DrawFn, mode: str) -> list[dict[str, Any]]:
    mappings = []
    for port in draw(st.lists(st.integers(1, 65535), unique=True, max_size=3)):
        pm: dict[str, Any] = {"containerPort": port}
        protocol = draw(st.sampled_from([None, "tcp", "udp"]))
        if protocol:
            pm["protocol"] = protocol
        if mode in ("awsvpc", "host"):
            if draw(st.booleans()):
                pm["hostPort"] = port
        else:
            pm["hostPort"] = draw(st.sampled_from([None, 0, port + 1 if port < 65535 else 1]))
            if pm["hostPort"] is None:
                del pm["hostPort"]
        if draw(st.booleans()):
            pm["name"] = f"p{port}"
        mappings.append(pm)
    return mappings


def _pairs(key: st.SearchStrategy[str], value_key: str, values: st.SearchStrategy[str]) -> Any:
    item = st.fixed_dictionaries({"name": key, value_key: values})
    return st.lists(item, max_size=4, unique_by=lambda e: e["name"])


@st.composite
def containers(draw: st.DrawFn, name: str, mode: str, volumes: list[str]) -> dict[str, Any]:
    mounts = st.fixed_dictionaries(
        {"sourceVolume": st.sampled_from(volumes), "containerPath": PATHS},
        optional={"readOnly": st.booleans()},
    )
    ulimit = st.fixed_dictionaries(
        {
            "name": st.sampled_from(["nofile", "nproc", "core"]),
            "softLimit": st.integers(0, 99),
            "hardLimit": st.integers(100, 200),
        }
    )
    health = st.fixed_dictionaries(
        {"command": st.just(["CMD-SHELL", "true"])},
        optional={
            "interval": st.integers(5, 300),
            "timeout": st.integers(2, 60),
            "retries": st.integers(1, 10),
            "startPeriod": st.integers(0, 300),
        },
    )
    logs: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
        {"logDriver": st.just("awslogs"), "options": st.dictionaries(NAMES, VALUES, max_size=2)},
        optional={"secretOptions": st.just([])},
    )
    optional: dict[str, st.SearchStrategy[Any]] = {
        "cpu": st.sampled_from([0, 128, 256]),
        "memoryReservation": st.integers(64, 128),
        "essential": st.booleans(),
        "portMappings": port_mappings(mode),
        "environment": _pairs(ENV_NAMES, "value", VALUES),
        "secrets": _pairs(ENV_NAMES, "valueFrom", ARNS),
        "command": st.lists(VALUES, max_size=3),
        "entryPoint": st.lists(VALUES, max_size=2),
        "mountPoints": st.lists(mounts, max_size=3, unique_by=lambda m: m["containerPath"])
        if volumes
        else st.just([]),
        "volumesFrom": st.just([]),
        "ulimits": st.lists(ulimit, max_size=3, unique_by=lambda u: u["name"]),
        "systemControls": st.just([]),
        "healthCheck": health,
        "logConfiguration": logs,
        "dockerLabels": st.dictionaries(NAMES, VALUES, max_size=2),
        "stopTimeout": st.integers(2, 120),
        "workingDirectory": PATHS,
        "readonlyRootFilesystem": st.booleans(),
    }
    fields = draw(st.fixed_dictionaries({}, optional=optional))
    return {"name": name, "image": draw(IMAGES), **fields}


def _volume(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({"name": name}),
        st.just({"name": name, "host": {}}),
        PATHS.map(lambda p: {"name": name, "host": {"sourcePath": p}}),
        st.fixed_dictionaries(
            {
                "name": st.just(name),
                "dockerVolumeConfiguration": st.fixed_dictionaries(
                    {}, optional={"scope": st.just("task"), "driver": st.just("local")}
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "name": st.just(name),
                "efsVolumeConfiguration": st.fixed_dictionaries(
                    {"fileSystemId": st.just("fs-12345678")}, optional={"rootDirectory": PATHS}
                ),
            }
        ),
    )


def _spelled_cpu(units: int) -> st.SearchStrategy[str | int]:
    return st.sampled_from([units, str(units), f"{units / 1024:g} vCPU"])


def _spelled_memory(mib: int) -> st.SearchStrategy[str | int]:
    spellings: list[str | int] = [mib, str(mib)]
    if mib % 1024 == 0:
        spellings.append(f"{mib // 1024} GB")
    return st.sampled_from(spellings)


@st.composite
def task_definitions(draw: st.DrawFn, for_moto: bool = False) -> dict[str, Any]:
    """Register inputs; for_moto keeps to what moto models like ECS (see MOTO_QUIRKS)."""
    compat_choices: list[list[str] | None] = [
        None,
        [],
        ["EC2"],
        ["FARGATE"],
        ["EC2", "FARGATE"],
        ["FARGATE", "EC2"],
    ]
    if not for_moto:
        compat_choices += [["EXTERNAL"], ["EC2", "EXTERNAL"]]
    compat = draw(st.sampled_from(compat_choices))
    fargate = bool(compat and "FARGATE" in compat)
    modes = [None, "awsvpc"] if fargate else [None, "bridge", "host", "awsvpc"]
    mode = draw(st.sampled_from(modes))
    effective = mode or ("awsvpc" if fargate else "bridge")
    volume_names = draw(st.lists(NAMES, unique=True, max_size=3))
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    out: dict[str, Any] = {
        "family": draw(NAMES),
        "containerDefinitions": [draw(containers(n, effective, volume_names)) for n in names],
    }
    if compat is not None:
        out["requiresCompatibilities"] = compat
    if mode is not None:
        out["networkMode"] = mode
    if volume_names:
        out["volumes"] = [draw(_volume(n)) for n in volume_names]
    if draw(st.booleans()):
        out["cpu"] = draw(st.sampled_from([256, 512, 1024, 2048]).flatmap(_spelled_cpu))
    if for_moto or draw(st.booleans()):
        out["memory"] = draw(st.sampled_from([512, 1024, 2048, 3072]).flatmap(_spelled_memory))
    optional: dict[str, st.SearchStrategy[Any]] = {
        "executionRoleArn": st.just(f"arn:aws:iam::{ACCOUNT}:role/exec"),
        "taskRoleArn": NAMES.map(lambda n: f"arn:aws:iam::{ACCOUNT}:role/{n}"),
        "runtimePlatform": st.fixed_dictionaries(
            {
                "cpuArchitecture": st.sampled_from(["X86_64", "ARM64"]),
                "operatingSystemFamily": st.just("LINUX"),
            }
        ),
        "ephemeralStorage": st.fixed_dictionaries({"sizeInGiB": st.integers(21, 200)}),
        "tags": st.lists(
            st.fixed_dictionaries({"key": NAMES, "value": VALUES}),
            max_size=2,
            unique_by=lambda t: t["key"],
        ),
    }
    if not fargate:
        optional["placementConstraints"] = st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.just("memberOf"),
                    "expression": st.sampled_from(
                        ["attribute:ecs.instance-type =~ t3.*", "attribute:ecs.os-type == linux"]
                    ),
                }
            ),
            max_size=2,
            unique_by=lambda p: p["expression"],
        )
    out.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return out


def shuffled(raw: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """raw with every list that ECS treats as a set in another order."""
    out = copy.deepcopy(raw)
    for key in (
        "volumes",
        "requiresCompatibilities",
        "placementConstraints",
        "containerDefinitions",
    ):
        if isinstance(out.get(key), list):
            rnd.shuffle(out[key])
    for c in out["containerDefinitions"]:
        for key in ("portMappings", "environment", "secrets", "mountPoints", "ulimits"):
            if isinstance(c.get(key), list):
                rnd.shuffle(c[key])
    return out


@PROPERTY
@given(task_definitions())
def test_canonical_is_idempotent(raw: dict[str, Any]) -> None:
    once = canonical_task_definition(TaskDefinitionInput.model_validate(raw))
    twice = canonical_task_definition(TaskDefinitionInput.model_validate(once))
    assert twice == once


@PROPERTY
@given(task_definitions(), st.randoms(use_true_random=False))
def test_canonical_ignores_order_of_set_like_lists(raw: dict[str, Any], rnd: random.Random) -> None:
    a = TaskDefinitionInput.model_validate(raw)
    b = TaskDefinitionInput.model_validate(shuffled(raw, rnd))
    assert canonical_task_definition(a) == canonical_task_definition(b)
    assert spec_hash(a) == spec_hash(b)


@PROPERTY
@given(task_definitions(), IMAGES)
def test_an_image_change_always_changes_the_hash(raw: dict[str, Any], image: str) -> None:
    changed = copy.deepcopy(raw)
    old = changed["containerDefinitions"][0]["image"]
    changed["containerDefinitions"][0]["image"] = image
    same = image == old
    a, b = TaskDefinitionInput.model_validate(raw), TaskDefinitionInput.model_validate(changed)
    assert (spec_hash(a) == spec_hash(b)) is same


# -- round trips through the moto server ------------------------------------------------------

MOTO_QUIRKS = """moto 5.2.5 differs from ECS: it keeps cpu/memory as sent ("1 vCPU"), adds no
protocol or hostPort to port mappings, and forces networkMode awsvpc for any
requiresCompatibilities other than [EC2] (so EXTERNAL-only inputs are left out)."""


def register_input(model: TaskDefinitionInput) -> dict[str, Any]:
    """What the aws layer sends: the API shape, with cpu/memory as the strings boto3 wants."""
    raw = model.to_api()
    for key in ("cpu", "memory"):
        if key in raw:
            raw[key] = str(raw[key])
    return raw


def round_trip(ecs: Any, model: TaskDefinitionInput) -> tuple[TaskDefinitionInput, dict[str, str]]:
    """Register model (tagged with its hash) and read it back as the aws layer will."""
    params = register_input(model)
    params["tags"] = [*params.get("tags", []), {"key": SPEC_HASH_TAG, "value": spec_hash(model)}]
    arn = ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]
    described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    raw = strip_server_fields(described["taskDefinition"])
    live = TaskDefinitionInput.model_validate(raw, extra="ignore")
    return live, {t["key"]: t["value"] for t in described.get("tags", [])}


def example_task_definitions() -> Iterator[Any]:
    result = load_tree(DirectoryTree(REPO / "examples"))
    assert not result.errors
    for item in result.loaded:
        resource = item.resource
        if isinstance(resource, EcsService | EcsTask):
            form = "file" if item.task_definition_file else "inline"
            yield pytest.param(
                resource.spec.task_definition_input, id=f"{resource.metadata.name}-{form}"
            )


@pytest.fixture(scope="module")
def shared_ecs(moto_server: str) -> Any:
    return boto3.client("ecs", endpoint_url=moto_server, region_name=REGION)


@pytest.mark.parametrize("desired", list(example_task_definitions()))
def test_every_example_round_trips_without_a_diff(
    aws_endpoint: str, desired: TaskDefinitionInput
) -> None:
    ecs = boto3.client("ecs", endpoint_url=aws_endpoint, region_name=REGION)
    live, tags = round_trip(ecs, desired)
    assert canonical_task_definition(live) == canonical_task_definition(desired)
    assert (
        render_diff(
            f"TaskDefinition {desired.family}",
            canonical_task_definition(live),
            canonical_task_definition(desired),
            color=True,
        )
        == ""
    )
    assert tags[SPEC_HASH_TAG] == spec_hash(desired) == spec_hash(live)


@ROUND_TRIP
@given(raw=task_definitions(for_moto=True))
def test_generated_task_definitions_round_trip_without_a_diff(
    shared_ecs: Any, raw: dict[str, Any]
) -> None:
    desired = TaskDefinitionInput.model_validate(raw)
    live, _ = round_trip(shared_ecs, desired)
    assert (
        render_diff(
            "TaskDefinition",
            canonical_task_definition(live),
            canonical_task_definition(desired),
            color=False,
        )
        == ""
    )
    assert spec_hash(live) == spec_hash(desired)


# -- services, task sets, clusters ------------------------------------------------------------

TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/myapp/0123456789abcdef"


def service_spec(**fields: Any) -> EcsServiceSpec:
    base: dict[str, Any] = {
        "cluster": "prod-cluster",
        "desiredCount": 2,
        "taskDefinition": td(),
        "launchType": "FARGATE",
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["subnet-b", "subnet-a"], "securityGroups": ["sg-1"]}
        },
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "web", "containerPort": 8000}],
        "tags": {"app": "myapp"},
    }
    base.update(fields)
    return EcsServiceSpec.model_validate({k: v for k, v in base.items() if v is not None})


def described_service(**fields: Any) -> LiveService:
    """describe-services output as real ECS prints it for service_spec()."""
    base: dict[str, Any] = {
        "serviceName": "myapp",
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod-cluster/myapp",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod-cluster",
        "status": "ACTIVE",
        "desiredCount": 2,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "platformFamily": "Linux",
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-a", "subnet-b"],
                "securityGroups": ["sg-1"],
                "assignPublicIp": "DISABLED",
            }
        },
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "web", "containerPort": 8000}],
        "serviceRegistries": [],
        "placementConstraints": [],
        "placementStrategy": [],
        "healthCheckGracePeriodSeconds": 0,
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "enableECSManagedTags": False,
        "propagateTags": "NONE",
        "enableExecuteCommand": False,
        "tags": [
            {"key": "app", "value": "myapp"},
            {"key": MANAGED_BY_TAG, "value": "ecs-gitops"},
            {"key": "aws:cloudformation:stack-name", "value": "x"},
        ],
    }
    base.update(fields)
    return LiveService.parse({k: v for k, v in base.items() if v is not None})


SERVICE_EQUAL = [
    pytest.param({}, {}, id="as-ecs-reports"),
    pytest.param({"platformVersion": "LATEST"}, {}, id="platform-latest"),
    pytest.param({}, {"platformVersion": "1.4.0"}, id="platform-resolved-when-unset"),
    pytest.param(
        {"healthCheckGracePeriodSeconds": 0},
        {"healthCheckGracePeriodSeconds": None},
        id="grace-period-0",
    ),
    pytest.param({"propagateTags": "NONE"}, {"propagateTags": None}, id="propagate-tags-none"),
    pytest.param(
        {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"]}}},
        {
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-b", "subnet-a"],
                    "securityGroups": ["sg-default"],
                }
            }
        },
        id="default-security-group-and-subnet-order",
    ),
    pytest.param(
        {
            "launchType": None,
            "capacityProviderStrategy": [
                {"capacityProvider": "FARGATE_SPOT", "weight": 1},
                {"capacityProvider": "FARGATE", "base": 1},
            ],
        },
        {
            "launchType": None,
            "capacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "weight": 0, "base": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0},
            ],
        },
        id="capacity-provider-defaults-and-order",
    ),
    pytest.param(
        {"launchType": None},
        {
            "launchType": None,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}],
        },
        id="cluster-default-strategy",
    ),
    pytest.param(
        {"desiredCount": 2, "autoScaling": {"minCapacity": 2, "maxCapacity": 10}},
        {"desiredCount": 7},
        id="autoscaling-owns-count",
    ),
]

SERVICE_DIFFERENT = [
    pytest.param({"desiredCount": 3}, {}, "desiredCount", id="desired-count"),
    pytest.param({"platformVersion": "1.3.0"}, {}, "platformVersion", id="platform-pinned"),
    pytest.param(
        {"healthCheckGracePeriodSeconds": 60},
        {},
        "healthCheckGracePeriodSeconds",
        id="grace-period",
    ),
    pytest.param({"launchType": "EC2"}, {}, "launchType", id="launch-type"),
    pytest.param(
        {
            "placementStrategy": [
                {"type": "spread", "field": "attribute:ecs.availability-zone"},
                {"type": "binpack", "field": "memory"},
            ]
        },
        {
            "placementStrategy": [
                {"type": "binpack", "field": "memory"},
                {"type": "spread", "field": "attribute:ecs.availability-zone"},
            ]
        },
        "placementStrategy",
        id="placement-strategy-order-matters",
    ),
    pytest.param({"tags": {"app": "other"}}, {}, "tags", id="tags"),
    pytest.param(
        {
            "networkConfiguration": {
                "awsvpcConfiguration": {"subnets": ["subnet-a"], "assignPublicIp": "ENABLED"}
            }
        },
        {},
        "networkConfiguration",
        id="public-ip",
    ),
]


@pytest.mark.parametrize(("spec_fields", "live_fields"), SERVICE_EQUAL)
def test_service_fields_as_ecs_reports_them(
    spec_fields: dict[str, Any], live_fields: dict[str, Any]
) -> None:
    live, desired = compare_service(service_spec(**spec_fields), described_service(**live_fields))
    assert live == desired


@pytest.mark.parametrize(("spec_fields", "live_fields", "key"), SERVICE_DIFFERENT)
def test_service_changes_stay_visible(
    spec_fields: dict[str, Any], live_fields: dict[str, Any], key: str
) -> None:
    live, desired = compare_service(service_spec(**spec_fields), described_service(**live_fields))
    assert live.get(key) != desired.get(key)


def test_service_single_sided_forms() -> None:
    spec, live = service_spec(), described_service()
    assert canonical_service_fields(spec) == canonical_live_service_fields(live)
    without = canonical_service_fields(
        spec, include_desired_count=False, include_task_set_fields=False
    )
    assert "desiredCount" not in without
    assert not {"launchType", "networkConfiguration", "loadBalancers"} & set(without)
    assert canonical_live_service_fields(live)["tags"] == {"app": "myapp"}


def test_placement_constraints_are_a_set() -> None:
    a = [{"type": "memberOf", "expression": "x"}, {"type": "distinctInstance"}]
    spec = service_spec(placementConstraints=a)
    live = described_service(placementConstraints=list(reversed(a)))
    assert canonical_service_fields(spec) == canonical_live_service_fields(live)


def test_external_service_compares_task_set_fields_on_the_task_set() -> None:
    spec = service_spec(platformVersion="LATEST")
    service = described_service(
        deploymentController={"type": "EXTERNAL"},
        launchType=None,
        platformVersion=None,
        networkConfiguration=None,
        loadBalancers=[],
    )
    live, desired = compare_service(spec, service)
    assert live == desired
    assert "launchType" not in desired
    task_set = LiveTaskSet.parse(
        {
            "id": "ecs-svc/1",
            "taskSetArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/prod-cluster/myapp/ecs-svc/1",
            "status": "PRIMARY",
            "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/myapp:3",
            "externalId": "ecs-gitops:abc",
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-a", "subnet-b"],
                    "securityGroups": ["sg-1"],
                    "assignPublicIp": "DISABLED",
                }
            },
            "loadBalancers": [
                {"targetGroupArn": TG, "containerName": "web", "containerPort": 8000}
            ],
            "serviceRegistries": [],
            "scale": {"value": 100.0, "unit": "PERCENT"},
        }
    )
    have, want = compare_task_set(spec, task_set)
    assert have == want == canonical_task_set_fields(spec)
    assert canonical_live_task_set_fields(task_set)["platformVersion"] == "1.4.0"
    have, want = compare_task_set(service_spec(platformVersion="1.3.0"), task_set)
    assert have["platformVersion"] != want["platformVersion"]


def test_task_set_fields_ignore_spelling_of_latest() -> None:
    assert canonical_task_set_fields(
        service_spec(platformVersion="LATEST")
    ) == canonical_task_set_fields(service_spec())


def test_moto_service_round_trip_of_the_fields_moto_keeps(aws_endpoint: str) -> None:
    """moto keeps no grace period, placement, execute-command or managed-tags flags: those
    are pinned by the table tests above; the rest round trips through a real create-service."""
    ec2 = boto3.client("ec2", endpoint_url=aws_endpoint, region_name=REGION)
    ecs = boto3.client("ecs", endpoint_url=aws_endpoint, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    spec = service_spec(
        platformVersion="LATEST",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": list(reversed(subnets)), "securityGroups": [group]}
        },
    )
    ecs.create_cluster(clusterName="prod-cluster")
    arn = ecs.register_task_definition(**register_input(spec.task_definition_input))[
        "taskDefinition"
    ]["taskDefinitionArn"]
    params = {
        k: v
        for k, v in canonical_service_fields(spec).items()
        if k not in ("tags", "enableECSManagedTags")
    }
    ecs.create_service(
        cluster="prod-cluster",
        serviceName="myapp",
        taskDefinition=arn,
        tags=[{"key": k, "value": v} for k, v in spec.tags.items()],
        **params,
    )
    raw = ecs.describe_services(cluster="prod-cluster", services=["myapp"], include=["TAGS"])[
        "services"
    ][0]
    live, desired = compare_service(spec, LiveService.parse(raw))
    moto_drops = ("healthCheckGracePeriodSeconds", "enableExecuteCommand", "enableECSManagedTags")
    assert {k: v for k, v in live.items() if k not in moto_drops} == {
        k: v for k, v in desired.items() if k not in moto_drops
    }


def cluster_spec(**fields: Any) -> EcsClusterSpec:
    base: dict[str, Any] = {
        "settings": [{"name": "containerInsights", "value": "enabled"}],
        "capacityProviders": ["FARGATE_SPOT", "FARGATE"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
        "tags": {"env": "prod"},
    }
    base.update(fields)
    return EcsClusterSpec.model_validate(base)


def described_cluster(**fields: Any) -> LiveCluster:
    base: dict[str, Any] = {
        "clusterName": "prod-cluster",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod-cluster",
        "status": "ACTIVE",
        "settings": [{"name": "containerInsights", "value": "enabled"}],
        "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
        "defaultCapacityProviderStrategy": [
            {"capacityProvider": "FARGATE", "weight": 1, "base": 0}
        ],
        "tags": [{"key": "env", "value": "prod"}, {"key": MANAGED_BY_TAG, "value": "ecs-gitops"}],
    }
    base.update(fields)
    return LiveCluster.parse(base)


CLUSTER_CASES: list[Any] = [
    pytest.param(cluster_spec(), described_cluster(), True, id="as-ecs-reports"),
    pytest.param(
        cluster_spec(settings=[]),
        described_cluster(settings=[{"name": "containerInsights", "value": "disabled"}]),
        True,
        id="unnamed-setting-is-ecs-choice",
    ),
    pytest.param(
        cluster_spec(),
        described_cluster(settings=[{"name": "containerInsights", "value": "disabled"}]),
        False,
        id="setting-changed",
    ),
    pytest.param(
        cluster_spec(capacityProviders=["FARGATE"]),
        described_cluster(),
        False,
        id="provider-removed",
    ),
    pytest.param(cluster_spec(tags={"env": "dev"}), described_cluster(), False, id="tag-changed"),
]


@pytest.mark.parametrize(("spec", "live", "equal"), CLUSTER_CASES)
def test_cluster_fields(spec: EcsClusterSpec, live: LiveCluster, equal: bool) -> None:
    have, want = compare_cluster(spec, live)
    assert (have == want) is equal


def test_cluster_single_sided_forms() -> None:
    assert canonical_cluster(cluster_spec()) == canonical_live_cluster(described_cluster())
    assert canonical_live_cluster(described_cluster())["capacityProviders"] == [
        "FARGATE",
        "FARGATE_SPOT",
    ]
