"""`diff`, `sync` and `run`: the engine's commands, against AWS or the emulated AWS.

`run` here is the first, simple controller loop (poll the directory source, reconcile
everything on a change and every resync interval); the work queue, Git sources and the
HTTP server replace its insides without changing its options.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import click
import structlog

from controller.api import EcsService, Resource
from controller.aws.client import AwsClients, AwsSettings
from controller.cli.options import LOCAL_ADDR, aws_options, resolve_region
from controller.cli.progress import SyncProgress
from controller.errors import EcsGitopsError
from controller.loader import LoadResult, load_tree
from controller.observability import logging as obs_logging
from controller.reconcile.context import Context
from controller.reconcile.driver import sync_all
from controller.reconcile.plan import plan_resource
from controller.sources.directory import open_path


def load_source(source: str, service: str | None) -> tuple[LoadResult, list[Resource]]:
    if not os.path.exists(source):
        raise click.UsageError(f"source {source!r} does not exist")
    result = load_tree(open_path(source))
    for diag in result.diagnostics:
        click.echo(str(diag), err=True)
    resources = result.resources
    if service is not None:
        resources = [
            r for r in resources if isinstance(r, EcsService) and r.metadata.name == service
        ]
        if not resources:
            raise click.UsageError(f"no valid EcsService named {service!r} in {source}")
    return result, resources


def _emulator_running(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{addr}/moto-api/", timeout=0.5):
            return True
    except (urllib.error.URLError, OSError):
        return False


@asynccontextmanager
async def aws_session(
    region: str | None, endpoint_url: str | None, local: bool
) -> AsyncIterator[AwsClients]:
    emulator: Any = None
    if local:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "emulated")
        if not _emulator_running(LOCAL_ADDR):
            from controller.local import EmulatedAws

            host, port = LOCAL_ADDR.split(":")
            emulator = EmulatedAws(host=host, port=int(port))
            emulator.start()
            click.echo(
                f"started {emulator.banner} at {emulator.endpoint_url} in this process "
                "(it stops with this command; `make run` keeps one up)",
                err=True,
            )
        endpoint_url = f"http://{LOCAL_ADDR}"
    settings = AwsSettings(region=resolve_region(region, local), endpoint_url=endpoint_url)
    try:
        async with AwsClients(settings) as aws:
            yield aws
    finally:
        if emulator is not None:
            emulator.stop()


@click.command()
@click.option("--source", required=True, envvar="ECS_GITOPS_SOURCE", help="Desired state: a path.")
@click.option("--service", default=None, help="Only this EcsService.")
@click.option("--color/--no-color", default=None, help="Default: colour on a terminal.")
@aws_options
def diff(source: str, service: str | None, color: bool | None, **opts: Any) -> None:
    """Show how live ECS differs from the source: exit 0 in sync, 1 differs, 2 error."""
    obs_logging.configure(opts["log_level"], opts["log_format"])
    result, resources = load_source(source, service)
    use_color = sys.stdout.isatty() if color is None else color

    async def run() -> int:
        async with aws_session(opts["region"], opts["endpoint_url"], opts["local"]) as aws:
            ctx = Context(aws, instance=opts["instance_name"], dry_run=True)
            differs = False
            for resource in resources:
                text = await plan_resource(resource, ctx, color=use_color)
                if text:
                    differs = True
                    click.echo(text, nl=not text.endswith("\n"))
            return 1 if differs else 0

    try:
        code = asyncio.run(run())
    except EcsGitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(2 if result.errors else code)


@click.command()
@click.option("--source", required=True, envvar="ECS_GITOPS_SOURCE", help="Desired state: a path.")
@click.option("--service", default=None, help="Only this EcsService.")
@click.option(
    "--timeout",
    type=float,
    default=900.0,
    show_default=True,
    help="Seconds to wait for everything to be Synced and Healthy.",
)
@aws_options
def sync(source: str, service: str | None, timeout: float, **opts: Any) -> None:
    """Reconcile once and wait: exit 0 when every resource is Synced and Healthy."""
    obs_logging.configure(opts["log_level"], opts["log_format"])
    result, resources = load_source(source, service)

    async def run() -> bool:
        async with aws_session(opts["region"], opts["endpoint_url"], opts["local"]) as aws:
            ctx = Context(aws, instance=opts["instance_name"], dry_run=opts["dry_run"])
            with SyncProgress(resources, sys.stderr) as progress:
                outcome = await sync_all(resources, ctx, within=timeout, on_status=progress.update)
            progress.summary(outcome, aws.stats)
            return outcome.ok

    try:
        ok = asyncio.run(run())
    except EcsGitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(0 if ok and not result.errors else 1)


def source_revision(source: str) -> str:
    """A digest of the source's manifest files: changes whenever any of them does."""
    tree = open_path(source)
    digest = hashlib.sha256()
    for path in tree.manifest_paths():
        digest.update(path.encode())
        try:
            digest.update(hashlib.sha256(tree.read(path)).digest())
        except EcsGitopsError:
            digest.update(b"unreadable")
    return digest.hexdigest()[:12]


@click.command()
@click.option("--source", required=True, envvar="ECS_GITOPS_SOURCE", help="Desired state: a path.")
@click.option(
    "--poll-interval",
    type=float,
    default=15.0,
    envvar="ECS_GITOPS_POLL_INTERVAL",
    show_default=True,
    help="Seconds between source checks.",
)
@click.option(
    "--resync-interval",
    type=float,
    default=60.0,
    envvar="ECS_GITOPS_RESYNC_INTERVAL",
    show_default=True,
    help="Seconds between full reconciles against live state.",
)
@aws_options
def run(source: str, poll_interval: float, resync_interval: float, **opts: Any) -> None:
    """The long-running controller: reconcile now, on every source change, and every resync."""
    obs_logging.configure(
        opts["log_level"] if opts["log_level"] != "warning" else "info", opts["log_format"]
    )
    log = structlog.get_logger("controller.run")

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with aws_session(opts["region"], opts["endpoint_url"], opts["local"]) as aws:
            if opts["local"]:
                click.echo(
                    f"emulated AWS (not real AWS) at http://{LOCAL_ADDR}; look at it with\n"
                    f"  ecs-gitops diff --local --source {source}\n"
                    f"  aws --endpoint-url http://{LOCAL_ADDR} --region {aws.settings.region} "
                    "ecs describe-services --cluster prod-cluster --services myapp",
                    err=True,
                )
            ctx = Context(aws, instance=opts["instance_name"], dry_run=opts["dry_run"])
            last_revision = ""
            next_resync = 0.0
            while not stop.is_set():
                revision = source_revision(source)
                now = loop.time()
                if revision != last_revision or now >= next_resync:
                    result, resources = load_source(source, None)
                    ctx.revision = revision
                    reason = "source_changed" if revision != last_revision else "resync"
                    log.info(
                        "reconcile_started",
                        reason=reason,
                        revision=revision,
                        resources=len(resources),
                        invalid=len(result.errors),
                    )
                    outcome = await sync_all(resources, ctx, within=resync_interval)
                    for key, status in outcome.statuses.items():
                        log.info(
                            "resource_status",
                            resource=str(key),
                            sync=status.sync_status,
                            health=status.health_status,
                            message=status.message,
                        )
                    last_revision, next_resync = revision, loop.time() + resync_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(poll_interval, resync_interval))
        log.info("controller_stopped")

    asyncio.run(main_loop())
