"""The Notifier: deliveries in the background, in order per target, retried with backoff.

Design: `notify(event)` only enqueues (one delivery per target that wants the event) and
returns at once, so a reconcile never waits on Slack or GitHub. Each target has its own
FIFO queue and at most one worker task, started on demand: a slow or failing target
delays only itself, and a target sees events in the order they happened (GitHub gets
pending before success). A delivery is retried on connection errors, timeouts, 408, 429
and 5xx with capped exponential backoff and jitter; other 4xx and unreadable secrets
fail at once. Every delivery ends in exactly one call of `on_delivery(target_type,
event, result)` with result success, error, refused (a host the operator did not allow:
see destinations.py) or dropped (queue full, or still queued at shutdown), which the
metrics wire to ecs_gitops_notifications_total. The transport and
the sleep are injectable, so tests run against a local server without waiting.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
import structlog

from controller.api.notifications import EcsGitopsNotifications, NotificationsSpec, Target
from controller.errors import SecretUnavailable
from controller.notify.destinations import (
    AllowedHosts,
    DestinationRefused,
    GuardedResolver,
    allowed_hosts,
    check_address,
    check_url,
)
from controller.notify.events import Event
from controller.notify.targets import Request, build_request, wants

log = structlog.get_logger(__name__)

Transport = Callable[[Request], Awaitable[int]]
"""Sends a request, returns the HTTP status; raises (OSError, say) when nothing came back."""
DeliveryCallback = Callable[[str, str, str], None]
"""(target_type, event, result) once per delivery; result: success, error, refused or dropped."""
RETRY_STATUSES = frozenset({408, 425, 429})


class HttpTransport:
    """aiohttp, one session for the notifier's life; redirects are not followed (a 3xx is
    a failed delivery), and every address it connects to passes destinations' check unless
    the operator listed the host (DestinationRefused)."""

    def __init__(
        self, timeout: float = 10.0, allowed: Callable[[], AllowedHosts] | None = None
    ) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.allowed = allowed or (lambda: allowed_hosts(os.environ))
        self._session: aiohttp.ClientSession | None = None

    def _exempt(self, host: str, port: int) -> bool:
        return self.allowed().exempt(host, port)

    async def __call__(self, request: Request) -> int:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._exempt))
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        host = urllib.parse.urlsplit(request.url).hostname or ""
        if not self._exempt(host, _port(request.url)):
            check_address(host)  # aiohttp asks no resolver about an IP literal
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
            ) as resp:
                await resp.content.read(65536)
                return resp.status
        except aiohttp.ClientError as exc:
            raise OSError(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _port(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return 0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    """Tries per delivery, the first included."""
    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds before try attempt+1: base x 2^(attempt-1), capped, times 0.5..1."""
        backoff: float = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return backoff * (0.5 + jitter / 2)


@dataclass(frozen=True)
class _Delivery:
    target: Target
    event: Event
    status_page_url: str | None


