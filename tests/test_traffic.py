"""Traffic shifting with two target groups on the emulated AWS (moto's ELBv2).

Each test builds an ALB in the pre-created subnets with two `ip` target groups (blue,
green), a production listener (port 80) with a listener rule, and a test listener (port
8080), then deploys an EcsService whose load balancer carries ECS's advancedConfiguration.
Weights are read back with boto3, as an operator would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from controller.api import EcsService
from controller.aws.client import AwsClients, AwsSettings
from controller.aws.elbv2 import _with_forward
from controller.aws.models import LiveTaskSet
from controller.loader import load_tree
from controller.reconcile.context import Context
from controller.reconcile.normalize import compare_task_set
from controller.reconcile.plan import plan_resource
from controller.reconcile.rollout.state import ABORT_TAG, PROMOTE_TAG
from controller.reconcile.sync import sync_all
from controller.reconcile.taskset import DesiredTaskSet
from controller.sources.directory import DirectoryTree
from tests.conftest import REGION
from tests.emulated_ecs import (
    ecs,
    gate,
    load,
    make_alarm,
    service_status,
    set_alarm,
    sync,
    sync_with,
    write_web,
)

LOAD_BALANCERS = """\
  loadBalancers:
    - targetGroupArn: {blue}
      containerName: web
      containerPort: 8080
      advancedConfiguration:
        alternateTargetGroupArn: {green}
        productionListenerRule: {production}
        testListenerRule: {test}
