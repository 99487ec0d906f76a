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
    DeploymentConfiguration,
    LoadBalancer,
    NetworkConfiguration,
    PlacementConstraint,
    PlacementStrategy,
    ServiceConnectConfiguration,
    ServiceRegistry,
    ServiceVolumeConfiguration,
    TaskDefinitionInput,
    VpcLatticeConfiguration,
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
    """One entry of DescribeServices deployments[] (ECS's own controller): PRIMARY is the
    one ECS is rolling out or has rolled out, ACTIVE ones are draining. The fields a
    deployment carries (task definition, network, Service Connect, ...) are read here,
    not on the service."""

    id: str
    status: str
    task_definition: str | None = None
    desired_count: int = 0
    pending_count: int = 0
    running_count: int = 0
    failed_tasks: int = 0
    rollout_state: str | None = None
    """IN_PROGRESS, COMPLETED or FAILED."""
    rollout_state_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    launch_type: str | None = None
    capacity_provider_strategy: list[CapacityProviderStrategyItem] = Field(default_factory=list)
    platform_version: str | None = None
    network_configuration: NetworkConfiguration | None = None
    service_connect_configuration: ServiceConnectConfiguration | None = None
    volume_configurations: list[ServiceVolumeConfiguration] = Field(default_factory=list)
    vpc_lattice_configurations: list[VpcLatticeConfiguration] = Field(default_factory=list)


class LiveHook(LiveModel):
    hook_id: str
    target_type: str | None = None
    status: str | None = None
    """AWAITING_ACTION (a PAUSE hook waiting for ContinueServiceDeployment), IN_PROGRESS, ..."""


class LiveServiceDeployment(LiveModel):
    """A service deployment (List/DescribeServiceDeployments): its status says whether and
    why ECS stopped or rolled it back, and which lifecycle hook holds it."""

    service_deployment_arn: str
    status: str
    """PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED, ROLLBACK_REQUESTED,
    ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED."""
    status_reason: str | None = None
    target_service_revision_arn: str | None = None
    lifecycle_stage: str | None = None
    lifecycle_hook_details: list[LiveHook] = Field(default_factory=list)
    created_at: datetime | None = None

    @property
    def paused_hook(self) -> LiveHook | None:
        return next((h for h in self.lifecycle_hook_details if h.status == "AWAITING_ACTION"), None)


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
    created_at: datetime | None = None
    deployments: list[LiveDeployment] = Field(default_factory=list)
    deployment_configuration: DeploymentConfiguration | None = None
    availability_zone_rebalancing: str | None = None
    current_service_deployment: str | None = None
    """The ARN of the service deployment ECS runs or ran last (ECS's own controller)."""

    @property
    def primary_deployment(self) -> LiveDeployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

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
