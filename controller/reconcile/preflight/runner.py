"""The preflight of one service: every check at once, cached per content and region."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from controller.api.service import EcsService
from controller.aws.client import AwsClients
from controller.aws.lookups import Lookups
from controller.errors import AwsError, AwsRetryable
from controller.loader import Loaded
from controller.reconcile.context import Context
from controller.reconcile.preflight import checks as aws_checks
from controller.reconcile.preflight.problems import PreflightResult, Problem, Run
from controller.reconcile.taskset import DesiredTaskSet

PASS_TTL = 3600.0
FAIL_TTL = 60.0
MAX_CACHED = 1024


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
