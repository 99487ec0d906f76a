"""Options shared by commands; each is also an ECS_GITOPS_<NAME> environment variable."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import click

from controller.observability import logging as obs_logging
from controller.reconcile.context import PREFLIGHT_MODES
from controller.runtime.writer import DEFAULT_WRITER_LEASE
from controller.sources.budget import MAX_REVISION_BYTES

ENV_PREFIX = "ECS_GITOPS"
LOCAL_ADDR = os.environ.get("ECS_GITOPS_LOCAL_ADDR") or "127.0.0.1:4599"
"""Where --local finds the emulated AWS, or starts one (`make run` keeps one up there);
ECS_GITOPS_LOCAL_ADDR moves it (a second walkthrough beside a running one, a test)."""
EMULATOR_CREDENTIALS = "AWS_ACCESS_KEY_ID=emulated AWS_SECRET_ACCESS_KEY=emulated"
"""Dummy credentials: the emulated AWS takes any, but the aws CLI sends none without some."""
LOCAL_REGION = "ap-northeast-2"

F = TypeVar("F", bound=Callable[..., Any])
_SIZE = re.compile(r"\s*(\d+)\s*(?:([kmg])i?b?)?\s*", re.IGNORECASE)  # K, M, G are 1024-based
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def env(name: str) -> str:
    return f"{ENV_PREFIX}_{name.upper().replace('-', '_')}"


server_option = click.option(
    "--server",
    default="http://127.0.0.1:8080",
    envvar=env("server"),
    show_default=True,
    help="The running controller's HTTP address.",
)
"""--server: where a command that talks to a running controller finds it."""


def log_options(func: F) -> F:
    func = click.option(
        "--log-format",
        type=click.Choice(["auto", "json", "console"]),
        default="auto",
        envvar=env("log_format"),
        show_default=True,
        help="json when not a terminal, coloured console otherwise.",
    )(func)
    return click.option(
        "--log-level",
        type=click.Choice(obs_logging.LEVELS, case_sensitive=False),
        default="warning",
        envvar=env("log_level"),
        show_default=True,
    )(func)


class ByteSize(click.ParamType[int]):
    """A size in bytes: 33554432, 32MiB, 32Mi, 512KiB, 1GiB."""

    name = "bytes"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.fullmatch(str(value))
        size = int(match[1]) * _UNITS[(match[2] or "").lower()] if match else 0
        if size <= 0:
            self.fail(f"{value!r} is not a size in bytes (e.g. 33554432 or 32MiB)", param, ctx)
        return size


def source_option(func: F) -> F:
    """--source, the desired state, and its budget, as every command that reads one takes
    them (the budget reaches the command in its options as max_revision_bytes)."""
    func = click.option(
        "--max-revision-bytes",
        type=ByteSize(),
        default=MAX_REVISION_BYTES,
        envvar=env("max_revision_bytes"),
        show_default="24MiB",
        help="Refuse a revision whose manifests add up to more (nothing of it is applied); "
        "the controller's memory must hold several times this.",
    )(func)
    return click.option(
        "--source",
        required=True,
        envvar=env("source"),
        help="Desired state: a path, git+file:///repo[#ref=main&path=deploy/], "
        "git+https://..., git+ssh://... or s3://bucket/prefix/.",
    )(func)


def preflight_option(func: F) -> F:
    """--preflight for the commands that create task sets (sync, run)."""
    return click.option(
        "--preflight",
        type=click.Choice(PREFLIGHT_MODES),
        default="auto",
        envvar=env("preflight"),
        show_default=True,
        help="Check images, roles, secrets, logs, target groups before a new task set. "
        "block: a problem stops it (Degraded, nothing launched); warn: log it and go on; "
        "off: skip; auto: block, except when nothing the task definition names (ECR "
        "repository, role, secret, log group) exists in the account, an emulator or an "
        "unprovisioned account, where it warns so the example still deploys.",
    )(func)


def writer_lease_option(func: F) -> F:
    """--writer-lease for the commands that write rollout steps (sync, run)."""
    return click.option(
        "--writer-lease",
        type=click.FloatRange(min=1.0),
        default=DEFAULT_WRITER_LEASE,
        envvar=env("writer_lease"),
        show_default=True,
        help="Seconds another controller's rollout step keeps a service to it: a service "
        "whose rollout another live process wrote within this time is left alone "
        "(WriterConflict); after it, that writer is taken for dead and the rollout resumed.",
    )(func)


def aws_options(func: F) -> F:
    for decorator in reversed(
        [
            click.option(
                "--region",
                envvar=env("region"),
                help="Default AWS region (else AWS_REGION / AWS_DEFAULT_REGION).",
            ),
            click.option(
                "--endpoint-url",
                envvar=[env("endpoint_url"), "AWS_ENDPOINT_URL"],
                help="AWS endpoint override (an ECS-compatible emulator).",
            ),
            click.option(
                "--local",
                is_flag=True,
                envvar=env("local"),
                help=f"Use the embedded emulated AWS (at {LOCAL_ADDR}; started "
                "in-process when none is running there).",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                envvar=env("dry_run"),
                help="Detect and report only; change nothing.",
            ),
            click.option(
                "--instance-name",
                default="ecs-gitops",
                envvar=env("instance_name"),
                show_default=True,
                help="Value of the managed-by tag.",
            ),
        ]
    ):
        func = decorator(func)
    return log_options(func)


def resolve_region(region: str | None, local: bool, named: Collection[str | None] = ()) -> str:
    """The default region: --region, AWS_REGION / AWS_DEFAULT_REGION, the emulator's under
    --local, else the one the files name when every resource names the same one (`named`:
    each resource's spec.region, None where it names none). When some name none, or they
    name different ones, the error says which: the default would be a guess."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    if local:
        return LOCAL_REGION
    regions = set(named)
    if len(regions) == 1 and None not in regions:
        return next(r for r in regions if r is not None)
    missing = sum(1 for r in named if r is None)
    if missing:
        which = f" ({missing} of the {len(named)} resources name none)"
        fix = "pass --region, set AWS_REGION, or give each resource spec.region"
    elif named:
        listed = ", ".join(sorted(r for r in regions if r is not None))
        which = f" (the resources name different ones: {listed})"
        fix = "pass --region or set AWS_REGION for the default"
    else:
        which, fix = "", "pass --region or set AWS_REGION"
    raise click.UsageError(f"no AWS region{which}: {fix}")
