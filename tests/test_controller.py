"""`ecs-gitops run` end to end: a real Git repository, the controller as a subprocess,
the emulated AWS over HTTP. Each test commits, then watches ECS and the status API."""

from __future__ import annotations

import functools
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import REGION
from tests.controller_process import Running, commit, git, quickstart_repo, set_image, stop


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return quickstart_repo(tmp_path / "repo")


@pytest.fixture
def controller(
    emulated: Any, repo: Path, run_controller: Callable[..., Running]
) -> Callable[..., Running]:
    """controller(*extra): `ecs-gitops run` on the repository's deploy/ directory."""
    return functools.partial(run_controller, emulated.endpoint_url, repo / "deploy")


def ecs(endpoint: str) -> Any:
    return boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)


def primary_revision(endpoint: str, name: str = "myapp") -> str | None:
    services = ecs(endpoint).describe_services(cluster="prod-cluster", services=[name])["services"]
    if not services or services[0]["status"] != "ACTIVE":
        return None
    sets = [ts for ts in services[0].get("taskSets", []) if ts["status"] == "PRIMARY"]
    return sets[0]["taskDefinition"].rsplit("/", 1)[-1] if sets else None


def synced(running: Running, name: str, revision: str | None = None) -> bool:
    entry = running.resource(name)
    return (
        entry is not None
        and entry["syncStatus"] == "Synced"
        and entry["healthStatus"] == "Healthy"
        and (revision is None or entry.get("lastAppliedRevision") == revision)
    )


def test_a_commit_rolls_out(emulated: Any, repo: Path, controller: Callable[..., Running]) -> None:
    running = controller()
    first = git(repo, "rev-parse", "HEAD")
    running.wait("v1 synced", lambda: synced(running, "myapp", first))
    assert primary_revision(emulated.endpoint_url) == "myapp:1"
    set_image(repo, "v2")
    second = commit(repo, "v2")
    running.wait("v2 synced", lambda: synced(running, "myapp", second))
    assert primary_revision(emulated.endpoint_url) == "myapp:2"
    assert running.status()["source"]["revision"] == second


