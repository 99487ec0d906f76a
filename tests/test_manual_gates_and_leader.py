"""`ecs-gitops promote` / `abort` through the HTTP API, and two replicas with one leader."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import REGION, run_cli
from tests.controller_process import Running, commit, git, launch
from tests.emulated_ecs import nginx_service

CANARY = "{strategy: canary, canary: {steps: [{weight: 50}]}}"


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(endpoint: str, repo: Path, log: Any, procs: list[Any], *extra: str) -> Running:
    running = launch(endpoint, repo, log, *extra)
    procs.append(running.proc)
    running.wait("the HTTP API", lambda: running.status() is not None, timeout=20)
    return running


def web_sets(endpoint: str) -> list[str]:
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    try:
        svc = ecs.describe_services(cluster="gates", services=["web"])["services"]
    except Exception:
        return []
    return sorted(
        f"{ts['status']}:{ts['taskDefinition'].rsplit('/', 1)[-1]}"
        for ts in (svc[0].get("taskSets", []) if svc else [])
        if ts["status"] != "DRAINING"
    )


def phase(running: Running) -> str | None:
    entry = running.resource("web") or {}
    return (entry.get("rollout") or {}).get("phase")


def repo_with(tmp_path: Path, tag: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "-b", "main")
    (repo / "web.yaml").write_text(nginx_service("gates", tag, CANARY))
    commit(repo, tag)
    return repo


@pytest.mark.parametrize("verb", ["promote", "abort"])
def test_manual_gate_through_the_cli(
    emulated: Any, tmp_path: Path, processes: list[Any], verb: str
) -> None:
    endpoint = emulated.endpoint_url
    repo = repo_with(tmp_path, "1.25")
    with (tmp_path / "c.log").open("w") as log:
        running = start(endpoint, repo, log, processes)
        running.wait("v1", lambda: web_sets(endpoint) == ["PRIMARY:gates-web:1"])
        repo_with(tmp_path, "1.26")
        running.wait("the paused canary step", lambda: phase(running) == "Paused")
        result = run_cli(verb, "web", "--server", running.url)
        assert result.returncode == 0, result.stderr
        want = "PRIMARY:gates-web:2" if verb == "promote" else "PRIMARY:gates-web:1"
        running.wait(f"{verb} to take effect", lambda: web_sets(endpoint) == [want], timeout=30)
        again = run_cli(verb, "web", "--server", running.url)
        assert again.returncode == 1  # no rollout in progress any more
        assert "no rollout in progress" in again.stderr


def test_two_replicas_one_leader_and_failover(
    emulated: Any, tmp_path: Path, processes: list[Any]
) -> None:
    endpoint = emulated.endpoint_url
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    dynamodb.create_table(
        TableName="leases",
        KeySchema=[{"AttributeName": "leaseName", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "leaseName", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    repo = repo_with(tmp_path, "1.25")
    logs = [(tmp_path / f"r{i}.log").open("w") for i in range(2)]
    try:
        replicas = [
            start(endpoint, repo, log, processes, "--leader-election-table", "leases")
            for log in logs
        ]
        replicas[0].wait("v1", lambda: web_sets(endpoint) == ["PRIMARY:gates-web:1"], timeout=40)
        # a few resyncs: whoever leads reconciles, the other stands by
        before = sum(r.counter("reconcile") for r in replicas)
        replicas[0].wait(
            "more reconciles", lambda: sum(r.counter("reconcile") for r in replicas) >= before + 4
        )

        def acted(r: Running) -> int:
            return sum(1 for line in r.log.read_text().splitlines() if '"aws_call"' in line)

        acting = [r for r in replicas if acted(r) > 0]
        assert len(acting) == 1, [acted(r) for r in replicas]
        leader = acting[0]
        standby = next(r for r in replicas if r is not leader)
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(timeout=10)
        killed = time.monotonic()
        standby.wait(
            "the standby to lead", lambda: '"leading"' in standby.log.read_text(), timeout=20
        )
        failover_kill = time.monotonic() - killed
        # the lease runs out 15 s after the dead leader's last renewal (<= 2 s before the kill)
        assert failover_kill < 16
        # a graceful stop releases the lease at once
        third = start(endpoint, repo, logs[0], processes, "--leader-election-table", "leases")
        standby.proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        standby.proc.wait(timeout=25)
        third.wait(
            "the third to lead", lambda: third.log.read_text().count('"leading"') >= 2, timeout=10
        )
        failover_term = time.monotonic() - stopped
        assert failover_term < 5
        print(
            json.dumps(
                {
                    "failover_after_sigkill_s": round(failover_kill, 2),
                    "failover_after_sigterm_s": round(failover_term, 2),
                }
            )
        )
    finally:
        for log in logs:
            log.close()
