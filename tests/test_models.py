"""The desired-state models: ECS's own field names and shapes, nothing unknown, the
defaults DESIGN.md promises, and a task definition that takes everything
`aws ecs register-task-definition --cli-input-json` takes.

What "everything" means comes from botocore's ECS model (the same one the AWS CLI uses):
a sample with every member of every nested structure is generated from it, checked by
botocore's own parameter validation, and must load and round-trip unchanged.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from pydantic import BaseModel, ValidationError

from controller.api import KINDS, EcsCluster, EcsService, EcsTask, TaskDefinitionInput, ecs_shapes
from controller.loader import load_tree
from controller.sources.directory import DirectoryTree

WriteTree = Callable[[dict[str, str | bytes]], Path]

ECS: Any = botocore.session.get_session().get_service_model("ecs")  # botocore is untyped
EXEC_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
TASK_ROLE = "arn:aws:iam::123456789012:role/web-task"


def api_errors(shape_name: str, params: dict[str, Any]) -> str:
    """What botocore (and so the AWS CLI) says about params as an input of that shape."""
    report = ParamValidator().validate(params, ECS.shape_for(shape_name))
    return report.generate_report() if report.has_errors() else ""


# --- A maximal task definition, as a person would write it --------------------------------

MAXIMAL_TASK_DEFINITION: dict[str, Any] = {
    "family": "web",
    "taskRoleArn": TASK_ROLE,
    "executionRoleArn": EXEC_ROLE,
    "networkMode": "awsvpc",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1",
            "repositoryCredentials": {
                "credentialsParameter": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hub"
            },
            "cpu": 512,
            "memory": 1536,
            "memoryReservation": 1024,
            "portMappings": [
                {"containerPort": 8000, "hostPort": 8000, "protocol": "tcp", "name": "http", "appProtocol": "http"},
                {"containerPortRange": "9000-9010", "protocol": "udp"},
            ],
            "essential": True,
            "restartPolicy": {"enabled": True, "ignoredExitCodes": [0], "restartAttemptPeriod": 300},
            "entryPoint": ["/entrypoint.sh"],
            "command": ["gunicorn", "app:app"],
            "environment": [{"name": "ENV", "value": "production"}],
            "environmentFiles": [{"value": "arn:aws:s3:::config/web.env", "type": "s3"}],
            "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": False}],
            "volumesFrom": [{"sourceContainer": "envoy", "readOnly": True}],
            "linuxParameters": {
                "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]},
                "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse", "permissions": ["read"]}],
                "initProcessEnabled": True,
                "sharedMemorySize": 64,
                "tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["rw"]}],
                "maxSwap": 0,
                "swappiness": 0,
            },
            "secrets": [
                {"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}
            ],
            "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
            "startTimeout": 60,
            "stopTimeout": 30,
            "versionConsistency": "enabled",
            "user": "1000:1000",
            "workingDirectory": "/app",
            "disableNetworking": False,
            "privileged": False,
            "readonlyRootFilesystem": True,
            "interactive": False,
            "pseudoTerminal": False,
            "dockerLabels": {"team": "web"},
            "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"},
                "secretOptions": [
                    {"name": "token", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/token"}
                ],
            },
            "healthCheck": {
                "command": ["CMD-SHELL", "curl -f http://localhost:8000/ || exit 1"],
                "interval": 30,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 10,
            },
            "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
            "resourceRequirements": [{"type": "GPU", "value": "1"}],
            "dockerSecurityOptions": ["no-new-privileges"],
            "credentialSpecs": ["credentialspecdomainless:arn:aws:s3:::bucket/spec.json"],
        },
        {
            "name": "envoy",
            "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod",
            "essential": True,
            "memoryReservation": 256,
            "user": "1337",
            "healthCheck": {"command": ["CMD-SHELL", "curl -s http://localhost:9901/ready"]},
            "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}},
        },
    ],
    "volumes": [
        {"name": "data", "efsVolumeConfiguration": {
            "fileSystemId": "fs-12345678",
            "rootDirectory": "/",
            "transitEncryption": "ENABLED",
            "transitEncryptionPort": 2049,
            "authorizationConfig": {"accessPointId": "fsap-1234", "iam": "ENABLED"},
        }},
        {"name": "scratch", "host": {"sourcePath": "/var/scratch"}},
        {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local", "driverOpts": {"type": "tmpfs"}, "labels": {"a": "b"}}},
        {"name": "ebs", "configuredAtLaunch": True},
    ],
    "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ g4dn.*"}],
    "requiresCompatibilities": ["EC2"],
    "cpu": "1 vCPU",
    "memory": "2 GB",
    "tags": [{"key": "team", "value": "web"}],
    "pidMode": "task",
    "ipcMode": "task",
    "proxyConfiguration": {
        "type": "APPMESH",
        "containerName": "envoy",
        "properties": [{"name": "ProxyIngressPort", "value": "15000"}, {"name": "IgnoredUID", "value": "1337"}],
    },
    "inferenceAccelerators": [{"deviceName": "device1", "deviceType": "eia2.medium"}],
    "ephemeralStorage": {"sizeInGiB": 30},
    "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
    "enableFaultInjection": False,
}  # fmt: skip

TOP_LEVEL = list(ECS.shape_for("RegisterTaskDefinitionRequest").members)


def test_the_maximal_task_definition_sets_every_top_level_field() -> None:
    assert sorted(MAXIMAL_TASK_DEFINITION) == sorted(TOP_LEVEL)


def test_the_maximal_task_definition_is_valid_register_task_definition_input() -> None:
    assert api_errors("RegisterTaskDefinitionRequest", MAXIMAL_TASK_DEFINITION) == ""


def test_the_maximal_task_definition_loads_and_round_trips() -> None:
    td = TaskDefinitionInput.model_validate(MAXIMAL_TASK_DEFINITION)
    assert td.to_api() == MAXIMAL_TASK_DEFINITION
    web = td.container_definitions[0]
    assert web.port_mappings is not None
    assert web.port_mappings[0].app_protocol == "http"
    assert web.linux_parameters is not None
    assert web.linux_parameters.init_process_enabled
    assert td.ephemeral_storage is not None
    assert td.ephemeral_storage.size_in_gi_b == 30
    assert td.volumes is not None
    assert td.volumes[0].efs_volume_configuration is not None


def test_the_maximal_task_definition_loads_from_a_file_next_to_an_ec2_service(
    write_tree: WriteTree,
) -> None:
    service = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {name: web}
spec:
  cluster: gpu
  launchType: EC2
  taskDefinition: task-definition.json
  networkConfiguration: {awsvpcConfiguration: {subnets: [subnet-a]}}
"""
    root = write_tree(
        {
            "web.yaml": service,
            "task-definition.json": json.dumps(MAXIMAL_TASK_DEFINITION, indent=2),
        }
    )
    result = load_tree(DirectoryTree(root))
    assert [str(d) for d in result.diagnostics] == []
    (svc,) = result.resources
    assert isinstance(svc, EcsService)
    assert svc.spec.task_definition_input.to_api() == MAXIMAL_TASK_DEFINITION


