"""Pieces every kind shares: metadata, tags, sync policy and the resource identity.

Tags are a mapping in the desired state; the ECS list form [{key, value}] that
`describe-*` prints is accepted too and turned into the mapping, so output can be pasted.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BeforeValidator, Field, StringConstraints

from controller.api.base import Model

API_GROUP = "ecs-gitops.dev"
API_VERSION = f"{API_GROUP}/v1alpha1"

# ECS names: up to 255 letters (either case), numbers, hyphens and underscores.
EcsName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,255}$")]
ClusterRef = Annotated[
    str,
    StringConstraints(
        pattern=r"^([A-Za-z0-9_-]{1,255}|arn:aws[\w-]*:ecs:[\w-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255})$"
    ),
]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(max_length=256)]


def _tags_from_list(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(t, dict) and "key" in t for t in value):
        return {t["key"]: t.get("value", "") for t in value}
    return value


Tags = Annotated[dict[TagKey, TagValue], BeforeValidator(_tags_from_list), Field(max_length=50)]


class ObjectMeta(Model):
    name: EcsName
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class SyncPolicy(Model):
    """What the controller may do without being asked."""

    prune: bool = False
    """Delete a managed resource once it leaves the source."""
    self_heal: bool = True
    """Revert changes made outside Git on the next resync; off: report OutOfSync only."""
    suspend: bool = False
    """Stop reconciling this resource (status Suspended) until unset."""


class ResourceKey(NamedTuple):
    """Identity of a resource: two documents with the same key are a conflict."""

    kind: str
    region: str
    cluster: str
    name: str

    def __str__(self) -> str:
        where = f"{self.cluster}/" if self.cluster else ""
        region = f" ({self.region})" if self.region else ""
        return f"{self.kind} {where}{self.name}{region}"


ApiVersion = Literal["ecs-gitops.dev/v1alpha1"]

# Tags are a contract (they outlive any release): what the controller created and from
# which content.
TAG_PREFIX = "ecs-gitops.dev/"
MANAGED_BY_TAG = f"{TAG_PREFIX}managed-by"
SOURCE_TAG = f"{TAG_PREFIX}source"
"""The id of the source that manages a service (sources.base.source_id)."""
SPEC_HASH_TAG = f"{TAG_PREFIX}spec-hash"
