"""What a preflight finds, and where the checks write it: Problem, Run, PreflightResult."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsService
from controller.aws.lookups import ImageState, Lookups, RoleInfo, SecretInfo
from controller.loader import Loaded
from controller.loader.diagnostics import dotted

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
