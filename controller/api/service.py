"""The EcsService kind: one ECS service, its task definition and how it rolls out.

Fields that ECS has keep ECS's names and shapes (networkConfiguration, loadBalancers,
capacityProviderStrategy, placementConstraints, ...) so `describe-services` output can be
pasted; deployment, autoScaling and syncPolicy are ours. `taskDefinition` is a path
(resolved by the loader) or an inline register-task-definition mapping; after loading
it is always the mapping.

Two deployment controllers share the format (deploymentController.type): EXTERNAL, the
default, rolls out through task sets with our `deployment:` strategies; ECS lets ECS
run the rollout from `deploymentConfiguration` and takes the fields ECS accepts only
there (ECS_ONLY_FIELDS). Which field goes with which controller is checked by the
loader (loader/checks/controller.py), not here, so the error is located and says the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import Discriminator, Field, PrivateAttr, Tag

from controller.api.base import Model
from controller.api.common import (
    ApiVersion,
    ClusterRef,
    EcsName,
    ObjectMeta,
    Region,
    SyncPolicy,
    Tags,
)
from controller.api.ecs_shapes import (
    CapacityProviderStrategyItem,
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

Seconds = Annotated[int, Field(ge=0, le=86_400)]


class RollingConfig(Model):
    minimum_healthy_percent: Annotated[int, Field(ge=0, le=100)] = 100
    maximum_percent: Annotated[int, Field(ge=100, le=200)] = 200


class BlueGreenConfig(Model):
    bake_seconds: Seconds = 60
    """How long the old task set is kept (scaled down, ready for an instant rollback)."""


class CanaryStep(Model):
    weight: Annotated[int, Field(ge=1, le=100)]
    pause_seconds: Seconds | None = None
    """None waits for `ecs-gitops promote`."""


class CanaryConfig(Model):
    steps: Annotated[list[CanaryStep], Field(min_length=1, max_length=20)]


class FailureThreshold(Model):
    stopped_tasks: Annotated[int, Field(ge=1, le=1000)] = 3


class Deployment(Model):
    strategy: Literal["rolling", "blueGreen", "canary"] = "rolling"
    rolling: RollingConfig = Field(default_factory=RollingConfig)
    blue_green: BlueGreenConfig = Field(default_factory=BlueGreenConfig)
    canary: CanaryConfig | None = None
    progress_deadline_seconds: Annotated[int, Field(ge=30, le=86_400)] = 600
    failure_threshold: FailureThreshold = Field(default_factory=FailureThreshold)
    alarms: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(default_factory=list)
    auto_rollback: bool = True


PredefinedMetric = Literal[
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
]


class TargetTrackingPolicy(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/-]{1,256}$")]
    predefined_metric: PredefinedMetric
    target_value: Annotated[float, Field(gt=0)]
    resource_label: str | None = None
    """Required for ALBRequestCountPerTarget: app/<lb>/<id>/targetgroup/<tg>/<id>."""
    scale_in_cooldown: Seconds | None = None
    scale_out_cooldown: Seconds | None = None
    disable_scale_in: bool = False


class StepAdjustment(Model):
    scaling_adjustment: int
    metric_interval_lower_bound: float | None = None
    metric_interval_upper_bound: float | None = None


class StepScalingPolicy(Model):
    """A StepScaling policy; the CloudWatch alarm that triggers it is the user's."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/-]{1,256}$")]
    adjustment_type: Literal["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"]
    step_adjustments: Annotated[list[StepAdjustment], Field(min_length=1)]
    cooldown: Seconds | None = None
    metric_aggregation_type: Literal["Average", "Minimum", "Maximum"] | None = None
    min_adjustment_magnitude: Annotated[int, Field(ge=1)] | None = None


class AutoScaling(Model):
    min_capacity: Annotated[int, Field(ge=0)]
    max_capacity: Annotated[int, Field(ge=0)]
    target_tracking: list[TargetTrackingPolicy] = Field(default_factory=list)
    step_scaling: list[StepScalingPolicy] = Field(default_factory=list)


class Hooks(Model):
    """EcsTask names (of the service's cluster) run around a rollout, in order, each once
    per revision: RunTask with the service's network unless the task sets its own."""

    pre_sync: Annotated[list[EcsName], Field(max_length=10)] = Field(default_factory=list)
    """Run before a new task set is created; every essential container must exit 0, or
    the rollout does not start."""
    post_sync: Annotated[list[EcsName], Field(max_length=10)] = Field(default_factory=list)
    """Run after the rollout succeeded (the new task set is PRIMARY, the old ones gone)."""


DependsOnRef = Annotated[str, Field(min_length=1, max_length=600)]


def _task_definition_form(value: Any) -> str:
    if isinstance(value, str):
        return "path"
    return "inline"


TaskDefinitionField = Annotated[
    Annotated[str, Tag("path")] | Annotated[TaskDefinitionInput, Tag("inline")],
    Discriminator(_task_definition_form),
]


