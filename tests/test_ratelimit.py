"""Client-side throttling: token buckets, retries after ThrottlingException, batched reads,
and the work queue's order under load.

The buckets are tested on an injected clock. The client is tested over HTTP against a
small ECS-speaking server on loopback that answers or refuses exactly as told, so every
attempt botocore makes is seen and counted by the server, not by our own code.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from controller.aws.client import AwsClients, AwsSettings
from controller.aws.ecs import Ecs
from controller.aws.ratelimit import (
    DEFAULT_LIMITS,
    Limit,
    TokenBucket,
    category,
    limits_from_env,
    parse_limits,
)
from controller.errors import AwsRetryable, AwsThrottled, UsageError
from controller.observability.metrics import Metrics
from controller.runtime import FakeClock, Outcome, WorkQueue, run_workers, work_priority

REGION = "ap-northeast-2"
ARN = "arn:aws:ecs:ap-northeast-2:123456789012"


# -- buckets on a fake clock ---------------------------------------------------------


class Sleeper:
    """A clock and a sleep that advances it: waits take no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # a sleep yields, as the real one does


async def test_a_bucket_serves_its_burst_then_its_rate() -> None:
    t = Sleeper()
    bucket = TokenBucket(Limit(5, 10), clock=t.clock, sleep=t.sleep)
    waits = [await bucket.acquire() for _ in range(20)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([0.2] * 10)  # one token per 1/5 s
    assert t.now == pytest.approx(2.0)


async def test_waiters_are_served_in_arrival_order() -> None:
    t = Sleeper()
    bucket = TokenBucket(Limit(1, 1), clock=t.clock, sleep=t.sleep)
    delays = await asyncio.gather(*(bucket.acquire() for _ in range(4)))
    assert delays == pytest.approx([0.0, 1.0, 2.0, 3.0])


async def test_urgent_work_gets_the_next_token() -> None:
    """A reconcile of higher priority (work_priority, set by the workers) waits for the
    next token only, not behind everything already in line."""
    t = Sleeper()
    bucket = TokenBucket(Limit(1, 1), clock=t.clock, sleep=t.sleep)
    served: list[str] = []

    async def call(name: str, priority: int) -> None:
        await bucket.acquire(priority)
        served.append(name)

    await bucket.acquire()  # the bucket is empty now
    line = [asyncio.create_task(call(f"fanout-{i}", 2)) for i in range(5)]
    await asyncio.sleep(0)
    urgent = asyncio.create_task(call("urgent", 3))
    resync = asyncio.create_task(call("resync", -2))
    await asyncio.gather(*line, urgent, resync)
    assert served == ["urgent", *(f"fanout-{i}" for i in range(5)), "resync"]


async def test_workers_hand_their_key_priority_to_the_calls() -> None:
    queue: WorkQueue[str] = WorkQueue()
    seen: dict[str, int] = {}

    async def handle(key: str) -> Outcome:
        seen[key] = work_priority.get()
        if len(seen) == 3:
            queue.shut_down()
        return Outcome.done()

    queue.add("resync", priority=-2)
    queue.add("changed", priority=2)
    queue.add("plain")
    await run_workers(queue, handle, workers=1)
    assert seen == {"changed": 2, "plain": 0, "resync": -2}
    assert work_priority.get() == 0  # reset after each key


async def test_a_throttle_halves_the_rate_which_climbs_back_gradually() -> None:
    t = Sleeper()
    bucket = TokenBucket(Limit(10, 10), recovery=0.1, clock=t.clock, sleep=t.sleep)
    bucket.throttled()
    assert bucket.rate == pytest.approx(5.0)
    assert bucket.tokens == 0.0
    assert bucket.penalty() == pytest.approx(0.2)  # one token at the halved rate
    bucket.throttled()
    assert bucket.rate == pytest.approx(2.5)
    t.now += 2.5  # +0.1 of the published rate per second
    assert bucket.rate == pytest.approx(5.0)
    t.now += 10
    assert bucket.rate == pytest.approx(10.0)
    for _ in range(30):
        bucket.throttled()
    assert bucket.rate == pytest.approx(1.0)  # never below min_factor (0.1)


async def test_a_cancelled_wait_gives_its_token_back() -> None:
    bucket = TokenBucket(Limit(1, 1))
    await bucket.acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.tokens > -0.5  # the reservation was returned


@pytest.mark.parametrize(
    ("service", "operation", "expected"),
    [
        ("ecs", "DescribeServices", "ecs:service-read"),
        ("ecs", "DescribeTaskSets", "ecs:service-read"),
        ("ecs", "CreateTaskSet", "ecs:service-modify"),
        ("ecs", "UpdateServicePrimaryTaskSet", "ecs:service-modify"),
        ("ecs", "RegisterTaskDefinition", "ecs:task-definition-modify"),
        ("ecs", "DescribeTaskDefinition", "ecs:task-definition-read"),
        ("ecs", "DescribeTasks", "ecs:cluster-resource-read"),
        ("ecs", "TagResource", "ecs:tag-modify"),
        ("ecs", "DescribeClusters", "ecs:cluster-read"),
        ("ecs", "SomethingNew", "ecs:other"),
        ("application-autoscaling", "DescribeScalableTargets", "application-autoscaling:read"),
        ("application-autoscaling", "PutScalingPolicy", "application-autoscaling:modify"),
        ("cloudwatch", "DescribeAlarms", "cloudwatch:read"),
        ("elbv2", "DescribeTargetHealth", "elbv2:read"),
        ("sts", "GetCallerIdentity", "*:read"),
        ("s3", "PutObject", "*:modify"),
    ],
    ids=lambda v: str(v),
)
def test_operations_fall_in_their_throttle_category(
    service: str, operation: str, expected: str
) -> None:
    assert category(service, operation) == expected
    assert expected in DEFAULT_LIMITS


def test_published_ecs_rates_are_the_defaults() -> None:
    assert DEFAULT_LIMITS["ecs:service-read"] == Limit(20, 100)
    assert DEFAULT_LIMITS["ecs:service-modify"] == Limit(5, 50)
    assert DEFAULT_LIMITS["ecs:task-definition-modify"] == Limit(1, 20)
    assert DEFAULT_LIMITS["ecs:cluster-read"] == Limit(20, 50)
    assert DEFAULT_LIMITS["ecs:cluster-resource-read"] == Limit(20, 100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ecs:service-modify=2.5/25", {"ecs:service-modify": Limit(2.5, 25)}),
        ("ecs:service-read=40", {"ecs:service-read": Limit(40, 100)}),
        (" cloudwatch:read = 5 , elbv2:read=1/3 ", {"cloudwatch:read": Limit(5, 20), "elbv2:read": Limit(1, 3)}),
        ('{"ecs:service-read": {"rate": 10, "burst": 30}}', {"ecs:service-read": Limit(10, 30)}),
        ('{"ecs:service-read": [10, 30]}', {"ecs:service-read": Limit(10, 30)}),
        ("", {}),
    ],
    ids=["rate-burst", "rate-only", "list", "json-object", "json-pair", "empty"],
)  # fmt: skip
def test_limits_are_configurable(text: str, expected: dict[str, Limit]) -> None:
    assert parse_limits(text) == expected


