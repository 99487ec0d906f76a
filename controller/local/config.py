"""What the emulated ECS does, as data: timings, per-image failure modes, ECS's own wording.

Design: everything the emulator decides is driven by an `EmulatorConfig` (timings) and a
table of `FailureMode`s picked by the container image's tag, so tests and `--local` users
can stage a crash loop or a pull failure just by committing an image tag such as
`myapp:v2-crashloop`. Durations of a mode are multiples of the configured task start
delay (one "time unit"), so the same modes keep their order of events whether the delay is
2 s (`--local`) or 0.1 s (tests): a crash-looping task always dies before it would have
settled, so its task set never reaches STEADY_STATE. Reasons and stop codes are the
strings real ECS reports, so code written against the emulator matches real AWS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

EMULATED_BANNER = "emulated AWS (moto + ecs-gitops task-set emulator) — not real AWS"

# ECS stop codes (Task.stopCode).
STOP_CODE_ESSENTIAL_EXITED = "EssentialContainerExited"
STOP_CODE_FAILED_TO_START = "TaskFailedToStart"
STOP_CODE_SCHEDULER = "ServiceSchedulerInitiated"
STOP_CODE_USER = "UserInitiated"

# ECS stopped reasons (Task.stoppedReason).
REASON_ESSENTIAL_EXITED = "Essential container in task exited"
REASON_HEALTH_CHECKS = "Task failed container health checks"
REASON_PULL_FAILED = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
    "failed to resolve ref {image}: {image}: not found"
)
REASON_SCALING = "Scaling activity initiated by (deployment {deployment})"
REASON_SERVICE_DELETED = "Service {service} was deleted"


@dataclass(frozen=True)
class FailureMode:
    """How tasks running an image behave. Times are multiples of the task start delay."""

    name: str
    start_delay_factor: float = 1.0
    """PENDING lasts start_delay x this."""
    pull_fails: bool = False
    """Never reaches RUNNING: stops with CannotPullContainerError / TaskFailedToStart."""
    crash_after_factor: float | None = None
    """Stops this long after reaching RUNNING (before it would settle), exit code `exit_code`."""
    exit_code: int = 1
    unhealthy: bool = False
    """Runs, reports UNHEALTHY, and the scheduler stops it for failed health checks."""
    target_unhealthy: bool = False
    """Runs and settles, but its load-balancer targets fail the ELB's health checks (the
    app answers 5xx on its health path). ECS replacing such tasks is not emulated, so the
    controller's target-health gate is what notices."""

    @property
    def healthy(self) -> bool:
        return not (
            self.pull_fails
            or self.unhealthy
            or self.target_unhealthy
            or self.crash_after_factor is not None
        )


HEALTHY = FailureMode("healthy")
SLOW = FailureMode("slow", start_delay_factor=10.0)
CRASHLOOP = FailureMode("crashloop", crash_after_factor=0.5, exit_code=1)
PULL_FAIL = FailureMode("pullfail", pull_fails=True)
UNHEALTHY = FailureMode("unhealthy", unhealthy=True)
LB_FAIL = FailureMode("lbfail", target_unhealthy=True)

DEFAULT_FAILURE_MODES: Mapping[str, FailureMode] = {
    "crashloop": CRASHLOOP,
    "pullfail": PULL_FAIL,
    "doesnotexist": PULL_FAIL,
    "unhealthy": UNHEALTHY,
    "lbfail": LB_FAIL,
    "slow": SLOW,
}
"""Substring of an image *tag* -> behaviour; first match in this order wins."""

DEFAULT_REGIONS = ("ap-northeast-2", "us-east-1")
DEFAULT_SUBNETS = ("subnet-aaa", "subnet-bbb")
DEFAULT_SECURITY_GROUPS = ("sg-xxx",)


@dataclass(frozen=True)
class EmulatorConfig:
    """Timings and tables of the emulated ECS (see the module docstring)."""

    task_start_delay: float = 2.0
    """Seconds a healthy task stays PENDING; also the time unit of the failure modes."""
    settle_factor: float = 1.0
    """A RUNNING task counts as settled (healthy, steady) after start_delay x this."""
    minute_factor: float = 5.0
    """One minute of ECS bake time (bakeTimeInMinutes, linear and canary steps) lasts
    start_delay x this: 10 s with `--local`'s 2 s delay, 1 s with the tests' 0.2 s."""
    stop_delay: float | None = None
    """Seconds a task spends STOPPING when the scheduler stops it (default start delay / 2)."""
    tick_interval: float = 0.25
    failure_modes: Mapping[str, FailureMode] = field(
        default_factory=lambda: dict(DEFAULT_FAILURE_MODES)
    )
    standalone_task_seconds: float | None = 1.0
    """RunTask tasks (hooks such as migrations) exit 0 after this long RUNNING; None: never."""
    stopped_tasks_kept: int = 100
    """STOPPED tasks kept per cluster (oldest are forgotten, like ECS's retention)."""
    service_events_kept: int = 100
    regions: tuple[str, ...] = DEFAULT_REGIONS
    subnets: tuple[str, ...] = DEFAULT_SUBNETS
    security_groups: tuple[str, ...] = DEFAULT_SECURITY_GROUPS
    account_id: str = "123456789012"

    @property
    def effective_stop_delay(self) -> float:
        return self.task_start_delay / 2 if self.stop_delay is None else self.stop_delay


def image_tag(image: str) -> str:
    """The tag of an image reference ('' for a digest); 'latest' when it has none."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return ""
    _name, sep, tag = last.partition(":")
    return tag if sep else "latest"


def failure_mode_for_image(image: str, modes: Mapping[str, FailureMode]) -> FailureMode:
    """The behaviour of tasks running `image`: the first pattern found in its tag."""
    tag = image_tag(image).lower()
    for pattern, mode in modes.items():
        if pattern.lower() in tag:
            return mode
    return HEALTHY


def failure_mode_for_images(images: list[str], modes: Mapping[str, FailureMode]) -> FailureMode:
    """A task's behaviour: that of its first (essential) container image that is not healthy."""
    for image in images:
        mode = failure_mode_for_image(image, modes)
        if mode is not HEALTHY:
            return mode
    return HEALTHY


def computed_desired_count(desired_count: int, scale: Mapping[str, object] | None) -> int:
    """ECS's task-set arithmetic: ceil(service desiredCount x scale% / 100)."""
    value = 100.0 if not scale else float(str(scale.get("value", 100.0)))
    return max(0, math.ceil(desired_count * value / 100.0 - 1e-9))
