"""Rollout on secret rotation, on the emulated AWS: a new AWSCURRENT version (or SSM
parameter version) rolls the service out once, through its strategy, and only once."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import structlog

from controller.api import EcsService
from controller.api.status import ResourceStatus
from controller.aws.client import AwsClients, AwsSettings
from controller.loader import load_tree
from controller.reconcile.context import Context
from controller.reconcile.identity import spec_hash
from controller.reconcile.normalize import canonical_task_set_fields
from controller.reconcile.rollout.state import ROLLOUT_TAG, ROTATED_TAG, encode_rotated
from controller.reconcile.rollout.state import rotation_reason as tag_reason
from controller.reconcile.secrets import (
    SECRETS_TAG,
    parse_value_from,
    rotation_reason,
    secret_versions,
    secret_versions_tag,
)
from controller.reconcile.sync import SyncOutcome, reconcile_once, sync_all
from controller.reconcile.taskset import DesiredTaskSet
from controller.sources.directory import DirectoryTree
from tests.conftest import REPO

REGION = "ap-northeast-2"


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def quickstart(tmp_path: Path, secret_arn: str, *, rotation: bool = True) -> Path:
    root = tmp_path / "quickstart"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(REPO / "examples" / "quickstart", root)
    td_file = root / "task-definition.json"
    td = json.loads(td_file.read_text())
    td["containerDefinitions"][0]["secrets"].append(
        {"name": "API_TOKEN", "valueFrom": "/myapp/api-token"}
    )
    td["containerDefinitions"][0]["secrets"][0]["valueFrom"] = secret_arn
    td_file.write_text(json.dumps(td, indent=2))
    if not rotation:
        spec = root / "myapp.yaml"
        spec.write_text(
            spec.read_text().replace(
                "  autoScaling:", "  syncPolicy: {rolloutOnSecretRotation: false}\n  autoScaling:"
            )
        )
    return root


def service_of(root: Path) -> EcsService:
    result = load_tree(DirectoryTree(root))
    assert result.errors == []
    return next(r for r in result.resources if isinstance(r, EcsService))


async def sync(
    endpoint: str, root: Path, seen: list[ResourceStatus] | None = None
) -> tuple[SyncOutcome, AwsClients]:
    """sync_all to the end; every status it reported goes to `seen`."""
    result = load_tree(DirectoryTree(root))
    assert result.errors == []
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        # the secrets exist but not the rest of the walkthrough's world (roles, image,
        # target group): the default preflight would rightly block, so only warn here
        ctx = Context(aws, preflight="warn")
        outcome = await sync_all(
            result.resources,
            ctx,
            within=60,
            on_status=lambda _, status: (seen if seen is not None else []).append(
                status.model_copy(deep=True)
            ),
        )
    assert outcome.ok, {str(k): s.message or s.last_error for k, s in outcome.statuses.items()}
    return outcome, aws


def task_sets(endpoint: str) -> list[tuple[str, str]]:
    live = client(endpoint, "ecs").describe_services(cluster="prod-cluster", services=["myapp"])
    sets = [ts for ts in live["services"][0]["taskSets"] if ts["status"] != "DRAINING"]
    return sorted((ts["status"], ts["externalId"]) for ts in sets)


def make_secrets(endpoint: str) -> str:
    client(endpoint, "ssm").put_parameter(Name="/myapp/api-token", Value="t0", Type="SecureString")
    arn: str = client(endpoint, "secretsmanager").create_secret(
        Name="myapp/db", SecretString="postgres://one"
    )["ARN"]
    return arn


async def test_rotation_rolls_out_once_and_only_once(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    arn = make_secrets(endpoint)
    root = quickstart(tmp_path, arn)
    await sync(endpoint, root)
    [(status, first)] = task_sets(endpoint)
    assert status == "PRIMARY"

    client(endpoint, "secretsmanager").put_secret_value(SecretId=arn, SecretString="postgres://two")
    seen: list[ResourceStatus] = []
    with structlog.testing.capture_logs() as logs:
        outcome, aws = await sync(endpoint, root, seen)
    [(status, second)] = task_sets(endpoint)
    assert status == "PRIMARY"
    assert second != first
    mutating = aws.stats.by_operation(mutating=True)
    assert mutating["ecs:CreateTaskSet"] == 1
    assert "ecs:RegisterTaskDefinition" not in mutating  # same content, same revision
    # why it rolled, by name and never by value: status, log, events
    reason = "secret rotated: myapp/db"
    rolling = [s for s in seen if s.rollout is not None]
    assert rolling
    assert all(s.rollout and s.rollout.reason == reason for s in rolling)
    assert any(
        s.message.startswith(f"created task set {s.rollout.new_task_set} ({reason})")
        for s in rolling
        if s.rollout
    )
    [rotated] = [e for e in logs if e["event"] == "secret_rotated"]
    assert (rotated["service"], rotated["secret"]) == ("myapp", "myapp/db")
    started, succeeded = (e for e in outcome.notices if e.resource.name == "myapp")
    assert (started.type, succeeded.type) == ("rollout_started", "rollout_succeeded")
    assert reason in started.message
    assert succeeded.message.endswith(f": {reason}")
    text = json.dumps([s.to_api() for s in seen]) + str(logs) + str(outcome.notices)
    assert "postgres://" not in text
    ecs = client(endpoint, "ecs")
    live = ecs.describe_services(cluster="prod-cluster", services=["myapp"], include=["TAGS"])
    tags = {t["key"] for t in live["services"][0].get("tags", [])}
    assert "ecs-gitops.dev/secret-rotated" not in tags  # the reason ended with its rollout
    [new_set] = ecs.describe_task_sets(cluster="prod-cluster", service="myapp", include=["TAGS"])[
        "taskSets"
    ]
    recorded = {t["key"]: t["value"] for t in new_set["tags"]}[SECRETS_TAG]
    assert recorded.startswith("/myapp/api-token=")
    assert " myapp/db=" in recorded

    _, aws = await sync(endpoint, root)
    assert aws.stats.total(mutating=True) == 0, aws.stats.by_operation(mutating=True)
    assert task_sets(endpoint) == [("PRIMARY", second)]
    # the resync reads each secret's version once, cheaply, and never its value
    reads = aws.stats.by_operation()
    assert reads["secretsmanager:DescribeSecret"] == 1
    assert reads["ssm:DescribeParameters"] == 1
    assert not any("GetSecretValue" in op or "GetParameter" in op for op in reads)

    # an SSM parameter's new version rolls it out too
    client(endpoint, "ssm").put_parameter(
        Name="/myapp/api-token", Value="t1", Type="SecureString", Overwrite=True
    )
    await sync(endpoint, root)
    [(_, third)] = task_sets(endpoint)
    assert third not in (first, second)


async def test_rotation_can_be_turned_off(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    arn = make_secrets(endpoint)
    root = quickstart(tmp_path, arn, rotation=False)
    await sync(endpoint, root)
    before = task_sets(endpoint)
    client(endpoint, "secretsmanager").put_secret_value(SecretId=arn, SecretString="two")
    _, aws = await sync(endpoint, root)
    assert aws.stats.total(mutating=True) == 0
    assert "secretsmanager:DescribeSecret" not in aws.stats.by_operation()
    assert task_sets(endpoint) == before


async def test_versions_are_read_without_values(emulated: Any, tmp_path: Path) -> None:
    endpoint = emulated.endpoint_url
    arn = make_secrets(endpoint)
    svc = service_of(quickstart(tmp_path, arn))
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        versions = await secret_versions(Context(aws), REGION, svc.spec.task_definition_input)
    current = client(endpoint, "secretsmanager").describe_secret(SecretId=arn)
    [awscurrent] = [v for v, s in current["VersionIdsToStages"].items() if "AWSCURRENT" in s]
    assert versions == {arn: awscurrent, "/myapp/api-token": "1"}


def test_without_versions_the_external_id_is_unchanged(tmp_path: Path) -> None:
    spec = service_of(quickstart(tmp_path, "arn:aws:secretsmanager:r:1:secret:x-AbCdEf")).spec
    body = json.dumps(
        {"td": spec_hash(spec.task_definition_input), "set": canonical_task_set_fields(spec)},
        sort_keys=True,
        separators=(",", ":"),
    )
    before_this_change = f"ecs-gitops:{hashlib.sha256(body.encode()).hexdigest()[:20]}"
    assert DesiredTaskSet.from_spec(spec).external_id == before_this_change
    assert DesiredTaskSet.from_spec(spec, {}).external_id == before_this_change
    tracked = DesiredTaskSet.from_spec(spec, {"/myapp/api-token": "1"})
    assert tracked.external_id != before_this_change
    assert tracked.content_external_id == before_this_change
    off = spec.model_copy(
        update={
            "sync_policy": spec.sync_policy.model_copy(update={"rollout_on_secret_rotation": False})
        }
    )
    assert DesiredTaskSet.from_spec(off, {"/myapp/api-token": "1"}).external_id == (
        before_this_change
    )


def test_rotation_reason_names_the_secret_never_the_value() -> None:
    arn = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:myapp/db-AbCdEf"
    old = {arn: "v1", "/myapp/api-token": "3"}
    tags = secret_versions_tag(old, REGION)
    assert set(tags) == {SECRETS_TAG}
    assert tags[SECRETS_TAG].startswith("/myapp/api-token=")
    assert " myapp/db=" in tags[SECRETS_TAG]
    assert rotation_reason(tags, {**old, arn: "v2"}, REGION) == "secret rotated: myapp/db"
    assert rotation_reason(tags, old, REGION) is None
    assert rotation_reason({}, {arn: "v2"}, REGION) is None
    assert parse_value_from(arn, REGION).name == "myapp/db"


def test_the_reason_lives_in_a_service_tag_of_its_rollout() -> None:
    names = ["/myapp/api-token", "myapp/db"]
    tags = {ROTATED_TAG: encode_rotated("ecs-gitops:abc", names)}
    assert tags[ROTATED_TAG] == "ecs-gitops:abc//myapp/api-token myapp/db"
    assert tag_reason(tags, "ecs-gitops:abc") == "secret rotated: /myapp/api-token, myapp/db"
    assert tag_reason(tags, "ecs-gitops:def") == ""  # another rollout's: stale
    assert tag_reason({}, "ecs-gitops:abc") == ""
    many = encode_rotated("ecs-gitops:abc", [f"team/secret-{i:03d}" for i in range(40)])
    assert len(many) <= 256
    assert many.startswith("ecs-gitops:abc/team/secret-000 team/secret-001 ")
    assert not many.endswith(" ")  # whole names only


async def test_the_reason_survives_a_crash_right_after_the_task_set_was_created(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    arn = make_secrets(endpoint)
    root = quickstart(tmp_path, arn)
    await sync(endpoint, root)
    client(endpoint, "secretsmanager").put_secret_value(SecretId=arn, SecretString="two")
    svc = service_of(root)
    ecs = client(endpoint, "ecs")
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        ctx = Context(aws, preflight="warn")
        for _ in range(5):
            created = (await reconcile_once(svc, ctx)).status
            if created.rollout is not None and created.rollout.phase == "Creating":
                break
        assert created.rollout is not None
        assert created.rollout.phase == "Creating"
        # the controller died between CreateTaskSet and tagging the service
        service_arn = ecs.describe_services(cluster="prod-cluster", services=["myapp"])["services"][
            0
        ]["serviceArn"]
        ecs.untag_resource(resourceArn=service_arn, tagKeys=[ROLLOUT_TAG, ROTATED_TAG])
        resumed = (await reconcile_once(svc, ctx)).status
        assert resumed.rollout is not None
        nxt = (await reconcile_once(svc, ctx)).status
        assert nxt.rollout is not None
        assert nxt.rollout.reason == "secret rotated: myapp/db"