"""
CANARY_GATED = "{strategy: canary, canary: {steps: [{weight: 25}, {weight: 50}]}}"


@dataclass(frozen=True)
class Alb:
    blue: str
    green: str
    listener: str
    rule: str
    test_listener: str


def elbv2(endpoint: str) -> Any:
    return boto3.client("elbv2", endpoint_url=endpoint, region_name=REGION)


def make_alb(endpoint: str) -> Alb:
    """An ALB in subnet-aaa/subnet-bbb: everything forwards to blue, as a user sets it up."""
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION)
    vpc = ec2.describe_subnets(SubnetIds=["subnet-aaa"])["Subnets"][0]["VpcId"]
    elb = elbv2(endpoint)
    lb = elb.create_load_balancer(
        Name="web", Subnets=["subnet-aaa", "subnet-bbb"], SecurityGroups=["sg-xxx"]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    blue, green = (
        elb.create_target_group(Name=n, Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for n in ("web-blue", "web-green")
    )
    forward = [{"Type": "forward", "TargetGroupArn": blue}]
    listener = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=forward
    )["Listeners"][0]["ListenerArn"]
    rule = elb.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
        Actions=forward,
    )["Rules"][0]["RuleArn"]
    test = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=8080, DefaultActions=forward
    )["Listeners"][0]["ListenerArn"]
    return Alb(blue, green, listener, rule, test)


def write(
    root: Path, alb: Alb, tag: str, deployment: str, *, production: str | None = None
) -> Path:
    balancers = LOAD_BALANCERS.format(
        blue=alb.blue, green=alb.green, production=production or alb.rule, test=alb.test_listener
    )
    return write_web(root, tag, deployment, spec=balancers)


def name(arn: str) -> str:
    return arn.split(":")[-1].split("/")[1]


def weights(endpoint: str, arn: str) -> dict[str, float]:
    """Percent of the traffic per target group name, as the ALB would split it."""
    elb = elbv2(endpoint)
    rule = ":listener-rule/" in arn
    found = (
        elb.describe_rules(RuleArns=[arn]) if rule else elb.describe_listeners(ListenerArns=[arn])
    )
    actions = found["Rules"][0]["Actions"] if rule else found["Listeners"][0]["DefaultActions"]
    forward = next(a for a in actions if a["Type"] == "forward")
    groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}
    ]
    total = sum(g["Weight"] for g in groups)
    return {name(g["TargetGroupArn"]): 100.0 * g["Weight"] / total for g in groups if g["Weight"]}


def sets(endpoint: str) -> list[tuple[str, str, float]]:
    """(status, target group name, scale) of each live task set, PRIMARY first."""
    service = ecs(endpoint).describe_services(cluster="prod-cluster", services=["web"])
    out = [
        (ts["status"], name(ts["loadBalancers"][0]["targetGroupArn"]), ts["scale"]["value"])
        for ts in service["services"][0]["taskSets"]
        if ts["status"] != "DRAINING"
    ]
    return sorted(out, key=lambda s: s[0] != "PRIMARY")


async def test_canary_weights_follow_the_steps_and_alternate(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    root = write(tmp_path / "src", alb, "v1", CANARY_GATED)
    assert (await sync(endpoint, root)).ok
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-blue": 100.0}

    write(root, alb, "v2", CANARY_GATED)
    outcome = await sync(endpoint, root, within=20)  # room for a busy machine
    assert service_status(outcome).rollout.phase == "Paused"
    # both sets at full scale, the new one on the alternate group; the rule splits traffic
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0), ("ACTIVE", "web-green", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-blue": 75.0, "web-green": 25.0}
    assert weights(endpoint, alb.test_listener) == {"web-green": 100.0}
    assert weights(endpoint, alb.listener) == {"web-blue": 100.0}  # not ours: untouched

    gate(endpoint, PROMOTE_TAG, lambda s: f"{s.external_id}/0")
    outcome = await sync(endpoint, root, within=20)  # room for a busy machine
    assert service_status(outcome).rollout.phase == "Paused"
    assert weights(endpoint, alb.rule) == {"web-blue": 50.0, "web-green": 50.0}

    gate(endpoint, PROMOTE_TAG, lambda s: f"{s.external_id}/1")
    outcome = await sync(endpoint, root, within=30)
    assert outcome.ok, service_status(outcome)
    assert sets(endpoint) == [("PRIMARY", "web-green", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-green": 100.0}
    assert weights(endpoint, alb.test_listener) == {"web-green": 100.0}

    # the set on the alternate group is what the spec asks for: no drift, same externalId
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        service = next(r for r in load(root) if isinstance(r, EcsService))
        assert await plan_resource(service, Context(aws)) == ""
        # in sync, one reconcile reads the two actions once each and writes nothing
        outcome = await sync_all(load(root), Context(aws), within=10)
        assert outcome.ok
        calls = {k: n for k, n in aws.stats.by_operation().items() if k.startswith("elbv2:")}
    assert calls == {"elbv2:DescribeRules": 1, "elbv2:DescribeListeners": 1}, calls

    # the next rollout goes back to blue
    timed = "{strategy: canary, canary: {steps: [{weight: 50, pauseSeconds: 1}]}}"
    write(root, alb, "v3", timed)
    outcome = await sync(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-blue": 100.0}
    assert weights(endpoint, alb.test_listener) == {"web-blue": 100.0}


async def test_blue_green_flips_the_listener_at_promotion(emulated: Any, tmp_path: Path) -> None:
    """The production listener itself (ModifyListener): 100% blue until PRIMARY changes,
    then 100% green for the bake with the old set still up, then the old set goes."""
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    deployment = "{strategy: blueGreen, blueGreen: {bakeSeconds: 2}}"
    root = write(tmp_path / "src", alb, "v1", deployment, production=alb.listener)
    assert (await sync(endpoint, root)).ok
    write(root, alb, "v2", deployment, production=alb.listener)
    seen: list[tuple[str, dict[str, float], dict[str, float], int]] = []

    def sample(key: Any, status: Any) -> None:
        if key.kind == "EcsService" and status.rollout is not None:
            seen.append(
                (
                    status.rollout.phase,
                    weights(endpoint, alb.listener),
                    weights(endpoint, alb.test_listener),
                    len(sets(endpoint)),
                )
            )

    outcome = await sync(endpoint, root, on_status=sample)
    assert outcome.ok, service_status(outcome)
    production = [w for _, w, _, _ in seen]
    flip = production.index({"web-green": 100.0})
    assert all(w == {"web-blue": 100.0} for w in production[:flip]), seen
    assert all(w == {"web-green": 100.0} for w in production[flip:]), seen
    assert seen[flip][0] == "Promoted"
    assert any(phase == "Baking" and n == 2 for phase, _, _, n in seen[flip:]), seen
    assert all(t == {"web-green": 100.0} for phase, _, t, _ in seen if phase == "Progressing")
    assert sets(endpoint) == [("PRIMARY", "web-green", 100.0)]


async def test_alarm_during_the_bake_puts_traffic_back(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    make_alarm(endpoint)
    alb = make_alb(endpoint)
    deployment = "{strategy: blueGreen, alarms: [web-5xx], blueGreen: {bakeSeconds: 120}}"
    root = write(tmp_path / "src", alb, "v1", deployment)
    assert (await sync(endpoint, root)).ok
    write(root, alb, "v2", deployment)
    outcome = await sync(endpoint, root, within=8)
    assert service_status(outcome).rollout.phase == "Baking"
    assert sets(endpoint) == [("PRIMARY", "web-green", 100.0), ("ACTIVE", "web-blue", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-green": 100.0}

    set_alarm(endpoint)
    outcome = await sync(endpoint, root, within=10)
    status = service_status(outcome)
    assert status.health_status == "Degraded"
    assert "rolled back during the bake" in status.message
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-blue": 100.0}
    assert weights(endpoint, alb.test_listener) == {"web-blue": 100.0}


@pytest.mark.parametrize("strategy", ["canary", "blueGreen"])
async def test_crash_looping_image_rolls_back_traffic(
    emulated: Any, tmp_path: Path, strategy: str
) -> None:
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    deployment = (
        "{strategy: canary, canary: {steps: [{weight: 50, pauseSeconds: 1}]}}"
        if strategy == "canary"
        else "{strategy: blueGreen, blueGreen: {bakeSeconds: 1}}"
    )
    root = write(tmp_path / "src", alb, "v1", deployment)
    assert (await sync(endpoint, root)).ok
    write(root, alb, "v2-crashloop", deployment)
    outcome = await sync(endpoint, root)
    status = service_status(outcome)
    assert status.health_status == "Degraded"
    assert status.rollout.phase == "RolledBack"
    assert "Essential container in task exited" in status.message
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-blue": 100.0}
    assert weights(endpoint, alb.test_listener) == {"web-blue": 100.0}


async def test_abort_mid_canary_restores_the_weights(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    root = write(tmp_path / "src", alb, "v1", CANARY_GATED)
    assert (await sync(endpoint, root)).ok
    write(root, alb, "v2", CANARY_GATED)
    await sync(endpoint, root, within=8)
    assert weights(endpoint, alb.rule) == {"web-blue": 75.0, "web-green": 25.0}
    gate(endpoint, ABORT_TAG, lambda s: s.external_id)
    outcome = await sync(endpoint, root, within=10)
    assert service_status(outcome).rollout.phase == "Aborted"
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0)]
    assert weights(endpoint, alb.rule) == {"web-blue": 100.0}
    assert weights(endpoint, alb.test_listener) == {"web-blue": 100.0}


async def test_rolling_stays_on_the_primary_group(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    deployment = "{strategy: rolling}"
    root = write(tmp_path / "src", alb, "v1", deployment)
    assert (await sync(endpoint, root)).ok
    write(root, alb, "v2", deployment)
    groups: set[str] = set()

    def sample(key: Any, status: Any) -> None:
        if key.kind == "EcsService":
            groups.update(g for _, g, _ in sets(endpoint))
            assert weights(endpoint, alb.rule) == {"web-blue": 100.0}

    outcome = await sync(endpoint, root, on_status=sample)
    assert outcome.ok, service_status(outcome)
    assert groups == {"web-blue"}
    assert sets(endpoint) == [("PRIMARY", "web-blue", 100.0)]


async def test_manual_weight_change_is_drift_and_healed(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    alb = make_alb(endpoint)
    deployment = "{strategy: blueGreen, blueGreen: {bakeSeconds: 0}}"
    root = write(tmp_path / "src", alb, "v1", deployment)
    assert (await sync(endpoint, root)).ok
    elbv2(endpoint).modify_rule(
        RuleArn=alb.rule,
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": alb.blue, "Weight": 50},
                        {"TargetGroupArn": alb.green, "Weight": 50},
                    ]
                },
            }
        ],
    )
    dry, _ = await sync_with(endpoint, root, within=10, dry_run=True)
    assert "would shift traffic" in service_status(dry).message
    assert weights(endpoint, alb.rule) == {"web-blue": 50.0, "web-green": 50.0}
    assert (await sync(endpoint, root)).ok
    assert weights(endpoint, alb.rule) == {"web-blue": 100.0}


# -- without AWS: identity, normalization, checks, action rewriting --------------------------

BLUE = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/web-blue/1"
GREEN = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/web-green/2"
LISTENER = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:listener/app/web/1/2"
RULE = f"{LISTENER.replace(':listener/', ':listener-rule/')}/3"
FAKE = Alb(BLUE, GREEN, LISTENER, RULE, LISTENER)


def spec_of(tmp_path: Path, **swap: str) -> EcsService:
    alb = Alb(**{**FAKE.__dict__, **swap})
    root = write(tmp_path / "spec", alb, "v1", "{strategy: blueGreen}")
    return next(r for r in load(root) if isinstance(r, EcsService))


def live_set(target_group: str) -> LiveTaskSet:
    return LiveTaskSet.parse(
        {
            "id": "ecs-svc/1",
            "taskSetArn": "arn:aws:ecs:ap-northeast-2:123456789012:task-set/c/web/ecs-svc/1",
            "status": "PRIMARY",
            "taskDefinition": "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/web:1",
            "launchType": "FARGATE",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-bbb", "subnet-aaa"],
                    "securityGroups": ["sg-xxx"],
                }
            },
            "loadBalancers": [
                {"targetGroupArn": target_group, "containerName": "web", "containerPort": 8080}
            ],
        }
    )


def test_a_set_on_either_group_of_the_pair_is_not_drift(tmp_path: Path) -> None:
    spec = spec_of(tmp_path).spec
    for group in (BLUE, GREEN):
        live, desired = compare_task_set(spec, live_set(group))
        assert live == desired
    other = BLUE.replace("web-blue/1", "web-other/3")
    live, desired = compare_task_set(spec, live_set(other))
    assert live != desired


def test_external_id_ignores_group_order_and_listener_rules(tmp_path: Path) -> None:
    base = DesiredTaskSet.from_spec(spec_of(tmp_path).spec).external_id
    swapped = DesiredTaskSet.from_spec(spec_of(tmp_path, blue=GREEN, green=BLUE).spec)
    moved = DesiredTaskSet.from_spec(spec_of(tmp_path, rule=LISTENER, test_listener=RULE).spec)
    assert swapped.external_id == base
    assert moved.external_id == base


@pytest.mark.parametrize(
    ("advanced", "message"),
    [
        ("{alternateTargetGroupArn: GREEN}", "needs productionListenerRule"),
        (
            "{alternateTargetGroupArn: BLUE, productionListenerRule: RULE}",
            "alternateTargetGroupArn must differ from targetGroupArn",
        ),
    ],
)
def test_checks(tmp_path: Path, advanced: str, message: str) -> None:
    root = write(tmp_path / "src", FAKE, "v1", "{strategy: blueGreen}")
    text = (root / "web.yaml").read_text()
    start = text.index("      advancedConfiguration:")
    end = text.index("  deployment:")
    advanced = advanced.replace("GREEN", GREEN).replace("BLUE", BLUE).replace("RULE", RULE)
    (root / "web.yaml").write_text(
        text[:start] + f"      advancedConfiguration: {advanced}\n" + text[end:]
    )
    errors = [e.message for e in load_tree(DirectoryTree(root)).errors]
    assert any(message in e for e in errors), errors


def test_forward_rewrite_keeps_authentication_order_and_stickiness() -> None:
    auth = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"Issuer": "x"}}
    sticky = {"Enabled": True, "DurationSeconds": 60}
    old = {
        "Type": "forward",
        "Order": 2,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 1}],
            "TargetGroupStickinessConfig": sticky,
        },
    }
    out = _with_forward([auth, old], {BLUE: 75, GREEN: 25})
    assert out[0] == auth
    assert out[1] == {
        "Type": "forward",
        "Order": 2,
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": BLUE, "Weight": 75},
                {"TargetGroupArn": GREEN, "Weight": 25},
            ],
            "TargetGroupStickinessConfig": sticky,
        },
    }
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}
    assert _with_forward([fixed], {GREEN: 100}) == [{"Type": "forward", "TargetGroupArn": GREEN}]
