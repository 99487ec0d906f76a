"""aiobotocore clients owned in one place, every call rate-limited, counted, errors mapped.

One AwsClients per process (one set of credentials: one account) holds a client per
(service, region). botocore never retries on its own (total_max_attempts 1): retries are
made here, so each attempt takes a token of its throttle category first (ratelimit.py)
and each is counted. A ThrottlingException means AWS refused the request without acting
on it, so any call, mutating or not, is sent again once its bucket has refilled (the
bucket's rate is lowered meanwhile), up to `throttle_retries` times, before AwsThrottled
is raised. Other transient failures (5xx, timeouts, connection errors) are retried here
for reads only: a mutating call whose response was lost may have happened, so it is
never resent blindly; the reconcile loop retries it after reading live state again.
Batchable describes go through a Coalescer (batching.py). botocore errors become the
controller.errors tree here and nowhere else.

Read-only is enforced here, where the calls leave: with AwsSettings.read_only (a whole
process: `diff`, `import`, `sync --dry-run`, `run --dry-run`) or inside `read_only()` (one
reconcile: a dry-run or selfHeal-off context, and every task it starts, through a
contextvar), every mutating operation raises ReadOnlyRefused without being sent, and is
counted in CallStats.refused. The reconcilers still say what they would do; this makes
that promise hold whatever a reconciler forgets.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import botocore.utils
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.parsers import ResponseParserError

from controller.aws.batching import SPECS, Coalescer, autoscaling_touched, ecs_touched
from controller.aws.ratelimit import Limit, RateLimits, category, limits_from_env
from controller.errors import (
    AwsError,
    AwsNotFound,
    AwsRetryable,
    AwsTerminal,
    AwsThrottled,
    ReadOnlyRefused,
)

log = structlog.get_logger(__name__)

MUTATING = re.compile(
    r"^(Create|Update|Delete|Register|Deregister|Put|Tag|Untag|Run|Start|Stop|Modify|Set|Submit|Continue)"
)
THROTTLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "ProvisionedThroughputExceededException",
}
NOT_FOUND_CODES = {
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "TaskSetNotFoundException",
    "ObjectNotFoundException",
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFoundException",
}
RETRYABLE_CODES = {
    "ServerException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ConcurrentUpdateException",
    "UpdateInProgressException",
}


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser without a time-zone lookup or dateutil for each value.

    Epoch seconds (the JSON protocols) and ISO 8601 text (the query protocols, moto)
    become aware datetimes directly, naive text read as UTC; anything else goes to
    botocore. A describe of ten services carries fifty timestamps: botocore's own parser
    was a third of the controller's CPU in a no-op resync."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    fallback: datetime = botocore.utils.parse_timestamp(value)
    return fallback


def is_mutating(operation: str) -> bool:
    return MUTATING.match(operation) is not None


_read_only: ContextVar[bool] = ContextVar("aws_read_only", default=False)


@contextmanager
def read_only(enabled: bool = True) -> Iterator[None]:
    """Within this block (and the tasks started in it), AWS is read-only when enabled:
    every mutating call raises ReadOnlyRefused unsent. A disabled block changes nothing
    (it never lifts an enclosing read-only)."""
    if not enabled:
        yield
        return
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def snake_case(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


@dataclass
class CallStats:
    """Counts of AWS calls by (service, operation, outcome): API calls are the scarce resource.

    Every attempt is a call: a throttled attempt that was retried counts once as
    "throttled" and once more with the outcome of the retry. Waits for a rate-limit token
    are counted apart (`waits`, `wait_seconds`, by service and throttle category)."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    """Mutating calls refused unsent in a read-only scope, by service:operation."""
    listeners: list[Callable[[str, str, str, float], None]] = field(default_factory=list)
    waits: Counter[tuple[str, str]] = field(default_factory=Counter)
    wait_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    wait_listeners: list[Callable[[str, str, float], None]] = field(default_factory=list)
    """Called with (service, category, seconds) for each call that waited for a token."""

    def record(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        self.calls[(service, operation, outcome)] += 1
        for listener in self.listeners:
            listener(service, operation, outcome, seconds)

    def record_wait(self, service: str, bucket: str, seconds: float) -> None:
        key = (service, bucket)
        self.waits[key] += 1
        self.wait_seconds[key] = self.wait_seconds.get(key, 0.0) + seconds
        for listener in self.wait_listeners:
            listener(service, bucket, seconds)

    def total(self, *, mutating: bool | None = None) -> int:
        return sum(
            n
            for (_, op, _), n in self.calls.items()
            if mutating is None or is_mutating(op) == mutating
        )

    def by_operation(self, *, mutating: bool | None = None) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (service, op, _), n in self.calls.items():
            if mutating is None or is_mutating(op) == mutating:
                out[f"{service}:{op}"] += n
        return dict(out)

    def outcomes(self, outcome: str) -> dict[str, int]:
        """Calls with this outcome ("success", "error", "throttled") by service:operation."""
        out: Counter[str] = Counter()
        for (service, op, result), n in self.calls.items():
            if result == outcome:
                out[f"{service}:{op}"] += n
        return dict(out)

    def reset(self) -> None:
        self.calls.clear()
        self.refused.clear()
        self.waits.clear()
        self.wait_seconds.clear()


@dataclass(frozen=True)
class AwsSettings:
    region: str
    endpoint_url: str | None = None
    max_attempts: int = 5
    """Attempts of a read on a transient error (5xx, timeout, connection), the first included."""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    throttle_retries: int = 6
    """Attempts after a ThrottlingException, for any call, before AwsThrottled is raised."""
    rate_limits: Mapping[str, Limit] | None = None
    """Throttle category -> Limit; None: AWS's published rates and the environment's
    overrides (ECS_GITOPS_AWS_RATE_LIMITS, ECS_GITOPS_AWS_RATE_SCALE)."""
    rate_limiting: bool = True
    batch_window: float = 0.003
    """Seconds a batchable describe waits for others to share its call."""
    read_ahead_ttl: float = 2.0
    """Longest a read-ahead answer is kept for the reconcile that asks next (a resync
    poll takes one read during its pass, however old); 0 turns read-ahead off
    (concurrent describes are still merged)."""
    read_only: bool = False
    """Refuse every mutating call, for the life of these clients (see read_only())."""


def map_client_error(service: str, operation: str, exc: ClientError) -> AwsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")) or str(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if "<html" in message.lower():  # an error page, not an AWS error document
        title = re.search(r"<title>(.*?)</title>", message, re.I | re.S)
        message = f"HTTP {status or code}: {title.group(1).strip() if title else 'error page'}"
    if code in THROTTLE_CODES or status == 429:
        return AwsThrottled(service, operation, code, message)
    if code in NOT_FOUND_CODES or (
        code in ("ClientException", "InvalidParameterException")
        and re.search(
            r"(not found|does not exist|Unable to describe task definition)", message, re.I
        )
    ):
        return AwsNotFound(service, operation, code, message)
    if code in RETRYABLE_CODES or status >= 500:
        return AwsRetryable(service, operation, code, message)
    return AwsTerminal(service, operation, code, message)


class AwsClients:
    """Owns aiobotocore clients for the life of the controller (an async context manager)."""

    def __init__(
        self,
        settings: AwsSettings,
        stats: CallStats | None = None,
        session: AioSession | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self.settings = settings
        self.stats = stats or CallStats()
        self.limits = limits or RateLimits(
            limits_from_env() if settings.rate_limits is None else settings.rate_limits,
            enabled=settings.rate_limiting,
        )
        self._session = session or get_session()
        self._session.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=parse_timestamp
        )
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = asyncio.Lock()
        self._rng = random.Random()
        self.coalescers: dict[tuple[str, str], Coalescer] = {
            key: Coalescer(
                spec,
                self._sender(spec.service, spec.operation),
                window=settings.batch_window,
                ttl=settings.read_ahead_ttl,
            )
            for key, spec in SPECS.items()
        }

    async def __aenter__(self) -> AwsClients:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for coalescer in self.coalescers.values():
            await coalescer.close()
        await self.limits.close()
        self._clients.clear()
        await self._stack.__aexit__(None, None, None)

    async def _client(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._lock:
            client = self._clients.get(key)
            if client is None:
                config = AioConfig(
                    retries={"mode": "standard", "total_max_attempts": 1},  # retried in call()
                    connect_timeout=self.settings.connect_timeout,
                    read_timeout=self.settings.read_timeout,
                )
                client = await self._stack.enter_async_context(
                    self._session.create_client(
                        service,  # type: ignore[call-overload]
                        region_name=region,
                        endpoint_url=self.settings.endpoint_url,
                        config=config,
                    )
                )
                self._clients[key] = client
        return client

    async def call(
        self, service: str, operation: str, region: str | None = None, /, **params: Any
    ) -> dict[str, Any]:
        """One API call; raises an AwsError subclass on failure."""
        region = region or self.settings.region
        coalescer = self.coalescers.get((service, operation))
        if coalescer is not None:
            return await coalescer.call(region, params)
        if not is_mutating(operation):
            response = await self._send(service, operation, region, params)
            if (service, operation) == ("ecs", "ListServices") and params.get("cluster"):
                names = [arn.rsplit("/", 1)[-1] for arn in response.get("serviceArns", [])]
                self.expect("ecs", region, str(params["cluster"]), names)
            return response
        if self.settings.read_only or _read_only.get():
            self.stats.refused[f"{service}:{operation}"] += 1
            log.error("aws_call_refused_read_only", service=service, operation=operation)
            raise ReadOnlyRefused(
                service, operation, "ReadOnly", "refused unsent: AWS is read-only here (dry run)"
            )
        self._touched(service, operation, region, params)
        try:
            response = await self._send(service, operation, region, params)
        finally:  # also a read that started while this call was in flight is stale
            self._touched(service, operation, region, params)
        log.info("aws_call", service=service, operation=operation, region=region)
        return response

    def begin_pass(
        self,
        service: str,
        region: str,
        scope: str,
        names: Iterable[str],
        carried: Iterable[str] = (),
    ) -> None:
        """A pass (a resync, a new revision) is about to describe these names of `scope`,
        in this order, after the `carried` polls of the pass before, still queued:
        batched describes read ahead in that order and keep what they read for the
        resync polls (see batching.py)."""
        names, carried = list(names), list(carried)
        for (svc, _), coalescer in self.coalescers.items():
            if svc == service:
                coalescer.begin_pass(region, scope, names, carried)

    def expect(self, service: str, region: str, scope: str, names: Iterable[str]) -> None:
        """A hint: these names of `scope` (a cluster) are about to be described, so
        batched describes read them ahead. ("ecs", region, cluster, service names)"""
        for (svc, _), coalescer in self.coalescers.items():
            if svc == service:
                coalescer.expect(region, scope, names)

    def _touched(self, service: str, operation: str, region: str, params: dict[str, Any]) -> None:
        if service == "ecs":
            scope, names = ecs_touched(operation, params)
        elif service == "application-autoscaling":
            scope, names = autoscaling_touched(params)
        else:
            return
        if names is not None and not names:
            return
        for (svc, _), coalescer in self.coalescers.items():
            if svc == service:
                coalescer.invalidate(region, scope, names)

    def _sender(self, service: str, operation: str) -> Callable[[str, dict[str, Any]], Any]:
        async def send(region: str, params: dict[str, Any]) -> dict[str, Any]:
            return await self._send(service, operation, region, params)

        return send

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for transient errors: up to 0.1 s * 2**n, 5 s cap."""
        return self._rng.uniform(0, min(5.0, 0.1 * 2**attempt))

    async def _send(
        self, service: str, operation: str, region: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        mutating = is_mutating(operation)
        client = await self._client(service, region)
        method = getattr(client, snake_case(operation))
        failures = throttles = 0
        while True:
            waited = await self.limits.acquire(region, service, operation)
            if waited > 0:
                self.stats.record_wait(service, category(service, operation), waited)
            started = time.monotonic()
            try:
                response: dict[str, Any] = await method(**params)
            except ClientError as exc:
                mapped: AwsError = map_client_error(service, operation, exc)
            except NoCredentialsError as exc:
                self.stats.record(service, operation, "error", time.monotonic() - started)
                raise AwsTerminal(service, operation, "NoCredentials", str(exc)) from None
            except ParamValidationError as exc:  # our request is wrong: never resent
                self.stats.record(service, operation, "error", time.monotonic() - started)
                raise AwsTerminal(service, operation, "ParamValidation", str(exc)) from None
            except (
                BotoCoreError,
                ResponseParserError,
                aiohttp.ClientError,
                TimeoutError,
                OSError,
            ) as exc:
                mapped = AwsRetryable(service, operation, type(exc).__name__, str(exc))
            else:
                self.stats.record(service, operation, "success", time.monotonic() - started)
                return response
            throttled = isinstance(mapped, AwsThrottled)
            outcome = "throttled" if throttled else "error"
            self.stats.record(service, operation, outcome, time.monotonic() - started)
            if throttled and throttles < self.settings.throttle_retries:
                throttles += 1
                # the next acquire waits for the emptied bucket; without one, back off
                if self.limits.throttled(region, service, operation) <= 0:
                    await asyncio.sleep(self._backoff(throttles))
                log.debug("aws_throttled", service=service, operation=operation, retry=throttles)
                continue
            if (
                not throttled
                and mapped.retryable
                and not mutating
                and failures + 1 < self.settings.max_attempts
            ):
                failures += 1
                await asyncio.sleep(self._backoff(failures))
                continue
            raise mapped from None
