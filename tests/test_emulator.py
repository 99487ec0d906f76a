"""The emulated AWS (controller.local): moto plus a Fargate-like task-set emulator.

Everything goes over HTTP with boto3 at `endpoint_url`, as the controller will. The seed
task definition is used unchanged (no container-level memory), which plain moto answers
with HTTP 500 on CreateTaskSet.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import aiobotocore.session
import boto3
import pytest
from botocore.exceptions import ClientError

from controller.local import (
    CRASHLOOP,
    EMULATED_BANNER,
    HEALTHY,
    PULL_FAIL,
    SLOW,
    EmulatedAws,
    failure_mode_for_image,
)
from controller.local.config import computed_desired_count, image_tag
from tests.conftest import REPO

REGION = "ap-northeast-2"
SEED = json.loads((REPO / "examples/quickstart/task-definition.json").read_text())
NETWORK = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-aaa", "subnet-bbb"],
        "securityGroups": ["sg-xxx"],
        "assignPublicIp": "DISABLED",
    }
}
T = TypeVar("T")


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatedAws]:
    """Ours, or the one another fixture already runs: moto allows one per process."""
    running = EmulatedAws.active()
    if running is not None:
        assert running.config.task_start_delay <= 0.5, "these tests expect short delays"
        yield running
        return
    with EmulatedAws(task_start_delay=0.2, tick_interval=0.05) as aws:
        yield aws


@pytest.fixture
def aws(emulator: EmulatedAws) -> EmulatedAws:
    emulator.reset()
    return emulator


def client(aws: EmulatedAws, service: str, region: str = REGION) -> Any:
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=aws.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def ecs(aws: EmulatedAws) -> Iterator[Any]:
    ecs = client(aws, "ecs")
    yield ecs
    ecs.close()


def wait_for(
    probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 8.0
) -> tuple[T, list[T]]:
    """Poll `probe` until `done`; returns the final value and everything seen."""
    seen: list[T] = []
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        seen.append(value)
        if done(value):
            return value, seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value: {value!r}")
        time.sleep(0.03)


def register(ecs: Any, image_tag_: str | None = None) -> str:
    definition = copy.deepcopy(SEED)
    if image_tag_ is not None:
        image = definition["containerDefinitions"][0]["image"].rsplit(":", 1)[0]
        definition["containerDefinitions"][0]["image"] = f"{image}:{image_tag_}"
    arn: str = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
    return arn


def external_service(ecs: Any, desired: int = 2) -> tuple[str, str]:
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.create_service(
        cluster=cluster,
        serviceName="myapp",
        desiredCount=desired,
        deploymentController={"type": "EXTERNAL"},
        launchType="FARGATE",
    )
    return cluster, "myapp"


def create_set(ecs: Any, cluster: str, service: str, task_def: str, **extra: Any) -> dict[str, Any]:
    task_set: dict[str, Any] = ecs.create_task_set(
        cluster=cluster,
        service=service,
        taskDefinition=task_def,
        externalId="rollout-1",
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        scale={"value": 100.0, "unit": "PERCENT"},
        **extra,
    )["taskSet"]
    return task_set


def task_sets(ecs: Any, cluster: str, service: str) -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = ecs.describe_task_sets(cluster=cluster, service=service)[
        "taskSets"
    ]
    return sets


def stopped_tasks(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
    if not arns:
        return []
    tasks: list[dict[str, Any]] = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    return [t for t in tasks if t["lastStatus"] == "STOPPED"]


def steady(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    def check(sets: list[dict[str, Any]]) -> bool:
        return (
            len(sets) == 1
            and sets[0]["stabilityStatus"] == "STEADY_STATE"
            and sets[0]["runningCount"] == sets[0]["computedDesiredCount"] == count
        )

    return check


def test_failure_modes_and_arithmetic() -> None:
    assert computed_desired_count(2, {"value": 50.0, "unit": "PERCENT"}) == 1
    assert computed_desired_count(3, {"value": 50.0, "unit": "PERCENT"}) == 2
    assert computed_desired_count(2, {"value": 0.0, "unit": "PERCENT"}) == 0
    assert computed_desired_count(10, {"value": 10.0, "unit": "PERCENT"}) == 1
    assert (
        image_tag("123.dkr.ecr.ap-northeast-2.amazonaws.com/myapp:v2-crashloop") == "v2-crashloop"
    )
    assert image_tag("localhost:5000/app") == "latest"
    assert image_tag("app@sha256:abc") == ""
    modes = {"crashloop": CRASHLOOP, "pullfail": PULL_FAIL, "slow": SLOW}
    assert failure_mode_for_image("r/myapp:v2-crashloop", modes) is CRASHLOOP
    assert failure_mode_for_image("r/myapp:PULLFAIL", modes) is PULL_FAIL
    assert failure_mode_for_image("r/slow-app:v1", modes) is HEALTHY  # only the tag counts
    assert "not real AWS" in EMULATED_BANNER


def test_network_the_examples_name_exists_in_every_region(aws: EmulatedAws) -> None:
    aws.precreate_network(subnets=["subnet-ccc"], security_groups=["sg-yyy"], region="us-east-1")
    for region in ("ap-northeast-2", "us-east-1"):
        ec2 = client(aws, "ec2", region)
        try:
            subnets = ec2.describe_subnets(SubnetIds=["subnet-aaa", "subnet-bbb"])["Subnets"]
            assert {s["SubnetId"] for s in subnets} == {"subnet-aaa", "subnet-bbb"}
            assert len({s["AvailabilityZone"] for s in subnets}) == 2
            groups = ec2.describe_security_groups(GroupIds=["sg-xxx"])["SecurityGroups"]
            assert groups[0]["GroupId"] == "sg-xxx"
            vpc = ec2.describe_vpc_attribute(
                VpcId=subnets[0]["VpcId"], Attribute="enableDnsHostnames"
            )
            assert vpc["EnableDnsHostnames"]["Value"] is True
        finally:
            ec2.close()
    ec2 = client(aws, "ec2", "us-east-1")
    try:
        assert ec2.describe_subnets(SubnetIds=["subnet-ccc"])["Subnets"]
        assert ec2.describe_security_groups(GroupIds=["sg-yyy"])["SecurityGroups"]
    finally:
        ec2.close()


def test_task_set_scales_like_fargate(ecs: Any) -> None:
    assert "memory" not in SEED["containerDefinitions"][0]  # the seed, unchanged
    task_def = register(ecs)
    cluster, service = external_service(ecs)
    created = create_set(ecs, cluster, service, task_def, clientToken="token-1")
    assert created["computedDesiredCount"] == 2
    assert created["stabilityStatus"] == "STABILIZING"
    again = create_set(ecs, cluster, service, task_def, clientToken="token-1")
    assert again["id"] == created["id"]  # clientToken makes CreateTaskSet idempotent

    final, seen = wait_for(lambda: task_sets(ecs, cluster, service), steady(2))
    assert any(s[0]["stabilityStatus"] == "STABILIZING" and s[0]["pendingCount"] > 0 for s in seen)
    assert final[0]["pendingCount"] == 0
    svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    assert (svc["runningCount"], svc["pendingCount"]) == (2, 0)
    assert svc["taskSets"][0]["runningCount"] == 2
    assert any("has reached a steady state" in e["message"] for e in svc["events"])

    arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    assert len(tasks) == 2
    for task in tasks:
        assert task["lastStatus"] == task["desiredStatus"] == "RUNNING"
        assert task["startedBy"] == created["id"]
        assert task["group"] == "service:myapp"
        assert (task["cpu"], task["memory"]) == ("512", "1024")
        assert "exitCode" not in task["containers"][0]

    scaled = ecs.update_task_set(
        cluster=cluster,
        service=service,
        taskSet=created["id"],
        scale={"value": 50.0, "unit": "PERCENT"},
    )["taskSet"]
    assert scaled["computedDesiredCount"] == 1
    wait_for(lambda: task_sets(ecs, cluster, service), steady(1))
    (gone,) = wait_for(lambda: stopped_tasks(ecs, cluster), lambda s: len(s) == 1)[0]
    assert gone["stopCode"] == "ServiceSchedulerInitiated"
    assert gone["stoppedReason"] == f"Scaling activity initiated by (deployment {created['id']})"


def test_blue_green_with_two_task_sets(ecs: Any) -> None:
    cluster, service = external_service(ecs)
    blue = create_set(ecs, cluster, service, register(ecs))
    ecs.update_service_primary_task_set(
        cluster=cluster, service=service, primaryTaskSet=blue["taskSetArn"]
    )
    green = create_set(ecs, cluster, service, register(ecs, "v2"))

    def both_steady(sets: list[dict[str, Any]]) -> bool:
        return len(sets) == 2 and all(s["stabilityStatus"] == "STEADY_STATE" for s in sets)

    wait_for(lambda: task_sets(ecs, cluster, service), both_steady)
    svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    assert svc["runningCount"] == 4
    ecs.update_service_primary_task_set(
        cluster=cluster, service=service, primaryTaskSet=green["id"]
    )
    statuses = {s["id"]: s["status"] for s in task_sets(ecs, cluster, service)}
    assert statuses == {blue["id"]: "ACTIVE", green["id"]: "PRIMARY"}
    ecs.delete_task_set(cluster=cluster, service=service, taskSet=blue["id"], force=True)
    final, _ = wait_for(lambda: task_sets(ecs, cluster, service), lambda sets: len(sets) == 1)
    assert final[0]["id"] == green["id"]
    arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    assert {t["startedBy"] for t in tasks} == {green["id"]}


def test_primary_task_set_accepts_an_id(ecs: Any) -> None:
    cluster, service = external_service(ecs)
    created = create_set(ecs, cluster, service, register(ecs))
    primary = ecs.update_service_primary_task_set(
        cluster=cluster, service=service, primaryTaskSet=created["id"]
    )["taskSet"]
    assert primary["status"] == "PRIMARY"
    assert task_sets(ecs, cluster, service)[0]["status"] == "PRIMARY"


def test_crashloop_never_steadies_and_stopped_tasks_say_why(aws: EmulatedAws, ecs: Any) -> None:
    original = aws.driver.config
    aws.driver.config = replace(original, stopped_tasks_kept=4)
    try:
        cluster, service = external_service(ecs)
        create_set(ecs, cluster, service, register(ecs, "v2-crashloop"))
        _, seen = wait_for(
            lambda: (task_sets(ecs, cluster, service), stopped_tasks(ecs, cluster)),
            lambda value: len(value[1]) >= 4,
        )
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # several more crash cycles
            seen.append((task_sets(ecs, cluster, service), stopped_tasks(ecs, cluster)))
            time.sleep(0.05)
    finally:
        aws.driver.config = original
    assert all(sets[0]["stabilityStatus"] == "STABILIZING" for sets, _ in seen)
    assert max(len(stopped) for _, stopped in seen) <= 4  # old stopped tasks are forgotten
    for task in seen[-1][1]:
        assert task["stoppedReason"] == "Essential container in task exited"
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["containers"][0]["exitCode"] == 1
        assert task["startedAt"] <= task["stoppedAt"]


def test_pull_failure_never_runs(ecs: Any) -> None:
    cluster, service = external_service(ecs, desired=1)
    create_set(ecs, cluster, service, register(ecs, "doesnotexist"))
    stopped, _ = wait_for(lambda: stopped_tasks(ecs, cluster), lambda s: len(s) >= 2)
    for task in stopped:
        assert task["stoppedReason"].startswith(
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
            "failed to resolve ref "
        )
        assert task["stoppedReason"].endswith(":doesnotexist: not found")
        assert task["stopCode"] == "TaskFailedToStart"
        assert "startedAt" not in task
        assert "exitCode" not in task["containers"][0]
    assert task_sets(ecs, cluster, service)[0]["runningCount"] == 0


def test_unhealthy_and_slow_images(aws: EmulatedAws, ecs: Any) -> None:
    cluster, service = external_service(ecs, desired=1)
    create_set(ecs, cluster, service, register(ecs, "v3-unhealthy"))
    stopped, _ = wait_for(lambda: stopped_tasks(ecs, cluster), lambda s: len(s) >= 1)
    assert stopped[0]["stoppedReason"] == "Task failed container health checks"
    assert stopped[0]["stopCode"] == "ServiceSchedulerInitiated"

    cluster, service = external_service(ecs, desired=1)
    create_set(ecs, cluster, service, register(ecs, "v4-slow"))
    delay = aws.config.task_start_delay
    time.sleep(5 * delay)  # a healthy task would be RUNNING by now; slow ones take 10x

    sets = task_sets(ecs, cluster, service)
    assert (sets[0]["pendingCount"], sets[0]["runningCount"]) == (1, 0)
    wait_for(lambda: task_sets(ecs, cluster, service), steady(1))


def test_delete_task_set_drains_its_tasks(ecs: Any) -> None:
    """As in ECS, a set that still has tasks to run goes only when forced."""
    cluster, service = external_service(ecs)
    created = create_set(ecs, cluster, service, register(ecs))
    wait_for(lambda: task_sets(ecs, cluster, service), steady(2))
    with pytest.raises(ClientError) as refused:
        ecs.delete_task_set(cluster=cluster, service=service, taskSet=created["id"])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "not been scaled down to zero" in str(refused.value)
    assert [s["status"] for s in task_sets(ecs, cluster, service)] == ["ACTIVE"]  # kept
    deleted = ecs.delete_task_set(
        cluster=cluster, service=service, taskSet=created["id"], force=True
    )["taskSet"]
    assert deleted["status"] == "DRAINING"
    wait_for(lambda: task_sets(ecs, cluster, service), lambda sets: sets == [])
    stopped = stopped_tasks(ecs, cluster)
    assert len(stopped) == 2
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == []  # default desiredStatus RUNNING


def test_a_task_set_scaled_to_zero_is_deleted_without_force(ecs: Any) -> None:
    cluster, service = external_service(ecs)
    created = create_set(ecs, cluster, service, register(ecs))
    ecs.update_task_set(
        cluster=cluster,
        service=service,
        taskSet=created["id"],
        scale={"value": 0, "unit": "PERCENT"},
    )
    deleted = ecs.delete_task_set(cluster=cluster, service=service, taskSet=created["id"])
    assert deleted["taskSet"]["status"] == "DRAINING"


def test_desired_count_and_service_deletion_reach_the_task_sets(ecs: Any) -> None:
    cluster, service = external_service(ecs)
    create_set(ecs, cluster, service, register(ecs))
    wait_for(lambda: task_sets(ecs, cluster, service), steady(2))
    updated = ecs.update_service(cluster=cluster, service=service, desiredCount=3)["service"]
    assert updated["runningCount"] == 2  # the live count, not the new desired count
    assert updated["taskSets"][0]["computedDesiredCount"] == 3
    wait_for(lambda: task_sets(ecs, cluster, service), steady(3))
    ecs.delete_service(cluster=cluster, service=service, force=True)
    wait_for(lambda: ecs.list_tasks(cluster=cluster)["taskArns"], lambda arns: arns == [])
    wait_for(lambda: stopped_tasks(ecs, cluster), lambda stopped: len(stopped) == 3)


def test_a_reset_over_http_keeps_the_network(aws: EmulatedAws) -> None:
    request = urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    ec2 = client(aws, "ec2")
    try:
        assert ec2.describe_subnets(SubnetIds=["subnet-aaa"])["Subnets"]
    finally:
        ec2.close()


async def test_aiobotocore_sees_the_counts(ecs: Any, aws: EmulatedAws) -> None:
    cluster, service = external_service(ecs, desired=1)
    create_set(ecs, cluster, service, register(ecs))
    session = aiobotocore.session.get_session()
    async with session.create_client(
        "ecs",
        region_name=REGION,
        endpoint_url=aws.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as aecs:
        for _ in range(200):
            sets = (await aecs.describe_task_sets(cluster=cluster, service=service))["taskSets"]
            if sets[0]["stabilityStatus"] == "STEADY_STATE":
                break
            await asyncio.sleep(0.03)
    assert (sets[0]["runningCount"], sets[0]["pendingCount"]) == (1, 0)
    assert sets[0]["computedDesiredCount"] == 1


def test_task_sets_need_an_external_service(ecs: Any) -> None:
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    task_def = register(ecs)
    ecs.create_service(
        cluster=cluster,
        serviceName="plain",
        taskDefinition=task_def,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
    )
    with pytest.raises(ClientError, match="external deployment controllers"):
        create_set(ecs, cluster, "plain", task_def)

    def service() -> dict[str, Any]:
        found: dict[str, Any] = ecs.describe_services(cluster=cluster, services=["plain"])[
            "services"
        ][0]
        return found

    final, _ = wait_for(service, lambda s: s["deployments"][0]["rolloutState"] == "COMPLETED")
    assert (final["runningCount"], final["deployments"][0]["runningCount"]) == (2, 2)

    second = register(ecs, "v2")
    updated = ecs.update_service(cluster=cluster, service="plain", taskDefinition="myapp:2")
    assert updated["service"]["taskDefinition"] == second
    final, seen = wait_for(
        service,
        lambda s: (
            len(s["deployments"]) == 1
            and s["deployments"][0]["taskDefinition"] == second
            and s["deployments"][0]["rolloutState"] == "COMPLETED"
        ),
    )
    assert any(len(s["deployments"]) == 2 for s in seen)  # old and new side by side
    arns = ecs.list_tasks(cluster=cluster, serviceName="plain")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    assert [t["taskDefinitionArn"] for t in tasks] == [second, second]


def test_run_task_hook_exits_zero_and_stop_task_is_user_initiated(ecs: Any) -> None:
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    task_def = register(ecs)
    run = ecs.run_task(
        cluster=cluster, taskDefinition=task_def, launchType="FARGATE", networkConfiguration=NETWORK
    )
    assert run["tasks"][0]["lastStatus"] == "PENDING"
    arn = run["tasks"][0]["taskArn"]

    def describe() -> dict[str, Any]:
        found: dict[str, Any] = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        return found

    done, seen = wait_for(describe, lambda t: t["lastStatus"] == "STOPPED")
    assert any(t["lastStatus"] == "RUNNING" for t in seen)
    assert done["stopCode"] == "EssentialContainerExited"
    assert done["containers"][0]["exitCode"] == 0

    other = ecs.run_task(
        cluster=cluster, taskDefinition=task_def, launchType="FARGATE", networkConfiguration=NETWORK
    )["tasks"][0]
    stopped = ecs.stop_task(cluster=cluster, task=other["taskArn"], reason="no longer needed")[
        "task"
    ]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")
    assert stopped["stoppedReason"] == "no longer needed"


def test_one_emulator_per_process(aws: EmulatedAws) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        EmulatedAws().start()
    assert aws.running