# --- Every member of every ECS shape the desired state embeds ----------------------------


def sample(shape: Any, seen: tuple[str, ...] = ()) -> Any:
    """A value of shape with every member set, recursively (a recursive shape stops)."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: sample(member, (*seen, shape.name))
            for name, member in shape.members.items()
            if member.name not in seen and member.name != shape.name
        }
    if kind == "list":
        return [sample(shape.member, seen)]
    if kind == "map":
        return {"key": sample(shape.value, seen)}
    if kind == "string":
        return shape.enum[-1] if shape.enum else "text"
    if kind in ("integer", "long"):
        return 7
    if kind == "boolean":
        return True
    if kind in ("double", "float"):
        return 1.5
    raise AssertionError(f"no sample for {kind}")


SHAPES = [
    ("RegisterTaskDefinitionRequest", ecs_shapes.TaskDefinitionInput),
    ("NetworkConfiguration", ecs_shapes.NetworkConfiguration),
    ("LoadBalancer", ecs_shapes.LoadBalancer),
    ("ServiceRegistry", ecs_shapes.ServiceRegistry),
    ("PlacementConstraint", ecs_shapes.PlacementConstraint),
    ("PlacementStrategy", ecs_shapes.PlacementStrategy),
    ("CapacityProviderStrategyItem", ecs_shapes.CapacityProviderStrategyItem),
    ("TaskOverride", ecs_shapes.TaskOverride),
    ("ClusterSetting", ecs_shapes.ClusterSetting),
    ("ClusterConfiguration", ecs_shapes.ClusterConfiguration),
    ("ClusterServiceConnectDefaultsRequest", ecs_shapes.ClusterServiceConnectDefaults),
    ("ServiceConnectConfiguration", ecs_shapes.ServiceConnectConfiguration),
    ("DeploymentConfiguration", ecs_shapes.DeploymentConfiguration),
    ("VpcLatticeConfiguration", ecs_shapes.VpcLatticeConfiguration),
    ("ServiceVolumeConfiguration", ecs_shapes.ServiceVolumeConfiguration),
]


@pytest.mark.parametrize(("shape_name", "model"), SHAPES, ids=[s for s, _ in SHAPES])
def test_every_member_of_the_api_shape_is_accepted(shape_name: str, model: type[BaseModel]) -> None:
    value = sample(ECS.shape_for(shape_name))
    assert api_errors(shape_name, value) == ""  # the sample is what the API takes
    loaded = model.model_validate(value)
    assert loaded.model_dump(by_alias=True, exclude_none=True, mode="json") == value


def test_the_sample_reaches_every_container_field() -> None:
    value = sample(ECS.shape_for("RegisterTaskDefinitionRequest"))
    container = value["containerDefinitions"][0]
    assert sorted(container) == sorted(ECS.shape_for("ContainerDefinition").members)
    assert len(container) > 40


@pytest.mark.parametrize("every_enum_value", ["networkMode", "pidMode", "ipcMode"])
def test_task_level_enums_take_every_api_value(every_enum_value: str) -> None:
    shape = ECS.shape_for("RegisterTaskDefinitionRequest").members[every_enum_value]
    for value in shape.enum:
        td = dict(MAXIMAL_TASK_DEFINITION, **{every_enum_value: value})
        assert TaskDefinitionInput.model_validate(td).to_api()[every_enum_value] == value


def test_log_drivers_take_every_api_value() -> None:
    for driver in ECS.shape_for("LogConfiguration").members["logDriver"].enum:
        td = copy.deepcopy(MAXIMAL_TASK_DEFINITION)
        td["containerDefinitions"][0]["logConfiguration"] = {"logDriver": driver}
        TaskDefinitionInput.model_validate(td)


def test_a_value_outside_the_api_enum_is_refused() -> None:
    td = copy.deepcopy(MAXIMAL_TASK_DEFINITION)
    td["networkMode"] = "overlay"
    assert "overlay" not in ECS.shape_for("NetworkMode").enum
    with pytest.raises(ValidationError, match="networkMode"):
        TaskDefinitionInput.model_validate(td)


def test_describe_task_definition_output_is_not_register_input() -> None:
    described = dict(MAXIMAL_TASK_DEFINITION, revision=3, status="ACTIVE")
    with pytest.raises(ValidationError) as info:
        TaskDefinitionInput.model_validate(described)
    assert {e["loc"][0] for e in info.value.errors()} == {"revision", "status"}
    assert {e["type"] for e in info.value.errors()} == {"extra_forbidden"}


# --- Unknown fields, located, with a did-you-mean ---------------------------------------

SERVICE_HEAD = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {name: web}
spec:
  taskDefinition: td.json
"""
TD_JSON = json.dumps(
    {
        "family": "web",
        "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 512}],
    }
)


