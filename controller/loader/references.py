"""Checks across documents: dependsOn and hook references, and dependency cycles.

Design: runs once every document has loaded on its own, over the valid resources and the
identities of the invalid ones (a reference to a resource whose file is broken is not
unknown: that resource just is not ready, which the controller reports at run time).
A problem is located at the reference itself (spec.dependsOn[i], spec.hooks.preSync[i]);
a cycle is reported at every member's edge, each message naming the files of the
cycle, and none of its members is applied. Resolution rules live in controller.api.refs
so the loader and the controller agree on them.

Hook tasks may leave networkConfiguration out: they then run with their service's
network. An awsvpc EcsTask without one must be the hook of services that have one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.api import EcsService, EcsTask, ResourceKey
from controller.api.refs import find_cycles, hook_task_key, parse_ref, resolve_ref

if TYPE_CHECKING:
    from controller.loader.loaded import Loaded

DocPath = tuple[str | int, ...]
SUBNETS_PATH: DocPath = ("spec", "networkConfiguration", "awsvpcConfiguration", "subnets")
NO_NETWORK = (
    "the task definition uses networkMode awsvpc: spec.networkConfiguration.awsvpcConfiguration "
    "needs subnets (and securityGroups), or name this task as a hook of a service that has them"
)


@dataclass(frozen=True, slots=True)
class Problem:
    item: Loaded
    path: DocPath
    message: str


def _where(item: Loaded) -> str:
    return f"{item.file}:{item.line}"


def _has_subnets(resource: EcsService | EcsTask) -> bool:
    net = resource.spec.network_configuration
    vpc = net.awsvpc_configuration if net is not None else None
    return vpc is not None and bool(vpc.subnets)


def _needs_network(task: EcsTask) -> bool:
    return task.spec.task_definition_input.network_mode == "awsvpc" and not _has_subnets(task)


def check_references(
    loaded: list[Loaded], rejected: Mapping[ResourceKey, str]
) -> tuple[list[Problem], set[ResourceKey]]:
    """Problems found, and the keys of the resources they make invalid."""
    by_key = {item.key: item for item in loaded}
    known: set[ResourceKey] = set(by_key) | set(rejected)
    problems: list[Problem] = []
    bad: set[ResourceKey] = set()
    graph: dict[ResourceKey, list[ResourceKey]] = {}
    edge_at: dict[tuple[ResourceKey, ResourceKey], int] = {}
    hooked: set[ResourceKey] = set()
    for item in loaded:
        resource = item.resource
        if not isinstance(resource, EcsService):
            continue
        key = item.key
        for i, text in enumerate(resource.spec.depends_on):
            found = _dependency(item, key, text, known, problems, i)
            if found is None:
                bad.add(key)
            elif found in by_key:
                graph.setdefault(key, []).append(found)
                edge_at.setdefault((key, found), i)
        for phase, names in (
            ("preSync", resource.spec.hooks.pre_sync),
            ("postSync", resource.spec.hooks.post_sync),
        ):
            for i, name in enumerate(names):
                at: DocPath = ("spec", "hooks", phase, i)
                if name in names[:i]:
                    problems.append(Problem(item, at, f"{phase} names hook {name!r} twice"))
                    bad.add(key)
                    continue
                target = hook_task_key(key, name)
                hooked.add(target)
                message = _hook_problem(item, target, by_key, known, loaded)
                if message is not None:
                    problems.append(Problem(item, at, f"{phase} hook {name!r}: {message}"))
                    bad.add(key)
    for cycle in find_cycles(graph):
        path = " -> ".join(f"{k} ({_where(by_key[k])})" for k in [*cycle, cycle[0]])
        for member, nxt in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            at = ("spec", "dependsOn", edge_at[(member, nxt)])
            problems.append(Problem(by_key[member], at, f"dependsOn cycle: {path}"))
            bad.add(member)
    for item in loaded:
        task = item.resource
        if isinstance(task, EcsTask) and item.key not in hooked and _needs_network(task):
            problems.append(Problem(item, SUBNETS_PATH, NO_NETWORK))
            bad.add(item.key)
    return problems, bad


def _dependency(
    item: Loaded,
    key: ResourceKey,
    text: str,
    known: Collection[ResourceKey],
    problems: list[Problem],
    i: int,
) -> ResourceKey | None:
    at: DocPath = ("spec", "dependsOn", i)
    parsed = parse_ref(text)
    if isinstance(parsed, str):
        problems.append(Problem(item, at, parsed))
        return None
    found = resolve_ref(key, parsed, known)
    if found is None:
        region = f" in region {key.region}" if key.region else ""
        problems.append(
            Problem(item, at, f"dependsOn {text!r} names no resource of the source{region}")
        )
        return None
    if found == key:
        problems.append(Problem(item, at, f"dependsOn {text!r}: a service cannot depend on itself"))
        return None
    return found


def _hook_problem(
    item: Loaded,
    target: ResourceKey,
    by_key: Mapping[ResourceKey, Loaded],
    known: Collection[ResourceKey],
    loaded: list[Loaded],
) -> str | None:
    if target not in known:
        elsewhere = [
            other
            for other in loaded
            if isinstance(other.resource, EcsTask) and other.key.name == target.name
        ]
        hint = "".join(
            f"; EcsTask {target.name!r} at {_where(o)} is in cluster {o.key.cluster}"
            + (f" ({o.key.region})" if o.key.region else "")
            for o in elsewhere
        )
        return f"no EcsTask {target.name!r} in cluster {target.cluster} (hooks run in their service's cluster){hint}"
    task_item = by_key.get(target)
    service = item.resource
    assert isinstance(service, EcsService)
    if (
        task_item is not None
        and isinstance(task_item.resource, EcsTask)
        and _needs_network(task_item.resource)
        and not _has_subnets(service)
    ):
        return (
            f"EcsTask {target.name!r} ({_where(task_item)}) uses networkMode awsvpc without "
            "networkConfiguration, and this service has none to lend it"
        )
    return None
