"""ECS operations as typed calls: live state in, requests out, no dicts beyond this module.

Reads are batched the way ECS allows (DescribeServices by 10, DescribeTasks by 100) and
task definitions are cached by ARN, since a registered revision never changes. Nothing
here decides anything; the reconcile layer does.
"""

from __future__ import annotations

import contextlib
from typing import Any

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
from controller.aws.client import AwsClients
from controller.aws.models import (
    LiveCluster,
    LiveService,
    LiveServiceDeployment,
    LiveTask,
    LiveTaskDefinition,
    LiveTaskSet,
)
from controller.errors import AwsNotFound

SERVER_TASK_DEFINITION_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
)


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def _api(items: list[Any]) -> list[dict[str, Any]]:
    return [item.to_api() for item in items]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Ecs:
    """ECS in one region."""

    def __init__(self, aws: AwsClients, region: str | None = None) -> None:
        self.aws = aws
        self.region = region or aws.settings.region
        self._task_definitions: dict[str, LiveTaskDefinition] = {}

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.aws.call("ecs", operation, self.region, **params)

    # clusters

    async def describe_cluster(self, name: str) -> LiveCluster | None:
        resp = await self._call(
            "DescribeClusters",
            clusters=[name],
            include=["SETTINGS", "TAGS", "CONFIGURATIONS"],
        )
        for raw in resp.get("clusters", []):
            cluster = LiveCluster.parse(raw)
            if cluster.status != "INACTIVE":
                return cluster
        return None

    async def create_cluster(
        self,
        name: str,
        *,
        settings: list[ClusterSetting],
        capacity_providers: list[str],
        default_strategy: list[CapacityProviderStrategyItem],
        configuration: ClusterConfiguration | None,
        tags: dict[str, str],
        service_connect_namespace: str | None = None,
    ) -> LiveCluster:
        params: dict[str, Any] = {"clusterName": name, "tags": tag_list(tags)}
        if service_connect_namespace:
            params["serviceConnectDefaults"] = {"namespace": service_connect_namespace}
        if settings:
            params["settings"] = _api(settings)
        if capacity_providers:
            params["capacityProviders"] = capacity_providers
        if default_strategy:
            params["defaultCapacityProviderStrategy"] = _api(default_strategy)
        if configuration is not None:
            params["configuration"] = configuration.to_api()
        resp = await self._call("CreateCluster", **params)
        return LiveCluster.parse(resp["cluster"])

    async def update_cluster_settings(self, name: str, settings: list[ClusterSetting]) -> None:
        await self._call("UpdateClusterSettings", cluster=name, settings=_api(settings))

    async def update_cluster(
        self,
        name: str,
        *,
        configuration: ClusterConfiguration | None = None,
        service_connect_namespace: str | None = None,
    ) -> None:
        params: dict[str, Any] = {"cluster": name}
        if configuration is not None:
            params["configuration"] = configuration.to_api()
        if service_connect_namespace is not None:
            params["serviceConnectDefaults"] = {"namespace": service_connect_namespace}
        await self._call("UpdateCluster", **params)

    async def put_cluster_capacity_providers(
        self, name: str, providers: list[str], strategy: list[CapacityProviderStrategyItem]
    ) -> None:
        await self._call(
            "PutClusterCapacityProviders",
            cluster=name,
            capacityProviders=providers,
            defaultCapacityProviderStrategy=_api(strategy),
        )

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        if tags:
            await self._call("TagResource", resourceArn=arn, tags=tag_list(tags))

    async def untag(self, arn: str, keys: list[str]) -> None:
        if keys:
            await self._call("UntagResource", resourceArn=arn, tagKeys=sorted(keys))

    # services

    async def describe_services(self, cluster: str, names: list[str]) -> dict[str, LiveService]:
        """Live services by name (batches of 10); absent and INACTIVE ones are left out."""
        found: dict[str, LiveService] = {}
        for batch in _chunks(sorted(set(names)), 10):
            try:
                resp = await self._call(
                    "DescribeServices", cluster=cluster, services=batch, include=["TAGS"]
                )
            except AwsNotFound:
                return {}  # the cluster itself does not exist
            for raw in resp.get("services", []):
                service = LiveService.parse(raw)
                if service.status != "INACTIVE":
                    found[service.service_name] = service
        return found

    async def list_service_names(self, cluster: str) -> list[str]:
        names: list[str] = []
        params: dict[str, Any] = {"cluster": cluster, "maxResults": 100}
        while True:
            try:
                resp = await self._call("ListServices", **params)
            except AwsNotFound:
                return []
            names += [arn.rsplit("/", 1)[-1] for arn in resp.get("serviceArns", [])]
            token = resp.get("nextToken")
            if not token:
                return names
            params["nextToken"] = token

    async def create_service(
        self, cluster: str, name: str, controller: str = "EXTERNAL", **params: Any
    ) -> LiveService:
        resp = await self._call(
            "CreateService",
            cluster=cluster,
            serviceName=name,
            deploymentController={"type": controller},
            schedulingStrategy="REPLICA",
            **params,
        )
        return LiveService.parse(resp["service"])

    async def update_service(self, cluster: str, name: str, **params: Any) -> LiveService:
        resp = await self._call("UpdateService", cluster=cluster, service=name, **params)
        return LiveService.parse(resp["service"])

    async def describe_service_deployment(self, arn: str) -> LiveServiceDeployment | None:
        """One service deployment (ECS's own controller), or None when it is unknown."""
        resp = await self._call("DescribeServiceDeployments", serviceDeploymentArns=[arn])
        found = resp.get("serviceDeployments", [])
        return LiveServiceDeployment.parse(found[0]) if found else None

    async def stop_service_deployment(self, arn: str, stop_type: str = "ROLLBACK") -> None:
        await self._call("StopServiceDeployment", serviceDeploymentArn=arn, stopType=stop_type)

    async def continue_service_deployment(self, arn: str, hook_id: str) -> None:
        await self._call(
            "ContinueServiceDeployment", serviceDeploymentArn=arn, hookId=hook_id, action="CONTINUE"
        )

    async def delete_service(self, cluster: str, name: str) -> None:
        await self._call("DeleteService", cluster=cluster, service=name, force=True)

    # task sets

    async def describe_task_sets(self, cluster: str, service: str) -> list[LiveTaskSet]:
        resp = await self._call(
            "DescribeTaskSets", cluster=cluster, service=service, include=["TAGS"]
        )
        return [LiveTaskSet.parse(raw) for raw in resp.get("taskSets", [])]

    async def create_task_set(
        self,
        cluster: str,
        service: str,
        *,
        task_definition: str,
        external_id: str,
        scale_percent: float,
        launch_type: str | None,
        capacity_provider_strategy: list[CapacityProviderStrategyItem],
        platform_version: str | None,
        network_configuration: NetworkConfiguration | None,
        load_balancers: list[LoadBalancer],
        service_registries: list[ServiceRegistry],
        tags: dict[str, str],
    ) -> LiveTaskSet:
        params: dict[str, Any] = {
            "cluster": cluster,
            "service": service,
            "taskDefinition": task_definition,
            "externalId": external_id,
            "scale": {"value": float(scale_percent), "unit": "PERCENT"},
            "tags": tag_list(tags),
        }
        if launch_type:
            params["launchType"] = launch_type
        if capacity_provider_strategy:
            params["capacityProviderStrategy"] = _api(capacity_provider_strategy)
        if platform_version:
            params["platformVersion"] = platform_version
        if network_configuration is not None:
            params["networkConfiguration"] = network_configuration.to_api()
        if load_balancers:
            params["loadBalancers"] = _api(load_balancers)
        if service_registries:
            params["serviceRegistries"] = _api(service_registries)
        resp = await self._call("CreateTaskSet", **params)
        return LiveTaskSet.parse(resp["taskSet"])

    async def update_task_set_scale(
        self, cluster: str, service: str, task_set_arn: str, percent: float
    ) -> None:
        await self._call(
            "UpdateTaskSet",
            cluster=cluster,
            service=service,
            taskSet=task_set_arn,
            scale={"value": float(percent), "unit": "PERCENT"},
        )

    async def set_primary_task_set(self, cluster: str, service: str, task_set_arn: str) -> None:
        await self._call(
            "UpdateServicePrimaryTaskSet",
            cluster=cluster,
            service=service,
            primaryTaskSet=task_set_arn,
        )

    async def delete_task_set(self, cluster: str, service: str, task_set_arn: str) -> None:
        with contextlib.suppress(AwsNotFound):  # already gone: the goal is met
            await self._call(
                "DeleteTaskSet", cluster=cluster, service=service, taskSet=task_set_arn, force=True
            )

    # task definitions

    async def register_task_definition(
        self, td: TaskDefinitionInput, tags: dict[str, str]
    ) -> LiveTaskDefinition:
        body = td.to_api()
        for size in ("cpu", "memory"):  # numbers are allowed in files, strings by the API
            if size in body:
                body[size] = str(body[size])
        body_tags = {t["key"]: t["value"] for t in body.pop("tags", [])}
        body_tags.update(tags)
        resp = await self._call("RegisterTaskDefinition", **body, tags=tag_list(body_tags))
        live = _task_definition(resp["taskDefinition"], resp.get("tags", tag_list(body_tags)))
        self._task_definitions[live.arn] = live
        return live

    def known_task_definition(self, arn: str) -> LiveTaskDefinition | None:
        """A revision already described by this process, without a call (None if not)."""
        return self._task_definitions.get(arn)

    async def describe_task_definition(self, ref: str) -> LiveTaskDefinition | None:
        """A revision by ARN (cached: revisions never change) or family[:revision]."""
        cached = self._task_definitions.get(ref)
        if cached is not None:
            return cached
        try:
            resp = await self._call("DescribeTaskDefinition", taskDefinition=ref, include=["TAGS"])
        except AwsNotFound:
            return None
        live = _task_definition(resp["taskDefinition"], resp.get("tags", []))
        self._task_definitions[live.arn] = live
        return live

    async def recent_task_definitions(self, family: str, limit: int) -> list[str]:
        """ARNs of the family's newest ACTIVE revisions, newest first."""
        resp = await self._call(
            "ListTaskDefinitions",
            familyPrefix=family,
            status="ACTIVE",
            sort="DESC",
            maxResults=limit,
        )
        arns: list[str] = resp.get("taskDefinitionArns", [])
        # familyPrefix matches prefixes: keep this family only
        return [a for a in arns if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family][:limit]

    async def list_task_definition_arns(self, family: str) -> list[str]:
        """Every ACTIVE revision of exactly this family, newest first."""
        arns: list[str] = []
        params: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"}
        while True:
            resp = await self._call("ListTaskDefinitions", **params)
            arns += [
                a
                for a in resp.get("taskDefinitionArns", [])
                if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family
            ]
            token = resp.get("nextToken")
            if not token:
                return arns
            params["nextToken"] = token

    async def deregister_task_definition(self, arn: str) -> None:
        with contextlib.suppress(AwsNotFound):
            await self._call("DeregisterTaskDefinition", taskDefinition=arn)
        self._task_definitions.pop(arn, None)

    # tasks

    async def list_task_arns(
        self, cluster: str, *, started_by: str | None = None, desired_status: str = "RUNNING"
    ) -> list[str]:
        arns: list[str] = []
        params: dict[str, Any] = {"cluster": cluster, "desiredStatus": desired_status}
        if started_by:
            params["startedBy"] = started_by
        while True:
            resp = await self._call("ListTasks", **params)
            arns += resp.get("taskArns", [])
            token = resp.get("nextToken")
            if not token:
                return arns
            params["nextToken"] = token

    async def describe_tasks(self, cluster: str, arns: list[str]) -> list[LiveTask]:
        tasks: list[LiveTask] = []
        for batch in _chunks(arns, 100):
            resp = await self._call("DescribeTasks", cluster=cluster, tasks=batch)
            tasks += [LiveTask.parse(raw) for raw in resp.get("tasks", [])]
        return tasks


def _task_definition(raw: dict[str, Any], tags: list[dict[str, str]]) -> LiveTaskDefinition:
    body = {k: v for k, v in raw.items() if k not in SERVER_TASK_DEFINITION_FIELDS}
    return LiveTaskDefinition(
        arn=raw["taskDefinitionArn"],
        family=raw["family"],
        revision=int(raw["revision"]),
        status=str(raw.get("status", "ACTIVE")),
        input=TaskDefinitionInput.model_validate(body, extra="ignore"),
        tags={t["key"]: t["value"] for t in tags},
    )


def placement_params(
    constraints: list[PlacementConstraint], strategy: list[PlacementStrategy]
) -> dict[str, Any]:
    return {"placementConstraints": _api(constraints), "placementStrategy": _api(strategy)}