def diagnostics(root: Path) -> list[str]:
    return [str(d).removeprefix(f"{root}/") for d in load_tree(DirectoryTree(root)).diagnostics]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("desiredCont: 2", "svc.yaml:6:3: error: spec.desiredCont: unknown field 'desiredCont' in spec (did you mean 'desiredCount'?)", id="spec-typo"),
        pytest.param("desired_count: 2", "svc.yaml:6:3: error: spec.desired_count: unknown field 'desired_count' in spec (did you mean 'desiredCount'?)", id="snake-case"),
        pytest.param("launchtype: FARGATE", "svc.yaml:6:3: error: spec.launchtype: unknown field 'launchtype' in spec (did you mean 'launchType'?)", id="miscased"),
        pytest.param("deployment: {rolling: {maxPercent: 150}}", "svc.yaml:6:26: error: spec.deployment.rolling.maxPercent: unknown field 'maxPercent' in spec.deployment.rolling (did you mean 'maximumPercent'?)", id="deployment"),
        pytest.param("syncPolicy: {selfheal: false}", "svc.yaml:6:16: error: spec.syncPolicy.selfheal: unknown field 'selfheal' in spec.syncPolicy (did you mean 'selfHeal'?)", id="syncPolicy"),
        pytest.param("autoScaling: {minCapacity: 1, maxCapacity: 2, targetTraking: []}", "svc.yaml:6:49: error: spec.autoScaling.targetTraking: unknown field 'targetTraking' in spec.autoScaling (did you mean 'targetTracking'?)", id="autoScaling"),
        pytest.param("networkConfiguration: {awsVpcConfiguration: {subnets: [a]}}", "svc.yaml:6:26: error: spec.networkConfiguration.awsVpcConfiguration: unknown field 'awsVpcConfiguration' in spec.networkConfiguration (did you mean 'awsvpcConfiguration'?)", id="networkConfiguration"),
        pytest.param("loadBalancers: [{targetGroupARN: x, containerName: web, containerPort: 80}]", "svc.yaml:6:20: error: spec.loadBalancers[0].targetGroupARN: unknown field 'targetGroupARN' in spec.loadBalancers[0] (did you mean 'targetGroupArn'?)", id="loadBalancers"),
        pytest.param("placementStrategy: [{type: spread, feild: 'attribute:ecs.availability-zone'}]", "svc.yaml:6:38: error: spec.placementStrategy[0].feild: unknown field 'feild' in spec.placementStrategy[0] (did you mean 'field'?)", id="placementStrategy"),
        pytest.param("frobnicate: 1", "svc.yaml:6:3: error: spec.frobnicate: unknown field 'frobnicate' in spec", id="no-suggestion"),
    ],
)  # fmt: skip
def test_unknown_service_fields(write_tree: WriteTree, line: str, expected: str) -> None:
    root = write_tree({"svc.yaml": SERVICE_HEAD + f"  {line}\n", "td.json": TD_JSON})
    assert diagnostics(root) == [expected]


