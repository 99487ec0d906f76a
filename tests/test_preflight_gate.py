"""Preflight as a gate before any task set exists.

--preflight block stops a rollout on any blocking problem. The default, auto, does too as
soon as the account is evidently provisioned (a role the task definition names exists,
say) but lets the walkthrough's example through on a bare emulator, where nothing it
names exists, with a note in the status; warn only reports.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import REPO, run_cli
from tests.test_verify import client, line_of, seed_world, source

REGION = "ap-northeast-2"


def quickstart(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    return root


def task_sets(endpoint: str) -> list[Any]:
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    sets: list[Any] = ecs.describe_task_sets(cluster="prod-cluster", service="myapp")["taskSets"]
    return sets


def test_block_mode_stops_before_any_task_set(emulated: Any, tmp_path: Path) -> None:
    root = quickstart(tmp_path)
    args = ("--endpoint-url", emulated.endpoint_url, "--region", REGION, "--source", str(root))
    started = time.monotonic()
    blocked = run_cli("sync", *args, "--preflight", "block")
    assert blocked.returncode == 1
    assert time.monotonic() - started < 60  # reported at once, not after --timeout (900 s)
    assert "myapp.yaml" in blocked.stderr or "task-definition.json" in blocked.stderr
    assert task_sets(emulated.endpoint_url) == []
    # the default (auto) on the same bare emulator: nothing the task definition names
    # exists, so the problems are reported and the example deploys as before
    deployed = run_cli("sync", *args, "--timeout", "60")
    assert deployed.returncode == 0, deployed.stderr
    assert "not enforced (nothing it names exists here)" in deployed.stderr
    assert "preflight problems, not enforced: " in deployed.stderr  # the log event
    assert "no task set created" not in deployed.stderr  # it was created, and says so
    assert len(task_sets(emulated.endpoint_url)) == 1


def test_auto_blocks_once_the_account_is_provisioned(aws_endpoint: str, tmp_path: Path) -> None:
    # the walkthrough's world (roles trusting ecs-tasks, image, log group, network, target
    # group) but the secret is gone: a real mistake, whatever the default mode
    world = seed_world(aws_endpoint)
    client(aws_endpoint, "secretsmanager").delete_secret(
        SecretId=world["secret"], ForceDeleteWithoutRecovery=True
    )
    root = source(tmp_path, world)
    args = ("--endpoint-url", aws_endpoint, "--region", REGION, "--source", str(root))
    started = time.monotonic()
    blocked = run_cli("sync", *args)
    assert blocked.returncode == 1, blocked.stderr
    assert time.monotonic() - started < 60  # reported at once, not after --timeout (900 s)
    td = root / "task-definition.json"
    [line] = [
        text
        for text in blocked.stderr.splitlines()
        if text.startswith("EcsService prod-cluster/myapp (ap-northeast-2): OutOfSync Degraded")
    ]
    assert " Blocked " in line
    assert f"preflight failed, no task set created: {td}:{line_of(td, 'valueFrom')}:" in line
    assert "secret myapp/db does not exist in Secrets Manager (ap-northeast-2)" in line
    assert "Fix: create it (aws secretsmanager create-secret --name myapp/db" in line
    assert '"mode": "auto", "enforced": true' in blocked.stderr
    assert "the account is provisioned (ECR repository of " in blocked.stderr
    assert task_sets(aws_endpoint) == []
    ecs = client(aws_endpoint, "ecs")
    assert ecs.list_tasks(cluster="prod-cluster")["taskArns"] == []
