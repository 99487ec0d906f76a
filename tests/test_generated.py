"""Generated artefacts are committed and must match their generators."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from controller.api.crd import all_crds
from tests.conftest import REPO, run_cli


def test_crds_in_sync_with_models(tmp_path: Path) -> None:
    result = run_cli("schema", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in (REPO / "crds").iterdir())
    assert written == committed, "crds/ differs: run `make crds`"
    for name in written:
        assert (tmp_path / name).read_text() == (REPO / "crds" / name).read_text(), (
            f"crds/{name} is stale: run `make crds`"
        )


def _walk(node: object, path: str = "") -> list[str]:
    """Places that break Kubernetes' structural-schema rules."""
    problems: list[str] = []
    if isinstance(node, dict):
        if "$ref" in node or ("anyOf" in node and "type" not in node):
            problems.append(path)
        is_schema = "type" in node or "x-kubernetes-preserve-unknown-fields" in node
        if "properties" in node and "additionalProperties" in node:
            problems.append(path + " (properties with additionalProperties)")
        for key, value in node.items():
            if key == "properties":
                for name, prop in value.items():
                    if not (
                        "type" in prop
                        or prop.get("x-kubernetes-int-or-string")
                        or prop.get("x-kubernetes-preserve-unknown-fields")
                    ):
                        problems.append(f"{path}.{name} (no type)")
                    problems += _walk(prop, f"{path}.{name}")
            elif isinstance(value, dict | list) and is_schema:
                problems += _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            problems += _walk(item, f"{path}[{i}]")
    return problems


def test_crds_are_structural() -> None:
    for name, crd in all_crds().items():
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        version = crd["spec"]["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object", name
        assert {"apiVersion", "kind", "metadata", "spec"} <= set(schema["properties"]), name
        assert _walk(schema) == [], name
        # what kubectl would read back parses as YAML
        assert yaml.safe_load((REPO / "crds" / name).read_text())["metadata"]["name"] == name[:-5]


def test_ecs_shapes_match_botocore() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_ecs_shapes.py"), "--check"], check=False
    )
    assert result.returncode == 0, "controller/api/ecs_shapes.py is stale: run `make shapes`"
