"""`ecs-gitops import` and adoption, against the emulated AWS set up with boto3 as a team
that used the console would have it: files are written, `validate` accepts them, `diff`
finds nothing, and `sync` only tags the services as ours (TagResource): no revision, no
deployment, no task set. The find-or-register rule recognises a revision someone else
registered by its content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from controller.api.ecs_shapes import TaskDefinitionInput
from controller.aws.client import AwsClients, AwsSettings
from controller.aws.ecs import Ecs
from controller.reconcile.identity import spec_hash
from controller.reconcile.taskset import Registrations, ensure_task_definition
from tests.conftest import REGION

ACCOUNT = "123456789012"


def client(endpoint: str, service: str = "ecs") -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


# as `aws ecs register-task-definition` got it: no essential, no protocol, no hostPort
CONSOLE_TASK_DEFINITION: dict[str, Any] = {
    "family": "api",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "public.ecr.aws/nginx/nginx:1.27",
            "portMappings": [{"containerPort": 80, "name": "http"}],
            "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
        }
    ],
}


async def test_a_revision_registered_by_someone_else_is_found_by_its_content(
    aws_endpoint: str,
) -> None:
    """No spec-hash tag on it: the same content, as ECS filled it in, is still the same
    revision, so taking a service over registers nothing."""
    theirs = client(aws_endpoint).register_task_definition(**CONSOLE_TASK_DEFINITION)
    arn = theirs["taskDefinition"]["taskDefinitionArn"]
    # the file as `ecs-gitops import` writes it: ECS's defaults spelled out, order changed
    written = json.loads(json.dumps(CONSOLE_TASK_DEFINITION))
    container = written["containerDefinitions"][0]
    container.update(essential=True, cpu=0)
    container["portMappings"][0].update(protocol="tcp", hostPort=80)
    container["environment"].reverse()
    td = TaskDefinitionInput.model_validate(written)
    changed = TaskDefinitionInput.model_validate(
        {**written, "containerDefinitions": [{**container, "image": "nginx:1.28"}]}
    )
    async with AwsClients(AwsSettings(REGION, aws_endpoint)) as aws:
        ecs = Ecs(aws)
        found, registered = await ensure_task_definition(
            ecs, td, spec_hash(td), [], instance="ecs-gitops", registrations=Registrations()
        )
        assert (found, registered) == (arn, False)
        other, registered = await ensure_task_definition(
            ecs,
            changed,
            spec_hash(changed),
            [],
            instance="ecs-gitops",
            registrations=Registrations(),
        )
        assert registered
        assert other != arn
    families = client(aws_endpoint).list_task_definitions(familyPrefix="api")["taskDefinitionArns"]
    assert len(families) == 2


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-aaa"], "securityGroups": ["sg-xxx"]}}


def external_service(endpoint: str, cluster: str, name: str, task_definition: str) -> None:
    """An EXTERNAL service with one task set made PRIMARY, as a team's own deploy tool
    (or the console and CLI) leaves it."""
    ecs = client(endpoint)
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        desiredCount=2,
        deploymentController={"type": "EXTERNAL"},
        tags=[{"key": "team", "value": "payments"}],
    )
    task_set = ecs.create_task_set(
        cluster=cluster,
        service=name,
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        scale={"value": 100.0, "unit": "PERCENT"},
        externalId=f"their-deployer-{name}",
    )["taskSet"]
    ecs.update_service_primary_task_set(
        cluster=cluster, service=name, primaryTaskSet=task_set["taskSetArn"]
    )


def autoscale(endpoint: str, cluster: str, name: str, *, step: bool = False) -> None:
    scaling = client(endpoint, "application-autoscaling")
    rid = f"service/{cluster}/{name}"
    dimension = "ecs:service:DesiredCount"
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=rid,
        ScalableDimension=dimension,
        MinCapacity=2,
        MaxCapacity=6,
    )
    scaling.put_scaling_policy(
        PolicyName="cpu60",
        ServiceNamespace="ecs",
        ResourceId=rid,
        ScalableDimension=dimension,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
            },
            "ScaleInCooldown": 120,
        },
    )
    if step:
        scaling.put_scaling_policy(
            PolicyName="queue-depth",
            ServiceNamespace="ecs",
            ResourceId=rid,
            ScalableDimension=dimension,
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
                "Cooldown": 60,
            },
        )


def mutating(aws: AwsClients) -> dict[str, int]:
    return aws.stats.by_operation(mutating=True)


def import_cluster(endpoint: str, out: Path, *extra: str) -> Any:
    from tests.conftest import run_cli

    return run_cli(
        "import",
        "--endpoint-url",
        endpoint,
        "--region",
        REGION,
        "--cluster",
        "team",
        "--out",
        str(out),
        *extra,
    )


async def test_import_then_diff_is_empty_and_sync_only_tags(emulated: Any, tmp_path: Path) -> None:
    from tests.conftest import run_cli
    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs = client(endpoint)
    ecs.create_cluster(
        clusterName="team", settings=[{"name": "containerInsights", "value": "enabled"}]
    )
    api = ecs.register_task_definition(
        **CONSOLE_TASK_DEFINITION, tags=[{"key": "team", "value": "payments"}]
    )
    arn = api["taskDefinition"]["taskDefinitionArn"]
    for i in range(4):
        external_service(endpoint, "team", f"api-{i}", arn)
    autoscale(endpoint, "team", "api-1")
    autoscale(endpoint, "team", "api-2", step=True)
    out = tmp_path / "imported"

    done = import_cluster(endpoint, out)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (out / "services").iterdir()) == [
        f"api-{i}.yaml" for i in range(4)
    ]
    td = read_json(out / "task-definitions" / "api.json")
    assert not {"taskDefinitionArn", "revision", "status", "compatibilities", "registeredAt"} & set(
        td
    )
    assert td["tags"] == [{"key": "team", "value": "payments"}]
    assert run_cli("validate", str(out)).returncode == 0
    diff = run_cli("diff", "--source", str(out), "--endpoint-url", endpoint, "--region", REGION)
    assert diff.returncode == 0, diff.stdout + diff.stderr

    outcome, aws = await sync_with(endpoint, out)
    assert outcome.ok, {str(k): s.message for k, s in outcome.statuses.items()}
    assert set(mutating(aws)) == {"ecs:TagResource"}, mutating(aws)
    services = ecs.describe_services(
        cluster="team", services=[f"api-{i}" for i in range(4)], include=["TAGS"]
    )
    for service in services["services"]:
        tags = {t["key"]: t["value"] for t in service["tags"]}
        assert tags["ecs-gitops.dev/managed-by"] == "ecs-gitops"
        assert tags["team"] == "payments"
        assert [ts["externalId"] for ts in service["taskSets"]] == [
            f"their-deployer-{service['serviceName']}"
        ]
    assert len(ecs.list_task_definitions(familyPrefix="api")["taskDefinitionArns"]) == 1
    again = run_cli("diff", "--source", str(out), "--endpoint-url", endpoint, "--region", REGION)
    assert again.returncode == 0, again.stdout


def team_with_external_api(endpoint: str) -> tuple[Any, str]:
    """Cluster `team` with the task-set service `api` on the console task definition, as
    another tool left it: (the ECS client, the revision's ARN)."""
    ecs = client(endpoint)
    ecs.create_cluster(clusterName="team")
    arn = ecs.register_task_definition(**CONSOLE_TASK_DEFINITION)["taskDefinition"][
        "taskDefinitionArn"
    ]
    external_service(endpoint, "team", "api", arn)
    return ecs, arn


def service_file(root: Path, name: str, *, adopt: bool, controller: str = "EXTERNAL") -> Path:
    """The file `import` would write for external_service(name), with syncPolicy.adopt as
    given and the deployment controller the file asks for."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "api.json").write_text(json.dumps(CONSOLE_TASK_DEFINITION))
    (root / f"{name}.yaml").write_text(
        f"""\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: {name}}}
