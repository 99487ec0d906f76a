"""One reconcile of any kind, and the one-shot `sync` run to completion on the work queue.

`sync` uses the scheduler `run` uses (runtime.WorkQueue and run_workers): each resource
is reconciled until it reports done, with its own schedule: the requeue-after it asked
for, or exponential backoff (capped) after a retryable error, NotReady included. A
terminal error ends that resource as Stalled. Clusters go first. A service with
dependsOn waits until each dependency among the resources being synced is Synced and
Healthy at the revision being synced (depends.blocked_by), and ends blocked if one of
them finishes otherwise. The deploy events
of the run (rollouts started and finished, hooks failed) are collected in the outcome.
At the end the run releases its claims on rollouts it leaves in progress (rollout/claim.py),
so the next sync or controller goes on at once.
"""

from __future__ import annotations

import asyncio
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
from controller.runtime import ExponentialBackoff, Outcome, WorkQueue, follow_up_lane, run_workers

log = structlog.get_logger(__name__)

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
SYNC_WORKERS = 16
"""As many as `run --workers` has by default: concurrency means the same in both."""
SHUTDOWN_GRACE = 30.0
"""At the deadline, reconciles in flight finish their step (each one is short)."""


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


def announce(
    resources: Iterable[Resource],
    ctx: Context,
    carried: Callable[[Resource], bool] = lambda resource: False,
) -> None:
    """Tell the aws layer which services a pass is about to describe, per cluster and in
    the order they are queued, so each DescribeServices of a cluster reads ten of them:
    a pass costs about ceil(N/10) DescribeServices per cluster, also in a fresh process
    that has not yet seen a ListServices answer, and also when its reconciles spread
    out over time (a resync poll takes what was read ahead during its pass). `carried`
    names the services whose poll from the pass before is still queued: the queue runs
    it once for both passes, so it is not a new poll (the aws layer keeps its answers)."""
    by_cluster: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for resource in resources:
        if isinstance(resource, EcsService):
            where = (ctx.region_of(resource.spec.region), cluster_name(resource.spec.cluster))
            names, kept = by_cluster.setdefault(where, ([], []))
            (kept if carried(resource) else names).append(resource.metadata.name)
    for (region, cluster), (names, kept) in by_cluster.items():
        ctx.aws.begin_pass("ecs", region, cluster, names, carried=kept)


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
    status = ResourceStatus.of(
        resource_key(resource),
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
    workers: int = SYNC_WORKERS,
) -> SyncOutcome:
    """Reconcile every resource until each is done or stalled, or `within` seconds pass.
    Hooks are looked up among `resources` when ctx.tasks is empty.

    The same WorkQueue and workers as `run` (runtime/workqueue.py): a retryable error
    (throttling, NotReady: a cluster not there yet) backs off and is tried again until
    the deadline, a terminal one ends that resource as Stalled, a requeue-after comes
    back when asked. Clusters go first: the other resources are queued once every
    cluster is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    outcome = SyncOutcome()
    if not ctx.tasks:
        ctx = ctx.derive()
        ctx.tasks = task_index(resources)
    desired = {resource_key(r): r for r in resources}
    announce(resources, ctx)
    clusters = [k for k, r in desired.items() if isinstance(r, EcsCluster)]
    others = [k for k in desired if k not in set(clusters)]
    finished: set[ResourceKey] = set()
    queue: WorkQueue[ResourceKey] = WorkQueue(
        rate_limiter=ExponentialBackoff(base=BACKOFF_BASE, cap=BACKOFF_CAP)
    )

    def record(key: ResourceKey, status: ResourceStatus) -> None:
        outcome.statuses[key] = status
        if on_status is not None:
            on_status(key, status)

    def finish(key: ResourceKey) -> None:
        finished.add(key)
        if key in clusters and finished.issuperset(clusters):
            for other in others:  # every cluster is done: the rest may go
                queue.add(other)
        if len(finished) == len(desired):
            queue.shut_down()

    async def handle(key: ResourceKey) -> Outcome:
        resource = desired[key]
        blockers = [
            b for b in blocked_by(key, outcome.statuses, desired, ctx.revision) if b in desired
        ]
        if blockers:
            region = ctx.region_of(resource.spec.region)
            status = blocked_status(key, region, blockers, outcome.statuses, ctx.revision)
            if any(b in finished for b in blockers):  # it will never be ready
                status.message = "blocked: " + status.message
                record(key, status)
                finish(key)
                return Outcome.done()
            record(key, status)
            return Outcome.requeue(0.5)
        try:
            result = await reconcile_once(resource, ctx)
        except (AwsError, ReconcileError) as exc:
            record(key, error_status(resource, ctx, exc))
            if exc.retryable:  # logged as work_retry, with its backoff
                return Outcome.retry(exc)
            finish(key)  # logged as work_stopped
            return Outcome.stop(exc)
        record(key, result.status)
        outcome.notices += [*result.notices, *(from_rollout(key, e) for e in result.events)]
        rollout = result.status.rollout
        if result.requeue_after is None or (rollout is not None and rollout.phase == "Blocked"):
            # Blocked (a failed preflight) waits for a person to push the image or create
            # the secret: `run` checks again a minute later, a one-shot sync reports it now
            finish(key)
            return Outcome.done()
        return Outcome.requeue(result.requeue_after)

    def time_up() -> None:
        if len(finished) < len(desired):
            outcome.timed_out = True
        queue.shut_down()

    timer = loop.call_at(deadline, time_up)
    for key in clusters or others:
        queue.add(key)
    if not desired:
        queue.shut_down()
    try:
        await run_workers(
            queue,
            handle,
            workers=workers,
            logger=log,
            shutdown_grace=SHUTDOWN_GRACE,
            follow_up_workers=follow_up_lane(workers),
        )
    finally:
        timer.cancel()
    if not ctx.dry_run:  # a one-shot sync holds its rollouts only while it runs
        try:
            await release(ctx)
        except AwsError as exc:  # they lapse a writer lease later instead
            log.warning("writer_release_failed", error=str(exc))
    return outcome
