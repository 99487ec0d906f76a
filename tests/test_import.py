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
