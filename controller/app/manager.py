"""The manager of `ecs-gitops run`: a source, a work queue, workers, resync, HTTP.

Flux's split: the source loop only fetches and names a revision; when the revision
changes, the applier loads it and enqueues every resource (clusters first). The resync
loop enqueues everything again every --resync-interval, so drift made by hand is seen.
Workers run the one-step reconciles; the queue never runs one key twice at once.
Status lives in memory (status_store.py) and in ECS; nothing here is needed to resume
after a restart. Every reconcile runs with resource, revision and a reconcile_id bound
for its log lines, and reports to Metrics (reconcile result and time, drift, lead time);
finished rollouts go into the store's history, newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import structlog

from controller.api import EcsCluster, Resource, ResourceKey
from controller.api.status import ResourceStatus
from controller.app import endpoints
from controller.app.queueing import (
    RESYNC_PRIORITY,
    UNCHANGED_PRIORITY,
    changed_keys,
    changed_priority,
)
from controller.app.settings import RunSettings
from controller.app.status_store import StatusStore
from controller.aws.client import AwsClients
from controller.errors import (
    AwsError,
    EcsGitopsError,
    ReconcileError,
    SourceError,
    bug_message,
)
from controller.loader import Loaded, LoadResult, load_tree
from controller.notify import Notifier, drift_detected, from_rollout
from controller.observability.http import HttpHooks, HttpServer
from controller.observability.logging import reconcile_context
from controller.observability.metrics import Metrics
from controller.reconcile.conditions import conditions_for
from controller.reconcile.context import Context
from controller.reconcile.depends import blocked_by, blocked_status, dependents_of
from controller.reconcile.hooks import task_index
from controller.reconcile.prune import find_prunable, reconcile_prune
from controller.reconcile.rollout import claim
from controller.reconcile.sync import announce, error_status, reconcile_once
from controller.runtime import Outcome, WorkQueue, run_workers
from controller.runtime.election import LeaderElector
from controller.runtime.workqueue import Action
from controller.sources.base import Artifact, DirectorySource, Source
from controller.sources.git import LocalGitSource, RemoteGitSource

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


def source_kind(source: Source) -> str:
    """The bounded name metrics give a source: its kind, never its URL."""
    if isinstance(source, LocalGitSource | RemoteGitSource):
        return "git"
    if isinstance(source, DirectorySource):
        return "directory"
    return "s3" if source.display.startswith("s3://") else "other"


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
        self.source = source
        self.metrics = metrics if metrics is not None else Metrics()
        self.notifier = Notifier(
            instance=settings.instance, on_delivery=self.metrics.notification_delivered
        )
        self.source_kind = source_kind(source)
        aws.stats.listeners.append(self.metrics.aws_call)
        aws.stats.wait_listeners.append(self.metrics.rate_limit_wait)
        # the reconcile context, complete at construction (`run` builds it with its
        # retention, preflight and writer settings; never swapped afterwards)
        self.ctx = context or Context(aws, instance=settings.instance, dry_run=settings.dry_run)
        self.queue: WorkQueue[ResourceKey] = WorkQueue(
            on_depth=self.metrics.set_queue_depth, on_retry=self.metrics.queue_retry
        )
        self.artifact: Artifact | None = None
        self.store = StatusStore(self.metrics)
        """Statuses, rollout history, applied revisions, commits (status_store.py)."""
        self.loaded_revision: str | None = None
        """The revision apply_artifact last finished: one that failed is applied again."""
        self.generation = 0
        """Revisions loaded so far: the newest one's changes are queued first."""
        self.load: LoadResult | None = None
        self.desired: dict[ResourceKey, Loaded] = {}
        self.prune_candidates: set[ResourceKey] = set()
        self.prune_blocked: str | None = None
        self.known_clusters: set[tuple[str, str]] = set()
        self.source_error: str | None = None
        self.fetched_at: datetime | None = None
        self.aws_error: str | None = "not checked yet"

    # -- lifecycle -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        http = HttpServer(self.hooks(), self.settings.http_addr)
        await http.start()
        try:
            await self._probe_aws()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._source_loop(stop))
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
        self._enqueue_all(())  # a new leader looks at everything, clusters first
        resync = asyncio.create_task(self._resync_loop(stop))
        try:
            await run_workers(
                self.queue,
                self._handle,
                workers=self.settings.workers,
                shutdown_grace=self.settings.shutdown_grace,
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

    async def _wait(self, stop: asyncio.Event, coro: Any) -> None:
        """Until coro or stop is done; coro's exception, if it raised one, is raised."""
        waiter = asyncio.ensure_future(coro)
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if waiter.done() and not waiter.cancelled():
            waiter.result()

    async def _source_loop(self, stop: asyncio.Event) -> None:
        """Fetch, apply a new revision, wait for a change; any exception (CancelledError is
        not one) is reported as the source's error and the loop goes on, so one bad
        revision or a bug of ours never stops the controller."""
        while not stop.is_set():
            started = time.monotonic()
            fetched = False
            try:
                artifact = await self.source.fetch()
                fetched = True
                self.metrics.source_fetched(
                    self.source_kind, "success", time.monotonic() - started, artifact.revision
                )
                self.fetched_at = datetime.now(UTC)
                if artifact.revision != self.loaded_revision:
                    await self.apply_artifact(artifact)
                self.source_error = None
            except Exception as exc:
                if not fetched:
                    self.metrics.source_fetched(
                        self.source_kind, "error", time.monotonic() - started
                    )
                self._source_failed(exc)
            try:
                await self._wait(stop, self.source.wait_for_change(self.settings.poll_interval))
            except Exception as exc:
                self._source_failed(exc)
                await self._wait(stop, asyncio.sleep(self.settings.poll_interval))

    def _source_failed(self, exc: Exception) -> None:
        if isinstance(exc, SourceError):
            self.source_error = str(exc)
            log.error("source_fetch_failed", source=self.source.display, error=str(exc))
        else:  # a bug of ours: keep the traceback, retry the revision at the next poll
            self.source_error = bug_message(exc)
            log.error("source_loop_failed", source=self.source.display, exc_info=exc)

    async def _resync_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._wait(stop, asyncio.sleep(self.settings.resync_interval))
            if stop.is_set():
                return
            log.info("resync", resources=len(self.desired))
            self._enqueue_all(None)

    # -- the applier ------------------------------------------------------------------

    async def apply_artifact(self, artifact: Artifact) -> None:
        # In a thread: a large revision never holds up /healthz, the lease or the workers.
        # What is frozen stays frozen (see the gc.freeze below), so the collections a
        # load provokes walk only what is new, not the whole process's heap.
        try:
            result = await asyncio.to_thread(load_tree, artifact.tree)
        finally:
            # loaded: the revision's bytes need not stay in memory beside its models
            artifact.tree.release()
        before = self.desired
        previous = set(before)
        self.generation += 1
        self.artifact, self.load = artifact, result
        self.store.commit_seen(artifact)
        self.desired = {item.key: item for item in result.loaded}
        self.ctx.tasks = task_index(result.resources)
        self.ctx.origins = dict(self.desired)
        if not result.notifications_invalid:  # an invalid document keeps the old config
            self.notifier.configure(result.notifications)
            self.metrics.notification_targets(t.type for t in self.notifier.targets)
        structlog.contextvars.bind_contextvars(revision=artifact.revision[:12])
        log.info(
            "revision_loaded",
            source=artifact.source,
            resources=len(result.loaded),
            invalid=len(result.rejected),
            errors=len(result.errors),
        )
        for key, file in result.rejected.items():
            self._reject(key, file, result)
        self.prune_blocked = self._prune_blocked(result)
        for key in previous - set(self.desired) - set(result.rejected):
            self._mark_removed(key, result.names(key))
        for item in result.loaded:
            if not isinstance(item.resource, EcsCluster):
                self.known_clusters.add(
                    (self.ctx.region_of(item.resource.spec.region), item.key.cluster)
                )
        self._enqueue_all(changed_keys(before, self.desired))
        # The loaded state lives until the next revision: frozen, full collections during
        # resyncs (botocore's parsing allocates plenty) stop walking it. About a third of
        # a no-op resync's CPU at 1,000 services (bench/noop_resync.py). Frozen objects
        # are still freed when nothing refers to them (the previous revision's state is
        # acyclic); the collection first walks only what is not frozen yet, so no
        # garbage is frozen for good.
        del before
        gc.collect()
        gc.freeze()
        if self.prune_blocked is None:
            await self._scan_for_prune()
        self.loaded_revision = artifact.revision

    def _prune_blocked(self, result: LoadResult) -> str | None:
        if not result.complete:
            return "some files of the source could not be read or parsed: nothing is pruned"
        if not result.loaded:
            return "the source holds no valid resources: nothing is pruned or deleted"
        if result.errors:
            first = result.errors[0]
            return (
                f"{len(result.errors)} error(s) in the source (the first at {first.file}:"
                f"{first.line}): nothing is pruned until they are fixed"
            )
        return None

    def _reject(self, key: ResourceKey, file: str, result: LoadResult) -> None:
        errors = [str(d) for d in result.errors if d.file == file]
        status = ResourceStatus(
            kind=key.kind,
            name=key.name,
            cluster=key.cluster,
            region=key.region,
            sync_status="Unknown",
            health_status="Degraded",
            message="invalid in the source; the live resource is left as it is",
            last_error="; ".join(errors[:5]) or f"invalid: see {file}",
            last_attempted_revision=self.artifact.revision if self.artifact else None,
            last_applied_revision=self.store.applied.get(key),
        )
        status.conditions = conditions_for(status, stalled_reason="InvalidSpec")
        self.store.put(key, status)

    def _mark_removed(self, key: ResourceKey, named_at: str | None) -> None:
        """key left the desired state; named_at is where the revision still names it in
        a form that is not a valid resource of ours (then it is never pruned)."""
        status = self.store.statuses.get(key) or ResourceStatus(
            kind=key.kind, name=key.name, cluster=key.cluster, region=key.region
        )
        status.sync_status = "OutOfSync"
        if named_at is not None:
            status.message = (
                f"no longer a valid resource in the source, but {named_at} still names it: "
                "left as it is, never pruned"
            )
        elif self.prune_blocked:
            status.message = f"removed from the source; {self.prune_blocked}"
        else:
            status.message = "removed from the source"
        self.store.statuses[key] = status
        if named_at is not None:
            self.prune_candidates.discard(key)
        elif key.kind == "EcsService" and self.prune_blocked is None:
            self.prune_candidates.add(key)
            self.queue.add(key)
        elif key.kind != "EcsService":
            self.store.drop(key)

    async def _scan_for_prune(self) -> None:
        """Managed services in our clusters that no resource names (also after a restart)."""
        keep_by_cluster: dict[tuple[str, str], set[str]] = {}
        for key in [*self.desired, *(self.load.rejected if self.load else {})]:
            if key.kind == "EcsService":
                region = key.region or self.ctx.default_region
                keep_by_cluster.setdefault((region, key.cluster), set()).add(key.name)
        for region, cluster in sorted(self.known_clusters):
            try:
                found = await find_prunable(
                    self.ctx.ecs(region),
                    cluster,
                    keep_by_cluster.get((region, cluster), set()),
                    self.settings.instance,
                    self.ctx.source_id,
                )
            except AwsError as exc:
                log.warning("prune_scan_failed", cluster=cluster, error=str(exc))
                continue
            for live in found:
                region_tag = "" if region == self.ctx.default_region else region
                key = ResourceKey("EcsService", region_tag, cluster, live.service_name)
                if key not in self.desired:
                    self.prune_candidates.add(key)
                    self.queue.add(key)

    def _enqueue_all(self, changed: Collection[ResourceKey] | None = None) -> None:
        """Queue every desired resource: clusters first (services need them), then what
        a new revision changed, then the rest; a resync (changed None) queues below the
        follow-ups of rollouts in progress, so a commit's work and running rollouts are
        never starved behind polls of services with nothing to do."""
        announce((item.resource for item in self.desired.values()), self.ctx)
        new_revision = changed is not None
        changed = changed or ()
        for key in self.desired:
            if key in changed or (new_revision and key.kind == "EcsCluster"):
                priority = changed_priority(self.generation, key.kind)
            elif key.kind == "EcsCluster":
                priority = RESYNC_PRIORITY + 1
            else:
                priority = UNCHANGED_PRIORITY if new_revision else RESYNC_PRIORITY
            self.queue.add(key, priority=priority)

    # -- one reconcile ------------------------------------------------------------------

    async def _handle(self, key: ResourceKey) -> Outcome:
        """One reconcile of key, with its log context bound and its metrics recorded."""
        revision = self.artifact.revision if self.artifact else None
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
        loaded = self.desired.get(key)
        if loaded is None:
            return await self._handle_removed(key)
        resource = loaded.resource
        blockers = blocked_by(key, self.store.statuses, self.desired, revision)
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
            for dependent in dependents_of(key, self.desired):
                self.queue.add(dependent)
        self.metrics.sync_progress(
            str(key),
            revision,
            self.artifact.time if self.artifact else None,
            ready=status.ready,
            changed=result.changed,
        )
        if result.requeue_after is None:
            return Outcome.done()
        return Outcome.requeue(result.requeue_after)

    async def _handle_removed(self, key: ResourceKey) -> Outcome:
        # Level-triggered, at the moment of deleting: prune only what the current revision
        # no longer names in any form (a broken or mistyped document keeps its service).
        if (
            key not in self.prune_candidates
            or self.prune_blocked is not None
            or (self.load is not None and self.load.names(key) is not None)
        ):
            return Outcome.done()
        ctx = self.ctx.derive()
        try:
            result = await reconcile_prune(key, ctx)
        except AwsError as exc:
            self.store.put(key, self._error_status(key, exc))
            return Outcome.retry(exc) if exc.retryable else Outcome.stop(exc)
        if result.status.message.startswith("pruned") or result.status.health_status == "Missing":
            self.prune_candidates.discard(key)
            self.store.drop(key)
            return Outcome.done()
        self.store.put(key, result.status, result.events)
        return (
            Outcome.done()
            if result.requeue_after is None
            else Outcome.requeue(result.requeue_after)
        )

    def _error_status(self, key: ResourceKey, exc: EcsGitopsError) -> ResourceStatus:
        status = ResourceStatus(
            kind=key.kind,
            name=key.name,
            cluster=key.cluster,
            region=key.region,
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

    # -- what the HTTP server shows (controller/app/endpoints.py) -------------------

    @property
    def statuses(self) -> dict[ResourceKey, ResourceStatus]:
        return self.store.statuses

    @property
    def commits(self) -> dict[str, dict[str, str | None]]:
        return self.store.commits

    def render_metrics(self, accept: str) -> tuple[bytes, str]:
        self.metrics.set_resources(self.store.statuses.values())
        return self.metrics.render(accept)

    def hooks(self) -> HttpHooks:
        return endpoints.hooks_for(self)
