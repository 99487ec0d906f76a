"""The manager of `ecs-gitops run`: it builds the parts and runs them, and reconciles.

The parts, each in its module: the source loop (source_loop.py) fetches and hands a new
revision to the applier (applier.py), which loads it and queues every resource, again
every --resync-interval; statuses live in the store (status_store.py) and in ECS, so
nothing here is needed to resume after a restart. The manager runs them under one
TaskGroup, reconciles only while it leads (workers on the one WorkQueue, which never runs
one key twice at once) and serves HTTP through endpoints.ControllerView. Each reconcile
runs with resource, revision and a reconcile_id bound for its log lines, and reports to
Metrics (reconcile result and time, drift, lead time) and the Notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from datetime import datetime

import structlog

from controller.api import Resource, ResourceKey
from controller.api.status import ResourceStatus
from controller.app import endpoints
from controller.app.applier import Applier
from controller.app.settings import RunSettings
from controller.app.source_loop import SourceLoop
from controller.app.status_store import StatusStore
from controller.aws.client import AwsClients
from controller.errors import AwsError, EcsGitopsError, ReconcileError
from controller.loader import Loaded, LoadResult
from controller.notify import Notifier, drift_detected, from_rollout
from controller.observability.http import HttpHooks, HttpServer
from controller.observability.logging import reconcile_context
from controller.observability.metrics import Metrics
from controller.reconcile.conditions import conditions_for
from controller.reconcile.context import Context
from controller.reconcile.depends import blocked_by, blocked_status, dependents_of
from controller.reconcile.prune import reconcile_prune
from controller.reconcile.rollout import claim
from controller.reconcile.sync import error_status, reconcile_once
from controller.runtime import Outcome, WorkQueue, follow_up_lane, run_workers
from controller.runtime.election import LeaderElector
from controller.runtime.workqueue import Action
from controller.sources.base import Artifact, Source

log = structlog.get_logger(__name__)

RESULT_OF_ACTION = {
    Action.DONE: "success",
    Action.REQUEUE: "requeue",
    Action.RETRY: "error",
    Action.STOP: "stalled",
}


def resource_name(key: ResourceKey) -> str:
    """How log lines name a resource (as the reconcile layer does): Kind/cluster/name."""
    if key.kind == "EcsCluster":
        return f"EcsCluster/{key.name}"
    return f"{key.kind}/{key.cluster}/{key.name}"


class Controller:
    def __init__(
        self,
        settings: RunSettings,
        aws: AwsClients,
        source: Source,
        metrics: Metrics | None = None,
        elector: LeaderElector | None = None,
        local_api_token: bytes | None = None,
        context: Context | None = None,
    ) -> None:
        self.settings = settings
        self.elector = elector
        self.local_api_token = local_api_token
        """The API token `run` generated when the operator configured none (loopback only)."""
        self.aws = aws
        self.metrics = metrics if metrics is not None else Metrics()
        self.notifier = Notifier(
            instance=settings.instance, on_delivery=self.metrics.notification_delivered
        )
        aws.stats.listeners.append(self.metrics.aws_call)
        aws.stats.wait_listeners.append(self.metrics.rate_limit_wait)
        # the reconcile context, complete at construction (`run` builds it with its
        # retention, preflight and writer settings; never swapped afterwards)
        self.ctx = context or Context(aws, instance=settings.instance, dry_run=settings.dry_run)
        self.queue: WorkQueue[ResourceKey] = WorkQueue(
            on_depth=self.metrics.set_queue_depth, on_retry=self.metrics.queue_retry
        )
        self.store = StatusStore(self.metrics)
        self.applier = Applier(
            instance=settings.instance,
            ctx=self.ctx,
            queue=self.queue,
            store=self.store,
            notifier=self.notifier,
            metrics=self.metrics,
        )
        self.source_loop = SourceLoop(source, self.applier, self.metrics, settings.poll_interval)
        self.aws_error: str | None = "not checked yet"

    # -- lifecycle -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        http = HttpServer(self.hooks(), self.settings.http_addr)
        await http.start()
        try:
            await self._probe_aws()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.source_loop.run(stop))
                if self.elector is None:
                    tg.create_task(self._lead(stop))
                else:
                    # only the lease holder reconciles; the others keep the source warm
                    tg.create_task(self.elector.run(lambda: self._lead(stop)))
                await stop.wait()
                log.info("shutting_down", in_flight=self.queue.in_flight)
                self.queue.shut_down()
                if self.elector is not None:
                    self.elector.stop()  # releases the lease now: a standby takes over
            await self._release_claims()
        finally:
            self.metrics.set_leader(False)
            await self.notifier.aclose()
            await http.stop()
            log.info("controller_stopped")

    async def _lead(self, stop: asyncio.Event) -> None:
        """Reconcile (workers and resync) for as long as this replica leads."""
        self.metrics.set_leader(True)
        log.info("leading", identity=self.elector.identity if self.elector else None)
        self.applier.enqueue_all(())  # a new leader looks at everything, clusters first
        resync = asyncio.create_task(self.applier.resync(stop, self.settings.resync_interval))
        try:
            await run_workers(
                self.queue,
                self._handle,
                workers=self.settings.workers,
                shutdown_grace=self.settings.shutdown_grace,
                follow_up_workers=follow_up_lane(self.settings.workers),
            )
        finally:
            resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resync
            self.metrics.set_leader(False)
            log.info("stopped_leading")

    async def _release_claims(self) -> None:
        """The workers are done: clear our stamps on rollouts in progress, so the controller
        that replaces this one goes on at once instead of a writer lease later."""
        try:
            async with asyncio.timeout(5.0):
                await claim.release(self.ctx)
        except (AwsError, TimeoutError) as exc:
            log.warning("writer_release_failed", error=str(exc) or "timed out")

    async def _probe_aws(self) -> None:
        try:
            await self.aws.call("ecs", "ListClusters", None, maxResults=1)
            self.aws_error = None
        except AwsError as exc:
            self.aws_error = str(exc)
            log.warning("aws_unreachable", error=str(exc))

    # -- one reconcile ------------------------------------------------------------------

    async def _handle(self, key: ResourceKey) -> Outcome:
        """One reconcile of key, with its log context bound and its metrics recorded."""
        artifact = self.applier.artifact
        revision = artifact.revision if artifact else None
        started = time.monotonic()
        result = "error"
        with reconcile_context(resource_name(key), revision):
            try:
                outcome = await self._reconcile(key, revision)
                result = RESULT_OF_ACTION[outcome.action]
                return outcome
            finally:
                seconds = time.monotonic() - started
                self.metrics.reconcile_done(key.kind, result, seconds)
                status = self.store.statuses.get(key)
                log.info(  # reconcile_once unbinds resource and revision: name them again
                    "reconciled",
                    resource=resource_name(key),
                    revision=revision,
                    result=result,
                    seconds=round(seconds, 3),
                    sync=status.sync_status if status else None,
                    health=status.health_status if status else None,
                )

    async def _reconcile(self, key: ResourceKey, revision: str | None) -> Outcome:
        loaded = self.applier.desired.get(key)
        if loaded is None:
            return await self._handle_removed(key)
        resource = loaded.resource
        blockers = blocked_by(key, self.store.statuses, self.applier.desired, revision)
        if blockers:
            region = self.ctx.region_of(resource.spec.region)
            self.store.put(
                key, blocked_status(key, region, blockers, self.store.statuses, revision)
            )
            return Outcome.requeue(5.0)
        report_only = (
            not resource.spec.sync_policy.self_heal and self.store.applied.get(key) == revision
        )
        ctx = self.ctx.derive(dry_run=self.settings.dry_run or report_only, revision=revision)
        try:
            result = await reconcile_once(resource, ctx)
        except (AwsError, ReconcileError) as exc:
            return self._failed(key, resource, ctx, exc)
        self.aws_error = None
        status = result.status
        previous = self.store.statuses.get(key)
        if report_only and status.sync_status == "OutOfSync":
            status.message = f"drift detected; selfHeal is off, left alone ({status.message})"
        if (
            previous is not None
            and previous.ready
            and revision is not None
            and self.store.applied.get(key) == revision
            and status.sync_status == "OutOfSync"
        ):
            self.metrics.drift_detected(key.kind)
            log.warning("drift_detected", resource=resource_name(key), message=status.message)
            self.notifier.notify_nowait(
                drift_detected(key, revision, status.message, self.ctx.clock())
            )
        if status.ready and revision is not None:
            self.store.applied[key] = revision
        status.last_applied_revision = self.store.applied.get(key)
        self.store.put(key, status, result.events)
        for notice in [*result.notices, *(from_rollout(key, e) for e in result.events)]:
            self.notifier.notify_nowait(notice)
        if status.ready:
            for dependent in dependents_of(key, self.applier.desired):
                self.queue.add(dependent)
        artifact = self.applier.artifact
        self.metrics.sync_progress(
            str(key),
            revision,
            artifact.time if artifact else None,
            ready=status.ready,
            changed=result.changed,
        )
        if result.requeue_after is None:
            return Outcome.done()
        return Outcome.requeue(result.requeue_after)

    async def _handle_removed(self, key: ResourceKey) -> Outcome:
        if not self.applier.may_prune(key):
            return Outcome.done()
        ctx = self.ctx.derive()
        try:
            result = await reconcile_prune(key, ctx)
        except AwsError as exc:
            self.store.put(key, self._error_status(key, exc))
            return Outcome.retry(exc) if exc.retryable else Outcome.stop(exc)
        if result.status.message.startswith("pruned") or result.status.health_status == "Missing":
            self.applier.prune_candidates.discard(key)
            self.store.drop(key)
            return Outcome.done()
        self.store.put(key, result.status, result.events)
        return (
            Outcome.done()
            if result.requeue_after is None
            else Outcome.requeue(result.requeue_after)
        )

    def _error_status(self, key: ResourceKey, exc: EcsGitopsError) -> ResourceStatus:
        status = ResourceStatus.of(
            key,
            health_status="Degraded",
            last_error=str(exc),
            message=str(exc),
        )
        status.conditions = conditions_for(status, stalled_reason=type(exc).__name__)
        return status

    def _failed(
        self, key: ResourceKey, resource: Resource, ctx: Context, exc: AwsError | ReconcileError
    ) -> Outcome:
        status = error_status(resource, ctx, exc)
        status.last_applied_revision = self.store.applied.get(key)
        previous = self.store.statuses.get(key)
        if previous is not None and exc.retryable:
            # keep what was last known of the resource; add the error
            previous.last_error = str(exc)
            status = previous
        self.store.put(key, status)
        if isinstance(exc, AwsError) and (
            exc.code == "NoCredentials" or (exc.retryable and "connect" in exc.message.lower())
        ):
            self.aws_error = str(exc)
        log.warning("reconcile_failed", resource=resource_name(key), error=str(exc))
        return Outcome.retry(exc) if exc.retryable else Outcome.stop(exc)

    # -- what the HTTP server shows (endpoints.ControllerView: read-only) ------------

    @property
    def source(self) -> Source:
        return self.source_loop.source

    @property
    def source_error(self) -> str | None:
        return self.source_loop.error

    @property
    def fetched_at(self) -> datetime | None:
        return self.source_loop.fetched_at

    @property
    def artifact(self) -> Artifact | None:
        return self.applier.artifact

    @property
    def load(self) -> LoadResult | None:
        return self.applier.load

    @property
    def desired(self) -> Mapping[ResourceKey, Loaded]:
        return self.applier.desired

    @property
    def prune_blocked(self) -> str | None:
        return self.applier.prune_blocked

    @property
    def statuses(self) -> Mapping[ResourceKey, ResourceStatus]:
        return self.store.statuses

    @property
    def commits(self) -> Mapping[str, Mapping[str, str | None]]:
        return self.store.commits

    def render_metrics(self, accept: str) -> tuple[bytes, str]:
        self.metrics.set_resources(self.store.statuses.values())
        return self.metrics.render(accept)

    def hooks(self) -> HttpHooks:
        return endpoints.hooks_for(self)
