"""Live ECS state as typed models: the only shape in which AWS data leaves controller.aws.

Parsed from botocore responses with unknown fields ignored (AWS adds response fields
over time; we must not break on them), reusing the generated request shapes for the
nested ECS structures so desired and live compare field for field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, ConfigDict, Field

from controller.api.base import Model
from controller.api.common import MANAGED_BY_TAG, SPEC_HASH_TAG, Tags
from controller.api.ecs_shapes import (
    CapacityProviderStrategyItem,
    ClusterConfiguration,
    ClusterSetting,
    LoadBalancer,
    NetworkConfiguration,
    PlacementConstraint,
    PlacementStrategy,
    ServiceRegistry,
    TaskDefinitionInput,
)


class LiveModel(Model):
    """A response model: lax types (botocore already typed them), unknown fields ignored."""

    model_config = ConfigDict(strict=False, extra="ignore", validate_by_name=True)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Self:
        return cls.model_validate(raw, extra="ignore")


class Scale(LiveModel):
    value: float = 0.0
    unit: str = "PERCENT"


class LiveTaskSet(LiveModel):
    id: str
    task_set_arn: str
    status: str
    """PRIMARY, ACTIVE or DRAINING."""
    task_definition: str
    external_id: str | None = None
    computed_desired_count: int | None = None
    pending_count: int | None = None
    running_count: int | None = None
    scale: Scale | None = None
    stability_status: str | None = None
    launch_type: str | None = None
    capacity_provider_strategy: list[CapacityProviderStrategyItem] = Field(default_factory=list)
    platform_version: str | None = None
    network_configuration: NetworkConfiguration | None = None
    load_balancers: list[LoadBalancer] = Field(default_factory=list)
    service_registries: list[ServiceRegistry] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tags: Tags = Field(default_factory=dict)

    @property
    def scale_percent(self) -> float:
        return self.scale.value if self.scale else 0.0


class LiveDeployment(LiveModel):
    """One of an ECS-controller service's deployments, as DescribeServices shows it."""

    id: str
    status: str
    """PRIMARY, ACTIVE or INACTIVE."""
    task_definition: str | None = None
    rollout_state: str | None = None
    service_connect_configuration: dict[str, Any] | None = None
    vpc_lattice_configurations: list[dict[str, Any]] = Field(default_factory=list)
    volume_configurations: list[dict[str, Any]] = Field(default_factory=list)


def _controller_type(value: Any) -> Any:
    return value.get("type", "ECS") if isinstance(value, dict) else value


class LiveService(LiveModel):
    service_name: str
    service_arn: str
    cluster_arn: str
    status: str
    desired_count: int = 0
    running_count: int = 0
    pending_count: int = 0
    task_definition: str | None = None
    launch_type: str | None = None
    capacity_provider_strategy: list[CapacityProviderStrategyItem] = Field(default_factory=list)
    platform_version: str | None = None
    network_configuration: NetworkConfiguration | None = None
    load_balancers: list[LoadBalancer] = Field(default_factory=list)
    service_registries: list[ServiceRegistry] = Field(default_factory=list)
    placement_constraints: list[PlacementConstraint] = Field(default_factory=list)
    placement_strategy: list[PlacementStrategy] = Field(default_factory=list)
    health_check_grace_period_seconds: int | None = None
    deployment_controller: Annotated[str, BeforeValidator(_controller_type)] = "ECS"
    """ECS, CODE_DEPLOY or EXTERNAL."""
    enable_execute_command: bool = False
    enable_ecs_managed_tags: bool = Field(default=False, alias="enableECSManagedTags")
    propagate_tags: str | None = None
    tags: Tags = Field(default_factory=dict)
    task_sets: list[LiveTaskSet] = Field(default_factory=list)
    deployments: list[LiveDeployment] = Field(default_factory=list)
    deployment_configuration: dict[str, Any] | None = None
    """ECS's rollout settings as DescribeServices shows them (ECS controller)."""
    availability_zone_rebalancing: str | None = None
    created_at: datetime | None = None

    @property
    def managed_by(self) -> str | None:
        return self.tags.get(MANAGED_BY_TAG)

    @property
    def primary_task_set(self) -> LiveTaskSet | None:
        return next((ts for ts in self.task_sets if ts.status == "PRIMARY"), None)


class LiveCluster(LiveModel):
    cluster_name: str
    cluster_arn: str
    status: str
    settings: list[ClusterSetting] = Field(default_factory=list)
    capacity_providers: list[str] = Field(default_factory=list)
    default_capacity_provider_strategy: list[CapacityProviderStrategyItem] = Field(
        default_factory=list
    )
    configuration: ClusterConfiguration | None = None
    service_connect_defaults: dict[str, Any] | None = None
    tags: Tags = Field(default_factory=dict)

    @property
    def managed_by(self) -> str | None:
        return self.tags.get(MANAGED_BY_TAG)

    @property
    def service_connect_namespace(self) -> str | None:
        value = (self.service_connect_defaults or {}).get("namespace")
        return str(value) if value else None


class LiveTaskDefinition(LiveModel):
    """A registered revision: its register-task-definition input and its tags."""

    arn: str
    family: str
    revision: int
    status: str
    input: TaskDefinitionInput
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def spec_hash(self) -> str | None:
        return self.tags.get(SPEC_HASH_TAG)


class ContainerState(LiveModel):
    name: str
    last_status: str | None = None
    exit_code: int | None = None
    reason: str | None = None


class AttachmentDetail(LiveModel):
    name: str | None = None
    value: str | None = None


class Attachment(LiveModel):
    type: str | None = None
    details: list[AttachmentDetail] = Field(default_factory=list)


class LiveTask(LiveModel):
    task_arn: str
    task_definition_arn: str
    last_status: str
    desired_status: str | None = None
    started_by: str | None = None
    """For tasks of a task set, the task set's id."""
    stopped_reason: str | None = None
    stop_code: str | None = None
    containers: list[ContainerState] = Field(default_factory=list)
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    attachments: list[Attachment] = Field(default_factory=list)

    @property
    def private_ips(self) -> list[str]:
        return [
            d.value
            for a in self.attachments
            for d in a.details
            if d.name == "privateIPv4Address" and d.value
        ]


class ScalableTarget(LiveModel):
    resource_id: str
    min_capacity: int
    max_capacity: int


class ScalingPolicy(LiveModel):
    policy_name: str
    policy_arn: str | None = Field(default=None, alias="policyARN")
    policy_type: str
    target_tracking_scaling_policy_configuration: dict[str, Any] | None = None
    step_scaling_policy_configuration: dict[str, Any] | None = None
