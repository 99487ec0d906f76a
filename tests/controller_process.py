"""`ecs-gitops run` as a child process, on a Git repository in tmp_path.

The end-to-end tests commit to a real repository (`git`, `commit`, `quickstart_repo`,
`set_image`), start the controller as a user would (`launch`; conftest's run_controller
fixture also waits for it and stops it when the test ends), and watch it through its
status API (`Running`) and ECS.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import REGION, REPO, free_port

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


def quickstart_repo(root: Path, *, worker: bool = True, message: str = "initial") -> Path:
    """A new repository at root whose deploy/ holds the quickstart example and, with
    worker, WORKER (a service with prune on), committed on main. Returns root."""
    (root / "deploy").mkdir(parents=True)
    for name in ("cluster.yaml", "myapp.yaml", "task-definition.json"):
        shutil.copy(REPO / "examples" / "quickstart" / name, root / "deploy" / name)
    if worker:
        (root / "deploy" / "worker.yaml").write_text(WORKER)
    git(root, "init", "-q", "-b", "main")
    commit(root, message)
    return root


def set_image(repo: Path, tag: str) -> None:
    path = repo / "deploy" / "task-definition.json"
    td = json.loads(path.read_text())
    td["containerDefinitions"][0]["image"] = (
        f"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:{tag}"
    )
    path.write_text(json.dumps(td, indent=2))


class Running:
    def __init__(self, proc: subprocess.Popen[str], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/api/v1/status", timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data

    def resource(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.status()["resources"] if r["name"] == name), None)

    def counter(self, name: str, **labels: str) -> float:
        """A counter of the controller's /metrics (summed over the other labels)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(f"ecs_gitops_{name}_total"):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def looked_again(self, times: int = 1, kind: str = "EcsService") -> None:
        """Until `times` more reconciles of `kind` have ended (a resync each, for one
        resource): "nothing happened" is then asserted after the controller provably
        looked, not after a sleep a busy machine may outlast."""
        start = self.counter("reconcile", kind=kind)
        self.wait(
            f"{times} more {kind} reconciles",
            lambda: self.counter("reconcile", kind=kind) >= start + times,
        )

    def fetched_again(self, times: int = 1) -> None:
        """Until the source has been fetched `times` more times (successfully or not)."""
        start = self.counter("source_fetch")
        self.wait(
            f"{times} more source fetches",
            lambda: self.counter("source_fetch") >= start + times,
        )

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


def launch(endpoint: str, source: str | Path, log: Any, *extra: str) -> Running:
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


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not exited after timeout seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
