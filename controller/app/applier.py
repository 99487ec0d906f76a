"""The applier: what the desired state is, and which keys go to the work queue when.

Flux's split, the half after the source: when the source loop hands it a new revision,
the applier loads it (off the event loop), records what it holds, marks what left it
and queues every resource (clusters first, then what the revision changed); every
--resync-interval it queues everything again, so drift made by hand is seen. It also
keeps the prune candidates: services a revision removed, or that a scan of our clusters
finds tagged as ours but named by no document; a revision with any error blocks every
prune. The workers (manager.py) reconcile the keys; the applier never calls them.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Collection

import structlog

from controller.api import EcsCluster, ResourceKey, resource_key
from controller.api.status import ResourceStatus
from controller.app.queueing import (
    RESYNC_PRIORITY,
    UNCHANGED_PRIORITY,
    changed_keys,
    changed_priority,
)
from controller.app.status_store import StatusStore
from controller.errors import AwsError
from controller.loader import Loaded, LoadResult, load_tree
from controller.notify import Notifier
from controller.observability.metrics import Metrics
from controller.reconcile.conditions import conditions_for
from controller.reconcile.context import Context
from controller.reconcile.hooks import task_index
from controller.reconcile.prune import find_prunable
from controller.reconcile.sync import announce
from controller.runtime import WorkQueue
from controller.runtime.stopping import until_stopped
from controller.sources.base import Artifact

log = structlog.get_logger(__name__)


class Applier:
    def __init__(
        self,
        *,
        instance: str,
        ctx: Context,
        queue: WorkQueue[ResourceKey],
        store: StatusStore,
        notifier: Notifier,
        metrics: Metrics,
    ) -> None:
        self.instance = instance
        self.ctx = ctx
        self.queue = queue
        self.store = store
        self.notifier = notifier
        self.metrics = metrics
        self.artifact: Artifact | None = None
        self.load: LoadResult | None = None
        self.desired: dict[ResourceKey, Loaded] = {}
        self.revision: str | None = None
        """The revision `apply` last finished: one that failed is applied again."""
        self.generation = 0
        """Revisions loaded so far: the newest one's changes are queued first."""
        self.prune_candidates: set[ResourceKey] = set()
        self.prune_blocked: str | None = None
        self.known_clusters: set[tuple[str, str]] = set()

    async def apply(self, artifact: Artifact) -> None:
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
        self.prune_blocked = _prune_blocked(result)
        for key in previous - set(self.desired) - set(result.rejected):
            self._mark_removed(key, result.names(key))
        for item in result.loaded:
            if not isinstance(item.resource, EcsCluster):
                self.known_clusters.add(
                    (self.ctx.region_of(item.resource.spec.region), item.key.cluster)
                )
        self.enqueue_all(changed_keys(before, self.desired))
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
        self.revision = artifact.revision

    def enqueue_all(self, changed: Collection[ResourceKey] | None = None) -> None:
        """Queue every desired resource: clusters first (services need them), then what
        a new revision changed, then the rest; a resync (changed None) queues below the
        follow-ups of rollouts in progress, so a commit's work and running rollouts are
        never starved behind polls of services with nothing to do."""
        new_revision = changed is not None
        # A resync's add() of a key still queued from the resync before joins that run:
        # one poll for both, which the aws layer must know to keep its read-ahead.
        queued = set() if new_revision else {k for k in self.desired if self.queue.is_ready(k)}
        announce(
            (item.resource for item in self.desired.values()),
            self.ctx,
            carried=lambda resource: resource_key(resource) in queued,
        )
        changed = changed or ()
        for key in self.desired:
            if key in changed or (new_revision and key.kind == "EcsCluster"):
                priority = changed_priority(self.generation, key.kind)
            elif key.kind == "EcsCluster":
                priority = RESYNC_PRIORITY + 1
            else:
                priority = UNCHANGED_PRIORITY if new_revision else RESYNC_PRIORITY
            self.queue.add(key, priority=priority)

    async def resync(self, stop: asyncio.Event, interval: float) -> None:
        """Queue everything again every `interval` seconds until stop is set."""
        while not stop.is_set():
            await until_stopped(stop, asyncio.sleep(interval))
            if stop.is_set():
                return
            log.info("resync", resources=len(self.desired))
            self.enqueue_all(None)

    def may_prune(self, key: ResourceKey) -> bool:
        """Whether the service `key` may be deleted now. Level-triggered, at the moment of
        deleting: only what the current revision no longer names in any form (a broken
        or mistyped document keeps its service), and never while a revision has errors."""
        return (
            key in self.prune_candidates
            and self.prune_blocked is None
            and (self.load is None or self.load.names(key) is None)
        )

    def _reject(self, key: ResourceKey, file: str, result: LoadResult) -> None:
        errors = [str(d) for d in result.errors if d.file == file]
        status = ResourceStatus.of(
            key,
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
        status = self.store.statuses.get(key) or ResourceStatus.of(key)
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
                    self.instance,
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


def _prune_blocked(result: LoadResult) -> str | None:
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
