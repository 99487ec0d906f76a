"""Which deployment controller takes which field: located `validate` errors that name the fix.

Each test writes a service in a tmp tree, loads it as `validate` does and expects
exactly the diagnostics listed, as `file:line:col: severity: part of the message`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.api import EcsService
from tests.conftest import REPO, run_cli
from tests.test_checks import assert_diagnostics, load

WriteTree = Callable[[dict[str, str | bytes]], Path]

SEED_TD = json.loads((REPO / "examples" / "service-connect" / "task-definition.json").read_text())

# line 1..9: the head every service here shares; line 10 on: what a test adds
HEAD = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {name: myapp}
spec:
  cluster: prod
  taskDefinition: td.json
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {subnets: [subnet-aaa], securityGroups: [sg-xxx]}
"""

CONNECT = """\
  serviceConnectConfiguration:
    enabled: true
    namespace: myapp
    services:
      - portName: web
        discoveryName: web
        clientAliases: [{port: 8000, dnsName: web}]
"""


def tree(write_tree: WriteTree, body: str, td: dict[str, object] | None = None) -> Path:
    return write_tree({"svc.yaml": HEAD + body, "td.json": json.dumps(td or SEED_TD)})


def test_the_seeds_service_connect_on_external_names_type_ecs(write_tree: WriteTree) -> None:
    root = tree(write_tree, CONNECT)
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:11:5: error: serviceConnectConfiguration is taken only by ECS's own "
        "deployment controller (ECS refuses Service Connect on a service whose deployment "
        "controller is EXTERNAL): set `deploymentController: {type: ECS}`",
    )


def test_the_seeds_service_connect_on_type_ecs_is_valid(write_tree: WriteTree) -> None:
    root = tree(write_tree, "  deploymentController: {type: ECS}\n" + CONNECT)
    result = load(root)
    assert_diagnostics(result, root)
    (svc,) = result.resources
    assert isinstance(svc, EcsService)
    assert svc.spec.controller == "ECS"
    assert svc.spec.service_connect_configuration is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("  deploymentConfiguration: {strategy: ROLLING}\n", "deploymentConfiguration"),
        (
            "  vpcLatticeConfigurations: [{roleArn: arn:aws:iam::1:role/r, "
            "targetGroupArn: tg, portName: web}]\n",
            "vpcLatticeConfigurations",
        ),
        (
            "  volumeConfigurations: [{name: data, managedEBSVolume: "
            "{roleArn: arn:aws:iam::1:role/r, sizeInGiB: 10}}]\n",
            "volumeConfigurations",
        ),
        ("  availabilityZoneRebalancing: ENABLED\n", "availabilityZoneRebalancing"),
    ],
    ids=lambda v: v if not v.startswith(" ") else "",
)
def test_every_ecs_only_field_on_external_is_located(
    write_tree: WriteTree, body: str, field: str
) -> None:
    root = tree(write_tree, "  deploymentController: {type: EXTERNAL}\n" + body)
    assert_diagnostics(
        load(root),
        root,
        f"svc.yaml:11:{len(field) + 5}: error: {field} is taken only by ECS's own deployment "
        "controller",
    )


def test_our_deployment_block_on_type_ecs_names_external_or_deployment_configuration(
    write_tree: WriteTree,
) -> None:
    root = tree(
        write_tree,
        "  deploymentController: {type: ECS}\n  deployment:\n    strategy: canary\n",
    )
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:12:5: error: deployment: holds ecs-gitops's task-set strategies, which run "
        "only with `deploymentController: {type: EXTERNAL}`; with type ECS, ECS runs the "
        "rollout: say how in deploymentConfiguration",
    )


def test_a_service_connect_port_name_the_task_definition_lacks(write_tree: WriteTree) -> None:
    td = json.loads(json.dumps(SEED_TD))
    del td["containerDefinitions"][0]["portMappings"][0]["name"]  # the seed's own port
    root = tree(write_tree, "  deploymentController: {type: ECS}\n" + CONNECT, td)
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:15:19: error: Service Connect names port 'web', which no portMappings entry "
        'of the task definition is named (named ports: none): add `"name": "web"`',
    )


def test_strategy_settings_go_with_their_strategy(write_tree: WriteTree) -> None:
    root = tree(
        write_tree,
        "  deploymentController: {type: ECS}\n"
        "  deploymentConfiguration:\n"
        "    strategy: LINEAR\n"
        "    linearConfiguration: {stepPercent: 2.0}\n"
        "    canaryConfiguration: {canaryPercent: 10}\n"
        "    deploymentCircuitBreaker: {enable: true, rollback: true}\n",
    )
    assert_diagnostics(
        load(root),
        root,
        "svc.yaml:13:40: error: stepPercent 2 is outside ECS's 3.0..100.0",
        "svc.yaml:14:26: error: canaryConfiguration is only valid with strategy CANARY "
        "(this one is LINEAR)",
        "svc.yaml:15:31: error: the deployment circuit breaker is only for strategy ROLLING",
    )


def test_validate_cli_prints_the_fix_for_the_seeds_service_connect(write_tree: WriteTree) -> None:
    root = tree(write_tree, CONNECT)
    result = run_cli("validate", str(root))
    assert result.returncode == 1
    assert "svc.yaml:11:5: error: serviceConnectConfiguration" in result.stdout
    assert "deploymentController: {type: ECS}" in result.stdout
