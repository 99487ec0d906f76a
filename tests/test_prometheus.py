"""A real Prometheus scraping a real `ecs-gitops run`, and promtool on the manifests.

Debian's `prometheus` (installed by .ci/run) runs on a free loopback port with
manifests/prometheus.yml, its intervals cut to 1 s and its target pointed at a controller
that deploys a Git repository to the emulated AWS. Everything is checked through
Prometheus's HTTP API: the series arrive, histogram_quantile answers, and every query in
the alert rules and the Grafana dashboard parses and runs.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.observability.metrics import ROLLOUT_RESULTS, STRATEGIES
from tests.conftest import REPO, free_port
from tests.controller_process import Running, commit, git, quickstart_repo, set_image, stop

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
MANIFESTS = REPO / "manifests"

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package prometheus; .ci/run installs it)",
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="prometheus not installed (Debian package prometheus; .ci/run installs it)",
)


@pytest.fixture
def running(
    emulated: Any, tmp_path: Path, run_controller: Callable[..., Running]
) -> tuple[Running, Path]:
    """`ecs-gitops run` on a Git repository holding the quickstart example."""
    repo = quickstart_repo(tmp_path / "repo", worker=False)
    return run_controller(emulated.endpoint_url, repo / "deploy"), repo


class Prometheus:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as response:
            return json.loads(response.read())

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/query", query=expr)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                last = check()
            except OSError as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; last answer: {last!r}")


def prometheus_config(target: str) -> dict[str, Any]:
    """manifests/prometheus.yml with 1 s intervals, its rules by absolute path, one target."""
    config: dict[str, Any] = yaml.safe_load((MANIFESTS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(MANIFESTS / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["scrape_interval"] = "1s"
    job["static_configs"] = [{"targets": [target]}]
    return config


@pytest.fixture
def prometheus(running: tuple[Running, Path], tmp_path: Path) -> Iterator[Prometheus]:
    ctl, _ = running
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(ctl.url.removeprefix("http://"))))
    port = free_port()
    log = tmp_path / "prometheus.log"
    assert PROMETHEUS is not None
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:
        prom.wait_for("Prometheus ready", lambda: prom.get("/api/v1/status/buildinfo"), 20)
        yield prom
    finally:
        stop(proc)


def finite(result: list[dict[str, Any]]) -> list[float]:
    values = [float(r["value"][1]) for r in result]
    return [v for v in values if math.isfinite(v)]


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MANIFESTS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return [
        expr.replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$job", ".*")
        .replace("$instance", ".*")
        for expr in exprs
    ]


@needs_prometheus
@pytest.mark.slow
def test_prometheus_scrapes_the_controller(
    running: tuple[Running, Path], prometheus: Prometheus
) -> None:
    ctl, repo = running
    target = prometheus.wait_for(
        "the scrape target up",
        lambda: [
            t
            for t in prometheus.get("/api/v1/targets")["data"]["activeTargets"]
            if t["health"] == "up"
        ],
    )
    assert target[0]["labels"]["job"] == "ecs-gitops"
    reconciles = prometheus.wait_for(
        "reconcile series", lambda: prometheus.query("ecs_gitops_reconcile_total > 0")
    )
    assert {r["metric"]["kind"] for r in reconciles} >= {"EcsCluster", "EcsService"}
    zeros = prometheus.query("ecs_gitops_rollouts_total")
    # every strategy x result, from the first scrape (ours and ECS's own)
    assert {(z["metric"]["strategy"], z["metric"]["result"]) for z in zeros} == {
        (strategy, result) for strategy in STRATEGIES for result in ROLLOUT_RESULTS
    }

    ctl.wait("myapp synced", lambda: (ctl.resource("myapp") or {}).get("syncStatus") == "Synced")
    set_image(repo, "v2")
    commit(repo, "v2")
    rollouts = prometheus.wait_for(
        "a finished rollout",
        lambda: prometheus.query('ecs_gitops_rollouts_total{result="succeeded"} > 0'),
        timeout=40,
    )
    assert rollouts[0]["metric"]["strategy"] in {"rolling", "blueGreen", "canary"}

    lead_time = prometheus.wait_for(
        "commit-to-synced p50",
        lambda: finite(
            prometheus.query(
                "histogram_quantile(0.5, sum by (le) (ecs_gitops_commit_to_synced_seconds_bucket))"
            )
        ),
    )
    assert lead_time[0] > 0
    latency = prometheus.wait_for(
        "reconcile latency p90",
        lambda: finite(
            prometheus.query(
                "histogram_quantile(0.9, sum by (le, kind) "
                "(rate(ecs_gitops_reconcile_duration_seconds_bucket[30s])))"
            )
        ),
    )
    assert all(v >= 0 for v in latency)
    assert prometheus.query("ecs_gitops_leader == 1")
    revision = git(repo, "rev-parse", "HEAD")
    current = prometheus.wait_for(
        "only the new revision in source_revision_info",
        lambda: (
            [r["metric"]["revision"] for r in prometheus.query("ecs_gitops_source_revision_info")]
            == [revision]
        ),
    )
    assert current

    for expr in dashboard_queries():
        prometheus.query(expr)  # each parses and runs (Prometheus answers status=success)

    def evaluated() -> list[dict[str, Any]]:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        never = [r for r in rules if r.get("lastEvaluation", "0001").startswith("0001")]
        return [] if never else rules

    rules = prometheus.wait_for("the alert rules evaluated", evaluated)
    assert len(rules) >= 5
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


@needs_promtool
def test_promtool_checks_the_alert_rules_and_config(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    rules = subprocess.run(
        [PROMTOOL, "check", "rules", str(MANIFESTS / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS" in rules.stdout
    config = subprocess.run(
        [PROMTOOL, "check", "config", str(MANIFESTS / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert config.returncode == 0, config.stdout + config.stderr


ALERT_TESTS = """\
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'ecs_gitops_resource_info{{job="ecs-gitops",instance="a",kind="EcsService",cluster="prod",name="myapp",sync_status="Synced",health_status="Degraded"}}'
        values: '1x15'
      - series: 'ecs_gitops_rollouts_total{{job="ecs-gitops",instance="a",strategy="canary",result="rolled_back"}}'
        values: '0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
      - series: 'ecs_gitops_source_fetch_total{{job="ecs-gitops",instance="a",source="git",result="success"}}'
        values: '1 2 3 3 3 3 3 3 3 3 3 3 3 3 3 3'
      - series: 'up{{job="ecs-gitops",instance="a"}}'
        values: '1x15'
    alert_rule_test:
      - eval_time: 9m
        alertname: EcsGitopsResourceDegraded
        exp_alerts: []
      - eval_time: 11m
        alertname: EcsGitopsResourceDegraded
        exp_alerts:
          - exp_labels: {{severity: critical, job: ecs-gitops, instance: a, kind: EcsService, cluster: prod, name: myapp}}
      - eval_time: 3m
        alertname: EcsGitopsRolloutRolledBack
        exp_alerts:
          - exp_labels: {{severity: warning, job: ecs-gitops, instance: a, strategy: canary, result: rolled_back}}
      - eval_time: 5m
        alertname: EcsGitopsSourceFetchFailing
        exp_alerts: []
      - eval_time: 13m
        alertname: EcsGitopsSourceFetchFailing
        exp_alerts:
          - exp_labels: {{severity: critical, job: ecs-gitops, instance: a, source: git}}
      - eval_time: 13m
        alertname: EcsGitopsDown
        exp_alerts: []