def test_uncommitted_edits_are_not_deployed(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    running = controller()
    running.wait("synced", lambda: synced(running, "myapp"))
    set_image(repo, "v9-half-edited")  # in the working tree only
    running.fetched_again(2)  # several polls
    running.looked_again(2)  # and two resyncs
    assert primary_revision(emulated.endpoint_url) == "myapp:1"


def test_drift_by_hand_is_reverted(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    running = controller()
    running.wait("synced", lambda: synced(running, "worker"))
    ecs(emulated.endpoint_url).update_service(
        cluster="prod-cluster", service="worker", desiredCount=5
    )

    def reverted() -> bool:
        svc = ecs(emulated.endpoint_url).describe_services(
            cluster="prod-cluster", services=["worker"]
        )["services"][0]
        return bool(svc["desiredCount"] == 1)

    running.wait("selfHeal to revert desiredCount", reverted, timeout=10)


def test_selfheal_off_reports_drift_and_leaves_it(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    worker = repo / "deploy" / "worker.yaml"
    worker.write_text(worker.read_text().replace("{prune: true}", "{prune: true, selfHeal: false}"))
    commit(repo, "selfHeal off")
    running = controller()
    running.wait("synced", lambda: synced(running, "worker"))
    ecs(emulated.endpoint_url).update_service(
        cluster="prod-cluster", service="worker", desiredCount=3
    )
    running.wait(
        "drift reported",
        lambda: (running.resource("worker") or {}).get("syncStatus") == "OutOfSync",
        timeout=10,
    )
    assert "selfHeal is off" in (running.resource("worker") or {})["message"]
    svc = ecs(emulated.endpoint_url).describe_services(cluster="prod-cluster", services=["worker"])
    assert svc["services"][0]["desiredCount"] == 3


def test_removing_a_file_prunes_that_service(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    running = controller()
    running.wait("both synced", lambda: synced(running, "worker") and synced(running, "myapp"))
    (repo / "deploy" / "worker.yaml").unlink()
    commit(repo, "remove worker")

    def gone() -> bool:
        services = ecs(emulated.endpoint_url).describe_services(
            cluster="prod-cluster", services=["worker"]
        )["services"]
        return not services or services[0]["status"] != "ACTIVE"

    running.wait("worker pruned", gone, timeout=30)
    assert primary_revision(emulated.endpoint_url) == "myapp:1"  # myapp (prune off) untouched
    assert running.resource("worker") is None


def test_an_empty_source_deletes_nothing(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    running = controller()
    running.wait("synced", lambda: synced(running, "worker") and synced(running, "myapp"))
    for path in (repo / "deploy").iterdir():
        path.unlink()
    (repo / "deploy" / "README.md").write_text("nothing deployed from here any more\n")
    empty = commit(repo, "delete every resource")
    running.wait("the empty revision", lambda: running.status()["source"]["revision"] == empty)
    running.fetched_again(2)  # read again, still empty: nothing pruned
    assert "no valid resources" in running.status()["source"]["pruneBlocked"]
    assert primary_revision(emulated.endpoint_url, "worker") is not None
    assert primary_revision(emulated.endpoint_url, "myapp") == "myapp:1"

    shutil.rmtree(repo / "deploy")  # the source path itself is gone: unreadable
    commit(repo, "delete the directory")
    running.wait("the source error", lambda: bool(running.status()["source"]["error"]))
    assert "does not exist" in running.status()["source"]["error"]
    running.fetched_again(2)
    assert primary_revision(emulated.endpoint_url, "worker") is not None


def test_a_broken_file_does_not_stop_a_good_change(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    running = controller()
    running.wait("synced", lambda: synced(running, "myapp") and synced(running, "worker"))
    worker = repo / "deploy" / "worker.yaml"
    worker.write_text(worker.read_text().replace("desiredCount: 1", "desiredCount: one"))
    set_image(repo, "v2")
    change = commit(repo, "v2 and a typo")
    running.wait("v2 synced", lambda: synced(running, "myapp", change))
    entry = running.resource("worker")
    assert entry is not None
    assert entry["healthStatus"] == "Degraded"
    assert "worker.yaml:6:17" in entry["lastError"]
    svc = ecs(emulated.endpoint_url).describe_services(cluster="prod-cluster", services=["worker"])
    assert svc["services"][0]["desiredCount"] == 1  # left as it was


def worker_active(endpoint: str) -> bool:
    services = ecs(endpoint).describe_services(cluster="prod-cluster", services=["worker"])
    return bool(services["services"]) and services["services"][0]["status"] == "ACTIVE"


def hold_on(running: Running, endpoint: str, seconds: float = 6.0) -> None:
    """worker (prune: true) stays ACTIVE for seconds: polls, resyncs and prune steps
    (a prune takes about three seconds here) all had their chance."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert worker_active(endpoint), running.log.read_text()[-2000:]
        time.sleep(0.5)


def test_a_typo_in_apiversion_never_deletes_a_service(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    running = controller()
    running.wait("worker synced", lambda: synced(running, "worker"))
    worker = repo / "deploy" / "worker.yaml"
    worker.write_text(worker.read_text().replace("ecs-gitops.dev/", "ecs-gitop.dev/"))
    typo = commit(repo, "one letter missing")
    running.wait("the typo loaded", lambda: running.status()["source"]["revision"] == typo)
    hold_on(running, emulated.endpoint_url)
    entry = running.resource("worker")
    assert entry is not None
    assert entry["healthStatus"] == "Degraded"
    assert (
        "worker.yaml:1:13: error: unknown apiVersion 'ecs-gitop.dev/v1alpha1'" in entry["lastError"]
    )
    assert "did you mean 'ecs-gitops.dev/v1alpha1'?" in entry["lastError"]
    assert "nothing is pruned" in running.status()["source"]["pruneBlocked"]


def test_a_service_still_named_in_a_foreign_form_is_never_pruned(
    emulated: Any, repo: Path, controller: Callable[..., Running], tmp_path: Path
) -> None:
    """worker.yaml turned into a document of another group that no check flags: the
    revision has no error, yet it still names worker, so prune leaves worker alone, also
    for a controller started on that revision (its scan finds worker unnamed by any
    resource)."""
    running = controller()
    running.wait("worker synced", lambda: synced(running, "worker"))
    worker = repo / "deploy" / "worker.yaml"
    text = worker.read_text().replace("ecs-gitops.dev/v1alpha1", "acme.example/v1")
    worker.write_text(text.replace("kind: EcsService", "kind: EcsSevrice"))
    foreign = commit(repo, "worker in another tool's format")
    running.wait("it loaded", lambda: running.status()["source"]["revision"] == foreign)
    hold_on(running, emulated.endpoint_url)
    assert running.status()["source"]["pruneBlocked"] is None
    assert "worker.yaml:1 still names it" in (running.resource("worker") or {})["message"]
    stop(running.proc)

    restarted = controller()
    restarted.wait("it loaded", lambda: restarted.status()["source"]["revision"] == foreign)
    restarted.wait("myapp synced", lambda: synced(restarted, "myapp"))
    hold_on(restarted, emulated.endpoint_url)


def test_sigterm_mid_rollout_exits_in_time(
    emulated: Any, repo: Path, controller: Callable[..., Running]
) -> None:
    set_image(repo, "v1-slow")  # tasks take 10x longer to start: the rollout is in flight
    commit(repo, "slow")
    running = controller()
    running.wait(
        "a rollout in progress",
        lambda: (running.resource("myapp") or {}).get("rollout") is not None,
    )
    started = time.monotonic()
    running.proc.send_signal(signal.SIGTERM)
    code = running.proc.wait(timeout=25)
    assert time.monotonic() - started < 20
    assert code == 0, running.log.read_text()[-2000:]
    assert "controller_stopped" in running.log.read_text()
