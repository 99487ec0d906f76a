"""Generate controller/api/ecs_shapes.py from botocore's ECS service model.

The task definition and the service's ECS-shaped fields (networkConfiguration,
loadBalancers, ...) must accept exactly what the ECS API accepts, field for field.
Writing ~100 fields by hand drifts from the API; generating them from the botocore
model we pin keeps them exact. Run `python tools/gen_ecs_shapes.py` after bumping
botocore; tests/test_ecs_shapes.py fails when the committed module is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import botocore
import botocore.session
from pydantic.alias_generators import to_camel

OUT = Path(__file__).resolve().parent.parent / "controller" / "api" / "ecs_shapes.py"

# Shapes the desired state uses directly; everything they reference comes along.
ROOTS = {
    "RegisterTaskDefinitionRequest": "TaskDefinitionInput",
    "NetworkConfiguration": "NetworkConfiguration",
    "LoadBalancer": "LoadBalancer",
    "ServiceRegistry": "ServiceRegistry",
    "PlacementConstraint": "PlacementConstraint",
    "PlacementStrategy": "PlacementStrategy",
    "CapacityProviderStrategyItem": "CapacityProviderStrategyItem",
    "TaskOverride": "TaskOverride",
    "ClusterSetting": "ClusterSetting",
    "ClusterConfiguration": "ClusterConfiguration",
    "ClusterServiceConnectDefaultsRequest": "ClusterServiceConnectDefaults",
    "DeploymentCircuitBreaker": "DeploymentCircuitBreaker",
    "ServiceConnectConfiguration": "ServiceConnectConfiguration",
    # what ECS's own deployment controller takes (spec.deploymentController type ECS)
    "DeploymentConfiguration": "DeploymentConfiguration",
    "VpcLatticeConfiguration": "VpcLatticeConfiguration",
    "ServiceVolumeConfiguration": "ServiceVolumeConfiguration",
}

# Task-level cpu and memory are strings in the API ("512", "1 vCPU", "2 GB"), but
# people write numbers; accept both and let normalization unify them.
OVERRIDES = {
    ("TaskDefinitionInput", "cpu"): "str | int | None = None",
    ("TaskDefinitionInput", "memory"): "str | int | None = None",
    ("TaskOverride", "cpu"): "str | int | None = None",
    ("TaskOverride", "memory"): "str | int | None = None",
}

# Tags are given as a mapping in the desired state (spec.tags); the API's list form
# is still accepted inside a task definition so files pasted from the CLI load.
SCALARS = {
    "string": "str",
    "integer": "int",
    "long": "int",
    "boolean": "bool",
    "double": "float",
    "float": "float",
    "timestamp": "str",
}


def snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.lower()


class Generator:
    def __init__(self) -> None:
        self.model = botocore.session.get_session().get_service_model("ecs")
        self.names: dict[str, str] = {}
        self.classes: list[str] = []
        self.done: set[str] = set()

    def class_name(self, shape: Any) -> str:
        return self.names.get(shape.name, shape.name)

    def type_of(self, shape: Any) -> str:
        kind = shape.type_name
        if getattr(shape, "is_document_type", False):  # free-form JSON (a hook's details)
            return "JsonValue"
        if kind == "structure":
            self.emit(shape)
            return self.class_name(shape)
        if kind == "list":
            return f"list[{self.type_of(shape.member)}]"
        if kind == "map":
            return f"dict[str, {self.type_of(shape.value)}]"
        if kind == "string" and shape.enum:
            return "Literal[" + ", ".join(f'"{v}"' for v in shape.enum) + "]"
        return SCALARS[kind]

    def emit(self, shape: Any) -> None:
        if shape.name in self.done:
            return
        self.done.add(shape.name)
        name = self.class_name(shape)
        lines = [f"class {name}(EcsShape):"]
        required = set(shape.required_members)
        fields = []
        for member, mshape in shape.members.items():
            py = snake(member)
            override = OVERRIDES.get((name, member))
            if override:
                annotation, _, default = override.partition(" = ")
            else:
                annotation = self.type_of(mshape)
                default = "" if member in required else "None"
                if default:
                    annotation += " | None"
            alias = "" if to_camel(py) == member else f'alias="{member}"'
            if default and alias:
                rhs = f" = Field(default={default}, {alias})"
            elif default:
                rhs = f" = {default}"
            elif alias:
                rhs = f" = Field({alias})"
            else:
                rhs = ""
            fields.append(f"    {py}: {annotation}{rhs}")
        lines.extend(fields or ["    pass"])
        self.classes.append("\n".join(lines))

    def render(self) -> str:
        self.names = dict(ROOTS)
        for shape in ROOTS:
            self.emit(self.model.shape_for(shape))
        header = f'''"""ECS request shapes as pydantic models, generated from botocore {botocore.__version__}.

Do not edit: run `python tools/gen_ecs_shapes.py`. Field names are snake_case with the
ECS API's camelCase names as aliases; unknown fields are rejected and types are strict,
as the AWS CLI's parameter validation would reject them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from controller.api.base import Model


class EcsShape(Model):
    """An ECS API structure."""
'''
        return header + "\n\n" + "\n\n\n".join(self.classes) + "\n"


def main() -> int:
    text = Generator().render()
    if "--check" in sys.argv:
        return 0 if OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
