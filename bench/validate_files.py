"""Validation speed: N service files (each with its own task definition JSON).

Target (issue 2): 1,000 service files validate in under 2 s on the project's machine.
Measures the whole `ecs-gitops validate DIR` command as a user runs it (interpreter
start-up and imports included), and the loader alone in-process. Prints JSON.

    .venv/bin/python bench/validate_files.py --files 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata:
  name: svc-{i:04d}
  labels: {{team: team-{team}}}
spec:
  cluster: cluster-{cluster}
  desiredCount: 2
  taskDefinition: svc-{i:04d}.json
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [subnet-aaa, subnet-bbb]
      securityGroups: [sg-xxx]
      assignPublicIp: DISABLED
  loadBalancers:
    - targetGroupArn: arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/svc-{i:04d}/0123456789abcdef
      containerName: web
      containerPort: 8000
  healthCheckGracePeriodSeconds: 60
  tags: {{app: svc-{i:04d}}}
  deployment:
    strategy: canary
    canary: {{steps: [{{weight: 10, pauseSeconds: 60}}, {{weight: 50, pauseSeconds: 120}}]}}
    alarms: [svc-{i:04d}-5xx]
  autoScaling:
    minCapacity: 2
    maxCapacity: 10
    targetTracking:
      - {{name: cpu60, predefinedMetric: ECSServiceAverageCPUUtilization, targetValue: 60}}
"""


def task_definition(i: int) -> dict[str, object]:
    return {
        "family": f"svc-{i:04d}",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "taskRoleArn": f"arn:aws:iam::123456789012:role/svc-{i:04d}-task-role",
        "containerDefinitions": [
            {
                "name": "web",
                "image": f"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/svc-{i:04d}:v1",
                "essential": True,
                "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
                "environment": [{"name": f"VAR_{k}", "value": str(k)} for k in range(8)],
                "secrets": [
                    {
                        "name": "DATABASE_URL",
                        "valueFrom": "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-AbCdEf",
                    }
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ecs/svc-{i:04d}",
                        "awslogs-region": "ap-northeast-2",
                        "awslogs-stream-prefix": "web",
                    },
                },
            }
        ],
    }


def write_tree(root: Path, files: int) -> None:
    for i in range(files):
        (root / f"svc-{i:04d}.yaml").write_text(SERVICE.format(i=i, team=i % 7, cluster=i % 5))
        (root / f"svc-{i:04d}.json").write_text(json.dumps(task_definition(i), indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root, args.files)
        walls = []
        for _ in range(args.runs):
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "controller", "validate", str(root)],
                capture_output=True,
                text=True,
                check=False,
            )
            walls.append(time.perf_counter() - started)
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                return 1
        child_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

        from controller.loader import load_tree
        from controller.sources.directory import DirectoryTree

        started = time.perf_counter()
        result = load_tree(DirectoryTree(root))
        in_process = time.perf_counter() - started
        if len(result.loaded) != args.files or result.errors:
            print("in-process load disagrees with the CLI", file=sys.stderr)
            return 1
    report = {
        "benchmark": "validate_files",
        "service_files": args.files,
        "files_read": args.files * 2,
        "cli_wall_seconds_median": round(statistics.median(walls), 3),
        "cli_wall_seconds_runs": [round(w, 3) for w in walls],
        "loader_in_process_seconds": round(in_process, 3),
        "loader_ms_per_service": round(in_process * 1000 / args.files, 3),
        "cli_peak_rss_mib": round(child_rss_kib / 1024, 1),
        "target_seconds": 2.0,
        "meets_target": statistics.median(walls) < 2.0,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
