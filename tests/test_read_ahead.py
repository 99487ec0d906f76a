"""The resync's DescribeServices budget: ceil(N/10) calls per pass of a cluster, whatever
the timing of the reconciles within it, and never a stale answer where it matters.

The Coalescer (aws/batching.py) is driven directly, on runtime's FakeClock, with a
`send` that stands for the network (it answers every name it is asked for and records
the call). Reconciles are asyncio tasks that ask for one service each, as
reconcile_service does; `work_priority` says whether an ask is a resync poll.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest

from controller.aws.batching import DESCRIBE_SERVICES, Coalescer
from controller.runtime import FOLLOW_UP_PRIORITY, RESYNC_PRIORITY, FakeClock, work_priority

REGION = "ap-northeast-2"
NAMES = [f"svc-{i:03}" for i in range(100)]


class Ecs:
    """The network: answers DescribeServices with each name's current `version`."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.version: dict[str, int] = {}
        self.gate = asyncio.Event()  # answers wait for it: a call "on its way" until set
        self.gate.set()
        self.sent = asyncio.Event()

    async def send(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        names = list(params["services"])
        self.calls.append(names)
        self.sent.set()
        answer = [{"serviceName": n, "desiredCount": self.version.get(n, 0)} for n in names]
        await asyncio.sleep(0)  # the answer arrives later, as over HTTP
        await self.gate.wait()
        return {"services": answer, "failures": []}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
def ecs() -> Ecs:
    return Ecs()


@pytest.fixture
def coalescer(ecs: Ecs, clock: FakeClock) -> Coalescer:
    return Coalescer(DESCRIBE_SERVICES, ecs.send, ttl=2.0, clock=clock.now)


async def describe(coalescer: Coalescer, name: str, priority: int = RESYNC_PRIORITY) -> int:
    token = work_priority.set(priority)
    try:
        answer = await coalescer.call(REGION, {"cluster": "c", "services": [name]})
    finally:
        work_priority.reset(token)
    return int(answer["services"][0]["desiredCount"])


async def resync(
    coalescer: Coalescer, clock: FakeClock, *, workers: int, gaps: Iterator[float]
) -> None:
    """One resync pass: announced, then `workers` reconciles at a time take the names in
    order; between two reconciles of a worker the clock moves by the next gap."""
    coalescer.begin_pass(REGION, "c", NAMES)
    queue = iter(NAMES)

    async def worker() -> None:
        for name in queue:
            await describe(coalescer, name)
            clock.advance(next(gaps))
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(workers)))


def spread(seconds: float) -> Iterator[float]:
    """Gaps that spread a pass of 100 reconciles over about `seconds`, unevenly."""
    n = 0
    while True:
        n += 1
        yield seconds / 100 * (0.2 + 1.6 * ((n * 37) % 11) / 10)


@pytest.mark.parametrize(
    ("workers", "seconds"),
    [(1, 0.5), (1, 50.0), (16, 0.5), (16, 50.0), (7, 300.0)],
    ids=["serial-fast", "serial-staggered", "16-fast", "16-staggered", "7-slower-than-ttl"],
)
async def test_a_resync_pass_costs_the_floor_whatever_the_timing(
    coalescer: Coalescer, ecs: Ecs, clock: FakeClock, workers: int, seconds: float
) -> None:
    """Reconciles that come one at a time long after the read-ahead's ttl, or sixteen at
    once, still cost ceil(N/10) calls a pass: answers read during the pass wait for
    their service's poll, and an ask for a name already on its way joins that call."""
    floor = math.ceil(len(NAMES) / 10)
    for _ in range(3):
        before = len(ecs.calls)
        await resync(coalescer, clock, workers=workers, gaps=spread(seconds))
        assert len(ecs.calls) - before <= math.floor(1.1 * floor), ecs.calls[before:]
        # Every poll was answered by a read of its own pass (a read of the pass before
        # would be stale for it). A name may be read once more: the batches' 3 ms window
        # runs on the real clock, so on a busy machine the pass's last call can go out
        # with room after every name of the pass was asked for; it then reads ahead the
        # names asked longest ago, for reconciles within the ttl. That call is within
        # the bound above.
        assert {n for call in ecs.calls[before:] for n in call} == set(NAMES)
        clock.advance(60.0)  # the next resync