"""


@needs_promtool
def test_alerts_fire_when_they_should(tmp_path: Path) -> None:
    """promtool's rule unit tests: Degraded for 10 m, a rollback, 10 m without a fetch."""
    assert PROMTOOL is not None
    rules = yaml.safe_load((MANIFESTS / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # promtool compares them verbatim: test the logic
    bare = tmp_path / "alerts.yml"
    bare.write_text(yaml.safe_dump(rules))
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(ALERT_TESTS.format(rules=json.dumps(str(bare))))
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(tests)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_is_grafana_json_over_our_metrics() -> None:
    dashboard = json.loads((MANIFESTS / "grafana-dashboard.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    exposed = set(re.findall(r"^# TYPE (\S+) ", _exposition(), re.M))
    suffixes = ("_bucket", "_count", "_sum")
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for name in re.findall(r"\becs_gitops_\w+", target["expr"]):
                base = next((name[: -len(s)] for s in suffixes if name.endswith(s)), name)
                assert base in exposed, f"{panel['title']}: {name} is not a metric we export"
    text = json.dumps(dashboard)
    for needed in (
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
        "aws_throttled_total",
        "workqueue_depth",
        "rollouts_total",
        "reconcile_duration_seconds_bucket",
    ):
        assert needed in text, needed


def _exposition() -> str:
    from controller.observability.metrics import Metrics

    return Metrics().render("")[0].decode()
