"""dependsOn: validated across files (unknown references, cycles naming both files), a pure
rule the controller applies (blocked_by), and `sync` ordering two services on the
emulated AWS."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.api import ResourceKey
from controller.api.refs import find_cycles, parse_ref, resolve_ref
from controller.api.status import ResourceStatus
from controller.aws.client import AwsClients, AwsSettings
from controller.loader import LoadResult, load_tree
from controller.reconcile.context import Context
from controller.reconcile.depends import blocked_by, blocked_status, dependents_of
from controller.reconcile.sync import sync_all
from controller.sources.directory import DirectoryTree
from tests.conftest import REGION, write_files
from tests.controller_process import Running, commit, git
from tests.emulated_ecs import ECR, ecs

WriteTree = Callable[[dict[str, str | bytes]], Path]

SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: {name}}}
spec:
  cluster: {cluster}
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa], securityGroups: [sg-xxx]}}
  deployment: {{strategy: blueGreen, blueGreen: {{bakeSeconds: 0}}}}
  dependsOn: {deps}
  taskDefinition:
    family: {name}
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    containerDefinitions:
      - {{name: app, image: "{ecr}/{name}:{tag}"}}
"""
CLUSTER = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {name: prod-cluster}
"""


def service(name: str, deps: str = "[]", cluster: str = "prod-cluster", tag: str = "v1") -> str:
    return SERVICE.format(name=name, deps=deps, cluster=cluster, tag=tag, ecr=ECR)


def load(root: Path) -> LoadResult:
    return load_tree(DirectoryTree(root))


def shown(result: LoadResult, root: Path) -> list[str]:
    return [str(d).removeprefix(f"{root}/") for d in result.diagnostics]


# --- validate ---------------------------------------------------------------------------


def test_valid_references_load(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            "cluster.yaml": CLUSTER,
            "db.yaml": service("db", "[prod-cluster]"),
            "api.yaml": service("api", "[db, EcsCluster/prod-cluster]"),
            "web.yaml": service("web", "[EcsService/api, EcsService/prod-cluster/db]"),
            "other.yaml": service("edge", "[EcsService/prod-cluster/web]", cluster="edge"),
        }
    )
    result = load(root)
    assert shown(result, root) == []
    assert len(result.loaded) == 5


def test_a_cycle_is_an_error_naming_both_files(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            "cluster.yaml": CLUSTER,
            "a.yaml": service("a", "[b]"),
            "b.yaml": service("b", "[a]"),
            "c.yaml": service("c", "[a]"),
        }
    )
    result = load(root)
    cycle = (
        f"dependsOn cycle: EcsService prod-cluster/a ({root}/a.yaml:1) -> "
        f"EcsService prod-cluster/b ({root}/b.yaml:1) -> EcsService prod-cluster/a ({root}/a.yaml:1)"
    )
    assert shown(result, root) == [
        f"a.yaml:11:15: error: {cycle}",
        f"b.yaml:11:15: error: {cycle}",
    ]
    assert {k.name for k in result.rejected} == {"a", "b"}
    # c depends on a broken resource: not unknown, just not ready; it loads
    assert {k.name for k in (i.key for i in result.loaded)} == {"prod-cluster", "c"}


def test_a_longer_cycle_and_self_dependency(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            "a.yaml": service("a", "[b]"),
            "b.yaml": service("b", "[c]"),
            "c.yaml": service("c", "[a]"),
            "d.yaml": service("d", "[d]"),
        }
    )
    result = load(root)
    messages = shown(result, root)
    assert len(messages) == 4
    for name in "abc":
        line = next(m for m in messages if m.startswith(f"{name}.yaml:11:15:"))
        assert all(f"{root}/{other}.yaml:1" in line for other in "abc")
    assert "d.yaml:11:15: error: dependsOn 'd': a service cannot depend on itself" in messages


@pytest.mark.parametrize(
    ("deps", "expected"),
    [
        ("[nothing]", "api.yaml:11:15: error: dependsOn 'nothing' names no resource of the source"),
        ("[db, EcsService/edge/db]", "api.yaml:11:19: error: dependsOn 'EcsService/edge/db' names no resource"),
        ("[EcsTask/migrate]", "api.yaml:11:15: error: dependsOn entry 'EcsTask/migrate': kind 'EcsTask' cannot be waited on"),
        ("[EcsCluster/x/y]", "api.yaml:11:15: error: dependsOn entry 'EcsCluster/x/y': only EcsService/CLUSTER/NAME names a cluster"),
        ("['a b']", "api.yaml:11:15: error: dependsOn entry 'a b' is not a reference"),
    ],
)  # fmt: skip
def test_unknown_or_malformed_references(write_tree: WriteTree, deps: str, expected: str) -> None:
    root = write_tree({"db.yaml": service("db"), "api.yaml": service("api", deps)})
    result = load(root)
    assert shown(result, root) == [expected] or shown(result, root)[0].startswith(expected), shown(
        result, root
    )
    assert [k.name for k in result.rejected] == ["api"]


def test_hook_references_are_checked(write_tree: WriteTree) -> None:
    task = (
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsTask\nmetadata: {name: migrate}\n"
        "spec:\n  cluster: elsewhere\n  taskDefinition: {family: m, containerDefinitions: "
        "[{name: m, image: m, memory: 128}]}\n"
    )
    hooks = "  hooks: {preSync: [migrate, migrate], postSync: [smoke]}\n"
    root = write_tree({"task.yaml": task, "api.yaml": service("api") + hooks})
    result = load(root)
    assert shown(result, root) == [
        "api.yaml:21:21: error: preSync hook 'migrate': no EcsTask 'migrate' in cluster "
        "prod-cluster (hooks run in their service's cluster); EcsTask 'migrate' at "
        f"{root}/task.yaml:1 is in cluster elsewhere",
        "api.yaml:21:30: error: preSync names hook 'migrate' twice",
        "api.yaml:21:51: error: postSync hook 'smoke': no EcsTask 'smoke' in cluster prod-cluster "
        "(hooks run in their service's cluster)",
    ]


# --- the rule ---------------------------------------------------------------------------


def test_refs_resolve_and_cycles_are_found() -> None:
    api = ResourceKey("EcsService", "", "prod", "api")
    db = ResourceKey("EcsService", "", "prod", "db")
    cluster = ResourceKey("EcsCluster", "", "", "db")
    assert resolve_ref(api, "db", {db, cluster}) == db  # a service first
    assert resolve_ref(api, "db", {cluster}) == cluster
    assert resolve_ref(api, "EcsCluster/db", {db, cluster}) == cluster
    assert resolve_ref(api, "EcsService/other/db", {db}) is None
    assert isinstance(parse_ref("EcsService/a/b/c"), str)
    assert find_cycles({api: [db], db: [api]}) == [[api, db]]
    assert find_cycles({api: [db], db: [cluster]}) == []


def status(key: ResourceKey, sync: str, health: str, revision: str = "rev") -> ResourceStatus:
    return ResourceStatus(
        kind=key.kind,
        name=key.name,
        cluster=key.cluster,
        sync_status=sync,
        health_status=health,
        last_attempted_revision=revision,
    )


def test_blocked_by_until_synced_and_healthy(write_tree: WriteTree) -> None:
    root = write_tree(
        {"db.yaml": service("db"), "api.yaml": service("api", "[db]"), "web.yaml": service("web")}
    )
    desired = {item.key: item for item in load(root).loaded}
    api, db = (next(k for k in desired if k.name == n) for n in ("api", "db"))
    assert blocked_by(api, {}, desired, "rev") == [db]
    progressing = {db: status(db, "OutOfSync", "Progressing")}
    assert blocked_by(api, progressing, desired, "rev") == [db]
    assert blocked_by(api, {db: status(db, "Synced", "Healthy")}, desired, "rev") == []
    assert blocked_by(db, {}, desired, "rev") == []
    assert dependents_of(db, desired) == [api]
    held = blocked_status(api, REGION, [db], progressing, "rev")
    assert held.message == (
        "waiting for EcsService prod-cluster/db (OutOfSync/Progressing) to be Synced and "
        "Healthy (dependsOn)"
    )
    assert {c.type: c.reason for c in held.conditions}["Ready"] == "DependencyNotReady"
    assert not held.ready


def test_ready_only_at_the_revision_being_applied(write_tree: WriteTree) -> None:
    """The previous commit's Synced and Healthy does not let a dependent go ahead: the new
    commit may change the dependency too, and its rollout has not started yet."""
    root = write_tree({"db.yaml": service("db"), "api.yaml": service("api", "[db]")})
    desired = {item.key: item for item in load(root).loaded}
    api, db = (next(k for k in desired if k.name == n) for n in ("api", "db"))
    before = {db: status(db, "Synced", "Healthy", revision="old")}
    assert blocked_by(api, before, desired, "new") == [db]
    held = blocked_status(api, REGION, [db], before, "new")
    assert "EcsService prod-cluster/db (not reconciled at this revision yet)" in held.message
    assert (
        blocked_by(api, {db: status(db, "Synced", "Healthy", revision="new")}, desired, "new") == []
    )


# --- sync orders services -------------------------------------------------------------


async def test_sync_orders_two_services(emulated: Any, write_tree: WriteTree) -> None:
    # the dependent comes first in the source: only dependsOn puts the backend first
    root = write_tree(
        {
            "a-frontend.yaml": service("frontend", "[backend]"),
            "b-backend.yaml": service("backend"),
            "cluster.yaml": CLUSTER,
        }
    )
    seen: list[tuple[str, str]] = []
    async with AwsClients(AwsSettings(REGION, emulated.endpoint_url)) as aws:
        outcome = await sync_all(
            load(root).resources,
            Context(aws),
            within=60,
            on_status=lambda k, s: seen.append((k.name, s.message if not s.ready else "READY")),
        )
    assert outcome.ok, outcome.statuses
    backend_ready = seen.index(("backend", "READY"))
    frontend_first_work = next(
        i for i, (name, msg) in enumerate(seen) if name == "frontend" and "dependsOn" not in msg
    )
    assert backend_ready < frontend_first_work
    assert any(name == "frontend" and "waiting for" in msg for name, msg in seen[:backend_ready])
    services = {
        s["serviceName"]: s
        for s in ecs(emulated.endpoint_url).describe_services(
            cluster="prod-cluster", services=["frontend", "backend"]
        )["services"]
    }
    backend_set = services["backend"]["taskSets"][0]
    assert services["frontend"]["createdAt"] >= backend_set["createdAt"]


async def test_a_failed_dependency_blocks_its_dependents(
    emulated: Any, write_tree: WriteTree
) -> None:
    root = write_tree(
        {
            "frontend.yaml": service("frontend", "[backend]"),
            "backend.yaml": service("backend", tag="v1-crashloop"),
            "cluster.yaml": CLUSTER,
        }
    )
    resources = load(root).resources
    async with AwsClients(AwsSettings(REGION, emulated.endpoint_url)) as aws:
        outcome = await sync_all(resources, Context(aws), within=60)
    assert not outcome.ok
    assert not outcome.timed_out  # blocked for good: the sync ends, it does not wait
    frontend = next(s for k, s in outcome.statuses.items() if k.name == "frontend")
    assert frontend.message.startswith("blocked: waiting for EcsService prod-cluster/backend (")
    assert "Degraded" in frontend.message
    listed = ecs(emulated.endpoint_url).describe_services(
        cluster="prod-cluster", services=["frontend"]
    )
    assert [s for s in listed["services"] if s["status"] == "ACTIVE"] == []  # never created


# --- one commit changing a dependency and its dependent --------------------------------


def both(tag: str) -> dict[str, str | bytes]:
    return {
        "a-frontend.yaml": service("frontend", "[backend]", tag=tag),
        "b-backend.yaml": service("backend", tag=tag),
        "cluster.yaml": CLUSTER,
    }


async def test_sync_rolls_the_dependency_out_first_when_one_commit_changes_both(
    emulated: Any, write_tree: WriteTree
) -> None:
    seen: list[tuple[str, str, bool]] = []

    def record(key: ResourceKey, s: ResourceStatus) -> None:
        seen.append((key.name, s.rollout.phase if s.rollout else "", s.ready))

    async with AwsClients(AwsSettings(REGION, emulated.endpoint_url)) as aws:
        first = await sync_all(load(write_tree(both("v1"))).resources, Context(aws), within=60)
        assert first.ok, first.statuses
        second = await sync_all(
            load(write_tree(both("v2"))).resources, Context(aws), within=60, on_status=record
        )
    assert second.ok, second.statuses
    backend_done = seen.index(("backend", "", True))
    frontend_created = seen.index(("frontend", "Creating", False))
    assert ("backend", "Creating", False) in seen[:backend_done]
    assert backend_done < frontend_created, seen
    assert task_set_images(emulated.endpoint_url) == {
        "backend": [f"{ECR}/backend:v2"],
        "frontend": [f"{ECR}/frontend:v2"],
    }


def test_run_rolls_the_dependency_out_first_when_one_commit_changes_both(
    emulated: Any, tmp_path: Path, run_controller: Callable[..., Running]
) -> None:
    repo = tmp_path / "repo"
    write_files(repo, both("v1"))
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "v1")
    running = run_controller(emulated.endpoint_url, f"git+file://{repo}#ref=main")

    def synced_at(revision: str) -> bool:
        found = [running.resource(n) for n in ("frontend", "backend")]
        return all(
            r is not None
            and (r["syncStatus"], r["healthStatus"]) == ("Synced", "Healthy")
            and r["lastAttemptedRevision"] == revision
            for r in found
        )

    running.wait("v1 deployed", lambda: synced_at(git(repo, "rev-parse", "HEAD")), timeout=60)
    write_files(repo, both("v2"))
    revision = commit(repo, "both to v2")
    running.wait("v2 deployed", lambda: synced_at(revision), timeout=60)
    events = [
        (e["event"], e.get("resource", ""), e["timestamp"])
        for e in map(json.loads, running.log.read_text().splitlines())
        if e.get("revision") == revision and e["event"] in ("task_set_created", "task_set_promoted")
    ]
    backend_promoted = next(
        i for i, e in enumerate(events) if e[:2] == ("task_set_promoted", BACKEND)
    )
    frontend_created = next(
        i for i, e in enumerate(events) if e[:2] == ("task_set_created", FRONTEND)
    )
    assert backend_promoted < frontend_created, events
    assert task_set_images(emulated.endpoint_url) == {
        "backend": [f"{ECR}/backend:v2"],
        "frontend": [f"{ECR}/frontend:v2"],
    }


BACKEND = "EcsService/prod-cluster/backend"
FRONTEND = "EcsService/prod-cluster/frontend"


def task_set_images(endpoint: str) -> dict[str, list[str]]:
    """Each service's task sets' images, as ECS shows them."""
    client = ecs(endpoint)
    services = client.describe_services(cluster="prod-cluster", services=["frontend", "backend"])
    out: dict[str, list[str]] = {}
    for svc in services["services"]:
        images = []
        for task_set in svc["taskSets"]:
            td = client.describe_task_definition(taskDefinition=task_set["taskDefinition"])
            images += [c["image"] for c in td["taskDefinition"]["containerDefinitions"]]
        out[svc["serviceName"]] = sorted(images)
    return out
