"""dependsOn at run time: a resource waits until those it names are Synced and Healthy.

Design: pure functions over what the caller already holds (the desired resources and the
latest status of each), so the long-running controller and the one-shot `sync` driver
share one rule. The loader has already refused unknown references and cycles; a
reference that still resolves to nothing (a file broken since) does not block. A blocked
resource is not reconciled at all: its status says what it waits for, and the caller
looks again later (the controller requeues it; `dependents_of` lets it wake dependents
as soon as a dependency becomes ready).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from controller.api import EcsCluster, EcsService, EcsTask, Resource, ResourceKey
from controller.api.refs import resolve_ref
from controller.api.status import Condition, ResourceStatus
from controller.reconcile.status import conditions_for


class HasResource(Protocol):
    """A loader.Loaded, or anything else carrying a resource."""

    @property
    def resource(self) -> Resource: ...


Desired = Mapping[ResourceKey, Resource] | Mapping[ResourceKey, HasResource]


def _resource(value: Resource | HasResource) -> Resource:
    if isinstance(value, EcsCluster | EcsService | EcsTask):
        return value
    return value.resource


def dependencies(
    key: ResourceKey, resource: Resource, known: Collection[ResourceKey]
) -> list[ResourceKey]:
    """What `resource` depends on, resolved among `known` (unresolvable entries left out)."""
    if not isinstance(resource, EcsService):
        return []
    out: list[ResourceKey] = []
    for text in resource.spec.depends_on:
        found = resolve_ref(key, text, known)
        if found is not None and found != key and found not in out:
            out.append(found)
    return out


def blocked_by(
    key: ResourceKey, statuses: Mapping[ResourceKey, ResourceStatus], desired: Desired
) -> list[ResourceKey]:
    """The dependencies of `key` that are not Synced and Healthy yet ([] = go ahead)."""
    value = desired.get(key)
    resource = _resource(value) if value is not None else None
    if not isinstance(resource, EcsService) or not resource.spec.depends_on:
        return []  # the common case, on every reconcile: no set of every key built
    known = set(desired) | set(statuses)
    return [
        dep
        for dep in dependencies(key, resource, known)
        if not (dep in statuses and statuses[dep].ready)
    ]


def dependents_of(key: ResourceKey, desired: Desired) -> list[ResourceKey]:
    """The resources that name `key` in their dependsOn: wake them when it gets ready."""
    known = set(desired)
    return [
        other
        for other, value in desired.items()
        if other != key and key in dependencies(other, _resource(value), known)
    ]


def waiting_message(
    blockers: list[ResourceKey], statuses: Mapping[ResourceKey, ResourceStatus]
) -> str:
    parts = []
    for dep in blockers:
        status = statuses.get(dep)
        state = f"{status.sync_status}/{status.health_status}" if status else "not reconciled yet"
        parts.append(f"{dep} ({state})")
    return "waiting for " + ", ".join(parts) + " to be Synced and Healthy (dependsOn)"


def blocked_status(
    key: ResourceKey,
    region: str,
    blockers: list[ResourceKey],
    statuses: Mapping[ResourceKey, ResourceStatus],
    revision: str | None = None,
) -> ResourceStatus:
    """The status of a resource held back by its dependencies (nothing was looked at)."""
    status = ResourceStatus(
        kind=key.kind,
        name=key.name,
        cluster=key.cluster,
        region=region,
        sync_status="Unknown",
        health_status="Progressing",
        message=waiting_message(blockers, statuses),
        last_attempted_revision=revision,
    )
    conditions = conditions_for(status)
    status.conditions = [
        Condition(type=c.type, status=c.status, reason="DependencyNotReady", message=c.message)
        if c.type in ("Ready", "Reconciling")
        else c
        for c in conditions
    ]
    return status
