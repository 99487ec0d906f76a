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
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsService
from controller.aws.client import AwsClients
from controller.aws.verify import ImageState, Lookups, RoleInfo, SecretInfo
from controller.errors import AwsError, AwsRetryable
from controller.loader import Loaded
from controller.reconcile import preflight_checks as aws_checks
from controller.reconcile.context import Context
from controller.reconcile.taskset import DesiredTaskSet

PASS_TTL = 3600.0
FAIL_TTL = 60.0
MAX_CACHED = 1024
DocPath = tuple[str | int, ...]
Severity = Literal["error", "note"]


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    field: str
    """The field as a path a person reads: containerDefinitions[0].image."""
    message: str
    fix: str
    location: Location | None = None
    severity: Severity = "error"
    service: str = ""

    @property
    def blocking(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = str(self.location) if self.location else f"EcsService {self.service}"
        text = f"{where}: {self.severity}: {self.field}: {self.message}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def blocking(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.blocking]


def summary(problems: Iterable[Problem], limit: int = 3, *, blocked: bool = True) -> str:
    """The Degraded message for a blocked rollout ("" when nothing blocks); with
    blocked=False the same problems as let through (auto on an unprovisioned account, warn)."""
    errors = blocking(problems)
    if not errors:
        return ""
    shown = "; ".join(str(p) for p in errors[:limit])
    more = (
        f" (and {len(errors) - limit} more: run `ecs-gitops verify`)" if len(errors) > limit else ""
    )
    head = (
        "preflight failed, no task set created" if blocked else "preflight problems, not enforced"
    )
    return f"{head}: {shown}{more}"


def dotted(path: DocPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True)
class PreflightResult:
    """What one preflight found."""

    problems: tuple[Problem, ...]
    """Every problem, blocking ones first."""
    evidence: tuple[str, ...] = ()
    """What the task definition names that exists ("role ecsTaskExecutionRole", ...)."""

    @property
    def provisioned(self) -> bool:
        """Something the task definition names exists: its problems are real ones."""
        return bool(self.evidence)

    @property
    def errors(self) -> list[Problem]:
        return blocking(self.problems)


@dataclass
class Run:
    """One preflight of one service: what the checks read and where problems go."""

    svc: EcsService
    origin: Loaded | None
    region: str
    lookups: Lookups
    problems: list[Problem] = field(default_factory=list)
    roles: dict[str, RoleInfo | None] = field(default_factory=dict)
    images: dict[str, ImageState] = field(default_factory=dict)
    secrets: dict[tuple[str, str], SecretInfo | None] = field(default_factory=dict)
    """(region, lookup) -> what DescribeSecret said."""
    parameters: set[tuple[str, str]] = field(default_factory=set)
    """(region, name) of the SSM parameters found. The permission check reads all four."""
    log_groups: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(group, region) -> whether it exists, for the groups that must exist beforehand."""

    def evidence(self) -> tuple[str, ...]:
        """What the task definition names that exists (see PreflightResult.evidence)."""
        found = [
            f"ECR repository of {image}"
            for image, state in self.images.items()
            if state != "no-repository"
        ]
        found += [f"role {name}" for name, info in self.roles.items() if info is not None]
        found += [f"secret {info.name}" for info in self.secrets.values() if info is not None]
        found += [f"parameter {name}" for _, name in self.parameters]
        found += [f"log group {group}" for (group, _), ok in self.log_groups.items() if ok]
        return tuple(sorted(found))

    @property
    def td(self) -> TaskDefinitionInput:
        return self.svc.spec.task_definition_input

    def add(
        self,
        path: DocPath,
        message: str,
        fix: str = "",
        *,
        in_td: bool = True,
        severity: Severity = "error",
    ) -> None:
        location = None
        if self.origin is not None:
            location = Location(*self.origin.locate(path, in_task_definition=in_td))
        self.problems.append(
            Problem(dotted(path), message, fix, location, severity, self.svc.metadata.name)
        )


@dataclass
class _Cache:
    entries: dict[tuple[str, str, str], tuple[float, PreflightResult]] = field(default_factory=dict)


_caches: weakref.WeakKeyDictionary[AwsClients, _Cache] = weakref.WeakKeyDictionary()


async def preflight(
    ctx: Context, svc: EcsService, origin: Loaded | None = None, *, use_cache: bool = True
) -> PreflightResult:
    """Every problem AWS shows with the task set svc asks for (none: good to go), and
    whether anything the task definition names exists.

    origin is the loader's record of svc, for file:line:col; without it problems name the
    service and field only. Raises AwsRetryable (throttling, network) for the caller to
    retry; other AWS errors become notes."""
    region = ctx.region_of(svc.spec.region)
    key = (
        region,
        DesiredTaskSet.from_spec(svc.spec).content_external_id,
        origin.file if origin else svc.metadata.name,
    )
    cache = _caches.setdefault(ctx.aws, _Cache())
    now = time.monotonic()
    hit = cache.entries.pop(key, None)
    if use_cache and hit is not None:
        ttl = FAIL_TTL if hit[1].errors else PASS_TTL
        if now - hit[0] < ttl:
            cache.entries[key] = hit
            return hit[1]
    run = Run(svc, origin, region, Lookups(ctx.aws, region))
    await _gather(
        run,
        [
            ("images", aws_checks.images),
            ("roles", aws_checks.roles),
            ("secrets", aws_checks.secrets),
            ("log groups", aws_checks.log_groups),
            ("network and load balancers", aws_checks.network),
        ],
    )
    # the permission check reads what the secret check found, so it runs after it
    await _gather(run, [("execution role permissions", aws_checks.permissions)])
    problems = tuple(
        sorted(
            run.problems,
            key=lambda p: (
                not p.blocking,
                str(p.location.file) if p.location else "",
                p.location.line if p.location else 0,
                p.field,
            ),
        )
    )
    result = PreflightResult(problems, run.evidence())
    cache.entries[key] = (now, result)
    if len(cache.entries) > MAX_CACHED:  # forget the oldest (dicts keep insertion order)
        del cache.entries[next(iter(cache.entries))]
    return result


async def _gather(run: Run, checks: list[tuple[str, Callable[[Run], Awaitable[None]]]]) -> None:
    results = await asyncio.gather(*(check(run) for _, check in checks), return_exceptions=True)
    for (what, _), result in zip(checks, results, strict=True):
        if isinstance(result, AwsRetryable):
            raise result
        if isinstance(result, AwsError):
            run.problems.append(
                Problem(
                    what,
                    f"could not check: {result.service} {result.operation} failed "
                    f"({result.code}: {result.message})",
                    f"allow the controller {result.service}:{result.operation}",
                    None,
                    "note",
                    run.svc.metadata.name,
                )
            )
        elif isinstance(result, BaseException):
            raise result
