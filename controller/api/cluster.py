"""The EcsCluster kind: settings, capacity providers and tags of one ECS cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controller.api.base import Model
from controller.api.common import ApiVersion, ObjectMeta, Region, SyncPolicy, Tags
from controller.api.ecs_shapes import (
    CapacityProviderStrategyItem,
    ClusterConfiguration,
    ClusterServiceConnectDefaults,
    ClusterSetting,
)


class EcsClusterSpec(Model):
    region: Region | None = None
    settings: list[ClusterSetting] = Field(default_factory=list)
    capacity_providers: list[str] = Field(default_factory=list)
    default_capacity_provider_strategy: list[CapacityProviderStrategyItem] = Field(
        default_factory=list
    )
    configuration: ClusterConfiguration | None = None
    service_connect_defaults: ClusterServiceConnectDefaults | None = None
    tags: Tags = Field(default_factory=dict)
    sync_policy: SyncPolicy = SyncPolicy()  # shared, see service.Deployment


class EcsCluster(Model):
    api_version: ApiVersion
    kind: Literal["EcsCluster"]
    metadata: ObjectMeta
    spec: EcsClusterSpec = Field(default_factory=EcsClusterSpec)
