"""`diff` and `sync`: the one-shot commands, against AWS or the emulated AWS.

A plain directory is read as it is on disk (like `kubectl diff -f`): these commands are
for looking before committing. `git+...` sources are read at their committed ref and
s3:// prefixes at their last complete upload, as `run` reads every source.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from controller.api import EcsService, Resource
from controller.api.files import FileTree
from controller.aws.client import AwsClients, AwsSettings
from controller.aws.s3 import S3Store
from controller.cli.options import (
    LOCAL_ADDR,
    aws_options,
    preflight_option,
    resolve_region,
    source_option,
    writer_lease_option,
)
from controller.cli.progress import SyncProgress
from controller.errors import AwsRetryable, AwsTerminal, AwsUnavailable, EcsGitopsError
from controller.loader import LoadResult, load_tree
from controller.observability import logging as obs_logging
from controller.reconcile import cost
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.hooks import task_index
from controller.reconcile.plan import plan_resource
from controller.reconcile.sync import sync_all
from controller.runtime.election import default_identity
from controller.runtime.writer import Writer
from controller.sources.base import source_id
from controller.sources.budget import MAX_REVISION_BYTES
from controller.sources.directory import open_path
from controller.sources.opening import open_source


def open_tree(source: str, opts: dict[str, Any] | None = None) -> FileTree:
    """A plain path as it is on disk; a git+... URL at its committed ref; an s3:// prefix
    at its last complete upload (read with the command's AWS options)."""
    o = opts or {}
    budget: int = o.get("max_revision_bytes", MAX_REVISION_BYTES)
    if "://" in source:
        cache = Path(tempfile.gettempdir()) / "ecs-gitops-cache"

        async def fetch() -> FileTree:
            if not source.lower().startswith("s3://"):
                opened = open_source(source, cache_dir=cache, max_revision_bytes=budget)
                return (await opened.fetch()).tree
            async with aws_session(
                o.get("region"), o.get("endpoint_url"), o.get("local", False)
            ) as aws:
                opened = open_source(
                    source,
                    cache_dir=cache,
                    object_store_factory=lambda r: S3Store(aws, r),
                    max_revision_bytes=budget,
                )
                return (await opened.fetch()).tree  # read into memory: outlives the client

        try:
            return asyncio.run(fetch())
        except EcsGitopsError as exc:
            raise click.UsageError(str(exc)) from None
    if not os.path.exists(source):
        raise click.UsageError(f"source {source!r} does not exist")
    tree = open_path(source, budget)
    try:
        tree.check_budget(tree.manifest_paths())
    except EcsGitopsError as exc:
        raise click.UsageError(str(exc)) from None
    return tree


def load_source(
    source: str, service: str | None, opts: dict[str, Any] | None = None
) -> tuple[LoadResult, list[Resource]]:
    result = load_tree(open_tree(source, opts))
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


def regions_of(resources: Iterable[Resource]) -> list[str | None]:
    """Each resource's own region (None where it names none), for resolve_region."""
    return [r.spec.region for r in resources]


NO_CREDENTIALS_HINT = (
    "configure AWS credentials (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY), or use --local for the emulated AWS; an emulator named by "
    "--endpoint-url takes any: export AWS_ACCESS_KEY_ID=emulated "
    "AWS_SECRET_ACCESS_KEY=emulated"
)


PROBE_SECONDS = 20.0
"""How long check_reachable waits for AWS in all: ListClusters answers in well under a
second, so this bounds an endpoint that takes connections and never answers (the
client's retries of 30 s read timeouts would take 2.5 minutes) or drops them (5 s connect
timeouts), while leaving room for a few throttled or 5xx retries."""


async def check_reachable(aws: AwsClients) -> None:
    """One cheap read (ECS ListClusters) before a command does anything: no credentials
    or an endpoint that does not answer is one clear error (AwsUnavailable, exit 2) within
    PROBE_SECONDS, not a failure per resource or 900 s of retries. Any answer from AWS, a
    refusal included, means it is there."""
    where = aws.settings.endpoint_url or f"https://ecs.{aws.settings.region}.amazonaws.com"

    def unreachable(code: str, why: str) -> AwsUnavailable:
        return AwsUnavailable(
            "ecs",
            "ListClusters",
            code,
            f"cannot reach AWS at {where} ({why}); is it up? Without AWS, --local runs the "
            "emulated AWS",
        )

    try:
        async with asyncio.timeout(PROBE_SECONDS):
            await aws.call("ecs", "ListClusters", maxResults=1)
    except TimeoutError:
        raise unreachable("Timeout", f"no answer within {PROBE_SECONDS:.0f} s") from None
    except AwsRetryable as exc:
        raise unreachable(exc.code, exc.message) from None
    except AwsTerminal as exc:
        if exc.code == "NoCredentials":
            raise AwsUnavailable(
                exc.service, exc.operation, exc.code, f"no AWS credentials: {NO_CREDENTIALS_HINT}"
            ) from None


@asynccontextmanager
async def aws_session(
    region: str | None,
    endpoint_url: str | None,
    local: bool,
    *,
    read_only: bool = False,
    named_regions: Collection[str | None] = (),
    probe: bool = False,
) -> AsyncIterator[AwsClients]:
    """Clients for one command; read_only: every mutating call is refused unsent (a
    command that only reads: diff, import, verify, sync --dry-run). named_regions: the
    resources' own regions, the default region when no flag or variable gives one.
    probe: check_reachable first (the one-shot commands)."""
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
    settings = AwsSettings(
        region=resolve_region(region, local, named_regions),
        endpoint_url=endpoint_url,
        read_only=read_only,
    )
    try:
        async with AwsClients(settings) as aws:
            if probe:
                await check_reachable(aws)
            yield aws
    finally:
        if emulator is not None:
            emulator.stop()


@click.command()
@source_option
@click.option("--service", default=None, help="Only this EcsService.")
@click.option("--color/--no-color", default=None, help="Default: colour on a terminal.")
@aws_options
def diff(source: str, service: str | None, color: bool | None, **opts: Any) -> None:
    """Show how live ECS differs from the source: exit 0 in sync, 1 differs, 2 error."""
    obs_logging.configure(opts["log_level"], opts["log_format"])
    result, resources = load_source(source, service, opts)
    use_color = sys.stdout.isatty() if color is None else color

    async def cost_line(svc: EcsService, ctx: Context) -> tuple[str, Decimal]:
        """The service's monthly cost, live (its PRIMARY set's revision at the live count)
        against desired: the cost of this commit."""
        region = ctx.region_of(svc.spec.region)
        ecs = ctx.ecs(region)
        name = svc.metadata.name
        live = (await ecs.describe_services(cluster_name(svc.spec.cluster), [name])).get(name)
        primary = live.primary_task_set if live else None
        td = await ecs.describe_task_definition(primary.task_definition) if primary else None
        before = None
        if live is not None and primary is not None and td is not None:
            before = cost.estimate_running(
                td.input,
                live.desired_count,
                region=region,
                launch_type=primary.launch_type,
                strategy=primary.capacity_provider_strategy,
                prices=prices,
            )
        tasks = live.desired_count if live is not None else None
        after = cost.estimate(svc.spec, region=region, tasks=tasks, prices=prices)
        return cost.change_line(name, before, after)

    async def run() -> int:
        async with aws_session(
            opts["region"],
            opts["endpoint_url"],
            opts["local"],
            read_only=True,
            named_regions=regions_of(resources),
            probe=True,
        ) as aws:
            ctx = Context(aws, instance=opts["instance_name"], dry_run=True)
            differs = False
            changes: list[tuple[str, Decimal]] = []
            for resource in resources:
                text = await plan_resource(resource, ctx, color=use_color)
                if text:
                    differs = True
                    click.echo(text, nl=not text.endswith("\n"))
                    if isinstance(resource, EcsService) and prices is not None:
                        changes.append(await cost_line(resource, ctx))
            if changes:
                click.echo(f"\nmonthly Fargate cost ({prices_source}):")
                for line, _ in changes:
                    click.echo(f"  {line}")
                click.echo(f"  {cost.total_line([delta for _, delta in changes])}")
            if not differs:
                count = len(resources)
                click.echo(f"in sync: {count} resource{'s' if count != 1 else ''}, no difference")
            return 1 if differs else 0

    prices: cost.PriceTable | None = None
    prices_source = ""
    try:
        prices = cost.load_prices()
        prices_source = prices.source
    except ValueError as exc:
        click.echo(f"cost not estimated: {exc}", err=True)

    try:
        code = asyncio.run(run())
    except EcsGitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(2 if result.errors else code)


@click.command()
@source_option
@click.option("--service", default=None, help="Only this EcsService.")
@click.option(
    "--timeout",
    type=float,
    default=900.0,
    show_default=True,
    help="Seconds to wait for everything to be Synced and Healthy.",
)
@preflight_option
@writer_lease_option
@aws_options
def sync(
    source: str,
    service: str | None,
    timeout: float,
    preflight: str,
    writer_lease: float,
    **opts: Any,
) -> None:
    """Reconcile once and wait: exit 0 when every resource is Synced and Healthy."""
    obs_logging.configure(opts["log_level"], opts["log_format"])
    result, resources = load_source(source, service, opts)

    async def run() -> bool:
        async with aws_session(
            opts["region"],
            opts["endpoint_url"],
            opts["local"],
            read_only=opts["dry_run"],
            named_regions=regions_of(resources),
            probe=True,
        ) as aws:
            ctx = Context(
                aws,
                instance=opts["instance_name"],
                dry_run=opts["dry_run"],
                tasks=task_index(result.resources),
                origins={item.key: item for item in result.loaded},
                preflight=preflight,
                writer=Writer(default_identity(), writer_lease),
                source_id=source_id(source),
            )
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
