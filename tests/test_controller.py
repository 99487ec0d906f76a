"""`ecs-gitops run` end to end: a real Git repository, the controller as a subprocess,
the emulated AWS over HTTP. Each test commits, then watches ECS and the status API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import REPO, free_port

REGION = "ap-northeast-2"

WORKER = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {name: worker}
spec:
  cluster: prod-cluster
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {subnets: [subnet-aaa], securityGroups: [sg-xxx]}
  syncPolicy: {prune: true}
  taskDefinition:
    family: worker
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {name: worker, image: "public.ecr.aws/docker/library/busybox:1.36"}
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    )
    return out.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def set_image(repo: Path, tag: str) -> None:
    path = repo / "deploy" / "task-definition.json"
    td = json.loads(path.read_text())
    td["containerDefinitions"][0]["image"] = (
        f"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:{tag}"
    )
    path.write_text(json.dumps(td, indent=2))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    for name in ("cluster.yaml", "myapp.yaml", "task-definition.json"):
        shutil.copy(REPO / "examples" / "quickstart" / name, root / "deploy" / name)
    (root / "deploy" / "worker.yaml").write_text(WORKER)
    git(root, "init", "-q", "-b", "main")
    commit(root, "initial")
    return root


class Running:
    def __init__(self, proc: subprocess.Popen[str], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/api/v1/status", timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data

    def resource(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.status()["resources"] if r["name"] == name), None)

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"controller exited: {self.log.read_text()[-3000:]}")
            try:
                if check():
                    return
            except (OSError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; status: {self.status()}")


def launch(endpoint: str, source: Path, log: Any, *extra: str) -> Running:
    """`ecs-gitops run` on source against endpoint, JSON logs to log; not waited for."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "run",
            "--source",
            str(source),
            "--endpoint-url",
            endpoint,
            "--region",
            REGION,
            "--http-addr",
            f"127.0.0.1:{port}",
            "--resync-interval",
            "2",
            "--log-format",
            "json",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    return Running(proc, f"http://127.0.0.1:{port}", Path(log.name))


@pytest.fixture
def controller(emulated: Any, repo: Path, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    procs: list[subprocess.Popen[str]] = []
    handles: list[Any] = []

    def start(*extra: str) -> Running:
        handle = (tmp_path / f"controller-{len(handles)}.log").open("w")
        handles.append(handle)
        running = launch(
            emulated.endpoint_url, repo / "deploy", handle, "--poll-interval", "1", *extra
        )
        procs.append(running.proc)
        running.wait("the status API", lambda: running.status() is not None, timeout=20)
        return running

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for handle in handles:
        handle.close()


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
    time.sleep(4)  # two resyncs and several polls
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
    running.wait("worker synced", lambda: synced(running, "worker"))
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
    time.sleep(3)  # a resync
    assert "no valid resources" in running.status()["source"]["pruneBlocked"]
    assert primary_revision(emulated.endpoint_url, "worker") is not None
    assert primary_revision(emulated.endpoint_url, "myapp") == "myapp:1"

    shutil.rmtree(repo / "deploy")  # the source path itself is gone: unreadable
    commit(repo, "delete the directory")
    running.wait("the source error", lambda: bool(running.status()["source"]["error"]))
    assert "does not exist" in running.status()["source"]["error"]
    time.sleep(3)
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
