"""Client-side token buckets, one per AWS throttle category, with adaptive backoff.

AWS throttles each account per region with token buckets shared by a category of actions
(ECS: "Service modify actions" = CreateService, UpdateService, DeleteService share 5/s,
burst 50). We keep the same buckets on our side, so the controller spends the account's
budget at the published rate instead of discovering it through ThrottlingException.
Every call takes a token first (`acquire`, which waits when the bucket is empty; waiters
are served by the priority of the reconcile making the call, then in arrival order). A throttle
reported by AWS anyway (other tools share the account) halves that bucket's rate and
empties it; the rate then climbs back additively, `recovery` of the published rate per
second (AIMD, as TCP does). One `RateLimits` belongs to one AwsClients, i.e. one set of
credentials = one account; buckets are keyed by (region, category).

Defaults are AWS's published ECS rates (developer guide, "Request throttling for the
Amazon ECS API"). ECS does not list the task-set actions: they are put with the service
actions they modify or read. Application Auto Scaling, CloudWatch and ELBv2 publish no
per-action table; their defaults are deliberately modest. Override any category with
ECS_GITOPS_AWS_RATE_LIMITS, e.g. `ecs:service-modify=2.5/25,cloudwatch:read=5` (rate per
second, optional burst) or the same as JSON, and scale all of them with
ECS_GITOPS_AWS_RATE_SCALE (0.5 leaves half of the account's budget to other tools).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.errors import UsageError
from controller.runtime import work_priority

RATE_LIMITS_ENV = "ECS_GITOPS_AWS_RATE_LIMITS"
RATE_SCALE_ENV = "ECS_GITOPS_AWS_RATE_SCALE"


@dataclass(frozen=True)
class Limit:
    """A token bucket: `rate` tokens per second (sustained), at most `burst` held."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1):
            raise ValueError(f"a limit needs rate > 0 and burst >= 1, got {self}")

    def scaled(self, factor: float) -> Limit:
        return Limit(self.rate * factor, max(1.0, self.burst * factor))


# ECS categories: (burst, refill) from AWS's table, as Limit(refill, burst).
ECS_CATEGORIES: dict[str, tuple[Limit, tuple[str, ...]]] = {
    "cluster-modify": (
        Limit(1, 20),
        (
            "CreateCluster",
            "DeleteCluster",
            "PutClusterCapacityProviders",
            "UpdateCluster",
            "UpdateClusterSettings",
        ),
    ),
    "cluster-read": (Limit(20, 50), ("DescribeClusters", "ListClusters")),
    "task-definition-modify": (
        Limit(1, 20),
        ("RegisterTaskDefinition", "DeregisterTaskDefinition"),
    ),
    "task-definition-read": (
        Limit(20, 50),
        ("DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"),
    ),
    "task-definition-delete": (Limit(1, 5), ("DeleteTaskDefinitions",)),
    "tag-modify": (Limit(10, 20), ("TagResource", "UntagResource")),
    "tag-read": (Limit(20, 50), ("ListTagsForResource",)),
    "cluster-resource-modify": (
        Limit(40, 100),
        ("RunTask", "StartTask", "StopTask", "PutAttributes", "DeleteAttributes"),
    ),
    "cluster-resource-read": (
        Limit(20, 100),
        ("DescribeTasks", "ListTasks", "DescribeContainerInstances", "ListContainerInstances"),
    ),
    # CreateService, UpdateService, DeleteService per AWS; the task-set actions with them
    "service-modify": (
        Limit(5, 50),
        (
            "CreateService",
            "UpdateService",
            "DeleteService",
            "CreateTaskSet",
            "UpdateTaskSet",
            "DeleteTaskSet",
            "UpdateServicePrimaryTaskSet",
        ),
    ),
    "service-read": (Limit(20, 100), ("DescribeServices", "ListServices", "DescribeTaskSets")),
    "service-deployment-read": (
        Limit(20, 50),
        ("DescribeServiceDeployments", "ListServiceDeployments", "DescribeServiceRevisions"),
    ),
}

