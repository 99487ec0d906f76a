"""Preflight verify against a plain moto server: the seed scenario passes once everything
it names exists, and each seed pitfall is one located, actionable problem.

The world is built with boto3 the way a user would with the AWS CLI (an ECR image pushed
with put_image, roles with an ecs-tasks trust policy, the secret, the log group, a target
group of type ip on port 8000); the source is the quickstart example with the real ids.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from controller.api import EcsService
from controller.aws.client import AwsClients, AwsSettings
from controller.aws.lookups import parse_ecr_image, trusted_services
from controller.loader import Loaded, load_tree
from controller.reconcile.context import Context
from controller.reconcile.preflight import (
    PreflightResult,
    Problem,
    blocking,
    preflight,
    summary,
)
from controller.reconcile.preflight.permissions import RolePolicies
from controller.reconcile.secrets import parse_value_from
from controller.sources.directory import DirectoryTree
from tests.conftest import REPO, run_cli

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/myapp"
IMAGE_KEY = '"image"'
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
EXECUTION_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        },
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
    ],
}


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def push_image(endpoint: str, repository: str, tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": "sha256:" + "a" * 64,
        },
        "layers": [],
    }
    client(endpoint, "ecr").put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag
    )


def make_role(endpoint: str, name: str, *, trust: dict[str, Any] = TRUST, policy: bool) -> None:
    iam = client(endpoint, "iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    if policy:
        iam.put_role_policy(
            RoleName=name, PolicyName="execution", PolicyDocument=json.dumps(EXECUTION_POLICY)
        )


def seed_world(endpoint: str) -> dict[str, str]:
    """Everything the seed's task definition and service name, in moto; their real ids."""
    ec2 = client(endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    client(endpoint, "ecr").create_repository(repositoryName="myapp")
    push_image(endpoint, "myapp", "v1")
    make_role(endpoint, "ecsTaskExecutionRole", policy=True)
    make_role(endpoint, "myapp-task-role", policy=False)
    secret = client(endpoint, "secretsmanager").create_secret(
        Name="myapp/db", SecretString="postgres://"
    )["ARN"]
    client(endpoint, "logs").create_log_group(logGroupName="/ecs/myapp")
    elb = client(endpoint, "elbv2")
    tg = elb.create_target_group(
        Name="myapp", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    wrong = elb.create_target_group(
        Name="myapp-80", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    return {"subnet": subnet, "group": group, "secret": secret, "tg": tg, "tg80": wrong}


def source(tmp_path: Path, world: dict[str, str], **changes: str) -> Path:
    """The quickstart example naming the world's ids; changes edit the task definition
    (image, secret, taskRole) or the service (tg)."""
    root = tmp_path / "src"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(REPO / "examples" / "quickstart", root)
    td_file = root / "task-definition.json"
    td = json.loads(td_file.read_text())
    container = td["containerDefinitions"][0]
    container["image"] = changes.get("image", f"{IMAGE}:v1")
    container["secrets"][0]["valueFrom"] = changes.get("secret", world["secret"])
    td["taskRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/{changes.get('task_role', 'myapp-task-role')}"
    td_file.write_text(json.dumps(td, indent=2))
    spec = root / "myapp.yaml"
    spec.write_text(
        spec.read_text()
        .replace("subnets: [subnet-aaa, subnet-bbb]", f"subnets: [{world['subnet']}]")
        .replace("securityGroups: [sg-xxx]", f"securityGroups: [{world['group']}]")
        .replace(
            "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/myapp/0123456789abcdef",
            changes.get("tg", world["tg"]),
        )
    )
    return root


def loaded_service(root: Path) -> Loaded:
    result = load_tree(DirectoryTree(root))
    assert result.errors == []
    return next(item for item in result.loaded if isinstance(item.resource, EcsService))


async def run_preflight(endpoint: str, root: Path) -> tuple[list[Problem], AwsClients]:
    item = loaded_service(root)
    assert isinstance(item.resource, EcsService)
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        result = await preflight(Context(aws), item.resource, item)
    assert aws.stats.total(mutating=True) == 0
    return list(result.problems), aws


def line_of(path: Path, needle: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


async def test_the_seed_scenario_passes_when_everything_exists(
    aws_endpoint: str, tmp_path: Path
) -> None:
    world = seed_world(aws_endpoint)
    problems, _ = await run_preflight(aws_endpoint, source(tmp_path, world))
    assert blocking(problems) == [], [str(p) for p in problems]
    assert summary(problems) == ""


async def test_provisioned_means_something_the_task_definition_names_exists(
    aws_endpoint: str, tmp_path: Path
) -> None:
    async def check(root: Path) -> PreflightResult:
        item = loaded_service(root)
        assert isinstance(item.resource, EcsService)
        async with AwsClients(AwsSettings(REGION, aws_endpoint)) as aws:
            return await preflight(Context(aws), item.resource, item, use_cache=False)

    bare = tmp_path / "bare"
    shutil.copytree(REPO / "examples" / "quickstart", bare)
    nothing = await check(bare)  # an empty account: every check fails, nothing is evidence
    assert len(nothing.errors) >= 5
    assert not nothing.provisioned
    assert nothing.evidence == ()

    ec2 = client(aws_endpoint, "ec2")  # a network is no evidence (emulators make one)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    spec = bare / "myapp.yaml"
    spec.write_text(spec.read_text().replace("subnet-aaa, subnet-bbb", subnet))
    assert not (await check(bare)).provisioned

    client(aws_endpoint, "logs").create_log_group(logGroupName="/ecs/myapp")
    assert (await check(bare)).evidence == ("log group /ecs/myapp",)
    make_role(aws_endpoint, "myapp-task-role", policy=False)
    client(aws_endpoint, "secretsmanager").create_secret(Name="myapp/db", SecretString="x")
    found = await check(bare)  # the placeholder ARN names a secret that exists by name
    assert found.evidence == ("log group /ecs/myapp", "role myapp-task-role", "secret myapp/db")
    assert found.provisioned
    assert found.errors


async def test_each_pitfall_is_one_located_actionable_problem(
    aws_endpoint: str, tmp_path: Path
) -> None:
    world = seed_world(aws_endpoint)
    root = source(
        tmp_path,
        world,
        image=f"{IMAGE}:v9",
        secret=world["secret"].rsplit(":", 1)[0] + ":myapp/other-AbCdEf",
        task_role="no-such-role",
        tg=world["tg80"],
    )
    problems, _ = await run_preflight(aws_endpoint, root)
    td, spec = root / "task-definition.json", root / "myapp.yaml"
    lines = [str(p) for p in problems]
    assert len(blocking(problems)) == 4, lines
    image, role, secret, port = (
        next(p for p in problems if p.field == field)
        for field in (
            "containerDefinitions[0].image",
            "taskRoleArn",
            "containerDefinitions[0].secrets[0].valueFrom",
            "spec.loadBalancers[0].containerPort",
        )
    )
    assert str(image).startswith(f"{td}:{line_of(td, IMAGE_KEY)}:")
    assert f"image {IMAGE}:v9 was never pushed: repository myapp has no tag v9" in image.message
    assert "CannotPullContainerError" in image.message
    assert image.fix == f"push it (docker push {IMAGE}:v9) or point image at a tag that exists"

    assert str(role).startswith(f"{td}:{line_of(td, 'taskRoleArn')}:")
    assert "the task role no-such-role does not exist" in role.message
    assert "ecs-tasks.amazonaws.com" in role.fix

    assert str(secret).startswith(f"{td}:{line_of(td, 'valueFrom')}:")
    assert "secret myapp/other does not exist in Secrets Manager (ap-northeast-2)" in (
        secret.message
    )
    assert "aws secretsmanager create-secret --name myapp/other" in secret.fix

    assert str(port).startswith(f"{spec}:{line_of(spec, 'containerPort: 8000')}:")
    assert "target group myapp-80 is for port 80, but the container takes the traffic on 8000" in (
        port.message
    )
    assert port.fix.startswith("use a target group on port 8000")
    assert summary(problems).startswith("preflight failed, no task set created: ")


async def test_the_seed_placeholder_secret_arn_points_at_the_real_one(
    aws_endpoint: str, tmp_path: Path
) -> None:
    world = seed_world(aws_endpoint)
    placeholder = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:myapp/db-AbCdEf"
    problems, _ = await run_preflight(aws_endpoint, source(tmp_path, world, secret=placeholder))
    [problem] = blocking(problems)
    assert f"a secret named myapp/db does, with ARN {world['secret']}" in problem.message
    assert problem.fix == f"set valueFrom to {world['secret']}"


async def test_execution_role_without_permissions_is_pitfalls_2_and_3(
    aws_endpoint: str, tmp_path: Path
) -> None:
    world = seed_world(aws_endpoint)
    client(aws_endpoint, "iam").delete_role_policy(
        RoleName="ecsTaskExecutionRole", PolicyName="execution"
    )
    problems, _ = await run_preflight(aws_endpoint, source(tmp_path, world))
    by_field = {p.field: p for p in blocking(problems)}
    pull = by_field["containerDefinitions[0].image"]
    assert "the execution role ecsTaskExecutionRole is not allowed ecr:GetAuthorizationToken" in (
        pull.message
    )
    assert pull.message.endswith("tasks would stop with CannotPullContainerError")
    assert "AmazonECSTaskExecutionRolePolicy" in pull.fix
    inject = by_field["containerDefinitions[0].secrets[0].valueFrom"]
    assert f"secretsmanager:GetSecretValue on {world['secret']}" in inject.message
    assert "the secret would not be injected" in inject.message
    assert "containerDefinitions[0].logConfiguration.options.awslogs-group" in by_field


async def test_wrong_target_type_network_and_untrusted_role(
    aws_endpoint: str, tmp_path: Path
) -> None:
    world = seed_world(aws_endpoint)
    elb = client(aws_endpoint, "elbv2")
    ec2 = client(aws_endpoint, "ec2")
    vpc = ec2.describe_subnets(SubnetIds=[world["subnet"]])["Subnets"][0]["VpcId"]
    instance_tg = elb.create_target_group(
        Name="inst", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    make_role(
        aws_endpoint,
        "lambda-role",
        trust={
            **TRUST,
            "Statement": [
                {**TRUST["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}
            ],
        },
        policy=False,
    )
    root = source(tmp_path, world, tg=instance_tg, task_role="lambda-role")
    spec = root / "myapp.yaml"
    spec.write_text(spec.read_text().replace(world["subnet"], f"{world['subnet']}, subnet-gone"))
    problems, _ = await run_preflight(aws_endpoint, root)
    messages = [p.message for p in blocking(problems)]
    assert any("has target type instance" in m for m in messages), messages
    assert any("subnet subnet-gone does not exist" in m for m in messages), messages
    assert any("does not trust ecs-tasks.amazonaws.com" in m for m in messages), messages


async def test_results_are_cached_per_spec_hash(aws_endpoint: str, tmp_path: Path) -> None:
    world = seed_world(aws_endpoint)
    item = loaded_service(source(tmp_path, world))
    assert isinstance(item.resource, EcsService)
    async with AwsClients(AwsSettings(REGION, aws_endpoint)) as aws:
        ctx = Context(aws)
        first = await preflight(ctx, item.resource, item)
        calls = aws.stats.total()
        assert await preflight(ctx.derive(), item.resource, item) == first
        assert aws.stats.total() == calls
        await preflight(ctx, item.resource, item, use_cache=False)
        assert aws.stats.total() == 2 * calls


def test_cli_verify_prints_located_lines_and_exit_codes(aws_endpoint: str, tmp_path: Path) -> None:
    world = seed_world(aws_endpoint)
    args = ("verify", "--endpoint-url", aws_endpoint, "--region", REGION, "--source")
    good = run_cli(*args, str(source(tmp_path, world)))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "verify: 1 service ready to deploy" in good.stderr

    bad_root = source(tmp_path, world, image=f"{IMAGE}:v9")
    bad = run_cli(*args, str(bad_root), "--service", "myapp")
    assert bad.returncode == 1, bad.stderr
    td = bad_root / "task-definition.json"
    [line] = bad.stdout.splitlines()
    assert line.startswith(f"{td}:{line_of(td, IMAGE_KEY)}:")
    assert "error: containerDefinitions[0].image: image" in line
    assert "Fix: push it" in line
    assert "nothing was deployed" in bad.stderr
    ecs = client(aws_endpoint, "ecs")
    assert ecs.list_clusters()["clusterArns"] == []  # verify never creates anything

    missing = run_cli(*args, str(bad_root), "--service", "nope")
    assert missing.returncode == 2


@pytest.mark.parametrize(
    ("value_from", "expected"),
    [
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password:AWSPREVIOUS:",
            (
                "secretsmanager",
                "us-east-1",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
                "db",
                "password",
                "AWSPREVIOUS",
                None,
            ),
        ),
        (
            "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:myapp/db-AbCdEf::::",
            (
                "secretsmanager",
                "ap-northeast-2",
                "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:myapp/db-AbCdEf",
                "myapp/db",
                None,
                None,
                None,
            ),
        ),
        (
            "arn:aws:ssm:eu-west-1:123456789012:parameter/myapp/db",
            ("ssm", "eu-west-1", "/myapp/db", "/myapp/db", None, None, None),
        ),
        ("plain-name", ("ssm", REGION, "plain-name", "plain-name", None, None, None)),
    ],
)
def test_value_from_forms(value_from: str, expected: tuple[Any, ...]) -> None:
    ref = parse_value_from(value_from, REGION)
    assert (
        ref.store,
        ref.region,
        ref.lookup,
        ref.name,
        ref.json_key,
        ref.version_stage,
        ref.version_id,
    ) == expected


def test_pinned_references_and_ecr_image_forms() -> None:
    assert parse_value_from("/myapp/db:3", REGION).pinned
    assert parse_value_from("arn:aws:secretsmanager:r:1:secret:a-AbCdEf:k::v-1", REGION).pinned
    ecr = parse_ecr_image(f"{IMAGE}@sha256:{'b' * 64}")
    assert ecr is not None
    assert (ecr.repository, ecr.tag, ecr.digest) == ("myapp", None, f"sha256:{'b' * 64}")
    nested = parse_ecr_image(f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/team/app")
    assert nested is not None
    assert (nested.region, nested.repository, nested.image_id) == (
        "us-west-2",
        "team/app",
        {"imageTag": "latest"},
    )
    assert parse_ecr_image("nginx:1.27") is None
    assert parse_ecr_image("public.ecr.aws/nginx/nginx:latest") is None


def test_trust_and_permission_evaluation() -> None:
    encoded = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%5B%22ecs-tasks.amazonaws.com%22%5D%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D"
    assert trusted_services(encoded) == {"ecs-tasks.amazonaws.com"}
    policies = RolePolicies.from_lookup(
        "r",
        [
            ("inline", {"Statement": {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}}),
            (
                "deny",
                {
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Action": "ecr:BatchGetImage",
                            "Resource": "arn:aws:ecr:*:*:repository/secret-*",
                        }
                    ]
                },
            ),
        ],
    )
    assert policies.verdict("ECR:BatchGetImage", "arn:aws:ecr:r:1:repository/app") == "allowed"
    assert policies.verdict("ecr:BatchGetImage", "arn:aws:ecr:r:1:repository/secret-x") == "denied"
    assert policies.verdict("logs:PutLogEvents", "*") == "denied"
    unknown = RolePolicies.from_lookup("r", [("arn:aws:iam::1:policy/unreadable", None)])
    assert unknown.verdict("logs:PutLogEvents", "*") == "unknown"
    known = RolePolicies.from_lookup(
        "r", [("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy", None)]
    )
    assert known.verdict("ecr:GetAuthorizationToken", "*") == "allowed"
