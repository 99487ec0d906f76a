"""The task role grants exactly what the controller calls, scoped wherever IAM allows.

The actions are derived from the code, not listed by hand: every module of the package
(the emulated AWS in controller/local aside: it never calls AWS) is parsed with `ast`, and
each `<clients>.call("service", "Operation", ...)` is collected, with calls through
wrappers such as `self._call("Operation", ...)` resolved to the service their wrapper
passes. A call whose service or operation is not a literal fails the test: the policy
can only be derived from names the code spells out. Operations map to IAM actions
(ListObjectsV2 is s3:ListBucket, elbv2 is elasticloadbalancing, ...), plus the actions
that AWS checks on the caller's behalf (RegisterTaskDefinition passes roles, target
tracking policies create alarms). manifests/iam-task-role-policy.json must hold exactly
that set, with "*" resources only for actions the Service Authorization Reference
gives no resource type.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "controller"
POLICY = REPO / "manifests" / "iam-task-role-policy.json"
SKIPPED = {PACKAGE / "local": "the emulated AWS: moto in-process, never AWS"}

IAM_PREFIX = {
    "application-autoscaling": "application-autoscaling",
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "ec2": "ec2",
    "ecr": "ecr",
    "ecs": "ecs",
    "elbv2": "elasticloadbalancing",
    "iam": "iam",
    "logs": "logs",
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "sqs": "sqs",
    "ssm": "ssm",
    "sts": "sts",
}
# Operations whose IAM action is not prefix:Operation (None: no permission needed).
OPERATION_ACTION: dict[tuple[str, str], str | None] = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("dynamodb", "BatchGetItem"): "dynamodb:BatchGetItem",
    ("sts", "GetCallerIdentity"): None,
}
# Actions AWS authorizes against the caller as part of another call.
IMPLIED: dict[str, set[str]] = {
    # taskRoleArn and executionRoleArn are passed to ECS when the revision is registered
    "ecs:RegisterTaskDefinition": {"iam:PassRole", "ecs:TagResource"},
    "ecs:RunTask": {"iam:PassRole", "ecs:TagResource"},
    # tags on create are authorized as ecs:TagResource
    "ecs:CreateService": {"ecs:TagResource"},
    "ecs:CreateTaskSet": {"ecs:TagResource"},
    # the first cluster in an account creates AWSServiceRoleForECS
    "ecs:CreateCluster": {"ecs:TagResource", "iam:CreateServiceLinkedRole"},
    # ... and the first scalable target AWSServiceRoleForApplicationAutoScaling_ECSService
    "application-autoscaling:RegisterScalableTarget": {"iam:CreateServiceLinkedRole"},
    # target tracking policies create and delete their CloudWatch alarms as the caller
    "application-autoscaling:PutScalingPolicy": {
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
    },
    "application-autoscaling:DeleteScalingPolicy": {"cloudwatch:DeleteAlarms"},
}
# Actions the Service Authorization Reference gives no resource type (or, for
# DescribeAlarms, that need "*" to see composite alarms): the only ones allowed on "*".
NO_RESOURCE_LEVEL = {
    "ecs:ListClusters",
    "ecs:ListServices",
    "ecs:ListTasks",
    "ecs:ListTaskDefinitions",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:DescribeScalingActivities",
    "cloudwatch:DescribeAlarms",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ssm:DescribeParameters",
    "logs:DescribeLogGroups",
    "ecr:GetAuthorizationToken",
}


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    where: str


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_clients_call(node: ast.Call) -> bool:
    """`<...>.aws.call(...)`, `aws.call(...)`, `clients.call(...)`: AwsClients.call."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "call"):
        return False
    owner = func.value
    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
    return name in ("aws", "clients", "_aws", "_clients")


def _positional(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in func.args.posonlyargs + func.args.args]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


