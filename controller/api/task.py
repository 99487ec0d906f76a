"""The EcsTask kind: a one-shot task (RunTask's field names), e.g. a migration hook."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from controller.api.base import Model
from controller.api.common import ApiVersion, ClusterRef, ObjectMeta, Region, SyncPolicy, Tags
from controller.api.ecs_shapes import (
    CapacityProviderStrategyItem,
    NetworkConfiguration,
    PlacementConstraint,
    PlacementStrategy,
    TaskDefinitionInput,
    TaskOverride,
)
from controller.api.service import TaskDefinitionField


class EcsTaskSpec(Model):
    cluster: ClusterRef = "default"
    region: Region | None = None
    task_definition: TaskDefinitionField
    count: Annotated[int, Field(ge=1, le=10)] = 1
    launch_type: Literal["FARGATE", "EC2", "EXTERNAL"] | None = None
    capacity_provider_strategy: list[CapacityProviderStrategyItem] = Field(default_factory=list)
    platform_version: str | None = None
    network_configuration: NetworkConfiguration | None = None
    overrides: TaskOverride | None = None
    group: str | None = None
    placement_constraints: list[PlacementConstraint] = Field(default_factory=list)
    placement_strategy: list[PlacementStrategy] = Field(default_factory=list)
    enable_execute_command: bool = False
    propagate_tags: Literal["TASK_DEFINITION", "NONE"] | None = None
    tags: Tags = Field(default_factory=dict)
    timeout_seconds: Annotated[int, Field(ge=10, le=86_400)] = 1800
    """How long a run may take before it counts as failed."""
    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy)

    @property
    def task_definition_input(self) -> TaskDefinitionInput:
        if isinstance(self.task_definition, str):
            raise RuntimeError(f"task definition {self.task_definition!r} was not resolved")
        return self.task_definition


class EcsTask(Model):
    api_version: ApiVersion
    kind: Literal["EcsTask"]
    metadata: ObjectMeta
    spec: EcsTaskSpec
