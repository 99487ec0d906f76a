"""The rollout's load-balancer health gate against targets the emulated ECS registers.

The emulator registers each RUNNING task of a task set on the set's ip target groups (its
private IP at the containerPort) and deregisters it when the task stops; DescribeTargetHealth
reports what an ALB would. These tests read the targets back with boto3 and check that a
healthy rollout moves them from the old set's group to the new one's, and that an image
whose targets fail the ALB's health checks ("lbfail") is rolled back by the controller's
target-health gate, which counts "unhealthy" (the ALB's own verdict after its threshold of
failed checks) once healthCheckGracePeriodSeconds have passed since the set was created.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from controller.aws.client import AwsClients, AwsSettings
from controller.reconcile.context import Context
from controller.reconcile.sync import sync_all
from tests.conftest import REGION
from tests.emulated_ecs import ecs, load, service_status, sync
from tests.test_traffic import elbv2, make_alb, sets, weights, write

BLUE_GREEN = "{strategy: blueGreen, blueGreen: {bakeSeconds: 0}}"


def targets(endpoint: str, group: str) -> dict[str, tuple[int, str, str]]:
    """{ip: (port, state, reason)} of the targets registered on group."""
    found = elbv2(endpoint).describe_target_health(TargetGroupArn=group)
    return {
        d["Target"]["Id"]: (
            d["Target"]["Port"],
            d["TargetHealth"]["State"],
            d["TargetHealth"].get("Reason", ""),
        )
        for d in found["TargetHealthDescriptions"]
    }


def running_ips(endpoint: str, task_set: str) -> set[str]:
    """Private IPs of the RUNNING tasks the task set started."""
    client = ecs(endpoint)
    arns = client.list_tasks(cluster="prod-cluster", startedBy=task_set)["taskArns"]
    if not arns:
        return set()
    tasks = client.describe_tasks(cluster="prod-cluster", tasks=arns)["tasks"]
    return {
        d["value"]
        for t in tasks
        if t["lastStatus"] == "RUNNING"
        for a in t["attachments"]
        for d in a["details"]
        if d["name"] == "privateIPv4Address"
    }


def primary_set(endpoint: str) -> str:
    service = ecs(endpoint).describe_services(cluster="prod-cluster", services=["web"])
    return str(
        next(ts["id"] for ts in service["services"][0]["taskSets"] if ts["status"] == "PRIMARY")
    )


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for check() (the old set's tasks take a stop delay to leave their group)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def healthy_on(endpoint: str, group: str, ips: set[str]) -> bool:
    return targets(endpoint, group) == dict.fromkeys(ips, (8080, "healthy", ""))


@contextlib.contextmanager
def watching(endpoint: str, group: str) -> Iterator[set[tuple[int, str, str]]]:
    """Every (port, state, reason) the target group reports while the block runs, polled
    every 10 ms: some states last only a tick or two (unhealthy until ECS stops the task,
    or until the controller rolls the set back)."""
    seen: set[tuple[int, str, str]] = set()
    stop = threading.Event()

    def watch() -> None:
        client = elbv2(endpoint)
        while not stop.is_set():
            found = client.describe_target_health(TargetGroupArn=group)
            seen.update(
                (
                    d["Target"]["Port"],
                    d["TargetHealth"]["State"],
                    d["TargetHealth"].get("Reason", ""),
                )
                for d in found["TargetHealthDescriptions"]
            )
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join()


async def test_healthy_rollout_moves_the_targets_to_the_new_set(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    root = write(tmp_path / "src", alb, "v1", BLUE_GREEN)
    assert (await sync(endpoint, root)).ok
    old = primary_set(endpoint)
    old_ips = running_ips(endpoint, old)
    assert len(old_ips) == 2
    eventually(lambda: healthy_on(endpoint, alb.blue, old_ips))
    assert targets(endpoint, alb.green) == {}

    write(root, alb, "v2", BLUE_GREEN)
    outcome = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    new = primary_set(endpoint)
    assert new != old
    new_ips = running_ips(endpoint, new)
    assert len(new_ips) == 2
    assert not new_ips & old_ips
    assert healthy_on(endpoint, alb.green, new_ips)
    assert sets(endpoint) == [("PRIMARY", "web-green", 100.0)]
    # the old set's tasks stop and leave blue; nothing else is registered there
    eventually(lambda: targets(endpoint, alb.blue) == {})
    assert running_ips(endpoint, old) == set()


async def test_unhealthy_targets_roll_the_rollout_back(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    root = write(tmp_path / "src", alb, "v1", BLUE_GREEN)
    assert (await sync(endpoint, root)).ok
    old = primary_set(endpoint)
    old_ips = running_ips(endpoint, old)
    eventually(lambda: healthy_on(endpoint, alb.blue, old_ips))

    write(root, alb, "v2-lbfail", BLUE_GREEN)
    started = time.monotonic()
    with watching(endpoint, alb.green) as seen:
        async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
            outcome = await sync_all(load(root), Context(aws), within=30)
    # no grace period set: rolled back as soon as the ALB says unhealthy, long before
    # progressDeadlineSeconds (600 s)
    assert time.monotonic() - started < 20
    status = service_status(outcome)
    assert status.health_status == "Degraded", status
    assert status.rollout.phase == "RolledBack", status
    assert "targets unhealthy in the load balancer" in status.message, status.message
    assert "Target.FailedHealthChecks (Health checks failed)" in status.message, status.message
    assert (8080, "unhealthy", "Target.FailedHealthChecks") in seen, seen

    # the old set kept serving throughout: still PRIMARY on blue with all the traffic
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0)]
    assert primary_set(endpoint) == old
    assert weights(endpoint, alb.rule) == {"web-blue": 100.0}
    assert healthy_on(endpoint, alb.blue, old_ips)
    eventually(lambda: targets(endpoint, alb.green) == {})


async def test_failing_container_health_checks_make_targets_unhealthy(
    emulated: Any, tmp_path: Path
) -> None:
    """The "unhealthy" mode: the target turns unhealthy, then ECS stops the task."""
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    root = write(tmp_path / "src", alb, "v1-unhealthy", BLUE_GREEN)
    with watching(endpoint, alb.blue) as seen:
        outcome = await sync(endpoint, root, within=10)
    assert "Task failed container health checks" in service_status(outcome).message
    assert (8080, "unhealthy", "Target.FailedHealthChecks") in seen, seen