class _Scanner(ast.NodeVisitor):
    """Collects the calls of one module; wrappers are functions that forward one of their
    parameters as the operation of a clients call with a literal service."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: list[Call] = []
        self.problems: list[str] = []
        self.wrappers: dict[tuple[str | None, str], tuple[str, int]] = {}
        self._class: str | None = None

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"

    def find_wrappers(self, tree: ast.Module) -> None:
        for owner, func in _functions(tree):
            params = _positional(func)
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and _is_clients_call(node) and len(node.args) >= 2:
                    service, op = _literal(node.args[0]), node.args[1]
                    if service and isinstance(op, ast.Name) and op.id in params:
                        self.wrappers[(owner, func.name)] = (service, params.index(op.id))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        outer, self._class = self._class, node.name
        self.generic_visit(node)
        self._class = outer

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        if _is_clients_call(node):
            service = _literal(node.args[0]) if node.args else None
            op = _literal(node.args[1]) if len(node.args) > 1 else None
            if service and op:
                self.calls.append(Call(service, op, self.where(node)))
            elif not (service and self._forwards(node)):
                self.problems.append(f"{self.where(node)}: AWS call without literal names")
            return
        wrapper = self._wrapper(node)
        if wrapper is not None:
            service, index = wrapper
            op = _literal(node.args[index]) if len(node.args) > index else None
            if op:
                self.calls.append(Call(service, op, self.where(node)))
            else:
                self.problems.append(f"{self.where(node)}: {service} call without a literal name")

    def _forwards(self, node: ast.Call) -> bool:
        op = node.args[1] if len(node.args) > 1 else None
        return isinstance(op, ast.Name) and any(
            service == _literal(node.args[0]) for service, _ in self.wrappers.values()
        )

    def _wrapper(self, node: ast.Call) -> tuple[str, int] | None:
        func = node.func
        if isinstance(func, ast.Attribute) and getattr(func.value, "id", None) == "self":
            return self.wrappers.get((self._class, func.attr))
        if isinstance(func, ast.Name):
            return self.wrappers.get((None, func.id))
        return None


def _functions(
    tree: ast.Module,
) -> list[tuple[str | None, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found: list[tuple[str | None, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append((None, node))
        elif isinstance(node, ast.ClassDef):
            found += [
                (node.name, item)
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
    return found


def derive_calls() -> tuple[list[Call], list[str]]:
    calls: list[Call] = []
    problems: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path.is_relative_to(skip) for skip in SKIPPED) or path.name == "client.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        scanner = _Scanner(path)
        scanner.find_wrappers(tree)
        scanner.visit(tree)
        calls += scanner.calls
        problems += scanner.problems
    return calls, problems


def action_of(call: Call) -> str | None:
    key = (call.service, call.operation)
    if key in OPERATION_ACTION:
        return OPERATION_ACTION[key]
    return f"{IAM_PREFIX[call.service]}:{call.operation}"


def required_actions(calls: list[Call]) -> dict[str, list[str]]:
    """IAM action -> where it comes from (file:line of calls, or the call implying it)."""
    needed: dict[str, list[str]] = defaultdict(list)
    for call in calls:
        action = action_of(call)
        if action is not None:
            needed[action].append(call.where)
    for action in list(needed):
        for implied in IMPLIED.get(action, ()):
            needed[implied].append(f"implied by {action}")
    return dict(needed)


def policy_statements() -> list[dict[str, Any]]:
    doc = json.loads(POLICY.read_text())
    assert doc["Version"] == "2012-10-17"
    statements: list[dict[str, Any]] = doc["Statement"]
    return statements


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.fixture(scope="module")
def calls() -> list[Call]:
    found, problems = derive_calls()
    assert not problems, "\n".join(problems)
    return found


def test_the_code_names_every_aws_call_literally_and_botocore_knows_them(
    calls: list[Call],
) -> None:
    session = botocore.session.get_session()
    unknown = []
    for call in calls:
        if call.service not in IAM_PREFIX:
            unknown.append(f"{call.where}: service {call.service!r} has no IAM prefix here")
            continue
        model = session.get_service_model(call.service)
        if call.operation not in model.operation_names:
            unknown.append(f"{call.where}: {call.service} has no operation {call.operation}")
    assert not unknown, "\n".join(unknown)
    assert {c.service for c in calls} >= {"ecs", "application-autoscaling", "dynamodb"}


def test_the_task_role_grants_exactly_what_the_code_calls(calls: list[Call]) -> None:
    needed = required_actions(calls)
    granted: dict[str, str] = {}
    for statement in policy_statements():
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        for action in _listed(statement["Action"]):
            assert "*" not in action, f"{action}: a wildcard grants what the code never calls"
            granted[action.lower()] = action
    wanted = {action.lower(): action for action in needed}
    missing = sorted(wanted[a] for a in wanted.keys() - granted.keys())
    unused = sorted(granted[a] for a in granted.keys() - wanted.keys())
    report = [f"missing {a} (called at {', '.join(needed[a][:3])})" for a in missing]
    report += [f"granted but never called: {a}" for a in unused]
    assert not report, "\n".join(report)


def test_wildcard_resources_only_where_iam_allows_nothing_narrower() -> None:
    wide = []
    for statement in policy_statements():
        resources = _listed(statement["Resource"])
        for action in _listed(statement["Action"]):
            if "*" in resources and action not in NO_RESOURCE_LEVEL:
                wide.append(f"{statement.get('Sid')}: {action} on '*'")
        for arn in resources:
            if arn == "*":
                continue
            assert arn.startswith("arn:${AWS::Partition}:"), arn
            # never another account's resources (S3 bucket ARNs carry no account)
            if not arn.startswith("arn:${AWS::Partition}:s3:::"):
                aws_managed = arn.startswith("arn:${AWS::Partition}:iam::aws:policy/")
                assert ":${AWS::AccountId}:" in arn or arn.startswith("${") or aws_managed, arn
    assert not wide, "\n".join(wide)


def test_roles_are_passed_only_to_ecs_tasks() -> None:
    (statement,) = [s for s in policy_statements() if "iam:PassRole" in _listed(s["Action"])]
    assert _listed(statement["Action"]) == ["iam:PassRole"]
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    (slr,) = [
        s for s in policy_statements() if "iam:CreateServiceLinkedRole" in _listed(s["Action"])
    ]
    assert set(slr["Condition"]["StringEquals"]["iam:AWSServiceName"]) == {
        "ecs.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
    }


def test_the_lease_table_is_the_only_table_and_only_the_instances_item() -> None:
    statements = [
        s
        for s in policy_statements()
        if any(a.startswith("dynamodb:") for a in _listed(s["Action"]))
    ]
    (statement,) = statements
    assert _listed(statement["Resource"]) == [
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${LeaseTable}"
    ]
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${InstanceName}"]}
    }


# What ECS needs to start a task (the execution role), and only that: the seed's pitfalls 2
# (CannotPullContainerError: no ECR pull) and 3 (secrets not injected: no GetSecretValue).
EXECUTION_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "secretsmanager:GetSecretValue",
}


def test_execution_role_and_task_role_do_not_overlap() -> None:
    doc = json.loads((REPO / "manifests" / "iam-execution-role-policy.json").read_text())
    execution = {a for s in doc["Statement"] for a in _listed(s["Action"])}
    task = {a for s in policy_statements() for a in _listed(s["Action"])}
    assert execution == EXECUTION_ACTIONS
    assert not execution & task, "the controller's code never pulls images or reads secrets"
    for statement in doc["Statement"]:
        if statement["Resource"] == "*":
            assert _listed(statement["Action"]) == ["ecr:GetAuthorizationToken"]
