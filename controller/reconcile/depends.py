"""dependsOn at run time: a resource waits until those it names are Synced and Healthy
at the revision being applied.

Design: pure functions over what the caller already holds (the desired resources, the
latest status of each and the revision being applied), so the long-running controller and
the one-shot `sync` driver share one rule. A dependency's status counts only when a
reconcile of this revision wrote it (ResourceStatus.ready_at): the status left by the
previous commit is Synced and Healthy while the new commit's rollout of that dependency
has not even started, so one commit changing both would roll them out together. The loader has already refused unknown references and cycles; a
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
from controller.reconcile.conditions import conditions_for


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
    key: ResourceKey,
    statuses: Mapping[ResourceKey, ResourceStatus],
    desired: Desired,
    revision: str | None,
) -> list[ResourceKey]:
    """The dependencies of `key` not yet Synced and Healthy at `revision` ([] = go ahead)."""
    value = desired.get(key)
    resource = _resource(value) if value is not None else None
    if not isinstance(resource, EcsService) or not resource.spec.depends_on:
        return []  # the common case, on every reconcile: no set of every key built
    known = set(desired) | set(statuses)
    return [
        dep
        for dep in dependencies(key, resource, known)
        if not (dep in statuses and statuses[dep].ready_at(revision))
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
    blockers: list[ResourceKey],
    statuses: Mapping[ResourceKey, ResourceStatus],
    revision: str | None = None,
) -> str:
    parts = []
    for dep in blockers:
        status = statuses.get(dep)
        if status is None:
            state = "not reconciled yet"
        elif status.ready:  # ready at an earlier revision only
            state = "not reconciled at this revision yet"
        else:
            state = f"{status.sync_status}/{status.health_status}"
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
    status = ResourceStatus.of(
        key,
        region=region,
        sync_status="Unknown",
        health_status="Progressing",
        message=waiting_message(blockers, statuses, revision),
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