@pytest.mark.parametrize(
    ("td", "expected"),
    [
        pytest.param('{"family": "web", "containerDefinition": []}', ["td.json:1:19: error: containerDefinition: unknown field 'containerDefinition' in the document (did you mean 'containerDefinitions'?)", "td.json:1:1: error: containerDefinitions: missing required field 'containerDefinitions'"], id="top-level"),
        pytest.param('{"family": "web",\n "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 512, "portMapping": []}]}', ["td.json:2:76: error: containerDefinitions[0].portMapping: unknown field 'portMapping' in containerDefinitions[0] (did you mean 'portMappings'?)"], id="container"),
        pytest.param('{"family": "web",\n "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 512, "healthCheck": {"command": ["true"], "interval": 5, "startperiod": 3}}]}', ["td.json:2:128: error: containerDefinitions[0].healthCheck.startperiod: unknown field 'startperiod' in containerDefinitions[0].healthCheck (did you mean 'startPeriod'?)"], id="nested"),
        pytest.param('{"family": "web", "revision": 4,\n "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 512}]}', ["td.json:1:19: error: revision: 'revision' is set by ECS and not accepted by register-task-definition"], id="describe-output"),
    ],
)  # fmt: skip
def test_unknown_task_definition_fields(
    write_tree: WriteTree, td: str, expected: list[str]
) -> None:
    root = write_tree({"svc.yaml": SERVICE_HEAD, "td.json": td})
    got = diagnostics(root)
    assert got[0].startswith("svc.yaml:5:19: error: spec.taskDefinition: 'td.json' is not a valid")
    for want in expected:
        assert any(g.startswith(want) for g in got), got
    assert len(got) == len(expected) + 1, got


