"""aiobotocore clients owned in one place, every call counted and its errors mapped.

One AwsClients per process holds a client per (service, region, kind). Reads use
botocore's standard retry mode; mutating calls are sent once (max_attempts 1), because a
blind SDK retry of CreateTaskSet or RegisterTaskDefinition after a lost response
duplicates work: the reconcile loop retries instead, after reading live state again.
botocore errors become the controller.errors tree here and nowhere else.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from controller.errors import AwsError, AwsNotFound, AwsRetryable, AwsTerminal, AwsThrottled

log = structlog.get_logger(__name__)

MUTATING = re.compile(
    r"^(Create|Update|Delete|Register|Deregister|Put|Tag|Untag|Run|Start|Stop|Modify|Set|Submit)"
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


def is_mutating(operation: str) -> bool:
    return MUTATING.match(operation) is not None


def snake_case(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


@dataclass
class CallStats:
    """Counts of AWS calls by (service, operation, outcome): API calls are the scarce resource."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    listeners: list[Callable[[str, str, str, float], None]] = field(default_factory=list)

    def record(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        self.calls[(service, operation, outcome)] += 1
        for listener in self.listeners:
            listener(service, operation, outcome, seconds)

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

    def reset(self) -> None:
        self.calls.clear()


@dataclass(frozen=True)
class AwsSettings:
    region: str
    endpoint_url: str | None = None
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


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
    ) -> None:
        self.settings = settings
        self.stats = stats or CallStats()
        self._session = session or get_session()
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AwsClients:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._clients.clear()
        await self._stack.__aexit__(None, None, None)

    async def _client(self, service: str, region: str, mutating: bool) -> Any:
        key = (service, region, mutating)
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._lock:
            client = self._clients.get(key)
            if client is None:
                config = AioConfig(
                    retries={
                        "mode": "standard",
                        # total attempts, the first included: 1 means never resent
                        "total_max_attempts": 1 if mutating else self.settings.max_attempts,
                    },
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
        mutating = is_mutating(operation)
        client = await self._client(service, region, mutating)
        method = getattr(client, snake_case(operation))
        started = time.monotonic()
        try:
            response: dict[str, Any] = await method(**params)
        except ClientError as exc:
            mapped = map_client_error(service, operation, exc)
            outcome = "throttled" if isinstance(mapped, AwsThrottled) else "error"
            self.stats.record(service, operation, outcome, time.monotonic() - started)
            raise mapped from None
        except NoCredentialsError as exc:
            self.stats.record(service, operation, "error", time.monotonic() - started)
            raise AwsTerminal(service, operation, "NoCredentials", str(exc)) from None
        except (BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.record(service, operation, "error", time.monotonic() - started)
            raise AwsRetryable(service, operation, type(exc).__name__, str(exc)) from None
        self.stats.record(service, operation, "success", time.monotonic() - started)
        if mutating:
            log.info("aws_call", service=service, operation=operation, region=region)
        return response
