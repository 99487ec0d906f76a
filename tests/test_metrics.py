"""Metrics: names, zero series at start, each event's effect, bounded labels, promtool.

Every test gets a fresh Metrics (its own registry) and reads values with
get_sample_value; the exposition is checked by Debian's promtool when it is installed.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from controller.api import ResourceKey
from controller.api.status import ResourceStatus
from controller.app import Controller, RunSettings
from controller.aws.client import AwsClients, AwsSettings, CallStats
from controller.observability.http import HttpHooks, build_app
from controller.observability.logging import reconcile_context
from controller.observability.metrics import (
    AWS_OUTCOMES,
    KINDS,
    KNOWN_AWS_OPERATIONS,
    NOTIFY_EVENTS,
    NOTIFY_RESULTS,
    NOTIFY_TARGET_TYPES,
    RECONCILE_RESULTS,
    ROLLOUT_RESULTS,
    STRATEGIES,
    Metrics,
)
from controller.reconcile.result import RolloutEvent
from controller.sources.base import DirectorySource
from tests.conftest import REPO

PROMTOOL = shutil.which("promtool")
OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"

DESIGN_METRICS = {
    # name in the exposition: type (DESIGN.md: Metrics)
    "ecs_gitops_reconcile_total": "counter",
    "ecs_gitops_reconcile_duration_seconds": "histogram",
    "ecs_gitops_resource_info": "gauge",
    "ecs_gitops_source_revision_info": "gauge",
    "ecs_gitops_source_fetch_total": "counter",
    "ecs_gitops_source_fetch_duration_seconds": "histogram",
    "ecs_gitops_commit_to_synced_seconds": "histogram",
    "ecs_gitops_aws_requests_total": "counter",
    "ecs_gitops_aws_request_duration_seconds": "histogram",
    "ecs_gitops_aws_throttled_total": "counter",
    "ecs_gitops_rollouts_total": "counter",
    "ecs_gitops_rollout_duration_seconds": "histogram",
    "ecs_gitops_drift_detected_total": "counter",
    "ecs_gitops_task_definitions_registered_total": "counter",
    "ecs_gitops_workqueue_depth": "gauge",
    "ecs_gitops_workqueue_retries_total": "counter",
    "ecs_gitops_leader": "gauge",
    "ecs_gitops_build_info": "gauge",
    "ecs_gitops_estimated_monthly_cost_dollars": "gauge",
    "ecs_gitops_notifications_total": "counter",
}

BOUNDED_LABELS: dict[str, tuple[str, ...] | None] = {
    "kind": (*KINDS, "other"),
    "result": (*RECONCILE_RESULTS, *ROLLOUT_RESULTS, *NOTIFY_RESULTS, "other"),
    "target_type": (*NOTIFY_TARGET_TYPES, "other"),
    "event": (*NOTIFY_EVENTS, "other"),
    "strategy": (*STRATEGIES, "other"),
    "outcome": (*AWS_OUTCOMES, "other"),
    "source": ("git", "directory", "s3", "other"),
    "service": tuple(sorted({s for s, _ in KNOWN_AWS_OPERATIONS})),
    "operation": tuple(sorted({op for _, op in KNOWN_AWS_OPERATIONS})),
    "sync_status": ("Synced", "OutOfSync", "Unknown"),
    "health_status": ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"),
    "le": None,  # histogram buckets: fixed at creation
    "version": None,  # one value per process
    "revision": None,  # source_revision_info only, one series at a time (checked below)
    "cluster": None,  # resource names from the source: bounded by what users commit
    "name": None,
}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(version="1.2.3")


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def samples(m: Metrics) -> list[Any]:
    return [s for family in m.registry.collect() for s in family.samples]


def status(name: str, sync: str = "Synced", health: str = "Healthy", **kw: Any) -> ResourceStatus:
    return ResourceStatus(
        kind="EcsService",
        name=name,
        cluster="prod",
        sync_status=sync,  # type: ignore[arg-type]
        health_status=health,  # type: ignore[arg-type]
        **kw,
    )


# -- names and zero series -------------------------------------------------------------


def test_every_design_metric_is_exposed_with_its_type(metrics: Metrics) -> None:
    text = metrics.render("")[0].decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name, kind in DESIGN_METRICS.items():
        assert types.get(name) == kind, name
    assert all(name.startswith("ecs_gitops_") for name in types)
    assert "_created" not in text  # left out: half the series, no use to Prometheus


def test_known_series_start_at_zero(metrics: Metrics) -> None:
    for kind in KINDS:
        assert value(metrics, "ecs_gitops_drift_detected_total", kind=kind) == 0
        assert value(metrics, "ecs_gitops_reconcile_duration_seconds_count", kind=kind) == 0
        for result in RECONCILE_RESULTS:
            assert value(metrics, "ecs_gitops_reconcile_total", kind=kind, result=result) == 0
    for strategy in STRATEGIES:
        for result in ROLLOUT_RESULTS:
            labels = {"strategy": strategy, "result": result}
            assert value(metrics, "ecs_gitops_rollouts_total", **labels) == 0
            assert value(metrics, "ecs_gitops_rollout_duration_seconds_count", **labels) == 0
    for service, operation in KNOWN_AWS_OPERATIONS:
        for outcome in AWS_OUTCOMES:
            got = value(
                metrics,
                "ecs_gitops_aws_requests_total",
                service=service,
                operation=operation,
                outcome=outcome,
            )
            assert got == 0
        labels = {"service": service, "operation": operation}
        assert value(metrics, "ecs_gitops_aws_throttled_total", **labels) == 0
    for name in (
        "ecs_gitops_task_definitions_registered_total",
        "ecs_gitops_workqueue_depth",
        "ecs_gitops_workqueue_retries_total",
        "ecs_gitops_leader",
        "ecs_gitops_commit_to_synced_seconds_count",
        "ecs_gitops_source_fetch_duration_seconds_count",
    ):
        assert value(metrics, name) == 0, name
    assert value(metrics, "ecs_gitops_build_info", version="1.2.3") == 1


HOT_PATH = {
    "ecs.py": "ecs",
    "autoscaling.py": "application-autoscaling",
    "signals.py": "",
    "s3.py": "",
}
"""The aws modules every reconcile or source fetch goes through (service: what `_call`
means there). Calls elsewhere (preflight checks, say) are counted from their first call."""


def test_known_operations_match_the_aws_layer() -> None:
    """Every operation of the reconcile and source paths has its series from the start."""
    aws = REPO / "controller" / "aws"
    called: set[tuple[str, str]] = set()
    for path, service in HOT_PATH.items():
        if not (aws / path).exists():
            continue  # not written yet
        text = (aws / path).read_text()
        if service:
            called |= {(service, op) for op in re.findall(r'_call\(\s*"(\w+)"', text)}
        called |= set(re.findall(r'aws\.call\(\s*"([\w-]+)",\s*"(\w+)"', text))
    assert called, "the pattern found no calls: update this test with the aws layer"
    assert called - set(KNOWN_AWS_OPERATIONS) == set()


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.reconcile_done("EcsService", "success", 0.1)
    assert value(second, "ecs_gitops_reconcile_total", kind="EcsService", result="success") == 0


# -- events ----------------------------------------------------------------------------


def test_reconcile_done(metrics: Metrics) -> None:
    metrics.reconcile_done("EcsService", "requeue", 0.2)
    metrics.reconcile_done("EcsService", "requeue", 0.3)
    metrics.reconcile_done("EcsCluster", "stalled", 0.01)
    assert value(metrics, "ecs_gitops_reconcile_total", kind="EcsService", result="requeue") == 2
    assert value(metrics, "ecs_gitops_reconcile_total", kind="EcsCluster", result="stalled") == 1
    assert value(metrics, "ecs_gitops_reconcile_duration_seconds_count", kind="EcsService") == 2
    assert value(
        metrics, "ecs_gitops_reconcile_duration_seconds_sum", kind="EcsService"
    ) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("strategy", "result", "seconds"),
    [
        ("canary", "succeeded", 95.0),
        ("rolling", "rolled_back", 30.0),
        ("blueGreen", "aborted", None),
    ],
    ids=["canary-succeeded", "rolling-rolled-back", "no-start-time"],
)
def test_rollout_finished(
    metrics: Metrics, strategy: str, result: str, seconds: float | None
) -> None:
    metrics.rollout_finished(strategy, result, seconds)
    labels = {"strategy": strategy, "result": result}
    assert value(metrics, "ecs_gitops_rollouts_total", **labels) == 1
    observed = value(metrics, "ecs_gitops_rollout_duration_seconds_count", **labels)
    assert observed == (0 if seconds is None else 1)


def test_aws_calls_throttles_and_registrations(metrics: Metrics) -> None:
    stats = CallStats()
    stats.listeners.append(metrics.aws_call)
    stats.record("ecs", "DescribeServices", "success", 0.05)
    stats.record("ecs", "DescribeServices", "throttled", 0.01)
    stats.record("ecs", "RegisterTaskDefinition", "success", 0.2)
    stats.record("ecs", "RegisterTaskDefinition", "error", 0.2)
    ops = {"service": "ecs", "operation": "DescribeServices"}
    assert value(metrics, "ecs_gitops_aws_requests_total", **ops, outcome="success") == 1
    assert value(metrics, "ecs_gitops_aws_requests_total", **ops, outcome="throttled") == 1
    assert value(metrics, "ecs_gitops_aws_throttled_total", **ops) == 1
    assert value(metrics, "ecs_gitops_aws_request_duration_seconds_count", **ops) == 2
    assert value(metrics, "ecs_gitops_task_definitions_registered_total") == 1


def test_source_fetches_and_the_current_revision_only(metrics: Metrics) -> None:
    metrics.source_fetched("git", "success", 0.1, "a" * 40)
    metrics.source_fetched("git", "error", 0.5)
    metrics.source_fetched("git", "success", 0.1, "b" * 40)
    assert value(metrics, "ecs_gitops_source_fetch_total", source="git", result="success") == 2
    assert value(metrics, "ecs_gitops_source_fetch_total", source="git", result="error") == 1
    assert value(metrics, "ecs_gitops_source_fetch_duration_seconds_count") == 3
    revisions = [s for s in samples(metrics) if s.name == "ecs_gitops_source_revision_info"]
    assert [s.labels for s in revisions] == [{"source": "git", "revision": "b" * 40}]


def test_drift_queue_and_leader(metrics: Metrics) -> None:
    metrics.drift_detected("EcsService")
    metrics.set_queue_depth(7)
    metrics.queue_retry(ResourceKey("EcsService", "", "prod", "myapp"))
    metrics.set_leader(True)
    assert value(metrics, "ecs_gitops_drift_detected_total", kind="EcsService") == 1
    assert value(metrics, "ecs_gitops_workqueue_depth") == 7
    assert value(metrics, "ecs_gitops_workqueue_retries_total") == 1
    assert value(metrics, "ecs_gitops_leader") == 1


def test_notifications(metrics: Metrics) -> None:
    labels = {"target_type": "slack", "event": "rollout_failed"}
    assert value(metrics, "ecs_gitops_notifications_total", **labels, result="success") is None
    metrics.notification_targets(["slack"])
    assert value(metrics, "ecs_gitops_notifications_total", **labels, result="success") == 0
    metrics.notification_delivered("slack", "rollout_failed", "error")
    metrics.notification_delivered("https://hooks.slack.com/x", "weird", "boom")
    assert value(metrics, "ecs_gitops_notifications_total", **labels, result="error") == 1
    other = {"target_type": "other", "event": "other", "result": "other"}
    assert value(metrics, "ecs_gitops_notifications_total", **other) == 1


def test_resource_info_follows_statuses_and_drops_stale_series(metrics: Metrics) -> None:
    metrics.set_resources([status("a", "OutOfSync", "Progressing"), status("b")])
    metrics.set_resources([status("a")])  # a became healthy; b left the source
    info = [s.labels for s in samples(metrics) if s.name == "ecs_gitops_resource_info"]
    assert info == [
        {
            "kind": "EcsService",
            "cluster": "prod",
            "name": "a",
            "sync_status": "Synced",
            "health_status": "Healthy",
        }
    ]


def test_commit_to_synced_once_per_resource_and_revision(metrics: Metrics) -> None:
    metrics.source_fetched("git", "success", 0.1, "r0")  # what the controller started on
    metrics.source_fetched("git", "success", 0.1, "r1")  # a commit it saw arrive
    commit = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    at = [commit + timedelta(seconds=s) for s in (5, 30, 40, 90)]
    count = "ecs_gitops_commit_to_synced_seconds_count"
    metrics.sync_progress("svc", "r1", commit, ready=False, changed=True, now=at[0])
    metrics.sync_progress("svc", "r1", commit, ready=True, changed=False, now=at[1])
    assert value(metrics, count) == 1
    assert value(metrics, "ecs_gitops_commit_to_synced_seconds_sum") == 30
    # later resyncs on the same revision, even a repaired drift, add nothing
    metrics.sync_progress("svc", "r1", commit, ready=False, changed=True, now=at[2])
    metrics.sync_progress("svc", "r1", commit, ready=True, changed=True, now=at[3])
    assert value(metrics, count) == 1


@pytest.mark.parametrize(
    ("commit_time", "ready", "changed"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), True, False),  # already in sync on the commit
        (None, True, True),  # a plain directory: no commit time
        (datetime(2026, 1, 1, tzinfo=UTC), False, True),  # still rolling out
    ],
    ids=["already-synced", "no-commit-time", "not-ready-yet"],
)
def test_commit_to_synced_not_observed(
    metrics: Metrics, commit_time: datetime | None, ready: bool, changed: bool
) -> None:
    metrics.source_fetched("git", "success", 0.1, "r0")
    metrics.source_fetched("git", "success", 0.1, "r1")
    metrics.sync_progress("svc", "r1", commit_time, ready=ready, changed=changed)
    assert value(metrics, "ecs_gitops_commit_to_synced_seconds_count") == 0


def test_the_revision_found_at_start_is_no_lead_time(metrics: Metrics) -> None:
    """A fresh start on an eight-day-old HEAD rolls it out, but nobody waited eight days
    on this controller: only commits seen arriving are observed."""
    old = datetime.now(UTC) - timedelta(days=8)
    metrics.source_fetched("git", "success", 0.1, "head")
    for resource in ("svc-a", "svc-b"):
        metrics.sync_progress(resource, "head", old, ready=False, changed=True)
        metrics.sync_progress(resource, "head", old, ready=True, changed=True)
    metrics.source_fetched("git", "success", 0.1, "head")  # a poll: the same revision
    metrics.sync_progress("svc-a", "head", old, ready=True, changed=True)
    assert value(metrics, "ecs_gitops_commit_to_synced_seconds_count") == 0
    commit = datetime.now(UTC) - timedelta(seconds=20)
    metrics.source_fetched("git", "success", 0.1, "next")
    metrics.sync_progress("svc-a", "next", commit, ready=False, changed=True)
    metrics.sync_progress("svc-a", "next", commit, ready=True, changed=False)
    assert value(metrics, "ecs_gitops_commit_to_synced_seconds_count") == 1
    assert 19 <= value(metrics, "ecs_gitops_commit_to_synced_seconds_sum") < 60


def test_labels_stay_bounded_whatever_the_input(metrics: Metrics) -> None:
    arn = "arn:aws:ecs:ap-northeast-2:123456789012:task-set/prod/myapp/ecs-svc/123"
    metrics.reconcile_done(arn, "ServiceNotFoundException: boom", 1.0)
    metrics.rollout_finished(arn, "error: task stopped", 1.0)
    metrics.drift_detected(arn)
    metrics.source_fetched("git+https://token@github.com/org/repo", "weird", 0.1, "a" * 40)
    metrics.aws_call("ecs", "DescribeServices", "ThrottlingException", 0.1)
    metrics.set_resources([status("myapp")])
    metrics.notification_delivered("https://hooks.slack.com/T0/B0/xyz", "rollout_failed", "500")
    for sample in samples(metrics):
        for label, label_value in sample.labels.items():
            assert label in BOUNDED_LABELS, f"{sample.name}: unexpected label {label}"
            allowed = BOUNDED_LABELS[label]
            if allowed is not None:
                assert label_value in allowed, f"{sample.name}{{{label}={label_value!r}}}"
            assert "arn:" not in label_value, sample
            assert "://" not in label_value, sample


# -- exposition ------------------------------------------------------------------------


def test_openmetrics_is_negotiated(metrics: Metrics) -> None:
    body, content_type = metrics.render(OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    body, content_type = metrics.render("text/plain")
    assert content_type.startswith("text/plain; version=0.0.4")
    assert not body.endswith(b"# EOF\n")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)")
@pytest.mark.parametrize("exercised", [False, True], ids=["at-start", "after-events"])
def test_promtool_check_metrics_has_no_warnings(metrics: Metrics, exercised: bool) -> None:
    if exercised:
        metrics.reconcile_done("EcsService", "success", 0.3)
        metrics.rollout_finished("canary", "succeeded", 120)
        metrics.aws_call("ecs", "CreateTaskSet", "success", 0.2)
        metrics.source_fetched("git", "success", 0.1, "c" * 40)
        metrics.source_fetched("git", "success", 0.1, "r")
        metrics.set_resources([status("myapp", "OutOfSync", "Progressing")])
        metrics.sync_progress(
            "svc", "r", datetime(2026, 1, 1, tzinfo=UTC), ready=True, changed=True
        )
    body, _ = metrics.render("")
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == b"", done.stdout  # no warnings
    assert done.stderr.strip() == b"", done.stderr


async def test_http_metrics_endpoint_negotiates(metrics: Metrics) -> None:
    hooks = HttpHooks(status=dict, ready=lambda: (True, "ok"), metrics=metrics.render)
    async with TestClient(TestServer(build_app(hooks))) as client:
        plain = await client.get("/metrics")
        assert plain.status == 200
        assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "ecs_gitops_reconcile_total" in await plain.text()
        om = await client.get("/metrics", headers={"Accept": OPENMETRICS})
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await om.text()).endswith("# EOF\n")
        gzipped = await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert gzipped.headers["Content-Encoding"] == "gzip"  # cheaper to scrape
        assert "ecs_gitops_leader" in await gzipped.text()


# -- the controller's wiring -----------------------------------------------------------


def _controller(tmp_path: Path, metrics: Metrics) -> Controller:
    aws = AwsClients(AwsSettings(region="ap-northeast-2", endpoint_url="http://127.0.0.1:9"))
    source = DirectorySource(tmp_path, poll_interval=1)
    return Controller(RunSettings(), aws, source, metrics=metrics)


def test_controller_records_rollouts_into_history_newest_first(
    tmp_path: Path, metrics: Metrics
) -> None:
    ctl = _controller(tmp_path, metrics)
    key = ResourceKey("EcsService", "", "prod", "myapp")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for batch in range(3):
        events = [
            RolloutEvent(
                strategy="canary",
                result="rolled_back" if i == 3 else "succeeded",
                started_at=start,
                finished_at=start + timedelta(minutes=10 * batch + i + 1),
                revision=f"rev{batch}{i}",
            )
            for i in range(4)
        ]
        ctl.store.put(key, status("myapp"), events)
    history = ctl.statuses[key].history
    assert len(history) == 10
    assert [h.revision for h in history[:3]] == ["rev23", "rev22", "rev21"]
    assert all(a.finished_at > b.finished_at for a, b in itertools.pairwise(history))
    labels = {"strategy": "canary"}
    assert value(metrics, "ecs_gitops_rollouts_total", **labels, result="succeeded") == 9
    assert value(metrics, "ecs_gitops_rollouts_total", **labels, result="rolled_back") == 3
    ctl.store.put(key, status("myapp"))  # a later reconcile keeps the history
    assert len(ctl.statuses[key].history) == 10


def test_controller_wires_aws_calls_queue_and_resources(tmp_path: Path, metrics: Metrics) -> None:
    ctl = _controller(tmp_path, metrics)
    ctl.aws.stats.record("ecs", "RegisterTaskDefinition", "success", 0.1)
    ctl.queue.add(ResourceKey("EcsService", "", "prod", "myapp"))
    ctl.store.statuses[ResourceKey("EcsService", "", "prod", "myapp")] = status(
        "myapp", estimated_monthly_cost=22.48, cost_description="$22.48/month"
    )
    body, _ = ctl.render_metrics("")
    assert value(metrics, "ecs_gitops_task_definitions_registered_total") == 1
    assert value(metrics, "ecs_gitops_workqueue_depth") == 1
    assert b'ecs_gitops_resource_info{cluster="prod"' in body
    assert b'ecs_gitops_estimated_monthly_cost_dollars{cluster="prod",name="myapp"} 22.48' in body
    assert ctl.source_loop.kind == "directory"


def test_an_error_or_a_wait_keeps_the_last_cost(tmp_path: Path, metrics: Metrics) -> None:
    ctl = _controller(tmp_path, metrics)
    key = ResourceKey("EcsService", "", "prod", "myapp")
    ctl.store.put(key, status("myapp", estimated_monthly_cost=67.45, cost_description="3 tasks"))
    ctl.store.put(key, status("myapp", "Unknown", "Unknown", last_error="throttled"))
    assert ctl.statuses[key].estimated_monthly_cost == 67.45
    body, _ = ctl.render_metrics("")
    assert b'ecs_gitops_estimated_monthly_cost_dollars{cluster="prod",name="myapp"} 67.45' in body


def test_reconcile_context_binds_an_id_resource_and_revision() -> None:
    with reconcile_context("EcsService/prod/myapp", "abc123") as first:
        bound = structlog.contextvars.get_contextvars()
        assert bound["reconcile_id"] == first
        assert len(first) == 12
        assert bound["resource"] == "EcsService/prod/myapp"
        assert bound["revision"] == "abc123"
    with reconcile_context("EcsService/prod/myapp", None) as second:
        assert second != first
    assert "reconcile_id" not in structlog.contextvars.get_contextvars()