@pytest.mark.parametrize(
    "text",
    ["ecs:nope=1", "ecs:service-read", "ecs:service-read=fast", "{not json", "ecs:service-read=0"],
    ids=["unknown", "no-value", "not-a-number", "bad-json", "zero"],
)
def test_bad_limits_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_limits(text)


def test_the_environment_overrides_and_scales() -> None:
    limits = limits_from_env(
        {
            "ECS_GITOPS_AWS_RATE_LIMITS": "ecs:service-modify=4/40",
            "ECS_GITOPS_AWS_RATE_SCALE": "0.5",
        }
    )
    assert limits["ecs:service-modify"] == Limit(2, 20)
    assert limits["ecs:service-read"] == Limit(10, 50)
    with pytest.raises(UsageError):
        limits_from_env({"ECS_GITOPS_AWS_RATE_SCALE": "-1"})


# -- the client over HTTP --------------------------------------------------------------


@dataclass
class FakeEcs:
    """Answers ECS JSON requests; `refuse` decides, per call, an error to answer instead."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refuse: Callable[[str, int], tuple[int, str] | None] = lambda op, n: None
    counts: Counter[str] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.Response:
        operation = request.headers["X-Amz-Target"].rsplit(".", 1)[-1]
        body = json.loads(await request.read() or b"{}")
        self.calls.append((operation, body))
        self.counts[operation] += 1
        refused = self.refuse(operation, self.counts[operation])
        if refused is not None:
            status, code = refused
            return web.json_response({"__type": code, "message": "Rate exceeded"}, status=status)
        return web.json_response(self.answer(operation, body))

    def answer(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        if operation == "DescribeServices":
            return {
                "services": [_service(body["cluster"], name) for name in body["services"]],
                "failures": [],
            }
        if operation == "UpdateService":
            return {"service": _service(body["cluster"], body["service"])}
        if operation == "ListServices":
            names = [f"svc-{i:03}" for i in range(25)]
            return {"serviceArns": [f"{ARN}:service/{body['cluster']}/{n}" for n in names]}
        return {}

    def ops(self, operation: str) -> list[dict[str, Any]]:
        return [body for op, body in self.calls if op == operation]


def _service(cluster: str, name: str) -> dict[str, Any]:
    return {
        "serviceName": name,
        "serviceArn": f"{ARN}:service/{cluster}/{name}",
        "clusterArn": f"{ARN}:cluster/{cluster}",
        "status": "ACTIVE",
        "desiredCount": 1,
        "deploymentController": {"type": "EXTERNAL"},
    }


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeEcs, str]]:
    server = FakeEcs()
    app = web.Application()
    app.router.add_post("/", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield server, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def settings(endpoint: str, **kw: Any) -> AwsSettings:
    return AwsSettings(REGION, endpoint, **kw)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("ECS_GITOPS_AWS_RATE_LIMITS", raising=False)
    monkeypatch.delenv("ECS_GITOPS_AWS_RATE_SCALE", raising=False)


@pytest.mark.parametrize("operation", ["DescribeServices", "UpdateService"], ids=str)
async def test_a_throttled_call_is_sent_again_and_succeeds(
    fake: tuple[FakeEcs, str], operation: str
) -> None:
    server, endpoint = fake
    server.refuse = lambda op, n: (400, "ThrottlingException") if n <= 2 else None
    params: dict[str, Any] = (
        {"services": ["s"]} if operation == "DescribeServices" else {"service": "s"}
    )
    async with AwsClients(settings(endpoint)) as aws:
        await aws.call("ecs", operation, cluster="c", **params)
        assert aws.stats.outcomes("throttled") == {f"ecs:{operation}": 2}
        assert aws.stats.outcomes("success") == {f"ecs:{operation}": 1}
        assert aws.limits.bucket(REGION, "ecs", operation).factor < 1.0
    assert server.counts[operation] == 3  # every attempt reached the server: none hidden


async def test_throttles_beyond_the_bound_raise_aws_throttled(fake: tuple[FakeEcs, str]) -> None:
    server, endpoint = fake
    server.refuse = lambda op, n: (400, "ThrottlingException")
    async with AwsClients(settings(endpoint, throttle_retries=2)) as aws:
        with pytest.raises(AwsThrottled):
            await aws.call("ecs", "UpdateService", cluster="c", service="s")
    assert server.counts["UpdateService"] == 3


async def test_a_mutating_call_is_not_resent_after_a_server_error(
    fake: tuple[FakeEcs, str],
) -> None:
    """A 500 may come after the change was made: only the reconcile, reading live state
    again, may decide to send it again."""
    server, endpoint = fake
    server.refuse = lambda op, n: (500, "ServerException") if n == 1 else None
    async with AwsClients(settings(endpoint)) as aws:
        with pytest.raises(AwsRetryable) as caught:
            await aws.call("ecs", "UpdateService", cluster="c", service="s")
        assert not isinstance(caught.value, AwsThrottled)
        await aws.call("ecs", "DescribeServices", cluster="c", services=["s"])
    assert server.counts["UpdateService"] == 1
    assert server.counts["DescribeServices"] == 2  # a read is retried after its 500


async def test_calls_wait_for_tokens_and_the_waits_are_counted(
    fake: tuple[FakeEcs, str],
) -> None:
    _, endpoint = fake
    # 5/s: a call on a busy machine takes far less than a token's 0.2 s, so calls wait
    limits = {"ecs:service-modify": Limit(5, 2)}
    metrics = Metrics()
    async with AwsClients(settings(endpoint, rate_limits=limits)) as aws:
        aws.stats.wait_listeners.append(metrics.rate_limit_wait)  # as `run` wires it
        started = asyncio.get_running_loop().time()
        for _ in range(7):
            await aws.call("ecs", "UpdateService", cluster="c", service="s")
        elapsed = asyncio.get_running_loop().time() - started
        assert elapsed >= 0.9  # 2 at once, then 5 at 5/s
        assert aws.stats.waits[("ecs", "ecs:service-modify")] >= 1
        assert aws.stats.wait_seconds[("ecs", "ecs:service-modify")] > 0
    labels = {"service": "ecs", "category": "ecs:service-modify"}
    registry = metrics.registry
    waits = registry.get_sample_value("ecs_gitops_aws_rate_limit_waits_total", labels)
    seconds = registry.get_sample_value("ecs_gitops_aws_rate_limit_wait_seconds_total", labels)
    assert waits == aws.stats.waits[("ecs", "ecs:service-modify")]
    assert seconds == pytest.approx(aws.stats.wait_seconds[("ecs", "ecs:service-modify")])


async def test_rate_limiting_can_be_switched_off(fake: tuple[FakeEcs, str]) -> None:
    _, endpoint = fake
    limits = {"ecs:service-modify": Limit(1, 1)}
    async with AwsClients(settings(endpoint, rate_limits=limits, rate_limiting=False)) as aws:
        for _ in range(5):
            await aws.call("ecs", "UpdateService", cluster="c", service="s")
        assert not aws.stats.waits


# -- batched describes ----------------------------------------------------------------


async def test_concurrent_describes_of_one_cluster_share_calls(fake: tuple[FakeEcs, str]) -> None:
    server, endpoint = fake
    names = [f"svc-{i:03}" for i in range(25)]
    async with AwsClients(settings(endpoint)) as aws:
        ecs = Ecs(aws, REGION)
        found = await asyncio.gather(*(ecs.describe_services("c", [n]) for n in names))
    assert [next(iter(f)) for f in found] == names
    assert sorted(len(b["services"]) for b in server.ops("DescribeServices")) == [5, 10, 10]


async def test_a_pass_over_known_services_reads_ahead_to_the_floor(
    fake: tuple[FakeEcs, str],
) -> None:
    """One at a time, as sync_all asks: once the names are known (here from ListServices),
    every pass costs ceil(N/10) calls, also one that starts after the read-ahead expired."""
    server, endpoint = fake
    names = [f"svc-{i:03}" for i in range(25)]
    async with AwsClients(settings(endpoint, read_ahead_ttl=0.3)) as aws:
        ecs = Ecs(aws, REGION)
        assert sorted(await ecs.list_service_names("c")) == names
        for _ in range(3):
            before = len(server.ops("DescribeServices"))
            for name in names:
                assert name in await ecs.describe_services("c", [name])
            assert len(server.ops("DescribeServices")) - before == 3
            await asyncio.sleep(0.4)  # the next resync: nothing read ahead is left
        assert aws.coalescers[("ecs", "DescribeServices")].stats.cache_hits == 66


async def test_a_mutation_drops_what_was_read_ahead(fake: tuple[FakeEcs, str]) -> None:
    server, endpoint = fake
    async with AwsClients(settings(endpoint)) as aws:
        ecs = Ecs(aws, REGION)
        aws.expect("ecs", REGION, "c", ["a", "b", "c"])
        await ecs.describe_services("c", ["a"])  # reads b and c ahead
        await ecs.update_service("c", "b", desiredCount=3)
        await ecs.describe_services("c", ["b"])  # changed since: read again
        await ecs.describe_services("c", ["c"])  # untouched: served from the read-ahead
    asked = [b["services"] for b in server.ops("DescribeServices")]
    assert asked[0][0] == "a"
    assert sorted(asked[0]) == ["a", "b", "c"]
    assert asked[1][0] == "b"
    assert len(asked) == 2


async def test_read_ahead_answers_expire(fake: tuple[FakeEcs, str]) -> None:
    server, endpoint = fake
    async with AwsClients(settings(endpoint, read_ahead_ttl=0.05)) as aws:
        ecs = Ecs(aws, REGION)
        aws.expect("ecs", REGION, "c", ["a", "b"])
        await ecs.describe_services("c", ["a"])
        await asyncio.sleep(0.1)
        await ecs.describe_services("c", ["b"])
    assert len(server.ops("DescribeServices")) == 2


async def test_a_failed_batch_fails_each_waiter(fake: tuple[FakeEcs, str]) -> None:
    server, endpoint = fake
    server.refuse = lambda op, n: (400, "ClusterNotFoundException")
    async with AwsClients(settings(endpoint)) as aws:
        ecs = Ecs(aws, REGION)
        found = await asyncio.gather(*(ecs.describe_services("gone", [n]) for n in "abc"))
    assert found == [{}, {}, {}]  # describe_services maps a missing cluster to nothing
    assert len(server.ops("DescribeServices")) == 1


# -- fair queueing ---------------------------------------------------------------------


async def test_a_new_key_is_not_starved_behind_polling_rollouts() -> None:
    """199 rollouts poll every second; a key added later (a new commit) runs next,
    not after a full round of polls."""
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    order: list[str] = []
    polled, urgent_ran = asyncio.Event(), asyncio.Event()

    async def handler(key: str) -> Outcome:
        order.append(key)
        await asyncio.sleep(0)
        if len(order) == 300:
            polled.set()
        if key == "urgent":
            urgent_ran.set()
            return Outcome.done()
        return Outcome.requeue(0.0)

    for i in range(199):
        queue.add(f"svc-{i:03}")
    workers = asyncio.create_task(run_workers(queue, handler, workers=1))
    await polled.wait()
    queue.add("urgent")
    await urgent_ran.wait()
    assert order.index("urgent") - 300 <= 2
    queue.shut_down()
    await workers