DEFAULT_LIMITS: dict[str, Limit] = {
    **{f"ecs:{name}": limit for name, (limit, _) in ECS_CATEGORIES.items()},
    "ecs:other": Limit(20, 50),
    "application-autoscaling:read": Limit(10, 20),
    "application-autoscaling:modify": Limit(5, 10),
    "cloudwatch:read": Limit(9, 20),
    "cloudwatch:modify": Limit(3, 10),
    "elbv2:read": Limit(10, 40),
    "elbv2:modify": Limit(5, 20),
    "*:read": Limit(50, 100),
    "*:modify": Limit(10, 20),
}
"""Every category a call can fall in; `*:` are the services not named otherwise."""

_ECS_OPERATION_CATEGORY = {
    op: f"ecs:{name}" for name, (_, ops) in ECS_CATEGORIES.items() for op in ops
}
_READ_PREFIXES = ("Describe", "List", "Get", "Head", "Query", "Scan", "Receive")


def category(service: str, operation: str) -> str:
    """The throttle category (bucket name) of one API operation."""
    if service == "ecs":
        return _ECS_OPERATION_CATEGORY.get(operation, "ecs:other")
    kind = "read" if operation.startswith(_READ_PREFIXES) else "modify"
    name = f"{service}:{kind}"
    return name if name in DEFAULT_LIMITS else f"*:{kind}"


def parse_limits(text: str) -> dict[str, Limit]:
    """`cat=rate[/burst],...` or a JSON object {cat: rate | [rate, burst] | {rate, burst}}.

    A rate without a burst keeps the default burst of that category (or twice the rate)."""
    text = text.strip()
    if not text:
        return {}
    entries: dict[str, object]
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{RATE_LIMITS_ENV}: not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"{RATE_LIMITS_ENV}: expected a JSON object")
        entries = loaded
    else:
        entries = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, text_value = item.partition("=")
            if not sep:
                raise UsageError(f"{RATE_LIMITS_ENV}: {item!r} is not category=rate[/burst]")
            entries[key.strip()] = text_value.strip().split("/")
    out: dict[str, Limit] = {}
    for name, value in entries.items():
        burst: Any
        if name not in DEFAULT_LIMITS:
            known = ", ".join(sorted(DEFAULT_LIMITS))
            raise UsageError(f"{RATE_LIMITS_ENV}: unknown category {name!r} (known: {known})")
        try:
            if isinstance(value, dict):
                rate, burst = float(value["rate"]), value.get("burst")
            elif isinstance(value, list | tuple):
                rate, burst = float(value[0]), value[1] if len(value) > 1 else None
            else:
                rate, burst = float(str(value)), None
            default_burst = max(DEFAULT_LIMITS[name].burst, 2 * rate)
            out[name] = Limit(rate, default_burst if burst is None else float(burst))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise UsageError(f"{RATE_LIMITS_ENV}: bad limit for {name!r}: {exc}") from None
    return out


def limits_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Limit]:
    """DEFAULT_LIMITS with the environment's overrides and scale applied."""
    env = os.environ if environ is None else environ
    limits = {**DEFAULT_LIMITS, **parse_limits(env.get(RATE_LIMITS_ENV, ""))}
    scale_text = env.get(RATE_SCALE_ENV, "").strip()
    if scale_text:
        try:
            scale = float(scale_text)
        except ValueError:
            raise UsageError(f"{RATE_SCALE_ENV}: not a number: {scale_text!r}") from None
        if not scale > 0:
            raise UsageError(f"{RATE_SCALE_ENV}: must be positive, got {scale_text}")
        limits = {name: limit.scaled(scale) for name, limit in limits.items()}
    return limits


EPSILON = 1e-9
"""A refill computed in floats may come out a hair short of the whole token it makes."""


