"""The S3 source end to end: the controller (in this process) against the emulated AWS,
whose moto serves the bucket too. CI uploads a rendered set plus its marker and the
controller deploys it; a half upload deploys and deletes nothing until its marker; a
deleted prefix deletes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import boto3

from controller.app import Controller, RunSettings
from controller.aws.client import AwsClients, AwsSettings
from controller.aws.s3 import S3Store
from controller.sources import open_source
from tests.conftest import free_port
from tests.controller_process import WORKER
from tests.test_controller import primary_revision
from tests.test_s3_source import EXAMPLE, SHA1, SHA2, next_second

REGION = "ap-northeast-2"
BUCKET = "ci-rendered"
POLL = 0.5


def rendered(image: str = "v1") -> dict[str, str]:
    files = {p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()}
    td = json.loads(files["task-definition.json"])
    td["containerDefinitions"][0]["image"] = (
        f"123456789012.dkr.ecr.{REGION}.amazonaws.com/myapp:{image}"
    )
    return {**files, "task-definition.json": json.dumps(td, indent=2), "worker.yaml": WORKER}


async def until(what: str, check: Callable[[], bool], seconds: float = 45.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_s3_source_end_to_end(emulated: Any, tmp_path: Any) -> None:
    endpoint = emulated.endpoint_url
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})

    def upload(files: dict[str, str], marker: str | None) -> None:
        for rel, body in files.items():
            s3.put_object(Bucket=BUCKET, Key=f"deploy/{rel}", Body=body)
        if marker:
            s3.put_object(Bucket=BUCKET, Key="deploy/.revision", Body=marker + "\n")

    def service_status(name: str) -> str | None:
        found = ecs.describe_services(cluster="prod-cluster", services=[name])["services"]
        return str(found[0]["status"]) if found else None

    upload(rendered("v1"), SHA1)
    stop = asyncio.Event()
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        source = open_source(
            f"s3://{BUCKET}/deploy/",
            cache_dir=tmp_path,
            poll_interval=POLL,
            object_store_factory=lambda region: S3Store(aws, region),
        )
        settings = RunSettings(
            poll_interval=POLL, resync_interval=1.0, http_addr=f"127.0.0.1:{free_port()}"
        )
        ctl = Controller(settings, aws, source)
        running = asyncio.create_task(ctl.run(stop))

        def applied(name: str, revision: str) -> bool:
            status = next((s for k, s in ctl.statuses.items() if k.name == name), None)
            return status is not None and status.ready and status.last_applied_revision == revision

        try:
            # 1. a rendered set plus its marker: deployed
            await until("v1 deployed", lambda: applied("myapp", SHA1) and applied("worker", SHA1))
            assert ctl.source_loop.kind == "s3"
            assert primary_revision(endpoint) == "myapp:1"

            # 2. half an upload (a new image, worker.yaml deleted), no new marker: nothing
            next_second()
            upload(rendered("v2"), None)
            s3.delete_object(Bucket=BUCKET, Key="deploy/worker.yaml")
            aws.stats.reset()
            started = time.monotonic()
            await asyncio.sleep(4.0)  # eight polls, four resyncs
            elapsed = time.monotonic() - started
            assert ctl.artifact is not None
            assert ctl.artifact.revision == SHA1
            assert primary_revision(endpoint) == "myapp:1"
            assert service_status("worker") == "ACTIVE"
            counts = aws.stats.by_operation()
            assert counts.get("s3:GetObject", 0) == 0  # the marker did not move
            assert counts["s3:ListObjectsV2"] <= elapsed / POLL + 1  # one per poll

            # 3. the marker lands: the whole upload applies, the deletion included
            upload({}, SHA2)
            await until("v2 deployed", lambda: applied("myapp", SHA2))
            assert primary_revision(endpoint) == "myapp:2"
            await until("worker pruned", lambda: service_status("worker") != "ACTIVE")

            # 4. the prefix is deleted: an empty source, and nothing is deleted
            for key in [*rendered(), ".revision"]:
                s3.delete_object(Bucket=BUCKET, Key=f"deploy/{key}")
            await until(
                "the empty prefix fetched",
                lambda: ctl.artifact is not None and ctl.artifact.revision not in (SHA1, SHA2),
            )
            assert ctl.prune_blocked is not None
            await asyncio.sleep(2.5)  # resyncs
            assert service_status("myapp") == "ACTIVE"
            assert primary_revision(endpoint) == "myapp:2"
        finally:
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(running, 30)
