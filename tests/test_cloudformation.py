"""The manifests that run the controller on AWS: linted, parsed, and kept in step.

cfn-lint (errors, warnings and informational findings alike) passes on
manifests/cloudformation.yaml, which also validates its IAM actions and Fargate sizes.
The JSON manifests parse; the task definition loads as our TaskDefinitionInput model and
passes `validate`'s checks; it and the service are valid RegisterTaskDefinition and
CreateService input per botocore's model. And the copies agree: the template's task role
policy is manifests/iam-task-role-policy.json, its execution role carries the managed
policy plus the JSON's secret statement, the lease table has the key and TTL attribute the
DynamoDB lease writes, and the health check is the Dockerfile's everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from cfnlint.decode import decode_str

from controller.api import TaskDefinitionInput
from controller.aws.lease import KEY, TTL_ATTRIBUTE
from controller.cli import main as cli
from controller.loader.checks import check_task_definition

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "manifests"
TEMPLATE = MANIFESTS / "cloudformation.yaml"
NO_VALUE = object()
# Read by the sources from the environment, not options of `run`.
ENVIRONMENT_ONLY = {
    "ECS_GITOPS_GIT_TOKEN",
    "ECS_GITOPS_GIT_TOKEN_FILE",
    "ECS_GITOPS_GIT_SSH_KEY_FILE",
}


def load_template() -> dict[str, Any]:
    template, problems = decode_str(TEMPLATE.read_text())
    assert not problems, problems
    return dict(template)


def resolve(node: Any) -> Any:
    """The template with every condition true: Fn::Sub strings as written, Fn::If's first
    branch, Ref as ${Name}, AWS::NoValue dropped. Comparable to the JSON manifests."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Fn::Sub":
                return value if isinstance(value, str) else value[0]
            if key == "Fn::If":
                return resolve(value[1])
            if key == "Ref":
                return NO_VALUE if value == "AWS::NoValue" else f"${{{value}}}"
        out = {k: resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}
    if isinstance(node, list):
        return [v for v in map(resolve, node) if v is not NO_VALUE]
    return node


def manifest(name: str) -> Any:
    return json.loads((MANIFESTS / name).read_text())


def test_cfn_lint_finds_nothing() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [cfn_lint, "--include-checks", "I", "--", TEMPLATE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("path", sorted(MANIFESTS.glob("*.json")), ids=lambda p: p.name)
def test_json_manifests_parse(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


def test_the_task_definition_loads_and_passes_validate_checks() -> None:
    td = TaskDefinitionInput.model_validate(manifest("task-definition.json"))
    assert check_task_definition(td) == []
    (container,) = td.container_definitions
    assert container.stop_timeout == 30
    assert td.execution_role_arn != td.task_role_arn


@pytest.mark.parametrize(
    ("name", "operation"),
    [("task-definition.json", "RegisterTaskDefinition"), ("service.json", "CreateService")],
    ids=["register-task-definition", "create-service"],
)
def test_manifests_are_valid_ecs_input(name: str, operation: str) -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    report = ParamValidator().validate(manifest(name), model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_the_service_runs_two_replicas_rolling_the_ecs_way() -> None:
    service = manifest("service.json")
    assert service["desiredCount"] == 2
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["taskDefinition"] == manifest("task-definition.json")["family"]
    props = load_template()["Resources"]["Service"]["Properties"]
    assert props["DeploymentController"] == {"Type": "ECS"}
    assert load_template()["Parameters"]["DesiredCount"]["Default"] == 2


def test_the_template_task_role_is_the_policy_manifest() -> None:
    role = resolve(load_template()["Resources"]["TaskRole"]["Properties"])
    (policy,) = role["Policies"]
    assert policy["PolicyDocument"] == manifest("iam-task-role-policy.json")


def test_the_execution_role_is_ecs_s_and_reads_only_the_git_secret() -> None:
    props = load_template()["Resources"]["ExecutionRole"]["Properties"]
    assert resolve(props["ManagedPolicyArns"]) == [
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    ]
    (policy,) = resolve(props["Policies"])
    secret = [
        s
        for s in manifest("iam-execution-role-policy.json")["Statement"]
        if s["Sid"] == "InjectGitCredentials"
    ]
    assert policy["PolicyDocument"]["Statement"] == secret


def test_the_lease_table_matches_what_the_lease_writes() -> None:
    table = load_template()["Resources"]["LeaseTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": KEY, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": KEY, "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def dockerfile_healthcheck() -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("HEALTHCHECK"))
    command: list[str] = json.loads(line.split("CMD", 1)[1])
    return command


def test_one_health_check_everywhere() -> None:
    (container,) = manifest("task-definition.json")["containerDefinitions"]
    (template_container,) = load_template()["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"
    ]
    expected = ["CMD", *dockerfile_healthcheck()]
    assert container["healthCheck"]["command"] == expected
    assert list(template_container["HealthCheck"]["Command"]) == expected
    assert template_container["StopTimeout"] == container["stopTimeout"] == 30
    assert template_container["PortMappings"][0]["ContainerPort"] == 8080


def manifest_environment() -> set[str]:
    (container,) = manifest("task-definition.json")["containerDefinitions"]
    (template_container,) = resolve(load_template()["Resources"]["TaskDefinition"])["Properties"][
        "ContainerDefinitions"
    ]
    names = {e["name"] for e in container["environment"] + container["secrets"]}
    names |= {e["Name"] for e in template_container["Environment"] + template_container["Secrets"]}
    return names


def test_every_variable_the_manifests_set_is_an_option_of_run() -> None:
    run = cli.commands["run"]
    envvars: set[str] = set()
    for param in run.params:
        envvars.update([param.envvar] if isinstance(param.envvar, str) else param.envvar or [])
    unknown = manifest_environment() - envvars - ENVIRONMENT_ONLY
    assert not unknown, f"set by the manifests, read by nothing: {sorted(unknown)}"
