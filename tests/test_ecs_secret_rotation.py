"""Rollout on secret rotation for a service ECS deploys (type ECS), on the emulated AWS.

Tasks read their secrets only when they start. A new AWSCURRENT version of a secret the
task definition references asks ECS for one new deployment of the same task definition
(UpdateService forceNewDeployment, no new revision), once: the versions it started with
are kept in the service's secret-versions tag, so a resync or a restart does not ask again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from controller.reconcile.secrets import SECRETS_TAG
from tests.conftest import REGION
from tests.emulated_ecs import ecs, service_status, sync_with
from tests.test_ecs_controller import write_seed


def seed_with_secret(root: Path, endpoint: str) -> str:
    """The seed's service, its DATABASE_URL read from a new secret; the secret's ARN."""
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    arn: str = secrets.create_secret(Name="myapp/db", SecretString="postgres://one")["ARN"]
    write_seed(root, "v1")
    td = root / "task-definition.json"
    td.write_text(
        td.read_text().replace(
            "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:myapp/db-AbCdEf", arn
        )
    )
    return arn


def deployment_ids(endpoint: str) -> list[str]:
    live = ecs(endpoint).describe_services(cluster="mesh-cluster", services=["myapp"])
    return [d["id"] for d in live["services"][0]["deployments"]]


async def test_a_rotated_secret_asks_ecs_for_one_new_deployment(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = tmp_path / "src"
    arn = seed_with_secret(root, endpoint)
    outcome, _ = await sync_with(endpoint, root, within=30, revision="v1")
    assert service_status(outcome).ready, service_status(outcome).message
    [first] = deployment_ids(endpoint)

    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    secrets.put_secret_value(SecretId=arn, SecretString="postgres://two")
    outcome, aws = await sync_with(endpoint, root, within=30, revision="v1")
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    mutating = aws.stats.by_operation(mutating=True)
    assert mutating.get("ecs:UpdateService") == 1, mutating
    assert "ecs:RegisterTaskDefinition" not in mutating  # the same revision, restarted
    [second] = deployment_ids(endpoint)
    assert second != first
    started = [n for n in outcome.notices if n.type == "rollout_started"]
    assert len(started) == 1
    assert "secret rotated: myapp/db" in started[0].message
    assert "postgres://" not in str(outcome.notices)
    live = ecs(endpoint).describe_services(
        cluster="mesh-cluster", services=["myapp"], include=["TAGS"]
    )["services"][0]
    tags = {t["key"]: t["value"] for t in live["tags"]}
    assert tags[SECRETS_TAG].startswith("myapp/db=")

    # the next syncs (a resync, a restarted controller) ask ECS for nothing
    outcome, aws = await sync_with(endpoint, root, within=10, revision="v1")
    assert service_status(outcome).ready
    assert aws.stats.total(mutating=True) == 0, aws.stats.by_operation(mutating=True)
    assert deployment_ids(endpoint) == [second]