class Notifier:
    def __init__(
        self,
        config: EcsGitopsNotifications | NotificationsSpec | None = None,
        *,
        instance: str = "ecs-gitops",
        transport: Transport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_delivery: DeliveryCallback | None = None,
        retry: RetryPolicy | None = None,
        queue_limit: int = 1000,
        env: Mapping[str, str] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.instance = instance
        self._own_transport = transport is None
        self.transport: Transport = transport or HttpTransport(allowed=self.allowed_hosts)
        self.sleep = sleep
        self.on_delivery = on_delivery
        self.retry = retry or RetryPolicy()
        self.queue_limit = queue_limit
        self.env = env
        self.jitter = jitter
        self.spec: NotificationsSpec | None = None
        self._queues: dict[str, collections.deque[_Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.configure(config)

    def configure(self, config: EcsGitopsNotifications | NotificationsSpec | None) -> None:
        """Use these targets for events from now on (None: no notifications).
        Deliveries already queued keep the target they were queued for."""
        self.spec = config.spec if isinstance(config, EcsGitopsNotifications) else config

    def allowed_hosts(self) -> AllowedHosts:
        """The hosts that may receive a delivery, read now (the operator may change them)."""
        return allowed_hosts(os.environ if self.env is None else self.env)

    @property
    def targets(self) -> list[Target]:
        return list(self.spec.targets) if self.spec is not None else []

    async def notify(self, event: Event) -> None:
        """Queue the event for every target that wants it; returns without waiting."""
        self.notify_nowait(event)

    def notify_nowait(self, event: Event) -> int:
        """As notify, from synchronous code in the event loop; the number queued."""
        if self._closed or self.spec is None:
            return 0
        queued = 0
        for target in self.spec.targets:
            if not wants(target, event):
                continue
            queue = self._queues.setdefault(target.name, collections.deque())
            if len(queue) >= self.queue_limit:
                dropped = queue.popleft()
                self._done(dropped, "dropped")
                log.warning("notification_dropped", target=target.name, reason="queue full")
            queue.append(_Delivery(target, event, self.spec.status_page_url))
            self._pending += 1
            self._idle.clear()
            queued += 1
            worker = self._workers.get(target.name)
            if worker is None or worker.done():
                self._workers[target.name] = asyncio.get_running_loop().create_task(
                    self._work(target.name), name=f"notify:{target.name}"
                )
        return queued

    async def drain(self) -> None:
        """Wait until every queued delivery has ended (delivered, failed or dropped)."""
        await self._idle.wait()

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop taking events, give queued deliveries `grace` seconds, drop the rest."""
        self._closed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), grace)
        for worker in list(self._workers.values()):
            worker.cancel()
        for worker in list(self._workers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        for queue in self._queues.values():
            while queue:
                self._done(queue.popleft(), "dropped")
        if self._own_transport and isinstance(self.transport, HttpTransport):
            await self.transport.aclose()

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _done(self, delivery: _Delivery, result: str) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()
        if self.on_delivery is not None:
            try:
                self.on_delivery(delivery.target.type, delivery.event.type, result)
            except Exception:  # a metrics bug must not stop deliveries
                log.exception("notification_callback_failed")

    async def _work(self, name: str) -> None:
        queue = self._queues[name]
        while queue:
            delivery = queue[0]
            try:
                result = await self._deliver(delivery)
            except asyncio.CancelledError:
                queue.popleft()
                self._done(delivery, "dropped")
                raise
            except Exception:  # a bug here must not stall the queue
                log.exception("notification_failed", target=name)
                result = "error"
            queue.popleft()
            self._done(delivery, result)

    async def _deliver(self, d: _Delivery) -> str:
        target, event = d.target, d.event
        fields = {"target": target.name, "target_type": target.type, "kind": event.type}
        attempt = 0
        while True:
            attempt += 1
            try:
                request = build_request(
                    target,
                    event,
                    status_page_url=d.status_page_url,
                    instance=self.instance,
                    env=self.env,
                )
                check_url(request.url, self.allowed_hosts())
            except SecretUnavailable as exc:
                log.error("notification_failed", **fields, error=str(exc))
                return "error"
            except DestinationRefused as exc:
                log.warning("notification_refused", **fields, reason=str(exc))
                return "refused"
            try:
                status = await self.transport(request)
                error = f"HTTP {status}"
            except DestinationRefused as exc:
                log.warning("notification_refused", **fields, reason=str(exc))
                return "refused"
            except Exception as exc:  # whatever the transport raised: nothing came back
                status, error = 0, f"{type(exc).__name__}: {exc}"
            if 200 <= status < 300:
                log.info("notification_delivered", **fields, attempts=attempt)
                return "success"
            retryable = status == 0 or status >= 500 or status in RETRY_STATUSES
            if not retryable or attempt >= self.retry.attempts:
                log.warning("notification_failed", **fields, attempts=attempt, error=error)
                return "error"
            delay = self.retry.delay(attempt, self.jitter())
            log.info("notification_retry", **fields, attempt=attempt, error=error, retry_in=delay)
            await self.sleep(delay)