spec:
  cluster: team
  desiredCount: 2
  taskDefinition: api.json
  launchType: FARGATE
  networkConfiguration: {json.dumps(NETWORK)}
  tags: {{team: payments}}
  deploymentController: {{type: {controller}}}
  syncPolicy: {{adopt: {str(adopt).lower()}}}
"""
    )
    return root


async def test_a_service_not_ours_is_left_alone_unless_its_file_says_adopt(
    emulated: Any, tmp_path: Path
) -> None:
    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs, _ = team_with_external_api(endpoint)

    outcome, aws = await sync_with(
        endpoint, service_file(tmp_path / "off", "api", adopt=False), within=5
    )
    status = next(iter(outcome.statuses.values()))
    assert "syncPolicy: {adopt: true}" in (status.last_error or status.message)
    assert mutating(aws) == {}

    outcome, aws = await sync_with(endpoint, service_file(tmp_path / "on", "api", adopt=True))
    status = next(iter(outcome.statuses.values()))
    assert outcome.ok, status.message
    assert set(mutating(aws)) == {"ecs:TagResource"}
    service = ecs.describe_services(cluster="team", services=["api"], include=["TAGS"])["services"][
        0
    ]
    assert {t["key"]: t["value"] for t in service["tags"]}[
        "ecs-gitops.dev/managed-by"
    ] == "ecs-gitops"


async def test_a_switch_ecs_forbids_is_stalled_with_the_rule_and_the_fix(
    emulated: Any, tmp_path: Path
) -> None:
    """EXTERNAL -> ECS with two task sets (a rollout in progress): ECS refuses it, so
    nothing is called and the status names the rule and what to do."""
    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs, arn = team_with_external_api(endpoint)
    ecs.create_task_set(
        cluster="team",
        service="api",
        taskDefinition=arn,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        scale={"value": 50.0, "unit": "PERCENT"},
    )
    root = service_file(tmp_path / "src", "api", adopt=True, controller="ECS")
    await sync_with(endpoint, root, within=3)  # adopts it (tags only)

    outcome, aws = await sync_with(endpoint, root, within=3)
    status = next(iter(outcome.statuses.values()))
    assert status.rollout is not None
    assert status.rollout.phase == "SwitchBlocked"
    assert "exactly one task set" in status.message
    assert "Fix:" in status.message
    stalled = [c for c in status.conditions if c.type == "Stalled"]
    assert [c.reason for c in stalled] == ["SwitchBlocked"]
    assert mutating(aws) == {}
    service = ecs.describe_services(cluster="team", services=["api"])["services"][0]
    assert service["deploymentController"] == {"type": "EXTERNAL"}


async def test_an_adopted_ecs_service_switched_to_external_keeps_serving(
    emulated: Any, tmp_path: Path
) -> None:
    """ECS -> EXTERNAL in place: ECS keeps the running tasks (its deployment becomes the
    PRIMARY task set), which the file matches, so no task set is created and the
    running count, polled through the switch, never reaches 0."""
    import asyncio

    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs = client(endpoint)
    ecs.create_cluster(clusterName="team")
    arn = ecs.register_task_definition(**CONSOLE_TASK_DEFINITION)["taskDefinition"][
        "taskDefinitionArn"
    ]
    ecs.create_service(
        cluster="team",
        serviceName="api",
        taskDefinition=arn,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        tags=[{"key": "team", "value": "payments"}],
    )
    for _ in range(100):
        if (
            ecs.describe_services(cluster="team", services=["api"])["services"][0]["runningCount"]
            == 2
        ):
            break
        await asyncio.sleep(0.1)
    running: list[int] = []
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set():
            service = await asyncio.to_thread(
                lambda: ecs.describe_services(cluster="team", services=["api"])["services"][0]
            )
            running.append(service["runningCount"])
            await asyncio.sleep(0.1)

    poller = asyncio.create_task(poll())
    outcome, aws = await sync_with(endpoint, service_file(tmp_path / "src", "api", adopt=True))
    await asyncio.sleep(1.0)
    stop.set()
    await poller
    status = next(iter(outcome.statuses.values()))
    assert outcome.ok, status.message
    assert running, "never polled"
    assert min(running) > 0, running
    service = ecs.describe_services(cluster="team", services=["api"])["services"][0]
    assert service["deploymentController"] == {"type": "EXTERNAL"}
    assert len(service["taskSets"]) == 1
    assert "ecs:CreateTaskSet" not in mutating(aws)
    assert "ecs:RegisterTaskDefinition" not in mutating(aws)


# as the console's "Create new task definition" form writes one: every list spelled out
# empty, a named port with appProtocol, awslogs in non-blocking mode, a runtime platform
def console_task_definition(family: str, image: str, *, port: int | None = 80) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": family,
        "image": image,
        "cpu": 0,
        "portMappings": []
        if port is None
        else [
            {
                "name": f"{family}-{port}-tcp",
                "containerPort": port,
                "hostPort": port,
                "protocol": "tcp",
                "appProtocol": "http",
            }
        ],
        "essential": True,
        "environment": [],
        "environmentFiles": [],
        "mountPoints": [],
        "volumesFrom": [],
        "ulimits": [],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{family}",
                "mode": "non-blocking",
                "awslogs-create-group": "true",
                "max-buffer-size": "25m",
                "awslogs-region": REGION,
                "awslogs-stream-prefix": "ecs",
            },
            "secretOptions": [],
        },
        "systemControls": [],
    }
    return {
        "family": family,
        "containerDefinitions": [container],
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
    }


def ecs_service(endpoint: str, name: str, task_definition: str, **extra: Any) -> None:
    """A service on ECS's own controller as the console creates one: the circuit breaker
    with rollback on, 100/200, a capacity provider strategy instead of a launch type."""
    client(endpoint).create_service(
        cluster="team",
        serviceName=name,
        taskDefinition=task_definition,
        desiredCount=extra.pop("desiredCount", 2),
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1, "base": 0}],
        platformVersion="LATEST",
        networkConfiguration={
            "awsvpcConfiguration": {**NETWORK["awsvpcConfiguration"], "assignPublicIp": "ENABLED"}
        },
        deploymentConfiguration=extra.pop(
            "deploymentConfiguration",
            {
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
        ),
        schedulingStrategy="REPLICA",
        enableECSManagedTags=True,
        propagateTags="SERVICE",
        **extra,
    )


async def settled(endpoint: str, names: list[str]) -> None:
    """Until every ECS-controller service's deployment has COMPLETED: a team's services
    are imported at rest."""
    import asyncio

    ecs = client(endpoint)
    for _ in range(200):
        services = []
        for i in range(0, len(names), 10):
            services += ecs.describe_services(cluster="team", services=names[i : i + 10])[
                "services"
            ]
        if all(
            d.get("rolloutState", "COMPLETED") == "COMPLETED"
            and d["runningCount"] == d["desiredCount"]
            for s in services
            for d in s.get("deployments", [])
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not settled: {names}")


async def test_import_of_twenty_console_services_then_diff_is_empty_and_sync_only_tags(
    emulated: Any, tmp_path: Path
) -> None:
    """Twenty services as a team that used the console and the CLI has them: ten on task
    sets (one shared revision, some autoscaled with target tracking and step policies),
    ten on ECS's own controller (console task definitions, a capacity provider strategy,
    the circuit breaker, alarms, one with Service Connect in the cluster's namespace, one
    with ECS's blue/green... left out: it needs a load balancer the emulator does not
    run). import -> validate 0 -> diff 0 -> sync: TagResource only -> sync: nothing."""
    from tests.conftest import run_cli
    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs = client(endpoint)
    ecs.create_cluster(
        clusterName="team",
        settings=[{"name": "containerInsights", "value": "enabled"}],
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        serviceConnectDefaults={"namespace": "team"},
    )
    api = ecs.register_task_definition(**CONSOLE_TASK_DEFINITION)["taskDefinition"]
    for i in range(10):
        external_service(endpoint, "team", f"api-{i}", api["taskDefinitionArn"])
    for i in (1, 4, 7):
        autoscale(endpoint, "team", f"api-{i}", step=i == 4)

    web = ecs.register_task_definition(**console_task_definition("web", "nginx:1.27"))
    worker = ecs.register_task_definition(
        **console_task_definition("worker", "busybox:1.36", port=None)
    )
    web_arn = web["taskDefinition"]["taskDefinitionArn"]
    worker_arn = worker["taskDefinition"]["taskDefinitionArn"]
    ecs_names = [f"web-{i}" for i in range(6)] + [f"worker-{i}" for i in range(3)] + ["mesh"]
    for i in range(6):
        extra: dict[str, Any] = {}
        if i == 2:
            extra["deploymentConfiguration"] = {
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 150,
                "minimumHealthyPercent": 50,
                "alarms": {"alarmNames": ["web-5xx"], "enable": True, "rollback": True},
            }
        if i == 3:
            extra["enableExecuteCommand"] = True
            extra["tags"] = [{"key": "team", "value": "web"}]
        ecs_service(endpoint, f"web-{i}", web_arn, **extra)
    for i in range(3):
        ecs_service(endpoint, f"worker-{i}", worker_arn, desiredCount=1)
    autoscale(endpoint, "team", "web-0")
    autoscale(endpoint, "team", "web-5", step=True)
    ecs_service(
        endpoint,
        "mesh",
        web_arn,
        serviceConnectConfiguration={
            "enabled": True,
            "services": [
                {
                    "portName": "web-80-tcp",
                    "discoveryName": "mesh",
                    "clientAliases": [{"port": 80, "dnsName": "mesh"}],
                }
            ],
        },
    )
    await settled(endpoint, ecs_names)
    families_before = {
        family: ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
        for family in ("api", "web", "worker")
    }

    out = tmp_path / "imported"
    done = import_cluster(endpoint, out)
    assert done.returncode == 0, done.stderr
    assert len(list((out / "services").iterdir())) == 20
    assert sorted(p.name for p in (out / "task-definitions").iterdir()) == [
        "api.json",
        "web.json",
        "worker.json",
    ]
    valid = run_cli("validate", str(out))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    diff = run_cli("diff", "--source", str(out), "--endpoint-url", endpoint, "--region", REGION)
    assert diff.returncode == 0, diff.stdout + diff.stderr

    outcome, aws = await sync_with(endpoint, out)
    assert outcome.ok, {
        str(k): s.message for k, s in outcome.statuses.items() if s.sync_status != "Synced"
    }
    assert set(mutating(aws)) == {"ecs:TagResource"}, mutating(aws)
    assert mutating(aws)["ecs:TagResource"] == 20
    outcome, aws = await sync_with(endpoint, out)
    assert outcome.ok
    assert mutating(aws) == {}, mutating(aws)

    names = [f"api-{i}" for i in range(10)] + ecs_names
    for i in range(0, 20, 10):
        for service in ecs.describe_services(
            cluster="team", services=names[i : i + 10], include=["TAGS"]
        )["services"]:
            tags = {t["key"]: t["value"] for t in service["tags"]}
            assert tags["ecs-gitops.dev/managed-by"] == "ecs-gitops", service["serviceName"]
            running = service.get("taskSets") or service.get("deployments")
            assert len(running) == 1, service["serviceName"]  # nothing new deployed
    assert families_before == {
        family: ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
        for family in ("api", "web", "worker")
    }
    again = run_cli("diff", "--source", str(out), "--endpoint-url", endpoint, "--region", REGION)
    assert again.returncode == 0, again.stdout


async def poll_running(endpoint: str, name: str, stop: Any, seen: list[int]) -> None:
    """Append the service's runningCount every 0.1 s until stop is set."""
    import asyncio

    ecs = client(endpoint)
    while not stop.is_set():
        service = await asyncio.to_thread(
            lambda: ecs.describe_services(cluster="team", services=[name])["services"][0]
        )
        seen.append(service["runningCount"])
        await asyncio.sleep(0.1)


