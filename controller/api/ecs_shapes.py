"""ECS request shapes as pydantic models, generated from botocore 1.43.117.

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


class RepositoryCredentials(EcsShape):
    credentials_parameter: str


class PortMapping(EcsShape):
    container_port: int | None = None
    host_port: int | None = None
    protocol: Literal["tcp", "udp"] | None = None
    name: str | None = None
    app_protocol: Literal["http", "http2", "grpc"] | None = None
    container_port_range: str | None = None


class ContainerRestartPolicy(EcsShape):
    enabled: bool
    ignored_exit_codes: list[int] | None = None
    restart_attempt_period: int | None = None


class KeyValuePair(EcsShape):
    name: str | None = None
    value: str | None = None


class EnvironmentFile(EcsShape):
    value: str
    type: Literal["s3"]


class MountPoint(EcsShape):
    source_volume: str | None = None
    container_path: str | None = None
    read_only: bool | None = None


class VolumeFrom(EcsShape):
    source_container: str | None = None
    read_only: bool | None = None


class KernelCapabilities(EcsShape):
    add: list[str] | None = None
    drop: list[str] | None = None


class Device(EcsShape):
    host_path: str
    container_path: str | None = None
    permissions: list[Literal["read", "write", "mknod"]] | None = None


class Tmpfs(EcsShape):
    container_path: str
    size: int
    mount_options: list[str] | None = None


class LinuxParameters(EcsShape):
    capabilities: KernelCapabilities | None = None
    devices: list[Device] | None = None
    init_process_enabled: bool | None = None
    shared_memory_size: int | None = None
    tmpfs: list[Tmpfs] | None = None
    max_swap: int | None = None
    swappiness: int | None = None


class Secret(EcsShape):
    name: str
    value_from: str


class ContainerDependency(EcsShape):
    container_name: str
    condition: Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"]


class HostEntry(EcsShape):
    hostname: str
    ip_address: str


class Ulimit(EcsShape):
    name: Literal["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]
    soft_limit: int
    hard_limit: int


class LogConfiguration(EcsShape):
    log_driver: Literal["json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens"]
    options: dict[str, str] | None = None
    secret_options: list[Secret] | None = None


class HealthCheck(EcsShape):
    command: list[str]
    interval: int | None = None
    timeout: int | None = None
    retries: int | None = None
    start_period: int | None = None


class SystemControl(EcsShape):
    namespace: str | None = None
    value: str | None = None


class ResourceRequirement(EcsShape):
    value: str
    type: Literal["GPU", "InferenceAccelerator", "NeuronDevice"]


class FirelensConfiguration(EcsShape):
    type: Literal["fluentd", "fluentbit"]
    options: dict[str, str] | None = None


class ContainerDefinition(EcsShape):
    name: str | None = None
    image: str | None = None
    repository_credentials: RepositoryCredentials | None = None
    cpu: int | None = None
    memory: int | None = None
    memory_reservation: int | None = None
    links: list[str] | None = None
    port_mappings: list[PortMapping] | None = None
    essential: bool | None = None
    restart_policy: ContainerRestartPolicy | None = None
    entry_point: list[str] | None = None
    command: list[str] | None = None
    environment: list[KeyValuePair] | None = None
    environment_files: list[EnvironmentFile] | None = None
    mount_points: list[MountPoint] | None = None
    volumes_from: list[VolumeFrom] | None = None
    linux_parameters: LinuxParameters | None = None
    secrets: list[Secret] | None = None
    depends_on: list[ContainerDependency] | None = None
    start_timeout: int | None = None
    stop_timeout: int | None = None
    version_consistency: Literal["enabled", "disabled"] | None = None
    hostname: str | None = None
    user: str | None = None
    working_directory: str | None = None
    disable_networking: bool | None = None
    privileged: bool | None = None
    readonly_root_filesystem: bool | None = None
    dns_servers: list[str] | None = None
    dns_search_domains: list[str] | None = None
    extra_hosts: list[HostEntry] | None = None
    docker_security_options: list[str] | None = None
    interactive: bool | None = None
    pseudo_terminal: bool | None = None
    docker_labels: dict[str, str] | None = None
    ulimits: list[Ulimit] | None = None
    log_configuration: LogConfiguration | None = None
    health_check: HealthCheck | None = None
    system_controls: list[SystemControl] | None = None
    resource_requirements: list[ResourceRequirement] | None = None
    firelens_configuration: FirelensConfiguration | None = None
    credential_specs: list[str] | None = None


class HostVolumeProperties(EcsShape):
    source_path: str | None = None


class DockerVolumeConfiguration(EcsShape):
    scope: Literal["task", "shared"] | None = None
    autoprovision: bool | None = None
    driver: str | None = None
    driver_opts: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class EFSAuthorizationConfig(EcsShape):
    access_point_id: str | None = None
    iam: Literal["ENABLED", "DISABLED"] | None = None


class EFSVolumeConfiguration(EcsShape):
    file_system_id: str
    root_directory: str | None = None
    transit_encryption: Literal["ENABLED", "DISABLED"] | None = None
    transit_encryption_port: int | None = None
    authorization_config: EFSAuthorizationConfig | None = None


class S3FilesVolumeConfiguration(EcsShape):
    file_system_arn: str
    root_directory: str | None = None
    transit_encryption_port: int | None = None
    access_point_arn: str | None = None


class FSxWindowsFileServerAuthorizationConfig(EcsShape):
    credentials_parameter: str
    domain: str


class FSxWindowsFileServerVolumeConfiguration(EcsShape):
    file_system_id: str
    root_directory: str
    authorization_config: FSxWindowsFileServerAuthorizationConfig


class Volume(EcsShape):
    name: str | None = None
    host: HostVolumeProperties | None = None
    docker_volume_configuration: DockerVolumeConfiguration | None = None
    efs_volume_configuration: EFSVolumeConfiguration | None = None
    s3files_volume_configuration: S3FilesVolumeConfiguration | None = Field(default=None, alias="s3filesVolumeConfiguration")
    fsx_windows_file_server_volume_configuration: FSxWindowsFileServerVolumeConfiguration | None = None
    configured_at_launch: bool | None = None


class TaskDefinitionPlacementConstraint(EcsShape):
    type: Literal["memberOf"] | None = None
    expression: str | None = None


class Tag(EcsShape):
    key: str | None = None
    value: str | None = None


class ProxyConfiguration(EcsShape):
    type: Literal["APPMESH"] | None = None
    container_name: str
    properties: list[KeyValuePair] | None = None


class InferenceAccelerator(EcsShape):
    device_name: str
    device_type: str


class EphemeralStorage(EcsShape):
    size_in_gi_b: int


class RuntimePlatform(EcsShape):
    cpu_architecture: Literal["X86_64", "ARM64"] | None = None
    operating_system_family: Literal["WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE", "WINDOWS_SERVER_2016_FULL", "WINDOWS_SERVER_2004_CORE", "WINDOWS_SERVER_2022_CORE", "WINDOWS_SERVER_2022_FULL", "WINDOWS_SERVER_2025_CORE", "WINDOWS_SERVER_2025_FULL", "WINDOWS_SERVER_20H2_CORE", "LINUX"] | None = None


class TaskDefinitionInput(EcsShape):
    family: str
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    network_mode: Literal["bridge", "host", "awsvpc", "none"] | None = None
    container_definitions: list[ContainerDefinition]
    volumes: list[Volume] | None = None
    placement_constraints: list[TaskDefinitionPlacementConstraint] | None = None
    requires_compatibilities: list[Literal["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"]] | None = None
    cpu: str | int | None = None
    memory: str | int | None = None
    tags: list[Tag] | None = None
    pid_mode: Literal["host", "task"] | None = None
    ipc_mode: Literal["host", "task", "none"] | None = None
    proxy_configuration: ProxyConfiguration | None = None
    inference_accelerators: list[InferenceAccelerator] | None = None
    ephemeral_storage: EphemeralStorage | None = None
    runtime_platform: RuntimePlatform | None = None
    enable_fault_injection: bool | None = None


class AwsVpcConfiguration(EcsShape):
    subnets: list[str]
    security_groups: list[str] | None = None
    assign_public_ip: Literal["ENABLED", "DISABLED"] | None = None


class NetworkConfiguration(EcsShape):
    awsvpc_configuration: AwsVpcConfiguration | None = None


class AdvancedConfiguration(EcsShape):
    alternate_target_group_arn: str | None = None
    production_listener_rule: str | None = None
    test_listener_rule: str | None = None
    role_arn: str | None = None


class LoadBalancer(EcsShape):
    target_group_arn: str | None = None
    load_balancer_name: str | None = None
    container_name: str | None = None
    container_port: int | None = None
    advanced_configuration: AdvancedConfiguration | None = None


class ServiceRegistry(EcsShape):
    registry_arn: str | None = None
    port: int | None = None
    container_name: str | None = None
    container_port: int | None = None


class PlacementConstraint(EcsShape):
    type: Literal["distinctInstance", "memberOf"] | None = None
    expression: str | None = None


class PlacementStrategy(EcsShape):
    type: Literal["random", "spread", "binpack"] | None = None
    field: str | None = None


class CapacityProviderStrategyItem(EcsShape):
    capacity_provider: str
    weight: int | None = None
    base: int | None = None


class ContainerOverride(EcsShape):
    name: str | None = None
    command: list[str] | None = None
    environment: list[KeyValuePair] | None = None
    environment_files: list[EnvironmentFile] | None = None
    cpu: int | None = None
    memory: int | None = None
    memory_reservation: int | None = None
    resource_requirements: list[ResourceRequirement] | None = None


class InferenceAcceleratorOverride(EcsShape):
    device_name: str | None = None
    device_type: str | None = None


class TaskOverride(EcsShape):
    container_overrides: list[ContainerOverride] | None = None
    cpu: str | int | None = None
    inference_accelerator_overrides: list[InferenceAcceleratorOverride] | None = None
    execution_role_arn: str | None = None
    memory: str | int | None = None
    task_role_arn: str | None = None
    ephemeral_storage: EphemeralStorage | None = None


class ClusterSetting(EcsShape):
    name: Literal["containerInsights"] | None = None
    value: str | None = None


class ExecuteCommandLogConfiguration(EcsShape):
    cloud_watch_log_group_name: str | None = None
    cloud_watch_encryption_enabled: bool | None = None
    s3_bucket_name: str | None = None
    s3_encryption_enabled: bool | None = None
    s3_key_prefix: str | None = None


class ExecuteCommandConfiguration(EcsShape):
    kms_key_id: str | None = None
    logging: Literal["NONE", "DEFAULT", "OVERRIDE"] | None = None
    log_configuration: ExecuteCommandLogConfiguration | None = None


class ManagedStorageConfiguration(EcsShape):
    kms_key_id: str | None = None
    fargate_ephemeral_storage_kms_key_id: str | None = None


class ClusterConfiguration(EcsShape):
    execute_command_configuration: ExecuteCommandConfiguration | None = None
    managed_storage_configuration: ManagedStorageConfiguration | None = None


class ClusterServiceConnectDefaults(EcsShape):
    namespace: str


class ThresholdConfiguration(EcsShape):
    type: Literal["COUNT", "BOUNDED_PERCENT", "UNBOUNDED_PERCENT"]
    value: int


class DeploymentCircuitBreaker(EcsShape):
    enable: bool
    rollback: bool
    reset_on_healthy_task: bool | None = None
    threshold_configuration: ThresholdConfiguration | None = None


class ServiceConnectTestTrafficHeaderMatchRules(EcsShape):
    exact: str


class ServiceConnectTestTrafficHeaderRules(EcsShape):
    name: str
    value: ServiceConnectTestTrafficHeaderMatchRules | None = None


class ServiceConnectTestTrafficRules(EcsShape):
    header: ServiceConnectTestTrafficHeaderRules


class ServiceConnectClientAlias(EcsShape):
    port: int
    dns_name: str | None = None
    test_traffic_rules: ServiceConnectTestTrafficRules | None = None


class TimeoutConfiguration(EcsShape):
    idle_timeout_seconds: int | None = None
    per_request_timeout_seconds: int | None = None


class ServiceConnectTlsCertificateAuthority(EcsShape):
    aws_pca_authority_arn: str | None = None


class ServiceConnectTlsConfiguration(EcsShape):
    issuer_certificate_authority: ServiceConnectTlsCertificateAuthority
    kms_key: str | None = None
    role_arn: str | None = None


class ServiceConnectService(EcsShape):
    port_name: str
    discovery_name: str | None = None
    client_aliases: list[ServiceConnectClientAlias] | None = None
    ingress_port_override: int | None = None
    timeout: TimeoutConfiguration | None = None
    tls: ServiceConnectTlsConfiguration | None = None


class ServiceConnectAccessLogConfiguration(EcsShape):
    format: Literal["TEXT", "JSON"]
    include_query_parameters: Literal["DISABLED", "ENABLED"] | None = None


class ServiceConnectContainerConfiguration(EcsShape):
    log_level: Literal["debug", "info"] | None = None


class ServiceConnectConfiguration(EcsShape):
    enabled: bool
    namespace: str | None = None
    services: list[ServiceConnectService] | None = None
    log_configuration: LogConfiguration | None = None
    access_log_configuration: ServiceConnectAccessLogConfiguration | None = None
    container_configurations: list[ServiceConnectContainerConfiguration] | None = None


class DeploymentAlarms(EcsShape):
    alarm_names: list[str]
    rollback: bool
    enable: bool


class DeploymentLifecycleHookTimeoutConfiguration(EcsShape):
    timeout_in_minutes: int | None = None
    action: Literal["ROLLBACK", "CONTINUE"] | None = None


class DeploymentLifecycleHook(EcsShape):
    target_type: Literal["AWS_LAMBDA", "PAUSE"] | None = None
    hook_target_arn: str | None = None
    role_arn: str | None = None
    lifecycle_stages: list[Literal["RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"]] | None = None
    hook_details: JsonValue | None = None
    timeout_configuration: DeploymentLifecycleHookTimeoutConfiguration | None = None


class LinearConfiguration(EcsShape):
    step_percent: float | None = None
    step_bake_time_in_minutes: int | None = None


class CanaryConfiguration(EcsShape):
    canary_percent: float | None = None
    canary_bake_time_in_minutes: int | None = None


class DeploymentEarlySuccessCriteria(EcsShape):
    enable: bool
    healthy_percent: int | None = None
    source_service_revision_cleanup: Literal["BLOCKING", "DEFERRED"] | None = None


class DeploymentConfiguration(EcsShape):
    deployment_circuit_breaker: DeploymentCircuitBreaker | None = None
    maximum_percent: int | None = None
    minimum_healthy_percent: int | None = None
    alarms: DeploymentAlarms | None = None
    strategy: Literal["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"] | None = None
    bake_time_in_minutes: int | None = None
    lifecycle_hooks: list[DeploymentLifecycleHook] | None = None
    linear_configuration: LinearConfiguration | None = None
    canary_configuration: CanaryConfiguration | None = None
    early_success_criteria: DeploymentEarlySuccessCriteria | None = None


class VpcLatticeAdvancedConfiguration(EcsShape):
    alternate_target_group_arn: str | None = None
    production_listener_rule: str | None = None
    test_listener_rule: str | None = None


class VpcLatticeConfiguration(EcsShape):
    role_arn: str
    target_group_arn: str
    port_name: str
    advanced_configuration: VpcLatticeAdvancedConfiguration | None = None


class EBSTagSpecification(EcsShape):
    resource_type: Literal["volume"]
    tags: list[Tag] | None = None
    propagate_tags: Literal["TASK_DEFINITION", "SERVICE", "NONE"] | None = None


class ServiceManagedEBSVolumeConfiguration(EcsShape):
    encrypted: bool | None = None
    kms_key_id: str | None = None
    volume_type: str | None = None
    size_in_gi_b: int | None = None
    snapshot_id: str | None = None
    volume_initialization_rate: int | None = None
    iops: int | None = None
    throughput: int | None = None
    tag_specifications: list[EBSTagSpecification] | None = None
    role_arn: str
    filesystem_type: Literal["ext3", "ext4", "xfs", "ntfs"] | None = None


class ServiceVolumeConfiguration(EcsShape):
    name: str
    managed_ebs_volume: ServiceManagedEBSVolumeConfiguration | None = Field(default=None, alias="managedEBSVolume")