def test_unknown_field_in_an_inline_task_definition(write_tree: WriteTree) -> None:
    text = SERVICE_HEAD.replace(
        "taskDefinition: td.json",
        "taskDefinition: {famly: web, containerDefinitions: [{name: web, image: nginx, memory: 512}]}",
    )
    root = write_tree({"svc.yaml": text})
    assert diagnostics(root) == [
        "svc.yaml:5:19: error: spec.taskDefinition.family: missing required field 'family'",
        "svc.yaml:5:20: error: spec.taskDefinition.famly: unknown field 'famly' in spec.taskDefinition (did you mean 'family'?)",
    ]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param("apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata: {name: prod}\nspec: {capacityProvider: [FARGATE]}\n", "c.yaml:4:8: error: spec.capacityProvider: unknown field 'capacityProvider' in spec (did you mean 'capacityProviders'?)", id="cluster"),
        pytest.param("apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata: {name: prod, lables: {a: b}}\n", "c.yaml:3:24: error: metadata.lables: unknown field 'lables' in metadata (did you mean 'labels'?)", id="metadata"),
        pytest.param("apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsTask\nmetadata: {name: migrate}\nspec: {taskDefinition: td.json, timeoutSecs: 60}\n", "c.yaml:4:33: error: spec.timeoutSecs: unknown field 'timeoutSecs' in spec (did you mean 'timeoutSeconds'?)", id="task"),
    ],
)  # fmt: skip
def test_unknown_fields_of_other_kinds(write_tree: WriteTree, doc: str, expected: str) -> None:
    root = write_tree({"c.yaml": doc, "td.json": TD_JSON})
    assert diagnostics(root) == [expected]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param('desiredCount: "2"', "svc.yaml:6:17: error: spec.desiredCount: must be a valid integer, got '2'", id="string-for-int"),
        pytest.param("launchType: fargate", "svc.yaml:6:15: error: spec.launchType: must be 'FARGATE', 'EC2' or 'EXTERNAL', got 'fargate'", id="enum-case"),
        pytest.param("deployment: {strategy: bluegreen}", "svc.yaml:6:26: error: spec.deployment.strategy: must be 'rolling', 'blueGreen' or 'canary', got 'bluegreen'", id="strategy"),
        pytest.param("desiredCount: -1", "svc.yaml:6:17: error: spec.desiredCount: must be greater than or equal to 0, got -1", id="negative"),
        pytest.param("deployment: {rolling: {maximumPercent: 250}}", "svc.yaml:6:42: error: spec.deployment.rolling.maximumPercent: must be less than or equal to 200, got 250", id="max-percent"),
    ],
)  # fmt: skip
def test_types_are_strict(write_tree: WriteTree, line: str, expected: str) -> None:
    root = write_tree({"svc.yaml": SERVICE_HEAD + f"  {line}\n", "td.json": TD_JSON})
    assert diagnostics(root) == [expected]


# --- Tags: a mapping, or ECS's [{key, value}] list --------------------------------------


def service_doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ecs-gitops.dev/v1alpha1",
        "kind": "EcsService",
        "metadata": {"name": "web"},
        "spec": {"taskDefinition": "td.json", **spec},
    }


@pytest.mark.parametrize("kind", ["EcsService", "EcsCluster", "EcsTask"])
def test_tags_as_a_mapping_or_as_the_ecs_list(kind: str) -> None:
    model = KINDS[kind]
    base = service_doc() | {"kind": kind}
    if kind == "EcsCluster":
        base["spec"] = {}
    as_map = model.model_validate(
        base | {"spec": base["spec"] | {"tags": {"env": "prod", "team": "web"}}}
    )
    as_list = model.model_validate(
        base
        | {
            "spec": base["spec"]
            | {"tags": [{"key": "env", "value": "prod"}, {"key": "team", "value": "web"}]}
        }
    )
    assert as_map == as_list
    assert as_list.spec.tags == {"env": "prod", "team": "web"}
    assert as_list.to_api()["spec"]["tags"] == {"env": "prod", "team": "web"}


def test_tags_from_describe_output_without_a_value() -> None:
    svc = EcsService.model_validate(service_doc(tags=[{"key": "flag"}]))
    assert svc.spec.tags == {"flag": ""}


def test_tags_empty_list_is_no_tags() -> None:
    assert EcsService.model_validate(service_doc(tags=[])).spec.tags == {}


