"""Drive reconciles to the end for a one-shot `sync`: clusters first, then services.

Each resource is reconciled until it reports done, with its own schedule: the
requeue-after it asked for, or exponential backoff (capped) after a retryable error.
A terminal error ends that resource as Stalled. A service with dependsOn waits until
each dependency among the resources being synced is Synced and Healthy at the revision
being synced (depends.blocked_by), and ends blocked if one of them finishes otherwise.
The long-running controller uses the work
queue instead; this driver is the same contract run to completion. The deploy events
of the run (rollouts started and finished, hooks failed) are collected in the outcome.
At the end the run releases its claims on rollouts it leaves in progress (rollout/claim.py),
so the next sync or controller goes on at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog

from controller.api import EcsCluster, EcsService, EcsTask, Resource, ResourceKey, resource_key
from controller.api.status import ResourceStatus
from controller.aws.client import read_only
from controller.errors import AwsError, EcsGitopsError, NotReady, ReconcileError
from controller.notify.events import Event, from_rollout
from controller.reconcile.cluster import reconcile_cluster
from controller.reconcile.conditions import conditions_for, set_cost
from controller.reconcile.context import Context, cluster_name
from controller.reconcile.depends import blocked_by, blocked_status
from controller.reconcile.hooks import task_index
from controller.reconcile.result import Result
from controller.reconcile.rollout.claim import release
from controller.reconcile.service import reconcile_service

log = structlog.get_logger(__name__)

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


async def reconcile_once(resource: Resource, ctx: Context) -> Result:
    """One reconcile of any kind."""
    structlog.contextvars.bind_contextvars(revision=ctx.revision)
    try:
        with read_only(ctx.dry_run):  # the aws layer refuses what a dry run must not do
            if isinstance(resource, EcsCluster):
                return await reconcile_cluster(resource, ctx)
            if isinstance(resource, EcsService):
                return await reconcile_service(resource, ctx)
            return await _task_status(resource, ctx)
    finally:
        structlog.contextvars.unbind_contextvars("resource", "revision")


def announce(resources: Iterable[Resource], ctx: Context) -> None:
    """Tell the aws layer which services a pass is about to describe, per cluster, so
    the first DescribeServices of a cluster reads ten of them at once: a pass costs about
    ceil(N/10) DescribeServices per cluster, also in a fresh process that has not yet
    seen a ListServices answer. Only a hint: names read ahead expire after a while."""
    by_cluster: dict[tuple[str, str], list[str]] = {}
    for resource in resources:
        if isinstance(resource, EcsService):
            where = (ctx.region_of(resource.spec.region), cluster_name(resource.spec.cluster))
            by_cluster.setdefault(where, []).append(resource.metadata.name)
    for (region, cluster), names in by_cluster.items():
        ctx.aws.expect("ecs", region, cluster, names)


async def _task_status(task: EcsTask, ctx: Context) -> Result:
    """An EcsTask is applied by the services that run it as a hook; its own status says
    whether it could run: its cluster exists (one DescribeClusters, so a task is never
    shown Synced and Healthy by a controller that cannot reach AWS)."""
    region = ctx.region_of(task.spec.region)
    cluster = cluster_name(task.spec.cluster)
    if await ctx.ecs(region).describe_cluster(cluster) is None:
        raise NotReady(f"cluster {cluster} does not exist (yet) in {region}")
    status = ResourceStatus(
        kind="EcsTask",
        name=task.metadata.name,
        cluster=cluster,
        region=region,
        sync_status="Synced",
        health_status="Healthy",
        message="run as a hook by the services that name it",
    )
    status.conditions = conditions_for(status)
    return Result(status)


def error_status(resource: Resource, ctx: Context, exc: EcsGitopsError) -> ResourceStatus:
    key = resource_key(resource)
    status = ResourceStatus(
        kind=key.kind,
        name=key.name,
        cluster=key.cluster,
        region=ctx.region_of(resource.spec.region),
        sync_status="Unknown",
        health_status="Degraded" if isinstance(exc, ReconcileError) else "Unknown",
        last_error=str(exc),
        message=str(exc),
        last_attempted_revision=ctx.revision,
    )
    stalled = not exc.retryable
    status.conditions = conditions_for(
        status, stalled_reason=type(exc).__name__ if stalled else None
    )
    if isinstance(resource, EcsService):
        set_cost(status, resource.spec)  # what it would cost as specified
    return status


@dataclass
class _Entry:
    resource: Resource
    due: float = 0.0
    attempts: int = 0
    status: ResourceStatus | None = None
    done: bool = False
    stalled: bool = False


@dataclass
class SyncOutcome:
    statuses: dict[ResourceKey, ResourceStatus] = field(default_factory=dict)
    timed_out: bool = False
    notices: list[Event] = field(default_factory=list)
    """Deploy events in the order they happened, for a Notifier."""

    @property
    def ok(self) -> bool:
        return not self.timed_out and all(s.ready for s in self.statuses.values())


async def sync_all(
    resources: list[Resource],
    ctx: Context,
    *,
    within: float,
    on_status: Callable[[ResourceKey, ResourceStatus], None] | None = None,
) -> SyncOutcome:
    """Reconcile every resource until each is done or stalled, or `within` seconds pass.
    Hooks are looked up among `resources` when ctx.tasks is empty."""
    deadline = time.monotonic() + within
    outcome = SyncOutcome()
    if not ctx.tasks:
        ctx = ctx.derive()
        ctx.tasks = task_index(resources)
    desired = {resource_key(r): r for r in resources}
    announce(resources, ctx)
    finished: set[ResourceKey] = set()
    clusters = [r for r in resources if isinstance(r, EcsCluster)]
    others = [r for r in resources if not isinstance(r, EcsCluster)]
    for wave in (clusters, others):
        entries = {resource_key(r): _Entry(r) for r in wave}
        while True:
            pending = [e for e in entries.values() if not e.done]
            if not pending:
                break
            now = time.monotonic()
            if now >= deadline:
                outcome.timed_out = True
                break
            due = [e for e in pending if e.due <= now]
            if not due:
                await asyncio.sleep(min(min(e.due for e in pending), deadline) - now)
                continue
            for entry in due:
                key = resource_key(entry.resource)
                blockers = [
                    b
                    for b in blocked_by(key, outcome.statuses, desired, ctx.revision)
                    if b in desired
                ]
                if blockers:
                    region = ctx.region_of(entry.resource.spec.region)
                    entry.status = blocked_status(
                        key, region, blockers, outcome.statuses, ctx.revision
                    )
                    if any(b in finished for b in blockers):  # it will never be ready
                        entry.done = True
                        entry.status.message = "blocked: " + entry.status.message
                    entry.due = now + 0.5
                else:
                    outcome.notices += await _step(entry, ctx)
                assert entry.status is not None
                if entry.done:
                    finished.add(key)
                outcome.statuses[key] = entry.status
                if on_status is not None:
                    on_status(key, entry.status)
        if outcome.timed_out:
            break
    if not ctx.dry_run:  # a one-shot sync holds its rollouts only while it runs
        try:
            await release(ctx)
        except AwsError as exc:  # they lapse a writer lease later instead
            log.warning("writer_release_failed", error=str(exc))
    return outcome


async def _step(entry: _Entry, ctx: Context) -> list[Event]:
    """One reconcile of entry; the deploy events it produced."""
    try:
        result = await reconcile_once(entry.resource, ctx)
    except AwsError as exc:
        if exc.retryable:
            entry.attempts += 1
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (entry.attempts - 1))
            entry.due = time.monotonic() + delay
            entry.status = error_status(entry.resource, ctx, exc)
            log.warning("reconcile_retry", error=str(exc), retry_in=delay)
            return []
        entry.status, entry.done, entry.stalled = error_status(entry.resource, ctx, exc), True, True
        log.error("reconcile_stalled", error=str(exc))
        return []
    except ReconcileError as exc:
        entry.status, entry.done, entry.stalled = error_status(entry.resource, ctx, exc), True, True
        log.error("reconcile_stalled", error=str(exc))
        return []
    entry.attempts = 0
    entry.status = result.status
    rollout = result.status.rollout
    if result.requeue_after is None or (rollout is not None and rollout.phase == "Blocked"):
        # Blocked (a failed preflight) waits for a person to push the image or create the
        # secret: `run` checks again a minute later, a one-shot sync reports it now
        entry.done = True
    else:
        entry.due = time.monotonic() + result.requeue_after
    key = resource_key(entry.resource)
    return [*result.notices, *(from_rollout(key, e) for e in result.events)]
