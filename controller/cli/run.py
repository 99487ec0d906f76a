"""`ecs-gitops run`: the long-running controller, with signals handled for Fargate."""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path
from typing import Any

import click
import structlog

from controller.app import Controller, RunSettings
from controller.aws.lease import DynamoDbLease
from controller.aws.s3 import S3Store, SqsEventQueue
from controller.cli.oneshot import aws_session
from controller.cli.options import (
    EMULATOR_CREDENTIALS,
    LOCAL_ADDR,
    aws_options,
    env,
    preflight_option,
    source_option,
    writer_lease_option,
)
from controller.errors import EcsGitopsError, SecretUnavailable
from controller.observability import apiauth
from controller.observability import logging as obs_logging
from controller.reconcile.context import Context
from controller.runtime.election import LeaderElector, default_identity
from controller.runtime.writer import Writer
from controller.sources.base import source_id
from controller.sources.opening import open_source
from controller.sources.push import load_webhook_secret


@click.command()
@source_option
@click.option(
    "--poll-interval",
    type=float,
    default=15.0,
    envvar=env("poll_interval"),
    show_default=True,
    help="Seconds between checks of a remote source.",
)
@click.option(
    "--resync-interval",
    type=float,
    default=60.0,
    envvar=env("resync_interval"),
    show_default=True,
    help="Seconds between reconciles of everything against live state.",
)
@click.option(
    "--http-addr",
    default="127.0.0.1:8080",
    envvar=env("http_addr"),
    show_default=True,
    help="Where /metrics, /healthz, /readyz, /api/v1/status and the page are served.",
)
@click.option(
    "--workers",
    type=int,
    default=16,
    envvar=env("workers"),
    show_default=True,
    help="Reconciles at once (they mostly wait on AWS; the rate limiter holds the pace).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar=env("cache_dir"),
    default=None,
    help="Where remote Git sources are cloned (default: a temp dir).",
)
@click.option(
    "--leader-election-table",
    default=None,
    envvar=env("leader_election_table"),
    help="DynamoDB table for the leader lease (unset: a single replica).",
)
@click.option(
    "--keep-revisions",
    type=int,
    default=10,
    envvar=env("keep_revisions"),
    show_default=True,
    help="Task definition revisions of ours kept per family (plus those in use).",
)
@click.option(
    "--s3-events-queue",
    default=None,
    envvar=env("s3_events_queue"),
    help="SQS queue URL receiving the source bucket's event notifications (fast path).",
)
@preflight_option
@writer_lease_option
@aws_options
def run(
    source: str,
    poll_interval: float,
    resync_interval: float,
    http_addr: str,
    workers: int,
    cache_dir: str | None,
    leader_election_table: str | None,
    keep_revisions: int,
    s3_events_queue: str | None,
    preflight: str,
    writer_lease: float,
    **opts: Any,
) -> None:
    """The controller: reconcile every source change, and everything every resync."""
    level = "info" if opts["log_level"] == "warning" else opts["log_level"]
    obs_logging.configure(level, opts["log_format"])
    log = structlog.get_logger("controller.run")
    cache = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "ecs-gitops-cache"

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with aws_session(opts["region"], opts["endpoint_url"], opts["local"]) as aws:
            events = SqsEventQueue(aws, s3_events_queue) if s3_events_queue else None
            src = open_source(
                source,
                cache_dir=cache,
                poll_interval=poll_interval,
                object_store_factory=lambda region: S3Store(aws, region),
                s3_events=events,
                max_revision_bytes=opts["max_revision_bytes"],
            )
            banner = None
            if opts["local"]:
                banner = f"emulated AWS (not real AWS) at http://{LOCAL_ADDR}"
                click.echo(
                    f"{banner}\n  status page: http://{http_addr}/\n"
                    f"  ecs-gitops status --server http://{http_addr}\n"
                    f"  export {EMULATOR_CREDENTIALS}   # any will do; the aws CLI wants some\n"
                    f"  aws --endpoint-url http://{LOCAL_ADDR} --region {aws.settings.region} "
                    "ecs describe-services --cluster prod-cluster --services myapp",
                    err=True,
                )
            settings = RunSettings(
                instance=opts["instance_name"],
                dry_run=opts["dry_run"],
                poll_interval=poll_interval,
                resync_interval=resync_interval,
                http_addr=http_addr,
                workers=workers,
                banner=banner,
            )
            identity = default_identity()  # this process, as leader candidate and writer
            log.info(
                "controller_starting",
                source=src.display,
                source_id=source_id(source),
                writer=identity,
                http=http_addr,
                region=aws.settings.region,
                dry_run=opts["dry_run"],
            )
            elector = None
            if leader_election_table:
                lease = DynamoDbLease(aws, leader_election_table, opts["instance_name"])
                elector = LeaderElector(lease, identity)
            local_token = _local_api_token(http_addr, log)
            context = Context(
                aws,
                instance=settings.instance,
                dry_run=settings.dry_run,
                keep_revisions=keep_revisions,
                preflight=preflight,
                writer=Writer(identity, writer_lease),
                source_id=source_id(source),
            )
            controller = Controller(
                settings, aws, src, elector=elector, local_api_token=local_token, context=context
            )
            try:
                await controller.run(stop)
            finally:
                if local_token is not None:
                    apiauth.remove_local_token(_port(http_addr), local_token)

    try:
        load_webhook_secret()  # a broken configuration stops the start; each request rereads it
        apiauth.configured_token()
        asyncio.run(main())
    except EcsGitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def _port(http_addr: str) -> int:
    return int(http_addr.rpartition(":")[2])


def _local_api_token(http_addr: str, log: Any) -> bytes | None:
    """With no operator token, a generated one (loopback only) in a file the CLI reads."""
    if apiauth.configured_token() is not None:
        return None
    try:
        token, path = apiauth.write_local_token(_port(http_addr))
    except (SecretUnavailable, OSError) as exc:
        log.warning("api_token_not_generated", reason=str(exc), actions="refused")
        return None
    # a log line, not a bare print: a JSON log stays one JSON object per line
    log.info("api_token_generated", path=str(path), accepted_from="loopback")
    return token