async def test_drift_is_seen_by_the_next_pass(
    coalescer: Coalescer, ecs: Ecs, clock: FakeClock
) -> None:
    """An answer read ahead in one pass is never served to a poll of the next one."""
    coalescer.begin_pass(REGION, "c", NAMES[:10])
    assert await describe(coalescer, NAMES[0]) == 0  # reads the other nine ahead
    ecs.version[NAMES[5]] = 7  # changed by hand, between the passes
    clock.advance(1.0)
    coalescer.begin_pass(REGION, "c", NAMES[:10])
    assert await describe(coalescer, NAMES[5]) == 7


async def test_a_reconcile_that_may_act_reads_fresh(
    coalescer: Coalescer, ecs: Ecs, clock: FakeClock
) -> None:
    """Within a pass, only a resync poll takes an answer older than the ttl: a rollout's
    follow-up or a commit's change (any higher priority) reads ECS again."""
    coalescer.begin_pass(REGION, "c", NAMES[:10])
    await describe(coalescer, NAMES[0])  # reads 1..9 ahead
    ecs.version[NAMES[1]] = ecs.version[NAMES[2]] = 3
    clock.advance(1.0)
    assert await describe(coalescer, NAMES[1], priority=FOLLOW_UP_PRIORITY) == 0  # within ttl
    clock.advance(5.0)
    assert await describe(coalescer, NAMES[2], priority=FOLLOW_UP_PRIORITY) == 3
    assert await describe(coalescer, NAMES[3], priority=0) == 0  # a new read, and 4.. ahead
    assert len(ecs.calls) == 3
    assert await describe(coalescer, NAMES[4]) == 0  # a resync poll: from the read-ahead
    assert len(ecs.calls) == 3


async def test_a_change_while_a_read_is_on_its_way_is_not_missed(
    coalescer: Coalescer, ecs: Ecs, clock: FakeClock
) -> None:
    """A poll that joins a read-ahead in flight gets a fresh read when its service was
    changed (by us) while that read was on its way."""
    coalescer.begin_pass(REGION, "c", NAMES[:10])
    ecs.gate.clear()
    first = asyncio.create_task(describe(coalescer, NAMES[0]))
    await ecs.sent.wait()
    joined = asyncio.create_task(describe(coalescer, NAMES[1]))  # NAMES[1] is on its way
    await asyncio.sleep(0.01)
    assert coalescer.stats.joined == 1
    ecs.version[NAMES[1]] = 5
    coalescer.invalidate(REGION, "c", [NAMES[1]])  # what AwsClients does around UpdateService
    ecs.gate.set()
    assert await first == 0
    assert await joined == 5
    assert len(ecs.calls) == 2


async def test_a_pass_that_begins_before_the_last_one_is_polled_carries_its_polls(
    coalescer: Coalescer, ecs: Ecs, clock: FakeClock
) -> None:
    """More services than the read budget polls in one resync interval: the next resync
    comes while 65 polls of the last one are still queued. The queue runs each of those
    once, for both passes, so what was read ahead for them is still served, and the
    read-ahead follows the queue (carried first), not the pass's own order: each name is
    read once per poll. Drift of a service polled before the new pass is still seen."""
    coalescer.begin_pass(REGION, "c", NAMES)
    for name in NAMES[:35]:
        await describe(coalescer, name)
        clock.advance(0.5)
    assert len(ecs.calls) == 4  # 0..39: 36..39 read ahead, waiting for their polls
    ecs.version[NAMES[0]] = 9  # changed by hand before the next pass
    coalescer.begin_pass(REGION, "c", NAMES[:35], carried=NAMES[35:])
    for name in NAMES[35:] + NAMES[:35]:
        version = await describe(coalescer, name)
        assert version == (9 if name == NAMES[0] else 0)
        clock.advance(0.5)
    assert len(ecs.calls) == 10 + 4, ecs.calls
    assert sorted(n for call in ecs.calls for n in call) == sorted(NAMES + NAMES[:35])