@pytest.mark.parametrize(
    ("tags", "error"),
    [
        pytest.param({f"k{i}": "v" for i in range(51)}, "at most 50 items", id="more-than-50"),
        pytest.param({"k" * 129: "v"}, "at most 128 characters", id="long-key"),
        pytest.param({"k": "v" * 257}, "at most 256 characters", id="long-value"),
        pytest.param({"": "v"}, "at least 1 character", id="empty-key"),
        pytest.param({"version": 2}, "valid string", id="number-value"),
    ],
)
def test_tags_limits(tags: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        EcsService.model_validate(service_doc(tags=tags))


def test_task_definition_tags_keep_the_api_list_form() -> None:
    td = TaskDefinitionInput.model_validate(MAXIMAL_TASK_DEFINITION)
    assert td.to_api()["tags"] == [{"key": "team", "value": "web"}]
    with pytest.raises(ValidationError, match="valid list"):
        TaskDefinitionInput.model_validate(dict(MAXIMAL_TASK_DEFINITION, tags={"team": "web"}))


# --- Defaults ---------------------------------------------------------------------------


def test_service_defaults() -> None:
    spec = EcsService.model_validate(service_doc()).spec
    assert spec.cluster == "default"
    assert spec.region is None
    assert spec.desired_count == 1
    assert spec.launch_type is None
    assert spec.capacity_provider_strategy == []
    assert spec.network_configuration is None
    assert spec.load_balancers == []
    assert spec.service_registries == []
    assert spec.placement_constraints == []
    assert spec.placement_strategy == []
    assert spec.tags == {}
    assert spec.auto_scaling is None
    d = spec.deployment
    assert d.strategy == "rolling"
    assert (d.rolling.minimum_healthy_percent, d.rolling.maximum_percent) == (100, 200)
    assert d.canary is None
    assert d.progress_deadline_seconds == 600
    assert d.failure_threshold.stopped_tasks == 3
    assert d.alarms == []
    assert d.auto_rollback is True
    p = spec.sync_policy
    assert (p.prune, p.self_heal, p.suspend) == (False, True, False)


def test_partial_sections_keep_the_other_defaults() -> None:
    spec = EcsService.model_validate(
        service_doc(
            syncPolicy={"prune": True},
            deployment={"strategy": "canary", "canary": {"steps": [{"weight": 10}]}},
        )
    ).spec
    assert (spec.sync_policy.prune, spec.sync_policy.self_heal, spec.sync_policy.suspend) == (
        True,
        True,
        False,
    )
    assert spec.deployment.strategy == "canary"
    assert spec.deployment.rolling.minimum_healthy_percent == 100
    assert spec.deployment.rolling.maximum_percent == 200
    assert spec.deployment.canary is not None
    assert spec.deployment.canary.steps[0].pause_seconds is None  # waits for `promote`


def test_cluster_defaults() -> None:
    cluster = EcsCluster.model_validate(
        {
            "apiVersion": "ecs-gitops.dev/v1alpha1",
            "kind": "EcsCluster",
            "metadata": {"name": "prod"},
        }
    )
    assert cluster.spec.settings == []
    assert cluster.spec.capacity_providers == []
    p = cluster.spec.sync_policy
    assert (p.prune, p.self_heal, p.suspend) == (False, True, False)


def test_task_defaults() -> None:
    task = EcsTask.model_validate(service_doc() | {"kind": "EcsTask"})
    assert task.spec.cluster == "default"
    assert task.spec.count == 1
    assert task.spec.timeout_seconds == 1800
    p = task.spec.sync_policy
    assert (p.prune, p.self_heal, p.suspend) == (False, True, False)


# --- ECS's field names and shapes -------------------------------------------------------

ECS_SHAPED_SPEC: dict[str, Any] = {
    "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
    "taskDefinition": "td.json",
    "capacityProviderStrategy": [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3},
    ],
    "platformVersion": "1.4.0",
    "networkConfiguration": {
        "awsvpcConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-a"],
            "assignPublicIp": "DISABLED",
        }
    },
    "loadBalancers": [
        {
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1",
            "containerName": "web",
            "containerPort": 8000,
        }
    ],
    "serviceRegistries": [
        {
            "registryArn": "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1",
            "port": 8000,
        }
    ],
    "placementConstraints": [{"type": "distinctInstance"}],
    "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
    "healthCheckGracePeriodSeconds": 60,
    "enableExecuteCommand": True,
    "enableECSManagedTags": True,
    "propagateTags": "SERVICE",
}


def test_service_takes_the_ecs_api_shapes_unchanged() -> None:
    svc = EcsService.model_validate(service_doc(**ECS_SHAPED_SPEC))
    out = svc.to_api()["spec"]
    for name, value in ECS_SHAPED_SPEC.items():
        assert out[name] == value, name
    # The same fields pass botocore's CreateService validation as they are.
    create = {k: v for k, v in ECS_SHAPED_SPEC.items() if k != "taskDefinition"}
    assert api_errors("CreateServiceRequest", {"serviceName": "web", **create}) == ""


def test_service_cluster_name_or_arn() -> None:
    with pytest.raises(ValidationError, match="cluster"):
        EcsService.model_validate(service_doc(cluster="prod cluster"))


def test_models_are_frozen() -> None:
    svc = EcsService.model_validate(service_doc())
    with pytest.raises(ValidationError, match="frozen"):
        svc.spec.desired_count = 3  # type: ignore[misc]
