"""References between resources: a service's dependsOn entries and its hook task names.

Design: a reference is text in the desired state, resolved against the identities of
the other resources of the same source (pure functions, no I/O), so the loader (which
reports unknown references and cycles at validate time) and the reconcile layer (which
waits on dependencies and looks hook tasks up) agree on what a reference means.

dependsOn forms, resolved in the referencing service's region:
    name                       the EcsService `name` in the same cluster, or else the
                               EcsCluster `name`
    EcsService/name            the EcsService `name` in the same cluster
    EcsService/cluster/name    the EcsService `name` in `cluster`
    EcsCluster/name            the EcsCluster `name`
Hooks name EcsTask resources of the service's own cluster and region.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from controller.api.common import ResourceKey

DEPENDABLE_KINDS = ("EcsService", "EcsCluster")
_NAME = r"[A-Za-z0-9_-]{1,255}"
_REF = re.compile(rf"^(?:(?P<kind>[A-Za-z]+)/)?(?:(?P<cluster>{_NAME})/)?(?P<name>{_NAME})$")


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed dependsOn entry."""

    text: str
    kind: str | None
    cluster: str | None
    name: str


def parse_ref(text: str) -> Ref | str:
    """The parsed reference, or a message saying why it is not one."""
    match = _REF.match(text)
    if match is None:
        return (
            f"dependsOn entry {text!r} is not a reference: use NAME, EcsService/NAME, "
            "EcsService/CLUSTER/NAME or EcsCluster/NAME"
        )
    kind, cluster = match["kind"], match["cluster"]
    if kind is not None and kind not in DEPENDABLE_KINDS:
        return (
            f"dependsOn entry {text!r}: kind {kind!r} cannot be waited on "
            f"(use {' or '.join(DEPENDABLE_KINDS)})"
        )
    if cluster is not None and kind != "EcsService":
        return f"dependsOn entry {text!r}: only EcsService/CLUSTER/NAME names a cluster"
    return Ref(text, kind, cluster, match["name"])


def candidates(owner: ResourceKey, ref: Ref) -> list[ResourceKey]:
    """The keys the reference may mean, in order of preference."""
    service = ResourceKey("EcsService", owner.region, ref.cluster or owner.cluster, ref.name)
    cluster = ResourceKey("EcsCluster", owner.region, "", ref.name)
    if ref.kind == "EcsService":
        return [service]
    if ref.kind == "EcsCluster":
        return [cluster]
    return [service, cluster]


def resolve_ref(
    owner: ResourceKey, ref: Ref | str, known: Collection[ResourceKey]
) -> ResourceKey | None:
    """The resource a dependsOn entry of `owner` names, among `known`; None if none."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    if isinstance(parsed, str):
        return None
    return next((key for key in candidates(owner, parsed) if key in known), None)


def hook_task_key(owner: ResourceKey, task_name: str) -> ResourceKey:
    """The EcsTask a hook of service `owner` names: same region and cluster."""
    return ResourceKey("EcsTask", owner.region, owner.cluster, task_name)


def find_cycles(graph: dict[ResourceKey, list[ResourceKey]]) -> list[list[ResourceKey]]:
    """Cycles of the graph, each once, rotated to start at its smallest key. Every graph
    with a cycle yields at least one (depth-first search, back edges; iterative)."""
    cycles: list[list[ResourceKey]] = []
    seen: set[tuple[ResourceKey, ...]] = set()
    done: set[ResourceKey] = set()
    for root in sorted(graph):
        if root in done:
            continue
        stack: list[ResourceKey] = [root]
        on_stack = {root}
        edges = [iter(graph.get(root, []))]
        while edges:
            nxt = next(edges[-1], None)
            if nxt is None:
                edges.pop()
                node = stack.pop()
                on_stack.discard(node)
                done.add(node)
                continue
            if nxt in on_stack:
                cycle = stack[stack.index(nxt) :]
                start = cycle.index(min(cycle))
                canonical = tuple(cycle[start:] + cycle[:start])
                if canonical not in seen:
                    seen.add(canonical)
                    cycles.append(list(canonical))
            elif nxt not in done:
                stack.append(nxt)
                on_stack.add(nxt)
                edges.append(iter(graph.get(nxt, [])))
    return cycles
