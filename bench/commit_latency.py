"""Commit-to-first-mutating-call latency of `ecs-gitops run` on a local Git checkout.

Target (issue 4): p50 under 1 s over 20 commits. A real repository in a temp dir, the
controller as a subprocess (as users run it), the emulated AWS in this process. Each
commit changes one service's desiredCount; the latency is from `git commit` returning to
the timestamp of the controller's first mutating AWS call logged after it. Prints JSON.

    .venv/bin/python bench/commit_latency.py --commits 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsCluster
metadata: {{name: bench}}
---
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: web}}
spec:
  cluster: bench
  desiredCount: {count}
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa], securityGroups: [sg-xxx]}}
  taskDefinition:
    family: web
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {{name: web, image: "public.ecr.aws/nginx/nginx:1.27"}}
"""

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mutating_calls(log: Path) -> list[tuple[float, str]]:
    """(unix time, operation) of every mutating AWS call the controller logged."""
    out = []
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "aws_call":
            stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            out.append((stamp.timestamp(), str(event["operation"])))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

    from controller.local import EmulatedAws
    from controller.observability import logging as obs_logging

    obs_logging.configure("warning", "console")

    with tempfile.TemporaryDirectory() as tmp, EmulatedAws(task_start_delay=0.2) as aws:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "web.yaml").write_text(SERVICE.format(count=1))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        port = free_port()
        log = Path(tmp) / "controller.log"
        log_handle = log.open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller",
                "run",
                "--source",
                str(repo),
                "--endpoint-url",
                aws.endpoint_url,
                "--region",
                "ap-northeast-2",
                "--http-addr",
                f"127.0.0.1:{port}",
                "--log-format",
                "json",
                "--resync-interval",
                "300",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log_handle,
        )
        try:
            deadline = time.monotonic() + 60
            while True:  # wait until the initial revision is Synced
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status") as r:
                        status = json.loads(r.read())
                    if status["resources"] and all(
                        e["syncStatus"] == "Synced" for e in status["resources"]
                    ):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    print(log.read_text()[-3000:], file=sys.stderr)
                    return 1
                time.sleep(0.2)
            latencies = []
            for i in range(args.commits):
                seen = len(mutating_calls(log))
                (repo / "web.yaml").write_text(SERVICE.format(count=2 + i % 2))
                git(repo, "add", "-A")
                git(repo, "commit", "-q", "-m", f"count {i}")
                committed = time.time()
                deadline = time.monotonic() + 30
                while True:
                    calls = mutating_calls(log)[seen:]
                    if calls:
                        latencies.append(max(0.0, calls[0][0] - committed))
                        break
                    if time.monotonic() > deadline:
                        print(log.read_text()[-3000:], file=sys.stderr)
                        return 1
                    time.sleep(0.02)
                time.sleep(0.3)  # let the reconcile settle before the next commit
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log_handle.close()
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(
        json.dumps(
            {
                "benchmark": "commit_latency",
                "commits": len(latencies),
                "p50_seconds": round(statistics.median(latencies), 3),
                "p95_seconds": round(p95, 3),
                "max_seconds": round(latencies[-1], 3),
                "target_p50_seconds": 1.0,
                "meets_target": statistics.median(latencies) < 1.0,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
