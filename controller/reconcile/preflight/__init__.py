"""Preflight: what would make a new task set fail, found before any task is launched.

Validation (loader/checks/) knows only the files; these checks ask AWS whether what the
files name exists and fits, aimed at the usual first-deploy failures: the image was pushed (ECR
DescribeImages); the execution and task roles exist and trust ecs-tasks.amazonaws.com,
and the execution role may pull the image, write the logs and read the secrets (else
CannotPullContainerError, or secrets injected empty); every secret valueFrom exists (Secrets Manager, with its json-key/stage/version
suffixes, or SSM); the awslogs group exists or awslogs-create-group is "true"; each
target group exists, has target type ip for awsvpc tasks and takes the container's
port and protocol (else targets that never turn healthy); the subnets and security groups exist, in one VPC.

Each Problem names the field, where it is written (file:line:col, through the loader's
Loaded record) and the fix. Severity "error" blocks a rollout; "note" (an image outside
ECR, a check the controller had no permission for) is only reported. All reads run
concurrently; results are cached per task set content (the externalId digest) and region,
passes for an hour, failures for a minute so a fix made in AWS is seen soon. Throttling
and other retryable errors propagate uncached: the reconcile retries.

The result also says whether the account looks provisioned for the service at all: an
ECR repository, a role, a secret (or parameter) or a log group the task definition names
exists. When none does, the environment is evidently not set up (an emulator, an empty
test account) and the rollout's default mode, `auto`, only warns: blocking there would
stop every deploy of the walkthrough's example on a bare emulator, while one thing found
makes every missing other a real mistake worth blocking. Subnets, security groups and
target groups are no evidence either way (emulators pre-create networks; they say
nothing about the task's own resources).

    problems     Problem, Run (what the checks write to), PreflightResult, summary
    runner       preflight(): the checks at once, cached per task set content and region
    checks       one coroutine per concern: images, roles, secrets, logs, network, permissions
    permissions  a small IAM evaluator: may this role do that action on that resource
"""

from controller.reconcile.preflight.problems import (
    Location,
    PreflightResult,
    Problem,
    Run,
    blocking,
    summary,
)
from controller.reconcile.preflight.runner import preflight

__all__ = [
    "Location",
    "PreflightResult",
    "Problem",
    "Run",
    "blocking",
    "preflight",
    "summary",
]
