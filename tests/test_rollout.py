"""Progressive delivery on the emulated AWS: every strategy succeeds on a good image and
rolls back on a crash loop, an image that cannot be pulled, and an alarm in ALARM."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from controller.reconcile.rollout.state import PROMOTE_TAG
from tests.emulated_ecs import (
    describe,
    ecs,
    gate,
    make_alarm,
    service_status,
    set_alarm,
    sync,
    task_set_revisions,
    write_web,
)

STRATEGIES = {
    "rolling": "{strategy: rolling, rolling: {minimumHealthyPercent: 50, maximumPercent: 100}}",
    "blueGreen": "{strategy: blueGreen, blueGreen: {bakeSeconds: 1}}",
    "canary": "{strategy: canary, canary: {steps: [{weight: 25, pauseSeconds: 1}, "
    "{weight: 50, pauseSeconds: 1}]}}",
}


def write(root: Path, tag: str, deployment: str) -> Path:
    """Four tasks: enough to see a rolling update keep its minimum healthy."""
    return write_web(root, tag, deployment, count=4)


def live_sets(endpoint: str) -> list[dict[str, Any]]:
    return [ts for ts in describe(endpoint)["taskSets"] if ts["status"] != "DRAINING"]


@pytest.mark.parametrize("strategy", list(STRATEGIES), ids=list(STRATEGIES))
async def test_good_image_rolls_out(emulated: Any, tmp_path: Path, strategy: str) -> None:
    endpoint = emulated.endpoint_url
    root = write(tmp_path / "src", "v1", STRATEGIES[strategy])
    assert (await sync(endpoint, root)).ok
    write(root, "v2", STRATEGIES[strategy])
    outcome = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert task_set_revisions(endpoint) == ["PRIMARY:web:2"]
    tags = {t["key"] for t in describe(endpoint).get("tags", [])}
    assert not any(k.startswith("ecs-gitops.dev/rollout") for k in tags)


@pytest.mark.parametrize("strategy", list(STRATEGIES), ids=list(STRATEGIES))
@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("v2-crashloop", "Essential container in task exited"),
        ("v2-pullfail", "CannotPullContainerError"),
    ],
    ids=["crashloop", "pullfail"],
)
async def test_failing_image_rolls_back(
    emulated: Any, tmp_path: Path, strategy: str, tag: str, reason: str
) -> None:
    endpoint = emulated.endpoint_url
    root = write(tmp_path / "src", "v1", STRATEGIES[strategy])
    assert (await sync(endpoint, root)).ok
    write(root, tag, STRATEGIES[strategy])
    outcome = await sync(endpoint, root)
    status = service_status(outcome)
    assert status.health_status == "Degraded"
    assert reason in status.message
    assert status.rollout.phase == "RolledBack"
    assert any(c.type == "Stalled" and c.reason == "RolledBack" for c in status.conditions)
    assert task_set_revisions(endpoint) == ["PRIMARY:web:1"]
    primary = live_sets(endpoint)[0]
    assert primary["scale"]["value"] == 100.0
    assert describe(endpoint)["runningCount"] >= 2
    # the failed revision is not retried in a loop
    again = await sync(endpoint, root)
    assert task_set_revisions(endpoint) == ["PRIMARY:web:1"]
    assert "rolled back" in service_status(again).message
    # the reason, kept in a tag, comes back as written, punctuation and all (cut with an
    # ellipsis only where a tag's 256 characters cannot hold it)
    first = status.message.split(": ", 1)[1]
    shown = service_status(again).message.split("rolled back (", 1)[1].rsplit("); commit", 1)[0]
    assert shown == first or (shown.endswith("…") and first.startswith(shown[:-1])), shown
    if tag.endswith("crashloop"):
        assert shown == first
    # and so do the stopped tasks' reasons (kept beside it, not lost at the next look;
    # distinct ones, cut with an ellipsis where a tag cannot hold them)
    kept = service_status(again).stopped_reasons
    assert status.stopped_reasons
    assert kept
    for reason in set(status.stopped_reasons):
        assert any(k == reason or (k.endswith("…") and reason.startswith(k[:-1])) for k in kept)


async def test_alarm_in_alarm_mid_canary_rolls_back(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    make_alarm(endpoint)
    deployment = "{strategy: canary, alarms: [web-5xx], canary: {steps: [{weight: 25}]}}"
    root = write(tmp_path / "src", "v1", deployment)
    assert (await sync(endpoint, root)).ok
    write(root, "v2", deployment)
    outcome = await sync(endpoint, root, within=8)  # pauses at step 1, waiting for promote
    status = service_status(outcome)
    assert status.rollout is not None
    assert status.rollout.phase == "Paused"
    assert sorted(ts["status"] for ts in live_sets(endpoint)) == ["ACTIVE", "PRIMARY"]
    set_alarm(endpoint)
    outcome = await sync(endpoint, root, within=20)
    status = service_status(outcome)
    assert status.health_status == "Degraded"
    assert "web-5xx is in ALARM" in status.message
    assert task_set_revisions(endpoint) == ["PRIMARY:web:1"]


async def test_canary_step_without_pause_waits_for_promote(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    deployment = (
        "{strategy: canary, canary: {steps: [{weight: 25}, {weight: 50, pauseSeconds: 1}]}}"
    )
    root = write(tmp_path / "src", "v1", deployment)
    assert (await sync(endpoint, root)).ok
    write(root, "v2", deployment)
    outcome = await sync(endpoint, root, within=8)
    assert service_status(outcome).rollout.phase == "Paused"
    scales = sorted(ts["scale"]["value"] for ts in live_sets(endpoint))
    assert scales == [25.0, 75.0]
    gate(endpoint, PROMOTE_TAG, lambda state: f"{state.external_id}/0")
    outcome = await sync(endpoint, root, within=30)
    assert outcome.ok, service_status(outcome)
    assert task_set_revisions(endpoint) == ["PRIMARY:web:2"]


async def test_rolling_never_goes_below_minimum_healthy(emulated: Any, tmp_path: Path) -> None:
    """desired 4 at 50/100: at every sampled instant at least 2 tasks run."""
    endpoint = emulated.endpoint_url
    deployment = STRATEGIES["rolling"]
    root = write(tmp_path / "src", "v1", deployment)
    assert (await sync(endpoint, root)).ok
    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        client = ecs(endpoint)
        while not stop.is_set():
            sets = client.describe_services(cluster="prod-cluster", services=["web"])["services"][0]
            running = sum(ts.get("runningCount", 0) for ts in sets.get("taskSets", []))
            total = sum(
                ts.get("runningCount", 0) + ts.get("pendingCount", 0)
                for ts in sets.get("taskSets", [])
            )
            samples.append((running, total))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        write(root, "v2", deployment)
        outcome = await sync(endpoint, root)
    finally:
        stop.set()
        sampler.join()
    assert outcome.ok, service_status(outcome)
    assert len(samples) > 20
    assert min(running for running, _ in samples) >= 2, samples
    assert task_set_revisions(endpoint) == ["PRIMARY:web:2"]


async def test_abort_rolls_back(emulated: Any, tmp_path: Path) -> None:
    from controller.reconcile.rollout.state import ABORT_TAG

    endpoint = emulated.endpoint_url
    deployment = "{strategy: canary, canary: {steps: [{weight: 25}]}}"
    root = write(tmp_path / "src", "v1", deployment)
    assert (await sync(endpoint, root)).ok
    write(root, "v2", deployment)
    await sync(endpoint, root, within=6)
    gate(endpoint, ABORT_TAG, lambda state: state.external_id)
    outcome = await sync(endpoint, root, within=20)
    status = service_status(outcome)
    assert status.rollout.phase == "Aborted"
    assert task_set_revisions(endpoint) == ["PRIMARY:web:1"]