async def test_an_adopted_external_service_switched_to_ecs_keeps_serving(
    emulated: Any, tmp_path: Path
) -> None:
    """EXTERNAL -> ECS in place: one task set, the PRIMARY, becomes ECS's deployment of the
    same revision; the only change is the UpdateService that switches (no revision, no
    task set, no second deployment), ECS's deployment is followed to Synced, and the
    running count never reaches 0."""
    import asyncio

    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs, arn = team_with_external_api(endpoint)
    root = service_file(tmp_path / "src", "api", adopt=True, controller="ECS")
    seen: list[int] = []
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_running(endpoint, "api", stop, seen))
    for _ in range(100):  # the task set's tasks are running before the take-over
        if seen and seen[-1] == 2:
            break
        await asyncio.sleep(0.1)
    seen.clear()  # from here on it must never read 0
    outcome, aws = await sync_with(endpoint, root)
    stop.set()
    await poller
    status = next(iter(outcome.statuses.values()))
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    calls = mutating(aws)
    assert calls.get("ecs:UpdateService") == 1, calls  # the switch, nothing after it
    assert not {"ecs:RegisterTaskDefinition", "ecs:CreateTaskSet", "ecs:DeleteTaskSet"} & set(
        calls
    ), calls
    assert min(seen) > 0, seen
    service = ecs.describe_services(cluster="team", services=["api"])["services"][0]
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["taskSets"] == []
    assert [(d["taskDefinition"], d["rolloutState"]) for d in service["deployments"]] == [
        (arn, "COMPLETED")
    ]
    outcome, aws = await sync_with(endpoint, root, within=5)
    assert outcome.ok
    assert mutating(aws) == {}