class TokenBucket:
    """One bucket. A call takes a token when one is there and nobody waits; otherwise it
    waits in line, higher priority first (the work queue's priority of the reconcile
    making the call, runtime.work_priority), in arrival order within a priority. One
    dispatcher task per bucket hands tokens out as they refill, so a change to one
    urgent service waits for the next token, not behind every reconcile of a fan-out."""

    def __init__(
        self,
        limit: Limit,
        *,
        min_factor: float = 0.1,
        recovery: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.min_factor = min_factor
        self.recovery = recovery
        """How much of the published rate comes back per second after a throttle."""
        self.factor = 1.0
        """The share of the published rate in use now: below 1 after throttles."""
        self.throttles = 0
        self._clock, self._sleep = clock, sleep
        self._tokens = limit.burst
        self._stamp = clock()
        self._waiters: list[tuple[int, int, asyncio.Future[float]]] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def rate(self) -> float:
        """Tokens per second now: the published rate times `factor`."""
        self._refill()
        return self.limit.rate * self.factor

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._stamp
        if elapsed <= 0:
            return
        self._stamp = now
        if self.factor < 1.0:  # the rate climbs back linearly; integrate the ramp
            climb = min(elapsed, (1.0 - self.factor) / self.recovery)
            gained = self.limit.rate * (self.factor * climb + self.recovery * climb * climb / 2)
            gained += self.limit.rate * (elapsed - climb)
            self.factor = min(1.0, self.factor + self.recovery * elapsed)
        else:
            gained = self.limit.rate * elapsed
        self._tokens = min(self.limit.burst, self._tokens + gained)

    async def acquire(self, priority: int = 0) -> float:
        """Wait for a token; returns the seconds waited."""
        self._refill()
        # anyone in line goes first (a cancelled entry only until the dispatcher drops it)
        if self._tokens >= 1.0 - EPSILON and not self._waiters:
            self._tokens -= 1.0
            return 0.0
        started = self._clock()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._seq), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
        try:
            granted = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._tokens += 1.0  # handed over but never used: give it back
            raise
        return granted - started

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)

    async def _dispatch(self) -> None:
        while True:
            while self._waiters and self._waiters[0][2].done():  # cancelled meanwhile
                heapq.heappop(self._waiters)
            if not self._waiters:
                return
            self._refill()
            if self._tokens >= 1.0 - EPSILON:
                self._tokens -= 1.0
                heapq.heappop(self._waiters)[2].set_result(self._clock())
                continue
            await self._sleep(max((1.0 - self._tokens) / self.rate, 0.001))

    def throttled(self) -> None:
        """AWS refused a call of this category: halve the rate and start from empty."""
        self._refill()
        self.throttles += 1
        self.factor = max(self.min_factor, self.factor / 2)
        self._tokens = min(self._tokens, 0.0)

    def penalty(self) -> float:
        """Seconds until one token is available again (the wait a retry will have)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1.0 - self._tokens) / self.rate


class RateLimits:
    """The buckets of one account: (region, category) -> TokenBucket, made on first use."""

    def __init__(
        self,
        limits: Mapping[str, Limit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        enabled: bool = True,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else {**DEFAULT_LIMITS, **limits})
        self.enabled = enabled
        self._clock, self._sleep = clock, sleep
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RateLimits:
        return cls(limits_from_env(environ))

    def bucket(self, region: str, service: str, operation: str) -> TokenBucket:
        key = (region, category(service, operation))
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.limits[key[1]], clock=self._clock, sleep=self._sleep)
            self._buckets[key] = bucket
        return bucket

    async def acquire(self, region: str, service: str, operation: str) -> float:
        """Wait for a token of the operation's bucket, in line by the priority of the
        work making the call; the seconds waited."""
        if not self.enabled:
            return 0.0
        return await self.bucket(region, service, operation).acquire(work_priority.get())

    def throttled(self, region: str, service: str, operation: str) -> float:
        """Record a throttle; returns the seconds until the bucket has a token again."""
        bucket = self.bucket(region, service, operation)
        bucket.throttled()
        return bucket.penalty() if self.enabled else 0.0

    async def close(self) -> None:
        """Stop the buckets' dispatchers (their waiters are cancelled with their calls)."""
        await asyncio.gather(*(b.close() for b in self._buckets.values()))

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Each used bucket's rate now, tokens and throttles (for benches and debugging)."""
        return {
            f"{region}/{name}": {
                "rate": round(b.rate, 3),
                "tokens": round(b.tokens, 2),
                "throttles": b.throttles,
            }
            for (region, name), b in sorted(self._buckets.items())
        }
