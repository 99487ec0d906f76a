"""The controller's Prometheus metrics (names and labels are a contract dashboards and alerts rely on), on a registry it owns.

One `Metrics` per controller holds its own CollectorRegistry, never the global one, so
tests get a fresh set each and nothing else in the process leaks into /metrics. Label
values come only from closed sets (kinds, results, strategies, AWS operations our code
calls, resources named in the source); anything outside a set is reported as "other".
Series whose label values are known at start are created at 0, so rate() and alerts see
them before the first event. `_created` series are left out of the exposition: they double
the series count and Prometheus does not need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from controller import __version__
from controller.api.status import ResourceStatus

PREFIX = "ecs_gitops_"

KINDS = ("EcsCluster", "EcsService", "EcsTask")
RECONCILE_RESULTS = ("success", "requeue", "error", "stalled")
"""success: done; requeue: waiting on ECS; error: retried with backoff; stalled: terminal."""
STRATEGIES = (
    "rolling",
    "blueGreen",
    "canary",
    "ecsRolling",
    "ecsBlueGreen",
    "ecsLinear",
    "ecsCanary",
)
ROLLOUT_RESULTS = ("succeeded", "rolled_back", "failed", "aborted")
AWS_OUTCOMES = ("success", "error", "throttled")
SOURCE_KINDS = ("git", "directory", "s3")
MAX_ARRIVED = 64
"""Revisions remembered as seen arriving (for commit_to_synced_seconds)."""
FETCH_RESULTS = ("success", "error")
NOTIFY_TARGET_TYPES = ("webhook", "slack", "github")
NOTIFY_EVENTS = (
    "rollout_started",
    "rollout_succeeded",
    "rollout_rolled_back",
    "rollout_failed",
    "drift_detected",
    "hook_failed",
)
NOTIFY_RESULTS = ("success", "error", "refused", "dropped")
OTHER = "other"

KNOWN_AWS_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("ecs", "ContinueServiceDeployment"),
    ("ecs", "CreateCluster"),
    ("ecs", "CreateService"),
    ("ecs", "CreateTaskSet"),
    ("ecs", "DeleteService"),
    ("ecs", "DeleteTaskSet"),
    ("ecs", "DeregisterTaskDefinition"),
    ("ecs", "DescribeClusters"),
    ("ecs", "DescribeServiceDeployments"),
    ("ecs", "DescribeServices"),
    ("ecs", "DescribeTaskDefinition"),
    ("ecs", "DescribeTaskSets"),
    ("ecs", "DescribeTasks"),
    ("ecs", "ListClusters"),
    ("ecs", "ListServices"),
    ("ecs", "ListTaskDefinitions"),
    ("ecs", "ListTasks"),
    ("ecs", "PutClusterCapacityProviders"),
    ("ecs", "RegisterTaskDefinition"),
    ("ecs", "StopServiceDeployment"),
    ("ecs", "TagResource"),
    ("ecs", "UntagResource"),
    ("ecs", "UpdateCluster"),
    ("ecs", "UpdateClusterSettings"),
    ("ecs", "UpdateService"),
    ("ecs", "UpdateServicePrimaryTaskSet"),
    ("ecs", "UpdateTaskSet"),
    ("application-autoscaling", "DeleteScalingPolicy"),
    ("application-autoscaling", "DeregisterScalableTarget"),
    ("application-autoscaling", "DescribeScalableTargets"),
    ("application-autoscaling", "DescribeScalingPolicies"),
    ("application-autoscaling", "PutScalingPolicy"),
    ("application-autoscaling", "RegisterScalableTarget"),
    ("cloudwatch", "DescribeAlarms"),
    ("elbv2", "DescribeTargetHealth"),
    ("s3", "GetObject"),
    ("s3", "ListObjectsV2"),
    ("sqs", "DeleteMessageBatch"),
    ("sqs", "ReceiveMessage"),
)
"""The (service, operation) pairs of every reconcile and source fetch: their series exist
from the start (tests/test_metrics.py checks the list against those aws modules). Other
calls, such as one-off preflight checks, get their series at their first call."""

FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
AWS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LEAD_TIME_BUCKETS = (1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
ROLLOUT_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def _bounded(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else OTHER


class _WithoutCreated:
    """The registry's metrics without `_created` samples: what /metrics exposes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


