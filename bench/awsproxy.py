"""A loopback HTTP proxy in front of an AWS endpoint that behaves like AWS under load.

moto and the emulated AWS never throttle and never fail on their own. Put this proxy in
front of one and point clients at it: it enforces AWS's own token buckets per account
throttle category (ECS's published table, server side: a call finding its bucket empty is
refused with ThrottlingException, HTTP 400, the JSON body ECS sends) and it injects faults
on a seeded random fraction of calls: extra throttles (other tools spending the same
account's budget), 5xx answers before the call reaches the server, and 5xx answers after
it did (a lost response: the change was made, the client is told it failed). It counts
every call by (service, operation, outcome), so two tools can be compared by what AWS
would have seen. Used by bench/fanout.py and tests/test_chaos.py; loopback only.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web

from controller.aws.ratelimit import Limit, category

SCOPE_SERVICES = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2"}
TARGET_SERVICES = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AnyScaleFrontendService": "application-autoscaling",
}
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
THROTTLE_JSON = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
THROTTLE_XML = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
)


@dataclass
class Faults:
    """Fractions of calls (0..1) that get each fault, drawn from a seeded generator."""

    throttle: float = 0.0
    error_before: float = 0.0
    error_after: float = 0.0
    applies: Callable[[str, str], bool] = lambda service, operation: True
    """Only calls (service, operation) for which this is true get faults."""
    max_throttles_in_a_row: int | None = None
    """At most this many injected throttles in a row for one operation (then it passes)."""


@dataclass
class _Bucket:
    limit: Limit
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.limit.burst, self.tokens + (now - self.stamp) * self.limit.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class AwsProxy:
    """Forward to `upstream`; see the module docstring. start() returns the proxy's URL."""

    upstream: str
    limits: Mapping[str, Limit] | None = None
    """Throttle category -> server-side bucket (controller.aws.ratelimit names); None: none."""
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    url: str = ""
    hold: bool = False
    """While set, every call is answered 503 ServiceUnavailable without being forwarded."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._buckets: dict[str, _Bucket] = {}
        self._in_a_row: Counter[tuple[str, str]] = Counter()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def total(self, outcome: str | None = None, service: str | None = None) -> int:
        return sum(
            n
            for (svc, _, result), n in self.counts.items()
            if (outcome is None or result == outcome) and (service is None or svc == service)
        )

    def by_operation(self, outcome: str | None = None) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (svc, op, result), n in self.counts.items():
            if outcome is None or result == outcome:
                out[f"{svc}:{op}"] += n
        return dict(sorted(out.items()))

    def _bucket_allows(self, service: str, operation: str) -> bool:
        if self.limits is None:
            return True
        name = category(service, operation)
        limit = self.limits.get(name)
        if limit is None:
            return True
        bucket = self._buckets.get(name)
        now = time.monotonic()
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(limit, limit.burst, now)
        return bucket.take(now)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        service, operation, json_protocol = identify(request, body)
        if self.hold:
            return self._error(service, operation, "held", json_protocol, status=503)
        faulty = self.faults.applies(service, operation)
        if not self._bucket_allows(service, operation):
            return self._refuse(service, operation, "throttled", json_protocol)
        draw = self._rng.random() if faulty else 1.0
        f = self.faults
        if draw < f.throttle and not (
            f.max_throttles_in_a_row is not None
            and self._in_a_row[(service, operation)] >= f.max_throttles_in_a_row
        ):
            self._in_a_row[(service, operation)] += 1
            return self._refuse(service, operation, "throttled_injected", json_protocol)
        self._in_a_row[(service, operation)] = 0
        if draw < f.throttle + f.error_before:
            return self._error(service, operation, "error_before", json_protocol)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        assert self._session is not None
        try:
            async with self._session.request(
                request.method,
                self.upstream + request.path_qs,
                data=body,
                headers=headers,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                reply = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        except (TimeoutError, aiohttp.ClientError, OSError):
            return self._error(service, operation, "upstream_down", json_protocol, status=503)
        if draw < f.throttle + f.error_before + f.error_after:
            return self._error(service, operation, "error_after", json_protocol)
        self.counts[(service, operation, "forwarded")] += 1
        return web.Response(status=status, body=payload, headers=reply)

    def _refuse(
        self, service: str, operation: str, outcome: str, json_protocol: bool
    ) -> web.Response:
        self.counts[(service, operation, outcome)] += 1
        if json_protocol:
            return web.Response(
                status=400, body=THROTTLE_JSON, content_type="application/x-amz-json-1.1"
            )
        return web.Response(status=400, body=THROTTLE_XML, content_type="text/xml")

    def _error(
        self, service: str, operation: str, outcome: str, json_protocol: bool, status: int = 500
    ) -> web.Response:
        """A 5xx in the error format of the call's protocol (JSON, or XML for query)."""
        self.counts[(service, operation, outcome)] += 1
        code = b"ServiceUnavailable" if status == 503 else b"InternalFailure"
        if json_protocol:
            body = b'{"__type":"' + code + b'","message":"injected by the proxy"}'
            return web.Response(status=status, body=body, content_type="application/x-amz-json-1.1")
        body = (
            b"<ErrorResponse><Error><Type>Receiver</Type><Code>" + code + b"</Code>"
            b"<Message>injected by the proxy</Message></Error><RequestId>proxy</RequestId>"
            b"</ErrorResponse>"
        )
        return web.Response(status=status, body=body, content_type="text/xml")


class ProxyThread:
    """An AwsProxy served by an event loop in a thread of its own, for synchronous tests
    and scripts: `with ProxyThread(AwsProxy(upstream)) as proxy: ... proxy.url`."""

    def __init__(self, proxy: AwsProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> AwsProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10)
        return self.proxy

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def identify(request: web.Request, body: bytes) -> tuple[str, str, bool]:
    """(service, operation, JSON protocol?) of a signed AWS request."""
    target = request.headers.get("X-Amz-Target", "")
    scope = re.search(
        r"Credential=[^/]+/\d+/[^/]+/([^/]+)/", request.headers.get("Authorization", "")
    )
    service = scope.group(1) if scope else "unknown"
    if target:
        prefix, _, operation = target.rpartition(".")
        return TARGET_SERVICES.get(prefix, SCOPE_SERVICES.get(service, service)), operation, True
    form = parse_qs(body.decode(errors="replace")) if body else {}
    action = (form.get("Action") or parse_qs(request.query_string).get("Action") or ["?"])[0]
    return SCOPE_SERVICES.get(service, service), action, False
