"""Faults the controller must ride out: a flaky, throttling AWS; AWS gone and back empty;
history rewritten under it; a repository it cannot read. Loopback only, bounded in time.

- a proxy in front of plain moto (bench/awsproxy.py) refuses a fraction of calls with
  ThrottlingException and answers others with 500, before or after moto acted on them:
  the seed scenario still converges, v1 and then v2, with one task set and one revision
  per image, and no throttle ever reaches a reconcile;
- moto is killed mid-rollout and started again, empty: `ecs-gitops run` keeps running,
  reports AWS unreachable, then builds everything again from the source;
- the watched repository is force-pushed back to an older commit: that commit is what
  gets deployed, deliberately, reusing its task definition revision;
- an object of the new commit is corrupt: the error is in the status, nothing is deleted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from bench.awsproxy import AwsProxy, Faults, ProxyThread
from controller.aws.client import AwsClients, AwsSettings
from controller.reconcile.context import Context
from controller.reconcile.sync import sync_all
from tests.conftest import REGION, free_port
from tests.controller_process import Running, commit, git, quickstart_repo, set_image
from tests.emulated_ecs import ecs, load
from tests.test_sync import make_network, quickstart, revisions, task_sets


def on_network(root: Path, subnet: str, group: str) -> None:
    spec = root / "myapp.yaml"
    spec.write_text(
        spec.read_text()
        .replace("subnets: [subnet-aaa, subnet-bbb]", f"subnets: [{subnet}]")
        .replace("securityGroups: [sg-xxx]", f"securityGroups: [{group}]")
    )


# -- a throttling, failing AWS ---------------------------------------------------------


async def test_throttles_and_server_errors_converge_without_duplicates(
    aws_endpoint: str, tmp_path: Path
) -> None:
    subnet, group = make_network(aws_endpoint)
    root = quickstart(tmp_path, "v1")
    on_network(root, subnet, group)
    faults = Faults(throttle=0.25, error_before=0.05, error_after=0.08, max_throttles_in_a_row=4)
    proxy = AwsProxy(aws_endpoint, faults=faults, seed=9)
    await proxy.start()
    try:
        for image, expected in (("v1", ["myapp:1"]), ("v2", ["myapp:1", "myapp:2"])):
            quickstart(tmp_path, image)
            with structlog.testing.capture_logs() as logs:
                async with AwsClients(AwsSettings(REGION, proxy.url)) as aws:
                    outcome = await sync_all(load(root), Context(aws), within=120)
            assert outcome.ok, {str(k): s.last_error for k, s in outcome.statuses.items()}
            assert task_sets(aws_endpoint) == [("PRIMARY", expected[-1])]
            assert revisions(aws_endpoint) == expected  # none registered twice
            surfaced = [e for e in logs if "Throttl" in str(e.get("error", ""))]
            assert surfaced == []  # every throttle was absorbed inside the client
            assert aws.stats.outcomes("throttled")
    finally:
        await proxy.stop()
    assert proxy.total("throttled_injected") >= 10
    assert proxy.total("error_after") >= 1  # a change made, its answer lost, and adopted


async def test_aws_buckets_smaller_than_ours_are_met_by_adapting(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """The account's real budget is smaller than the client's buckets (other tools spend
    it, or the quota is lower): AWS refuses calls, the buckets slow down, and the sync
    still converges with no error surfacing."""
    from controller.aws.ratelimit import DEFAULT_LIMITS

    subnet, group = make_network(aws_endpoint)
    root = quickstart(tmp_path, "v1")
    on_network(root, subnet, group)
    tight = {name: limit.scaled(0.05) for name, limit in DEFAULT_LIMITS.items()}
    proxy = AwsProxy(aws_endpoint, limits=tight)
    await proxy.start()
    try:
        async with AwsClients(AwsSettings(REGION, proxy.url)) as aws:
            outcome = await sync_all(load(root), Context(aws), within=120)
    finally:
        await proxy.stop()
    assert outcome.ok, {str(k): s.last_error for k, s in outcome.statuses.items()}
    assert proxy.total("throttled") >= 1
    assert aws.stats.outcomes("throttled")
    assert any(b.factor < 1 for b in aws.limits._buckets.values())


# -- moto restarted, empty, mid-rollout -------------------------------------------------


class Moto:
    """A plain moto server on a fixed port that can be killed and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("moto did not start") from None
                time.sleep(0.1)
        # seeded ids: the network made after a restart has the ids the spec names
        request = urllib.request.Request(f"{self.url}/moto-api/seed?a=42", method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    server = Moto(free_port())
    server.start()
    yield server
    server.kill()


def live_sets(endpoint: str, name: str = "myapp") -> list[dict[str, Any]]:
    try:
        services = ecs(endpoint).describe_services(cluster="prod-cluster", services=[name])
    except Exception:  # moto down, or no cluster yet
        return []
    found = [s for s in services["services"] if s["status"] == "ACTIVE"]
    return list(found[0].get("taskSets", [])) if found else []


def converged(running: Running, endpoint: str, revision: str) -> bool:
    entry = running.resource("myapp") or {}
    sets = live_sets(endpoint)
    return (
        entry.get("syncStatus") == "Synced"
        and entry.get("healthStatus") == "Healthy"
        and [(s["status"], s["taskDefinition"].rsplit("/", 1)[-1]) for s in sets]
        == [("PRIMARY", revision)]
    )


def test_moto_restarted_mid_rollout(
    moto: Moto, tmp_path: Path, run_controller: Callable[..., Running]
) -> None:
    """The controller reaches moto through a pass-through proxy, which answers 503 while
    moto is down and holds the controller off while the network is made again (moto's
    ids are seeded, so the spec's subnet exists again only if nothing else ran first).
    The proxy fails every promotion until moto is killed: moto reports a new set steady at
    once, so without that the rollout could finish between two looks on a busy machine."""
    subnet, group = make_network(moto.url)
    root = quickstart(tmp_path, "v1")
    on_network(root, subnet, group)
    no_promotion = Faults(
        error_before=1.0, applies=lambda _, operation: operation == "UpdateServicePrimaryTaskSet"
    )
    with ProxyThread(AwsProxy(moto.url, faults=no_promotion)) as proxy:
        running = run_controller(proxy.url, root)
        running.wait(
            "a task set not yet PRIMARY (mid-rollout)",
            lambda: any(s["status"] != "PRIMARY" for s in live_sets(moto.url)),
            timeout=30,
        )
        proxy.faults = Faults()
        moto.kill()
        running.wait(
            "the failure reported",
            lambda: bool((running.resource("myapp") or {}).get("lastError")),
            timeout=20,
        )
        running.looked_again(2)  # more resyncs against nothing: it waits, it does not exit
        assert running.proc.poll() is None
        with urllib.request.urlopen(f"{running.url}/healthz", timeout=5) as response:
            assert response.status == 200

        proxy.hold = True
        moto.start()  # empty: every resource is gone
        assert make_network(moto.url) == (subnet, group)
        proxy.hold = False
        running.wait("converged from scratch", lambda: converged(running, moto.url, "myapp:1"), 60)
    assert revisions(moto.url) == ["myapp:1"]
    assert proxy.total("upstream_down") >= 1
    assert running.proc.poll() is None


# -- the repository under the controller ------------------------------------------------


def clone_setup(tmp_path: Path) -> tuple[Path, Path]:
    """A bare origin (what the controller watches) and a working clone that pushes to it."""
    work = quickstart_repo(tmp_path / "work", message="v1")
    origin = tmp_path / "origin.git"
    subprocess.run(  # --no-local: own object files, not hard links into the work clone
        ["git", "clone", "-q", "--bare", "--no-local", str(work), str(origin)], check=True
    )
    git(work, "remote", "add", "origin", str(origin))
    return work, origin


def primary(endpoint: str, name: str) -> str | None:
    sets = [s for s in live_sets(endpoint, name) if s["status"] == "PRIMARY"]
    return sets[0]["taskDefinition"].rsplit("/", 1)[-1] if sets else None


def test_force_push_to_an_older_commit_deploys_that_commit(
    emulated: Any, tmp_path: Path, run_controller: Callable[..., Running]
) -> None:
    work, origin = clone_setup(tmp_path)
    first = git(work, "rev-parse", "HEAD")
    running = run_controller(emulated.endpoint_url, f"git+file://{origin}#ref=main&path=deploy/")
    running.wait("v1", lambda: primary(emulated.endpoint_url, "myapp") == "myapp:1", 60)
    set_image(work, "v2")
    second = commit(work, "v2")
    git(work, "push", "-q", "origin", "main")
    running.wait("v2", lambda: primary(emulated.endpoint_url, "myapp") == "myapp:2", 60)

    git(work, "push", "-q", "--force", "origin", f"{first}:refs/heads/main")
    running.wait(
        "the older commit deployed",
        lambda: (
            (running.resource("myapp") or {}).get("lastAppliedRevision") == first
            and primary(emulated.endpoint_url, "myapp") == "myapp:1"
        ),
        60,
    )
    assert running.status()["source"]["revision"] == first
    arns = ecs(emulated.endpoint_url).list_task_definitions(familyPrefix="myapp")
    assert sorted(a.rsplit("/", 1)[-1] for a in arns["taskDefinitionArns"]) == [
        "myapp:1",
        "myapp:2",
    ]  # the older commit's revision is reused, not registered again
    assert second != first


def corrupt(repo: Path, obj: str) -> None:
    """Overwrite a loose object with bytes that inflate to garbage."""
    path = repo / "objects" / obj[:2] / obj[2:]
    path.chmod(0o644)
    path.write_bytes(zlib.compress(b"tree 99999\0this is not a tree"))


def test_a_corrupt_object_is_an_error_and_deletes_nothing(
    emulated: Any, tmp_path: Path, run_controller: Callable[..., Running]
) -> None:
    work, origin = clone_setup(tmp_path)
    running = run_controller(emulated.endpoint_url, f"git+file://{origin}#ref=main&path=deploy/")
    running.wait(
        "worker and myapp deployed",
        lambda: (
            primary(emulated.endpoint_url, "worker") is not None
            and primary(emulated.endpoint_url, "myapp") == "myapp:1"
        ),
        60,
    )
    (work / "deploy" / "worker.yaml").unlink()  # prune: true, were this commit readable
    set_image(work, "v2")
    commit(work, "remove worker, v2")
    # pushed beside main, corrupted, and only then made main: the controller never sees
    # the commit readable (a poll between a push and the corruption would apply it)
    subprocess.run(
        ["git", "-C", str(work), "push", "-q", "origin", "main:staging"],
        check=True,
        env=os.environ,
    )
    head = git(origin, "rev-parse", "staging")
    tree = git(origin, "rev-parse", "staging^{tree}")
    corrupt(origin, git(origin, "rev-parse", f"{tree}:deploy"))
    git(origin, "update-ref", "refs/heads/main", head)
    running.wait("the source error", lambda: bool(running.status()["source"]["error"]), 30)
    running.fetched_again(2)  # the source read twice more, unreadable
    running.looked_again(4)  # and two resyncs of both services
    status = running.status()
    assert status["source"]["revision"] != head
    assert primary(emulated.endpoint_url, "worker") is not None  # not pruned
    assert primary(emulated.endpoint_url, "myapp") == "myapp:1"  # nothing half-applied
    assert running.proc.poll() is None
    assert status["source"]["error"]
