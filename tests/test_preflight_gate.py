"""Preflight as a gate: with --preflight block, a missing image stops the rollout before any
task set exists; the default (warn) reports and goes on."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import REPO, run_cli

REGION = "ap-northeast-2"


def test_block_mode_stops_before_any_task_set(emulated: Any, tmp_path: Path) -> None:
    root = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    args = ("--endpoint-url", emulated.endpoint_url, "--region", REGION, "--source", str(root))
    blocked = run_cli("sync", *args, "--preflight", "block", "--timeout", "15")
    assert blocked.returncode == 1
    assert "myapp.yaml" in blocked.stderr or "task-definition.json" in blocked.stderr
    ecs = boto3.client("ecs", endpoint_url=emulated.endpoint_url, region_name=REGION)
    service = ecs.describe_services(cluster="prod-cluster", services=["myapp"])["services"][0]
    assert service.get("taskSets", []) == []
    warned = run_cli("sync", *args, "--timeout", "60")
    assert warned.returncode == 0, warned.stderr