class ServiceSyncPolicy(SyncPolicy):
    """What the controller may do without being asked; a service may also roll on secret rotation."""

    rollout_on_secret_rotation: bool = True
    """Roll the service out when a secret it references gets a new version (tasks read secrets only at start)."""
    adopt: bool = False
    """Take over a live service that exists without our managed-by tag (tag it, then manage
    it); off, such a service is left untouched and reported as a conflict."""


ControllerType = Literal["EXTERNAL", "ECS"]


class DeploymentController(Model):
    """ECS's DeploymentController: who runs a rollout. CODE_DEPLOY is not offered: its
    deployments are CodeDeploy's to start, not a reconciler's."""

    type: ControllerType = "EXTERNAL"


ECS_ONLY_FIELDS = (
    "deploymentConfiguration",
    "serviceConnectConfiguration",
    "vpcLatticeConfigurations",
    "volumeConfigurations",
    "availabilityZoneRebalancing",
)
"""The spec fields (API names) that only ECS's own deployment controller takes: ECS
refuses them on an EXTERNAL service, whose task sets carry no such settings."""


T = TypeVar("T")


class _Memo(dict[str, tuple[int, Any]]):
    """Values derived from a spec: not part of its value, so two specs that differ only
    in what was derived from them so far compare equal (pydantic compares private
    attributes too)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Memo)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, _Memo)

    __hash__ = None


class EcsServiceSpec(Model):
    cluster: ClusterRef = "default"
    region: Region | None = None
    desired_count: Annotated[int, Field(ge=0, le=5000)] = 1
    task_definition: TaskDefinitionField
    launch_type: Literal["FARGATE", "EC2", "EXTERNAL"] | None = None
    capacity_provider_strategy: list[CapacityProviderStrategyItem] = Field(default_factory=list)
    platform_version: str | None = None
    network_configuration: NetworkConfiguration | None = None
    load_balancers: list[LoadBalancer] = Field(default_factory=list)
    service_registries: list[ServiceRegistry] = Field(default_factory=list)
    placement_constraints: list[PlacementConstraint] = Field(default_factory=list)
    placement_strategy: list[PlacementStrategy] = Field(default_factory=list)
    health_check_grace_period_seconds: Annotated[int, Field(ge=0, le=2_147_483_647)] | None = None
    enable_execute_command: bool = False
    enable_ecs_managed_tags: bool = Field(default=False, alias="enableECSManagedTags")
    propagate_tags: Literal["TASK_DEFINITION", "SERVICE", "NONE"] | None = None
    deployment_controller: DeploymentController = Field(default_factory=DeploymentController)
    deployment_configuration: DeploymentConfiguration | None = None
    """ECS's own rollout settings, verbatim (type ECS only): strategy, percents, circuit
    breaker, alarms, bake time, linear / canary steps, lifecycle hooks."""
    service_connect_configuration: ServiceConnectConfiguration | None = None
    """ECS Service Connect (type ECS only: ECS refuses it on an EXTERNAL service)."""
    vpc_lattice_configurations: list[VpcLatticeConfiguration] = Field(default_factory=list)
    volume_configurations: list[ServiceVolumeConfiguration] = Field(default_factory=list)
    availability_zone_rebalancing: Literal["ENABLED", "DISABLED"] | None = None
    tags: Tags = Field(default_factory=dict)
    deployment: Deployment = Field(default_factory=Deployment)
    """Our own strategies over task sets (type EXTERNAL only)."""
    auto_scaling: AutoScaling | None = None
    sync_policy: ServiceSyncPolicy = Field(default_factory=ServiceSyncPolicy)
    hooks: Hooks = Field(default_factory=Hooks)
    depends_on: Annotated[list[DependsOnRef], Field(max_length=20)] = Field(default_factory=list)
    """Resources reconciled first: this service waits until each is Synced and Healthy.
    NAME (a service of this cluster, else a cluster), EcsService/NAME,
    EcsService/CLUSTER/NAME or EcsCluster/NAME."""

    _memo: _Memo = PrivateAttr(default_factory=_Memo)

    def memo(self, name: str, make: Callable[[], T]) -> T:
        """make(), computed once per spec: for what the layers above derive from it on
        every reconcile (hashes, canonical forms). A loaded spec is frozen, and a new
        revision loads new specs, so nothing goes stale; the entry is tied to this
        object's id because model_copy shares private values with the copy."""
        hit = self._memo.get(name)
        if hit is not None and hit[0] == id(self):
            return cast("T", hit[1])
        value = make()
        self._memo[name] = (id(self), value)
        return value

    @property
    def controller(self) -> ControllerType:
        return self.deployment_controller.type

    @property
    def task_definition_input(self) -> TaskDefinitionInput:
        """The resolved task definition; the loader guarantees it is no longer a path."""
        if isinstance(self.task_definition, str):
            raise RuntimeError(f"task definition {self.task_definition!r} was not resolved")
        return self.task_definition


class EcsService(Model):
    api_version: ApiVersion
    kind: Literal["EcsService"]
    metadata: ObjectMeta
    spec: EcsServiceSpec
