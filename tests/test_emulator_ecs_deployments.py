"""The emulated AWS runs ECS-controller services as ECS does, and refuses what ECS refuses.

boto3 against the emulated AWS over HTTP, as a team's scripts would talk to real ECS: a
rolling deployment within minimum/maximum percent, the circuit breaker at ECS's threshold
and its rollback, StopServiceDeployment, the traffic-shifting strategies, alarms, the
deployment controller switch, and each refusal with ECS's error code.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from controller.local.deployments import threshold
from tests.conftest import REGION
from tests.test_emulator import NETWORK, register, wait_for

SERVICE_CONNECT = {"enabled": True, "namespace": "myapp"}


@pytest.fixture
def ecs(emulated: Any) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=emulated.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def ecs_service(
    ecs: Any, desired: int = 2, **params: Any
) -> tuple[str, Callable[[], dict[str, Any]]]:
    """A new cluster with service `myapp` on the ECS controller running v1; (cluster, describe)."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.create_service(
        cluster=cluster,
        serviceName="myapp",
        taskDefinition=register(ecs, "v1"),
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        **params,
    )

    def describe() -> dict[str, Any]:
        found: dict[str, Any] = ecs.describe_services(cluster=cluster, services=["myapp"])[
            "services"
        ][0]
        return found

    return cluster, describe


def completed_on(arn: str) -> Callable[[dict[str, Any]], bool]:
    def done(service: dict[str, Any]) -> bool:
        deployments = service["deployments"]
        return (
            len(deployments) == 1
            and deployments[0]["taskDefinition"] == arn
            and deployments[0]["rolloutState"] == "COMPLETED"
        )

    return done


