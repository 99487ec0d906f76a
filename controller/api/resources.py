"""The kinds of the ecs-gitops.dev group, and a resource's identity.

A resource is identified by (kind, region, cluster, name); region is "" when the
document leaves it to the controller's default.
"""

from __future__ import annotations

from controller.api.cluster import EcsCluster
from controller.api.common import ResourceKey
from controller.api.service import EcsService
from controller.api.task import EcsTask

Resource = EcsCluster | EcsService | EcsTask

KINDS: dict[str, type[EcsCluster] | type[EcsService] | type[EcsTask]] = {
    "EcsCluster": EcsCluster,
    "EcsService": EcsService,
    "EcsTask": EcsTask,
}

VERSIONS = ("v1alpha1",)


def resource_key(resource: Resource) -> ResourceKey:
    region = resource.spec.region or ""
    if isinstance(resource, EcsCluster):
        return ResourceKey(resource.kind, region, "", resource.metadata.name)
    cluster = resource.spec.cluster.rsplit("/", 1)[-1]
    return ResourceKey(resource.kind, region, cluster, resource.metadata.name)