def ecs_controller_service(endpoint: str, name: str, arn: str, **extra: Any) -> None:
    client(endpoint).create_service(
        cluster="team",
        serviceName=name,
        taskDefinition=arn,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=NETWORK,
        tags=[{"key": "team", "value": "payments"}],
        **extra,
    )


async def test_an_ecs_service_with_service_connect_is_not_switched_to_external(
    emulated: Any, tmp_path: Path
) -> None:
    """ECS refuses EXTERNAL for a service using Service Connect: the file that asks for it
    gets Stalled with that rule and the fix, and nothing is called beyond the adoption's
    TagResource."""
    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs = client(endpoint)
    ecs.create_cluster(clusterName="team", serviceConnectDefaults={"namespace": "team"})
    named = json.loads(json.dumps(CONSOLE_TASK_DEFINITION))
    arn = ecs.register_task_definition(**named)["taskDefinition"]["taskDefinitionArn"]
    connect = {
        "enabled": True,
        "services": [{"portName": "http", "clientAliases": [{"port": 80, "dnsName": "api"}]}],
    }
    ecs_controller_service(endpoint, "api", arn, serviceConnectConfiguration=connect)
    root = service_file(tmp_path / "src", "api", adopt=True, controller="EXTERNAL")

    outcome, aws = await sync_with(endpoint, root, within=5)
    status = next(iter(outcome.statuses.values()))
    assert status.sync_status != "Synced"
    assert "Service Connect" in status.message, status.message
    assert "Fix: keep deploymentController {type: ECS}" in status.message
    assert [c.reason for c in status.conditions if c.type == "Stalled"] == ["SwitchBlocked"]
    assert set(mutating(aws)) <= {"ecs:TagResource"}, mutating(aws)
    service = ecs.describe_services(cluster="team", services=["api"])["services"][0]
    assert service["deploymentController"] == {"type": "ECS"}