def settle(describe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    service, _ = wait_for(describe, lambda s: s["deployments"][0]["rolloutState"] == "COMPLETED")
    return service


def service_deployments(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    """Every service deployment of myapp, newest first, as DescribeServiceDeployments says."""
    briefs = ecs.list_service_deployments(cluster=cluster, service="myapp")["serviceDeployments"]
    if not briefs:
        return []
    arns = [b["serviceDeploymentArn"] for b in briefs]
    found: list[dict[str, Any]] = ecs.describe_service_deployments(serviceDeploymentArns=arns)[
        "serviceDeployments"
    ]
    return found


def test_fields_moto_drops_are_kept_where_ecs_shows_them(ecs: Any) -> None:
    cluster, describe = ecs_service(
        ecs,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "minimumHealthyPercent": 50,
        },
        serviceConnectConfiguration=SERVICE_CONNECT,
        healthCheckGracePeriodSeconds=30,
        enableExecuteCommand=True,
        propagateTags="SERVICE",
        availabilityZoneRebalancing="ENABLED",
    )
    service = describe()
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 50,
        "alarms": {"alarmNames": [], "enable": False, "rollback": False},
        "strategy": "ROLLING",
    }
    assert (service["healthCheckGracePeriodSeconds"], service["enableExecuteCommand"]) == (30, True)
    assert service["availabilityZoneRebalancing"] == "ENABLED"
    assert "serviceConnectConfiguration" not in service  # ECS shows it on deployments[] only
    [deployment] = service["deployments"]
    assert deployment["serviceConnectConfiguration"] == SERVICE_CONNECT
    assert (deployment["status"], deployment["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert service["currentServiceDeployment"].startswith(
        f"arn:aws:ecs:{REGION}:123456789012:service-deployment/{cluster}/myapp/"
    )
    settle(describe)

    # A deployment-level field alone starts a new deployment; desiredCount alone does not.
    ecs.update_service(cluster=cluster, service="myapp", desiredCount=3)
    assert len(describe()["deployments"]) == 1
    wider = {**SERVICE_CONNECT, "services": [{"portName": "web", "discoveryName": "web"}]}
    ecs.update_service(cluster=cluster, service="myapp", serviceConnectConfiguration=wider)
    first, second = describe()["deployments"]
    assert (first["status"], first["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert first["serviceConnectConfiguration"] == wider
    assert second["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum"),
    [pytest.param(2, 100, 200, id="100-200"), pytest.param(4, 50, 100, id="50-100")],
)
def test_rolling_deployment_stays_within_minimum_and_maximum_percent(
    ecs: Any, desired: int, minimum: int, maximum: int
) -> None:
    settings = {"minimumHealthyPercent": minimum, "maximumPercent": maximum}
    cluster, describe = ecs_service(ecs, desired, deploymentConfiguration=settings)
    v1 = settle(describe)["deployments"][0]
    assert v1["runningCount"] == desired

    v2 = register(ecs, "v2")
    ecs.update_service(cluster=cluster, service="myapp", taskDefinition=v2)
    final, seen = wait_for(describe, completed_on(v2), timeout=15)

    both = [s for s in seen if len(s["deployments"]) == 2]
    assert both, "the old and the new deployment run side by side"
    new, old = both[0]["deployments"]
    assert (new["status"], new["rolloutState"], new["taskDefinition"]) == (
        "PRIMARY",
        "IN_PROGRESS",
        v2,
    )
    assert (old["status"], old["id"]) == ("ACTIVE", v1["id"])
    healthy_floor = desired * minimum // 100
    ceiling = desired * maximum // 100
    for service in seen:
        assert service["runningCount"] >= healthy_floor, service["deployments"]
        assert service["runningCount"] + service["pendingCount"] <= ceiling, service["deployments"]
    [done] = final["deployments"]
    assert (done["runningCount"], done["desiredCount"], final["runningCount"]) == (desired,) * 3
    assert done["rolloutStateReason"] == f"ECS deployment {done['id']} completed."
    [latest, first] = service_deployments(ecs, cluster)
    assert (latest["status"], first["status"]) == ("SUCCESSFUL", "SUCCESSFUL")
    assert latest["sourceServiceRevisions"][0]["arn"] == first["targetServiceRevision"]["arn"]
    assert latest["targetServiceRevision"]["runningTaskCount"] == desired


@pytest.mark.parametrize(
    ("desired", "expected"),
    [
        pytest.param(1, 3, id="minimum-3"),
        pytest.param(8, 4, id="half"),
        pytest.param(9, 5, id="half-rounded-up"),
        pytest.param(1000, 200, id="maximum-200"),
    ],
)
def test_circuit_breaker_threshold_is_ecs_formula(desired: int, expected: int) -> None:
    assert threshold({}, desired) == expected


def test_crashloop_trips_the_breaker_at_its_threshold_and_rolls_back(ecs: Any) -> None:
    settings = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "minimumHealthyPercent": 100,
        "maximumPercent": 125,  # two new tasks at a time: failures arrive two by two
    }
    cluster, describe = ecs_service(ecs, 8, deploymentConfiguration=settings)
    v1_arn = describe()["taskDefinition"]
    v1 = settle(describe)["deployments"][0]

    ecs.update_service(
        cluster=cluster, service="myapp", taskDefinition=register(ecs, "v2-crashloop")
    )
    final, seen = wait_for(describe, completed_on(v1_arn), timeout=20)

    tripped = next(s for s in seen if any(d["rolloutState"] == "FAILED" for d in s["deployments"]))
    rollback, failed = tripped["deployments"][:2]
    assert (failed["status"], failed["rolloutState"]) == ("ACTIVE", "FAILED")
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: task failed to start."
    assert 4 <= failed["failedTasks"] < 6  # threshold 4 for 8 tasks, reached two at a time
    assert (rollback["status"], rollback["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert rollback["taskDefinition"] == v1_arn
    assert rollback["rolloutStateReason"] == (
        f"ECS deployment circuit breaker: rolling back to deploymentId {v1['id']}."
    )
    assert all(s["runningCount"] >= 8 for s in seen)  # the old tasks served throughout
    assert final["taskDefinition"] == v1_arn
    latest = service_deployments(ecs, cluster)[0]
    assert latest["status"] == "ROLLBACK_SUCCESSFUL"
    assert latest["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert latest["deploymentCircuitBreaker"]["threshold"] == 4
    assert latest["deploymentCircuitBreaker"]["failureCount"] >= 4
    assert latest["rollback"]["serviceRevisionArn"] == latest["sourceServiceRevisions"][0]["arn"]
    assert latest["finishedAt"] >= latest["startedAt"]
    events = [e["message"] for e in final["events"]]
    assert any("deployment failed: tasks failed to start." in m for m in events)


def test_without_rollback_a_failed_deployment_stops_launching(ecs: Any) -> None:
    settings = {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
    cluster, describe = ecs_service(ecs, 2, deploymentConfiguration=settings)
    settle(describe)
    ecs.update_service(
        cluster=cluster, service="myapp", taskDefinition=register(ecs, "v2-pullfail")
    )
    failed, _ = wait_for(describe, lambda s: s["deployments"][0]["rolloutState"] == "FAILED")
    primary, old = failed["deployments"]
    assert primary["status"] == "PRIMARY"
    assert old["runningCount"] == 2
    quiet, _ = wait_for(describe, lambda s: s["deployments"][0]["pendingCount"] == 0)
    stopped = ecs.list_tasks(cluster=cluster, serviceName="myapp", desiredStatus="STOPPED")
    time.sleep(1.0)  # five task start delays: a launching scheduler would have failed more
    again = ecs.list_tasks(cluster=cluster, serviceName="myapp", desiredStatus="STOPPED")
    assert len(again["taskArns"]) == len(stopped["taskArns"])
    assert quiet["runningCount"] == 2
    assert quiet["deployments"][0]["runningCount"] == 0
    assert service_deployments(ecs, cluster)[0]["status"] == "STOPPED"


def test_stop_service_deployment_rolls_back(ecs: Any) -> None:
    cluster, describe = ecs_service(ecs, 2)
    v1_arn = settle(describe)["taskDefinition"]
    ecs.update_service(cluster=cluster, service="myapp", taskDefinition=register(ecs, "v2-slow"))
    arn = describe()["currentServiceDeployment"]
    assert (
        ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")[
            "serviceDeploymentArn"
        ]
        == arn
    )
    _, seen = wait_for(describe, completed_on(v1_arn), timeout=15)
    [record] = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    assert record["status"] == "ROLLBACK_SUCCESSFUL"
    assert record["rollback"]["serviceRevisionArn"] == record["sourceServiceRevisions"][0]["arn"]
    assert all(s["runningCount"] >= 2 for s in seen)

    with pytest.raises(ClientError) as finished:
        ecs.stop_service_deployment(serviceDeploymentArn=arn)
    assert finished.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as missing:
        ecs.stop_service_deployment(serviceDeploymentArn=arn[:-3] + "xyz")
    assert missing.value.response["Error"]["Code"] == "ServiceDeploymentNotFoundException"
    described = ecs.describe_service_deployments(serviceDeploymentArns=[arn[:-3] + "xyz"])
    assert described["failures"] == [{"arn": arn[:-3] + "xyz", "reason": "MISSING"}]
    listed = ecs.list_service_deployments(
        cluster=cluster, service="myapp", status=["ROLLBACK_SUCCESSFUL"]
    )["serviceDeployments"]
    assert [b["serviceDeploymentArn"] for b in listed] == [arn]


@pytest.mark.parametrize(
    ("strategy", "extra", "weights"),
    [
        pytest.param("BLUE_GREEN", {}, [100.0], id="blue-green"),
        pytest.param(
            "LINEAR",
            {"linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}},
            [50.0, 100.0],
            id="linear",
        ),
        pytest.param(
            "CANARY",
            {"canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 1}},
            [10.0, 100.0],
            id="canary",
        ),
    ],
)
def test_traffic_shifting_strategies_step_and_bake(
    ecs: Any, strategy: str, extra: dict[str, Any], weights: list[float]
) -> None:
    settings = {"strategy": strategy, "bakeTimeInMinutes": 1, **extra}
    cluster, describe = ecs_service(ecs, 2, deploymentConfiguration=settings)
    settle(describe)
    v2 = register(ecs, "v2")
    ecs.update_service(cluster=cluster, service="myapp", taskDefinition=v2)

    def record() -> dict[str, Any]:
        return service_deployments(ecs, cluster)[0]

    final, seen = wait_for(record, lambda r: r["status"] == "SUCCESSFUL", timeout=20)
    stages = [r.get("lifecycleStage") for r in seen]
    order = ("SCALE_UP", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP")
    # blue/green shifts all traffic in one step: a poll on a busy machine can miss that
    # stage; the weight it shifted (below) and the stages around it still show
    required = [s for s in order if s != "PRODUCTION_TRAFFIC_SHIFT" or len(weights) > 1]
    for stage in required:
        assert stage in stages, stages
    firsts = [order.index(s) for s in dict.fromkeys(stages) if s in order]
    assert firsts == sorted(firsts), stages
    shifted = sorted({r["targetServiceRevision"]["requestedProductionTrafficWeight"] for r in seen})
    assert [w for w in shifted if w > 0] == weights
    baking = next(r for r in seen if r.get("lifecycleStage") == "BAKE_TIME")
    assert baking["sourceServiceRevisions"][0]["runningTaskCount"] == 2  # blue kept while baking
    assert baking["targetServiceRevision"]["runningTaskCount"] == 2
    assert final["deploymentConfiguration"]["strategy"] == strategy
    wait_for(describe, completed_on(v2))


def test_an_alarm_in_alarm_rolls_back(ecs: Any, emulated: Any) -> None:
    cloudwatch = boto3.client("cloudwatch", endpoint_url=emulated.endpoint_url, region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="myapp-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    alarms = {"alarmNames": ["myapp-5xx"], "enable": True, "rollback": True}
    cluster, describe = ecs_service(ecs, 2, deploymentConfiguration={"alarms": alarms})
    v1_arn = settle(describe)["taskDefinition"]
    ecs.update_service(cluster=cluster, service="myapp", taskDefinition=register(ecs, "v2-slow"))
    cloudwatch.set_alarm_state(AlarmName="myapp-5xx", StateValue="ALARM", StateReason="5xx")
    wait_for(describe, completed_on(v1_arn), timeout=15)
    latest = service_deployments(ecs, cluster)[0]
    assert latest["status"] == "ROLLBACK_SUCCESSFUL"
    assert latest["alarms"]["triggeredAlarmNames"] == ["myapp-5xx"]
    assert latest["alarms"]["status"] == "TRIGGERED"


def external(ecs: Any, **params: Any) -> str:
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.create_service(
        cluster=cluster,
        serviceName="myapp",
        desiredCount=2,
        deploymentController={"type": "EXTERNAL"},
        launchType="FARGATE",
        **params,
    )
    return cluster


def refused(call: Callable[[], Any], code: str, words: str) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code
    assert words in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("serviceConnectConfiguration", SERVICE_CONNECT, id="service-connect"),
        pytest.param(
            "vpcLatticeConfigurations",
            [
                {
                    "roleArn": "arn:aws:iam::123456789012:role/l",
                    "targetGroupArn": "arn:tg",
                    "portName": "web",
                }
            ],
            id="vpc-lattice",
        ),
        pytest.param(
            "volumeConfigurations",
            [{"name": "data", "managedEBSVolume": {"roleArn": "arn:aws:iam::123456789012:role/e"}}],
            id="ebs-volumes",
        ),
    ],
)
def test_ecs_only_fields_are_refused_on_external_services(ecs: Any, field: str, value: Any) -> None:
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    refused(
        lambda: ecs.create_service(
            cluster=cluster,
            serviceName="myapp",
            desiredCount=1,
            deploymentController={"type": "EXTERNAL"},
            **{field: value},
        ),
        "InvalidParameterException",
        field,
    )
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []
    cluster = external(ecs)
    refused(
        lambda: ecs.update_service(cluster=cluster, service="myapp", **{field: value}),
        "InvalidParameterException",
        field,
    )


def test_external_update_service_takes_only_what_ecs_lets_it(ecs: Any) -> None:
    cluster = external(ecs)
    v2 = register(ecs, "v2")
    refused(
        lambda: ecs.update_service(cluster=cluster, service="myapp", taskDefinition=v2),
        "InvalidParameterException",
        "Unable to update task definition on services with a EXTERNAL deployment controller",
    )
    refused(
        lambda: ecs.update_service(cluster=cluster, service="myapp", networkConfiguration=NETWORK),
        "InvalidParameterException",
        "network parameters",
    )
    refused(
        lambda: ecs.update_service(cluster=cluster, service="myapp", forceNewDeployment=True),
        "InvalidParameterException",
        "forceNewDeployment",
    )
    updated = ecs.update_service(
        cluster=cluster,
        service="myapp",
        desiredCount=3,
        healthCheckGracePeriodSeconds=20,
        propagateTags="SERVICE",
        enableECSManagedTags=True,
    )["service"]
    assert (updated["desiredCount"], updated["healthCheckGracePeriodSeconds"]) == (3, 20)
    cluster2 = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster2)
    refused(
        lambda: ecs.create_service(
            cluster=cluster2,
            serviceName="myapp",
            taskDefinition=v2,
            deploymentController={"type": "EXTERNAL"},
        ),
        "InvalidParameterException",
        "TaskDefinition must be blank.",
    )
    for field, value, words in (
        ("networkConfiguration", NETWORK, "NetworkConfiguration must be null."),
        (
            "loadBalancers",
            [{"targetGroupArn": "arn:aws:elasticloadbalancing:tg", "containerName": "web"}],
            "LoadBalancers must be empty or null.",
        ),
    ):
        refused(
            lambda field=field, value=value: ecs.create_service(
                cluster=cluster2,
                serviceName="myapp",
                deploymentController={"type": "EXTERNAL"},
                **{field: value},
            ),
            "InvalidParameterException",
            words,
        )


def test_task_set_calls_are_refused_on_ecs_controller_services(ecs: Any) -> None:
    cluster, describe = ecs_service(ecs, 1)
    arn = describe()["taskDefinition"]
    words = "only supports task set management on services configured to use external"
    calls: list[Callable[[], Any]] = [
        lambda: ecs.create_task_set(cluster=cluster, service="myapp", taskDefinition=arn),
        lambda: ecs.update_task_set(
            cluster=cluster, service="myapp", taskSet="ts-1", scale={"value": 50, "unit": "PERCENT"}
        ),
        lambda: ecs.delete_task_set(cluster=cluster, service="myapp", taskSet="ts-1"),
        lambda: ecs.update_service_primary_task_set(
            cluster=cluster, service="myapp", primaryTaskSet="ts-1"
        ),
    ]
    for call in calls:
        refused(call, "InvalidParameterException", words)


def test_controller_switch_keeps_the_tasks_and_ecs_refusals(ecs: Any) -> None:
    cluster, describe = ecs_service(ecs, 2)
    settle(describe)
    tasks = set(ecs.list_tasks(cluster=cluster, serviceName="myapp")["taskArns"])
    ecs.update_service(cluster=cluster, service="myapp", deploymentController={"type": "EXTERNAL"})
    switched = describe()
    assert switched["deploymentController"] == {"type": "EXTERNAL"}
    [task_set] = switched["taskSets"]
    assert (task_set["status"], task_set["taskDefinition"]) == (
        "PRIMARY",
        switched["taskDefinition"],
    )
    _, seen = wait_for(describe, lambda s: s["taskSets"][0]["stabilityStatus"] == "STEADY_STATE")
    assert all(s["runningCount"] == 2 for s in seen)
    assert set(ecs.list_tasks(cluster=cluster, serviceName="myapp")["taskArns"]) == tasks

    ecs.update_service(cluster=cluster, service="myapp", deploymentController={"type": "ECS"})
    back, seen = wait_for(describe, lambda s: s["deployments"][0]["rolloutState"] == "COMPLETED")
    assert back["taskSets"] == []
    assert all(s["runningCount"] == 2 for s in seen)
    assert set(ecs.list_tasks(cluster=cluster, serviceName="myapp")["taskArns"]) == tasks

    # Refused: a deployment in progress; Service Connect on the service; two task sets.
    ecs.update_service(cluster=cluster, service="myapp", taskDefinition=register(ecs, "v2-slow"))
    refused(
        lambda: ecs.update_service(
            cluster=cluster, service="myapp", deploymentController={"type": "EXTERNAL"}
        ),
        "InvalidParameterException",
        "deployment is in progress",
    )
    connected, connected_describe = ecs_service(ecs, 1, serviceConnectConfiguration=SERVICE_CONNECT)
    settle(connected_describe)
    refused(
        lambda: ecs.update_service(
            cluster=connected, service="myapp", deploymentController={"type": "EXTERNAL"}
        ),
        "InvalidParameterException",
        "Service Connect",
    )
    two = external(ecs)
    for tag in ("v1", "v2"):
        ecs.create_task_set(cluster=two, service="myapp", taskDefinition=register(ecs, tag))
    refused(
        lambda: ecs.update_service(
            cluster=two, service="myapp", deploymentController={"type": "ECS"}
        ),
        "InvalidParameterException",
        "multiple tasksets",
    )


@pytest.mark.parametrize("action", ["CONTINUE", "ROLLBACK"])
def test_a_pause_hook_holds_the_deployment_until_continue_service_deployment(
    ecs: Any, action: str
) -> None:
    """ECS's PAUSE lifecycle hook: AWAITING_ACTION with a hookId in lifecycleHookDetails,
    the deployment held at the stage; ContinueServiceDeployment CONTINUE goes on to
    COMPLETED, ROLLBACK returns to the previous revision; a hook not awaiting is refused."""
    settings = {
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 0,
        "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}],
    }
    cluster, describe = ecs_service(ecs, 2)
    v1 = settle(describe)["taskDefinition"]
    v2 = register(ecs, "v2")
    ecs.update_service(
        cluster=cluster, service="myapp", taskDefinition=v2, deploymentConfiguration=settings
    )

    def record() -> dict[str, Any]:
        return service_deployments(ecs, cluster)[0]

    held, _ = wait_for(record, lambda r: bool(r.get("lifecycleHookDetails")), timeout=15)
    [hook] = held["lifecycleHookDetails"]
    assert (hook["targetType"], hook["status"]) == ("PAUSE", "AWAITING_ACTION")
    assert held["lifecycleStage"] == "SCALE_UP"
    time.sleep(0.5)
    assert record()["status"] == "IN_PROGRESS"
    assert record()["lifecycleStage"] == "SCALE_UP"  # held

    arn = held["serviceDeploymentArn"]
    with pytest.raises(ClientError, match="not awaiting action"):
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId="nope")
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action=action)
    wait_for(describe, completed_on(v2 if action == "CONTINUE" else v1), timeout=15)
    done = service_deployments(ecs, cluster)[0]
    assert done["status"] == ("SUCCESSFUL" if action == "CONTINUE" else "ROLLBACK_SUCCESSFUL")
    assert done["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"
    with pytest.raises(ClientError, match="not awaiting action"):
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"])
