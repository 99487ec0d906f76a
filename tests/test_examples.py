"""The bundled examples are valid, and the quickstart is the seed scenario."""

from __future__ import annotations

import json

from controller.api import EcsCluster, EcsService
from controller.loader import load_tree
from controller.sources.directory import DirectoryTree
from tests.conftest import REPO, run_cli

SEED_TASK_DEFINITION = REPO / "examples" / "quickstart" / "task-definition.json"


def test_validate_examples_exits_zero() -> None:
    result = run_cli("validate", "examples/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 errors" in result.stderr


def test_quickstart_is_the_seed_scenario() -> None:
    result = load_tree(DirectoryTree(REPO / "examples" / "quickstart"))
    assert result.diagnostics == []
    by_kind = {type(r).__name__: r for r in result.resources}
    cluster, service = by_kind["EcsCluster"], by_kind["EcsService"]
    assert isinstance(cluster, EcsCluster)
    assert isinstance(service, EcsService)
    assert cluster.metadata.name == "prod-cluster"
    assert service.metadata.name == "myapp"
    assert service.spec.cluster == "prod-cluster"
    assert service.spec.desired_count == 2
    scaling = service.spec.auto_scaling
    assert scaling is not None
    assert (scaling.min_capacity, scaling.max_capacity) == (2, 10)
    assert scaling.target_tracking[0].name == "cpu60"
    assert scaling.target_tracking[0].predefined_metric == "ECSServiceAverageCPUUtilization"
    assert scaling.target_tracking[0].target_value == 60.0
    # The seed's task definition loads unchanged and round-trips to the same API input.
    td = service.spec.task_definition_input
    assert td.to_api() == json.loads(SEED_TASK_DEFINITION.read_text())


def test_every_example_directory_validates_on_its_own() -> None:
    for directory in sorted(p for p in (REPO / "examples").iterdir() if p.is_dir()):
        result = load_tree(DirectoryTree(directory))
        assert result.errors == [], directory
        assert result.loaded, directory


def test_service_connect_example_is_the_seeds_on_ecs_own_controller() -> None:
    """The seed's serviceConnectConfiguration, verbatim, on a service ECS deploys itself
    (ECS refuses Service Connect on an EXTERNAL service)."""
    result = load_tree(DirectoryTree(REPO / "examples" / "service-connect"))
    assert result.diagnostics == []
    (service,) = [r for r in result.resources if isinstance(r, EcsService)]
    assert service.spec.controller == "ECS"
    connect = service.spec.service_connect_configuration
    assert connect is not None
    assert connect.to_api() == {
        "enabled": True,
        "namespace": "myapp",
        "services": [
            {
                "portName": "web",
                "discoveryName": "web",
                "clientAliases": [{"port": 8000, "dnsName": "web"}],
            }
        ],
    }
    # the seed's task definition, its port named for Service Connect's portName
    seed = json.loads(SEED_TASK_DEFINITION.read_text())
    seed["containerDefinitions"][0]["portMappings"][0]["name"] = "web"
    assert service.spec.task_definition_input.to_api() == seed