async def test_a_switch_waits_while_ecs_runs_a_deployment(emulated: Any, tmp_path: Path) -> None:
    """ECS -> EXTERNAL while ECS holds a deployment (a PAUSE lifecycle hook): ECS refuses a
    controller change mid-deployment, so the status says so and nothing is called."""
    import asyncio

    from tests.emulated_ecs import sync_with

    endpoint = emulated.endpoint_url
    ecs = client(endpoint)
    ecs.create_cluster(clusterName="team")
    v1 = ecs.register_task_definition(**CONSOLE_TASK_DEFINITION)["taskDefinition"]
    changed = {
        **CONSOLE_TASK_DEFINITION,
        "containerDefinitions": [
            {**CONSOLE_TASK_DEFINITION["containerDefinitions"][0], "image": "nginx:1.28"}
        ],
    }
    v2 = ecs.register_task_definition(**changed)["taskDefinition"]["taskDefinitionArn"]
    ecs_controller_service(
        endpoint,
        "api",
        v1["taskDefinitionArn"],
        deploymentConfiguration={
            "strategy": "BLUE_GREEN",
            "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}],
        },
    )
    ecs.update_service(cluster="team", service="api", taskDefinition=v2)
    for _ in range(100):
        deployments = ecs.describe_services(cluster="team", services=["api"])["services"][0][
            "deployments"
        ]
        if len(deployments) == 2:
            break
        await asyncio.sleep(0.1)
    root = service_file(tmp_path / "src", "api", adopt=True, controller="EXTERNAL")
    (root / "api.json").write_text(json.dumps(changed))
    await sync_with(endpoint, root, within=3)  # adopts it (tags only)

    outcome, aws = await sync_with(endpoint, root, within=3)
    status = next(iter(outcome.statuses.values()))
    assert "while a deployment is in progress" in status.message, status.message
    assert "Fix: wait for it to complete" in status.message
    assert mutating(aws) == {}
    service = ecs.describe_services(cluster="team", services=["api"])["services"][0]
    assert service["deploymentController"] == {"type": "ECS"}
    assert len(service["deployments"]) == 2
