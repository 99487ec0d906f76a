"""The desired-state API: pydantic models of what users commit. No I/O."""

from controller.api.cluster import EcsCluster, EcsClusterSpec
from controller.api.common import API_GROUP, API_VERSION, ObjectMeta, ResourceKey, SyncPolicy
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.resources import KINDS, Resource, resource_key
from controller.api.service import EcsService, EcsServiceSpec
from controller.api.task import EcsTask, EcsTaskSpec

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "KINDS",
    "EcsCluster",
    "EcsClusterSpec",
    "EcsService",
    "EcsServiceSpec",
    "EcsTask",
    "EcsTaskSpec",
    "ObjectMeta",
    "Resource",
    "ResourceKey",
    "SyncPolicy",
    "TaskDefinitionInput",
    "resource_key",
]