class Metrics:
    """Every metric of the contract, and the events that move them."""

    def __init__(self, version: str = __version__) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build_info = Info(f"{PREFIX}build", "The running controller's version.", registry=r)
        self.leader = Gauge(
            f"{PREFIX}leader", "1 while this replica reconciles (holds the lease).", registry=r
        )
        self.reconcile_total = Counter(
            f"{PREFIX}reconcile",
            "Reconciles by kind and how they ended (success, requeue, error, stalled).",
            ["kind", "result"],
            registry=r,
        )
        self.reconcile_duration = Histogram(
            f"{PREFIX}reconcile_duration_seconds",
            "Time one reconcile took.",
            ["kind"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.resource_info = Info(
            f"{PREFIX}resource",
            "One series per resource, 1, labelled with its sync and health status.",
            ["kind", "cluster", "name"],
            registry=r,
        )
        self.source_revision_info = Info(
            f"{PREFIX}source_revision",
            "The revision (commit or digest) the source currently names.",
            ["source"],
            registry=r,
        )
        self.source_fetch_total = Counter(
            f"{PREFIX}source_fetch",
            "Source fetches by source kind and result.",
            ["source", "result"],
            registry=r,
        )
        self.source_fetch_duration = Histogram(
            f"{PREFIX}source_fetch_duration_seconds",
            "Time one source fetch took.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.commit_to_synced = Histogram(
            f"{PREFIX}commit_to_synced_seconds",
            "From a commit's time to the resource being Synced and Healthy on it.",
            buckets=LEAD_TIME_BUCKETS,
            registry=r,
        )
        self.aws_requests_total = Counter(
            f"{PREFIX}aws_requests",
            "AWS API calls by service, operation and outcome (success, error, throttled).",
            ["service", "operation", "outcome"],
            registry=r,
        )
        self.aws_request_duration = Histogram(
            f"{PREFIX}aws_request_duration_seconds",
            "Time one AWS API call took, SDK retries included.",
            ["service", "operation"],
            buckets=AWS_BUCKETS,
            registry=r,
        )
        self.aws_throttled_total = Counter(
            f"{PREFIX}aws_throttled",
            "AWS API calls refused with a throttling error.",
            ["service", "operation"],
            registry=r,
        )
        self.aws_rate_limit_waits_total = Counter(
            f"{PREFIX}aws_rate_limit_waits",
            "AWS calls that waited for a token of the client-side rate limiter.",
            ["service", "category"],
            registry=r,
        )
        self.aws_rate_limit_wait_seconds_total = Counter(
            f"{PREFIX}aws_rate_limit_wait_seconds",
            "Time AWS calls spent waiting for a rate-limit token (the API budget in use).",
            ["service", "category"],
            registry=r,
        )
        self.rollouts_total = Counter(
            f"{PREFIX}rollouts",
            "Finished rollouts by strategy and result.",
            ["strategy", "result"],
            registry=r,
        )
        self.rollout_duration = Histogram(
            f"{PREFIX}rollout_duration_seconds",
            "From a rollout's start to its end.",
            ["strategy", "result"],
            buckets=ROLLOUT_BUCKETS,
            registry=r,
        )
        self.drift_detected_total = Counter(
            f"{PREFIX}drift_detected",
            "Live resources found changed by hand after they were in sync.",
            ["kind"],
            registry=r,
        )
        self.task_definitions_registered_total = Counter(
            f"{PREFIX}task_definitions_registered",
            "Task definition revisions registered (only when the content changed).",
            registry=r,
        )
        self.workqueue_depth = Gauge(
            f"{PREFIX}workqueue_depth", "Resources ready to be reconciled now.", registry=r
        )
        self.workqueue_retries_total = Counter(
            f"{PREFIX}workqueue_retries",
            "Reconciles requeued with backoff after a retryable error.",
            registry=r,
        )
        self.estimated_monthly_cost = Gauge(
            f"{PREFIX}estimated_monthly_cost_dollars",
            "Estimated monthly Fargate cost of a service at its live task count, in USD "
            "(approximate list prices); no series for services that are not estimated.",
            ["cluster", "name"],
            registry=r,
        )
        self.notifications_total = Counter(
            f"{PREFIX}notifications",
            "Notification deliveries by target type, event and result (success, error, "
            "refused, dropped); series appear once a target of that type is configured.",
            ["target_type", "event", "result"],
            registry=r,
        )
        self._resources: set[tuple[str, str, str]] = set()
        self._costs: set[tuple[str, str]] = set()
        self._source: str | None = None
        self._unsynced: dict[str, str] = {}  # resource -> revision it is not yet ready on
        self._lead_time_seen: dict[str, str] = {}  # resource -> revision already observed
        self._start_revision: str | None = None  # what the first fetch found: not a commit
        self._arrived: dict[str, None] = {}  # revisions fetched after it (newest last)
        self.build_info.info({"version": version})
        self._zero_series()

    def _zero_series(self) -> None:
        for kind in KINDS:
            self.reconcile_duration.labels(kind)
            self.drift_detected_total.labels(kind)
            for result in RECONCILE_RESULTS:
                self.reconcile_total.labels(kind, result)
        for strategy in STRATEGIES:
            for result in ROLLOUT_RESULTS:
                self.rollouts_total.labels(strategy, result)
                self.rollout_duration.labels(strategy, result)
        for service, operation in KNOWN_AWS_OPERATIONS:
            self.aws_request_duration.labels(service, operation)
            self.aws_throttled_total.labels(service, operation)
            for outcome in AWS_OUTCOMES:
                self.aws_requests_total.labels(service, operation, outcome)

    # -- events ----------------------------------------------------------------------

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def reconcile_done(self, kind: str, result: str, seconds: float) -> None:
        kind = _bounded(kind, KINDS)
        self.reconcile_total.labels(kind, _bounded(result, RECONCILE_RESULTS)).inc()
        self.reconcile_duration.labels(kind).observe(max(0.0, seconds))

    def rollout_finished(self, strategy: str, result: str, seconds: float | None) -> None:
        labels = (_bounded(strategy, STRATEGIES), _bounded(result, ROLLOUT_RESULTS))
        self.rollouts_total.labels(*labels).inc()
        if seconds is not None:
            self.rollout_duration.labels(*labels).observe(max(0.0, seconds))

    def drift_detected(self, kind: str) -> None:
        self.drift_detected_total.labels(_bounded(kind, KINDS)).inc()

    def aws_call(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        """A CallStats listener: every AWS call, by its outcome."""
        self.aws_requests_total.labels(service, operation, _bounded(outcome, AWS_OUTCOMES)).inc()
        self.aws_request_duration.labels(service, operation).observe(max(0.0, seconds))
        if outcome == "throttled":
            self.aws_throttled_total.labels(service, operation).inc()
        if outcome == "success" and operation == "RegisterTaskDefinition":
            self.task_definitions_registered_total.inc()

    def rate_limit_wait(self, service: str, category: str, seconds: float) -> None:
        """A CallStats wait listener: a call waited for its throttle category's token.
        Categories are the rate limiter's fixed set (controller/aws/ratelimit.py)."""
        self.aws_rate_limit_waits_total.labels(service, category).inc()
        self.aws_rate_limit_wait_seconds_total.labels(service, category).inc(max(0.0, seconds))

    def source_fetched(
        self, source: str, result: str, seconds: float, revision: str | None = None
    ) -> None:
        """A fetch ended; `source` is the source kind (git, directory, s3), never its URL."""
        source = _bounded(source, SOURCE_KINDS)
        self.source_fetch_total.labels(source, _bounded(result, FETCH_RESULTS)).inc()
        self.source_fetch_duration.observe(max(0.0, seconds))
        if revision is not None:
            if self._start_revision is None:
                self._start_revision = revision
            elif revision != self._start_revision and revision not in self._arrived:
                self._arrived[revision] = None
                if len(self._arrived) > MAX_ARRIVED:
                    del self._arrived[next(iter(self._arrived))]
            self.source_revision_info.labels(source).info({"revision": revision})
            if self._source is not None and self._source != source:
                self.source_revision_info.remove(self._source)
            self._source = source

    def notification_targets(self, target_types: Iterable[str]) -> None:
        """Targets of these types are configured: their series start at 0."""
        for target_type in {_bounded(t, NOTIFY_TARGET_TYPES) for t in target_types}:
            for event in NOTIFY_EVENTS:
                for result in NOTIFY_RESULTS:
                    self.notifications_total.labels(target_type, event, result)

    def notification_delivered(self, target_type: str, event: str, result: str) -> None:
        """One delivery ended (the Notifier's on_delivery callback)."""
        self.notifications_total.labels(
            _bounded(target_type, NOTIFY_TARGET_TYPES),
            _bounded(event, NOTIFY_EVENTS),
            _bounded(result, NOTIFY_RESULTS),
        ).inc()

    def set_queue_depth(self, depth: int) -> None:
        self.workqueue_depth.set(depth)

    def queue_retry(self, _key: object = None) -> None:
        self.workqueue_retries_total.inc()

    def set_resources(self, statuses: Iterable[ResourceStatus]) -> None:
        """resource_info and estimated_monthly_cost_dollars for exactly these resources:
        stale label sets are removed. A service whose status did not look at its cost
        (an error status: cost_description None) keeps its last figure; one that is not
        estimated (EC2, no task size) has no series."""
        current: set[tuple[str, str, str]] = set()
        costs: set[tuple[str, str]] = set()
        for status in statuses:
            key = (_bounded(status.kind, KINDS), status.cluster, status.name)
            current.add(key)
            self.resource_info.labels(*key).info(
                {"sync_status": status.sync_status, "health_status": status.health_status}
            )
            if status.kind != "EcsService":
                continue
            where = (status.cluster, status.name)
            if status.estimated_monthly_cost is not None:
                self.estimated_monthly_cost.labels(*where).set(status.estimated_monthly_cost)
                costs.add(where)
            elif status.cost_description is None and where in self._costs:
                costs.add(where)
        for key in self._resources - current:
            self.resource_info.remove(*key)
        for where in self._costs - costs:
            self.estimated_monthly_cost.remove(*where)
        self._resources = current
        self._costs = costs

    def sync_progress(
        self,
        resource: str,
        revision: str | None,
        commit_time: datetime | None,
        *,
        ready: bool,
        changed: bool,
        now: datetime | None = None,
    ) -> None:
        """After each reconcile: once a resource that had work to do on `revision` is
        Synced and Healthy on it, observe commit_to_synced_seconds (once per resource per
        revision). Only a commit this process saw arrive counts: the revision the first
        fetch found (an eight-day-old HEAD at a fresh start) was committed before anyone
        was waiting on this controller. A resource already in sync on a new commit is not a
        rollout, nor is a drift repaired later on the same revision: nothing is observed,
        so a restart or an unrelated commit does not add bogus lead times."""
        if revision is None or commit_time is None:
            return  # a plain directory has no commit time
        if revision not in self._arrived:
            return  # found at start, not seen arriving
        first = self._lead_time_seen.get(resource) != revision
        if not ready:
            if first:
                self._unsynced[resource] = revision
            return
        waited = self._unsynced.pop(resource, None) == revision
        self._lead_time_seen[resource] = revision
        if first and (changed or waited):
            now = now or datetime.now(UTC)
            self.commit_to_synced.observe(max(0.0, (now - commit_time).total_seconds()))

    def forget(self, resource: str) -> None:
        """The resource left the source: drop what sync_progress kept for it."""
        self._unsynced.pop(resource, None)
        self._lead_time_seen.pop(resource, None)

    # -- exposition ------------------------------------------------------------------

    def render(self, accept_header: str = "") -> tuple[bytes, str]:
        """The exposition for an Accept header: OpenMetrics when the scraper asks for it
        (Prometheus does), the 0.0.4 text format otherwise."""
        encoder, content_type = choose_encoder(accept_header)
        return encoder(_WithoutCreated(self.registry)), content_type
