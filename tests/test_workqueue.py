"""The work queue's guarantees, driven by a FakeClock: time only moves when a test says so.

Dedup, one worker per key, reruns of keys re-added in flight, delays (earliest wins),
per-key backoff (exponential, capped, forgotten on success), requeue-after, priorities,
shutdown (drain, grace, signals) and a 10k-key throughput check. No test sleeps for real:
`until()` only yields to the event loop.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from controller.runtime import (
    Action,
    ExponentialBackoff,
    FakeClock,
    MonotonicClock,
    Outcome,
    QueueShutDown,
    WorkQueue,
    follow_up_lane,
    run_workers,
    shut_down_on_signals,
)


async def until(condition: Callable[[], bool], turns: int = 10_000) -> None:
    """Yield to the loop until `condition` holds; fail (instead of hanging) if it never does."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def settle(turns: int = 50) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


class RecordingLogger:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, /, **kw: Any) -> None:
        self.events.append((event, kw))

    def error(self, event: str, /, **kw: Any) -> None:
        self.events.append((event, kw))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


class Retryable(Exception):
    retryable = True


class Terminal(Exception):
    retryable = False


def make_queue(*, base: float = 0.5, cap: float = 60.0) -> tuple[WorkQueue[str], FakeClock]:
    """A queue on a FakeClock with jitter-free backoff, so every delay is exact."""
    clock = FakeClock()
    limiter: ExponentialBackoff[str] = ExponentialBackoff(base, cap, jitter=0.0)
    return WorkQueue(clock=clock, rate_limiter=limiter), clock


async def drain_ready(queue: WorkQueue[str]) -> list[str]:
    """Every key ready now, in hand-out order, each marked done."""
    keys = []
    while queue.depth:
        key = await queue.get()
        queue.done(key)
        keys.append(key)
    return keys


# -- the queue itself ---------------------------------------------------------------


async def test_adding_a_key_three_times_hands_it_out_once() -> None:
    queue, _ = make_queue()
    for _ in range(3):
        queue.add("svc-a")
    assert queue.depth == 1
    assert await queue.get() == "svc-a"
    assert queue.depth == 0
    blocked = asyncio.create_task(queue.get())
    await settle()
    assert not blocked.done()
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked


async def test_a_key_added_while_in_flight_runs_again_once_after_done() -> None:
    queue, _ = make_queue()
    queue.add("svc-a")
    key = await queue.get()
    for _ in range(3):
        queue.add(key)
    queue.add_after(key, 5)  # it already runs sooner than that
    assert (queue.depth, queue.in_flight, queue.waiting) == (0, 1, 0)
    second = asyncio.create_task(queue.get())
    await settle()
    assert not second.done(), "a key in flight must not be handed to a second worker"
    queue.done(key)
    assert await second == key
    queue.done(key)
    assert (queue.depth, queue.in_flight) == (0, 0)


async def test_done_for_a_key_not_in_flight_is_a_bug() -> None:
    queue, _ = make_queue()
    queue.add("svc-a")
    with pytest.raises(ValueError, match="not in flight"):
        queue.done("svc-a")


async def test_add_after_releases_keys_in_due_order() -> None:
    queue, clock = make_queue()
    queue.add_after("c", 8)
    queue.add_after("a", 5)
    queue.add_after("b", 2)
    queue.add_after("a2", 5)  # same due time as "a": FIFO
    clock.advance(1.9)
    assert queue.depth == 0
    clock.advance(0.1)
    assert await drain_ready(queue) == ["b"]
    clock.advance(3)
    assert await drain_ready(queue) == ["a", "a2"]
    clock.advance(10)
    assert await drain_ready(queue) == ["c"]
    assert queue.waiting == 0
    assert clock.pending == 0


@pytest.mark.parametrize(
    ("delays", "ready_at"),
    [([10, 3], 3), ([3, 10], 3), ([4, 4], 4)],
    ids=["later-then-earlier", "earlier-then-later", "same-twice"],
)
async def test_the_earliest_pending_time_wins(delays: list[float], ready_at: float) -> None:
    queue, clock = make_queue()
    for delay in delays:
        queue.add_after("svc-a", delay)
    assert queue.waiting == 1
    clock.advance(ready_at - 0.01)
    assert queue.depth == 0
    clock.advance(0.01)
    assert await drain_ready(queue) == ["svc-a"]
    clock.advance(20)
    assert queue.depth == 0, "the later time must not fire a second run"


async def test_add_now_supersedes_a_pending_delay() -> None:
    queue, clock = make_queue()
    queue.add_after("svc-a", 5)
    queue.add("svc-a")
    queue.add_after("svc-a", 1)  # ready already: no-op
    assert (queue.depth, queue.waiting) == (1, 0)
    assert await drain_ready(queue) == ["svc-a"]
    clock.advance(10)
    assert queue.depth == 0


async def test_a_delay_that_falls_due_while_in_flight_reruns_after_done() -> None:
    queue, clock = make_queue()
    queue.add("svc-a")
    key = await queue.get()
    queue.add_after(key, 2)
    clock.advance(2)
    assert (queue.depth, queue.in_flight) == (0, 1)
    queue.done(key)
    assert await drain_ready(queue) == ["svc-a"]


async def test_higher_priority_first_and_fifo_within_a_priority() -> None:
    queue, _ = make_queue()
    queue.add("a")
    queue.add("b", priority=5)
    queue.add("c")
    queue.add("d", priority=5)
    queue.add("c", priority=10)  # raised: jumps ahead
    queue.add("b", priority=1)  # lowered: ignored, keeps its place
    assert await drain_ready(queue) == ["c", "b", "d", "a"]


async def test_a_cancelled_getter_passes_its_wakeup_on() -> None:
    queue, _ = make_queue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("svc-a")  # wakes `first`, which is cancelled before it runs
    first.cancel()
    assert await second == "svc-a"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_metrics_hooks_see_depth_changes_and_retries() -> None:
    depths: list[int] = []
    retried: list[str] = []
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(
        clock=clock,
        rate_limiter=ExponentialBackoff(jitter=0.0),
        on_depth=depths.append,
        on_retry=retried.append,
    )
    queue.add("a")
    queue.add("a")
    queue.add("b")
    key = await queue.get()
    queue.add_rate_limited(key)
    queue.done(key)
    clock.advance(0.5)
    assert depths == [1, 2, 1, 2]
    assert retried == ["a"]
    queue.shut_down()
    assert depths[-1] == 0


# -- backoff ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "cap", "factor", "expected"),
    [
        (0.5, 4.0, 2.0, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]),
        (1.0, 60.0, 3.0, [1.0, 3.0, 9.0, 27.0, 60.0]),
        (0.25, 0.25, 2.0, [0.25, 0.25]),
    ],
    ids=["doubling-capped", "tripling-capped", "cap-equals-base"],
)
def test_backoff_grows_exponentially_up_to_the_cap(
    base: float, cap: float, factor: float, expected: list[float]
) -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base, cap, factor, jitter=0.0)
    assert [backoff.next("k") for _ in expected] == expected
    assert backoff.failures("k") == len(expected)
    assert backoff.failures("other") == 0
    backoff.forget("k")
    assert backoff.failures("k") == 0
    assert backoff.next("k") == base


def test_backoff_survives_enormous_failure_counts() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(cap=60.0, factor=10.0, jitter=0.0)
    assert backoff.delay_for(100_000) == 60.0


def test_jitter_only_shortens_and_stays_under_the_cap() -> None:
    backoff: ExponentialBackoff[int] = ExponentialBackoff(
        base=1.0, cap=8.0, jitter=0.2, rng=random.Random(7)
    )
    for key in range(200):
        for failures in range(6):
            plain = backoff.delay_for(failures)
            assert 0.8 * plain <= backoff.next(key) <= plain <= 8.0


@pytest.mark.parametrize(
    "kwargs",
    [{"base": 0}, {"base": 2, "cap": 1}, {"factor": 0.5}, {"jitter": 1.0}],
    ids=["zero-base", "cap-below-base", "shrinking", "full-jitter"],
)
def test_backoff_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the field; any is fine
        ExponentialBackoff(**kwargs)


# -- workers ------------------------------------------------------------------------


async def test_no_key_runs_twice_at_once_under_four_workers() -> None:
    queue, _ = make_queue()
    running: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    peak_total = 0
    step = 0
    last_added: dict[str, int] = {}
    last_started: dict[str, int] = {}

    async def handler(key: str) -> Outcome:
        nonlocal step, peak_total
        step += 1
        last_started[key] = step
        running[key] += 1
        peak[key] = max(peak[key], running[key])
        peak_total = max(peak_total, sum(running.values()))
        for _ in range(7):  # slow: other workers and the producer run meanwhile
            await asyncio.sleep(0)
        running[key] -= 1
        return Outcome.done()

    async def produce() -> None:
        nonlocal step
        rng = random.Random(1)
        for _ in range(400):
            key = rng.choice("abcdef")
            step += 1
            last_added[key] = step
            queue.add(key)
            await asyncio.sleep(0)

    workers = asyncio.create_task(run_workers(queue, handler, workers=4, logger=RecordingLogger()))
    await produce()
    await until(lambda: queue.depth == 0 and queue.in_flight == 0)
    queue.shut_down()
    await workers
    assert max(peak.values()) == 1
    assert peak_total > 1, "the workers should have run different keys in parallel"
    assert all(last_started[key] > last_added[key] for key in last_added), "a re-add was lost"


async def test_failures_back_off_per_key_and_success_forgets() -> None:
    queue, clock = make_queue(base=1.0, cap=4.0)
    log = RecordingLogger()
    calls: list[float] = []

    async def handler(key: str) -> Outcome:
        calls.append(clock.now())
        if len(calls) <= 4:
            raise Retryable("throttled")
        return Outcome.done()

    workers = asyncio.create_task(run_workers(queue, handler, workers=2, logger=log))
    queue.add("svc-a")
    for failures in (1, 2, 3, 4):
        await until(lambda: queue.in_flight == 0 and queue.waiting == 1)
        assert len(calls) == failures
        assert queue.num_requeues("svc-a") == failures
        delay = min(2.0 ** (failures - 1), 4.0)
        clock.advance(delay - 0.01)
        await settle()
        assert len(calls) == failures, "retried before its backoff ran out"
        clock.advance(0.01)
    await until(lambda: len(calls) == 5 and queue.in_flight == 0)
    assert calls == [0.0, 1.0, 3.0, 7.0, 11.0]
    assert queue.num_requeues("svc-a") == 0, "success forgets the backoff"
    assert queue.waiting == 0
    assert log.names() == ["work_retry"] * 4
    assert [kw["delay"] for _, kw in log.events] == [1.0, 2.0, 4.0, 4.0]
    assert "exc_info" not in log.events[0][1], "classified errors log no traceback"
    queue.shut_down()
    await workers


async def test_requeue_after_looks_again_later_and_forgets_backoff() -> None:
    queue, clock = make_queue()
    outcomes = iter([Outcome.retry(Retryable("x")), Outcome.requeue(30), Outcome.done()])
    calls: list[float] = []

    async def handler(key: str) -> Outcome:
        calls.append(clock.now())
        return next(outcomes)

    workers = asyncio.create_task(run_workers(queue, handler, workers=1))
    queue.add("svc-a")
    await until(lambda: queue.waiting == 1)
    clock.advance(0.5)
    await until(lambda: len(calls) == 2 and queue.in_flight == 0)
    assert queue.num_requeues("svc-a") == 0
    clock.advance(29.9)
    await settle()
    assert len(calls) == 2
    clock.advance(0.1)
    await until(lambda: len(calls) == 3 and queue.in_flight == 0)
    assert calls == [0.0, 0.5, 30.5]
    assert queue.waiting == 0
    queue.shut_down()
    await workers


@pytest.mark.parametrize(
    ("failure", "requeued", "event"),
    [
        (Terminal("no such cluster"), False, "work_stopped"),
        (Retryable("timeout"), True, "work_retry"),
        (KeyError("bug"), True, "work_retry"),
    ],
    ids=["terminal", "retryable", "unclassified"],
)
async def test_a_raised_error_is_retried_or_stopped_by_its_class(
    failure: Exception, requeued: bool, event: str
) -> None:
    queue, _ = make_queue()
    log = RecordingLogger()

    async def handler(key: str) -> Outcome:
        raise failure

    workers = asyncio.create_task(run_workers(queue, handler, workers=1, logger=log))
    queue.add("svc-a")
    await until(lambda: bool(log.events))
    assert log.names() == [event]
    assert queue.waiting == int(requeued)
    assert queue.num_requeues("svc-a") == int(requeued)
    assert ("exc_info" in log.events[0][1]) == isinstance(failure, KeyError)
    queue.shut_down()
    await workers


async def test_outcome_stop_is_not_requeued() -> None:
    queue, _ = make_queue()

    async def handler(key: str) -> Outcome:
        return Outcome.stop(Terminal("bad spec"))

    workers = asyncio.create_task(run_workers(queue, handler, workers=1, logger=RecordingLogger()))
    queue.add("svc-a")
    await until(lambda: queue.depth == 0 and queue.in_flight == 0)
    assert (queue.waiting, queue.num_requeues("svc-a")) == (0, 0)
    queue.shut_down()
    await workers


def test_outcome_constructors() -> None:
    error = Terminal("x")
    assert Outcome.done() == Outcome(Action.DONE)
    assert Outcome.requeue(3) == Outcome(Action.REQUEUE, after=3)
    assert Outcome.retry(error).error is error
    assert Outcome.stop(error) == Outcome(Action.STOP, error=error)
    with pytest.raises(ValueError, match="negative"):
        Outcome.requeue(-1)


async def test_cancellation_propagates_and_releases_the_key() -> None:
    queue, _ = make_queue()
    started = asyncio.Event()
    seen: list[BaseException] = []

    async def handler(key: str) -> Outcome:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            seen.append(exc)
            raise
        return Outcome.done()

    workers = asyncio.create_task(run_workers(queue, handler, workers=2))
    queue.add("svc-a")
    await started.wait()
    workers.cancel()
    with pytest.raises(asyncio.CancelledError):
        await workers
    assert len(seen) == 1
    assert queue.in_flight == 0
    assert queue.waiting == 0, "a cancelled key is not treated as a failure"


# -- shutdown -----------------------------------------------------------------------


async def test_shutdown_finishes_keys_in_flight_and_hands_out_no_more() -> None:
    queue, _ = make_queue()
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(key: str) -> Outcome:
        await release.wait()
        handled.append(key)
        return Outcome.requeue(5)

    workers = asyncio.create_task(run_workers(queue, handler, workers=2))
    queue.add("a")
    queue.add("b")
    await until(lambda: queue.in_flight == 2)
    queue.add("c")
    queue.add("a")  # rerun after done -- dropped by the shutdown
    queue.shut_down()
    assert queue.depth == 0
    queue.add("d")  # ignored once shut down
    drained = asyncio.create_task(queue.drain())
    await settle()
    assert not drained.done()
    release.set()
    assert await drained is True
    await workers
    assert sorted(handled) == ["a", "b"]
    assert (queue.depth, queue.in_flight, queue.waiting) == (0, 0, 0)
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_shutdown_with_finish_ready_hands_out_what_is_ready_first() -> None:
    queue, _ = make_queue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("b")
    queue.add_after("c", 1)
    queue.shut_down(finish_ready=True)
    assert await queue.get() == "b"
    queue.done("b")
    assert await queue.drain(timeout=0) is False, "the rerun of `a` is still to come"
    queue.done(key)
    assert await queue.get() == "a"
    queue.done("a")
    with pytest.raises(QueueShutDown):
        await queue.get()
    assert await queue.drain(timeout=0)


async def test_drain_gives_up_after_its_timeout_on_the_clock() -> None:
    queue, clock = make_queue()
    queue.add("a")
    await queue.get()
    drained = asyncio.create_task(queue.drain(timeout=10))
    await settle()
    clock.advance(9.9)
    await settle()
    assert not drained.done()
    clock.advance(0.1)
    assert await drained is False


async def test_workers_stuck_past_the_grace_period_are_cancelled() -> None:
    queue, clock = make_queue()
    cancelled: list[str] = []

    async def handler(key: str) -> Outcome:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(key)
            raise
        return Outcome.done()

    log = RecordingLogger()
    workers = asyncio.create_task(
        run_workers(queue, handler, workers=3, logger=log, shutdown_grace=20)
    )
    queue.add("stuck")
    await until(lambda: queue.in_flight == 1)
    queue.shut_down()
    await settle()
    clock.advance(19.9)
    await settle()
    assert not workers.done()
    clock.advance(0.1)
    await workers
    assert cancelled == ["stuck"]
    assert queue.in_flight == 0
    assert log.names() == ["workers_cancelled"]


async def test_sigterm_shuts_the_queue_down() -> None:
    queue, _ = make_queue()
    uninstall = shut_down_on_signals(queue)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(2):
            await queue.wait_shut_down()
    finally:
        uninstall()
    assert queue.is_shut_down


async def test_run_workers_needs_a_worker() -> None:
    queue, _ = make_queue()

    async def handler(key: str) -> Outcome:
        return Outcome.done()

    with pytest.raises(ValueError, match="at least 1"):
        await run_workers(queue, handler, workers=0)


# -- scale and clocks ---------------------------------------------------------------


async def test_ten_thousand_keys_are_handled_fast() -> None:
    queue: WorkQueue[int] = WorkQueue(clock=FakeClock())
    handled: Counter[int] = Counter()

    async def handler(key: int) -> Outcome:
        handled[key] += 1
        if len(handled) == 10_000:
            queue.shut_down(finish_ready=True)
        return Outcome.done()

    started = time.perf_counter()
    for key in range(10_000):
        queue.add(key)
        queue.add(key)
    await run_workers(queue, handler, workers=4)
    elapsed = time.perf_counter() - started
    assert len(handled) == 10_000
    assert set(handled.values()) == {1}
    assert elapsed < 1.0, f"10k keys took {elapsed:.2f}s"


async def test_ten_thousand_delays_fire_in_due_order() -> None:
    queue, clock = make_queue()
    rng = random.Random(3)
    due = {f"k{n}": rng.uniform(1, 100) for n in range(10_000)}
    started = time.perf_counter()
    for key, delay in due.items():
        queue.add_after(key, delay)
    clock.advance(100)
    order = await drain_ready(queue)
    assert time.perf_counter() - started < 1.0
    assert order == sorted(due, key=due.__getitem__)


def test_fake_clock_fires_timers_at_their_own_time_in_order() -> None:
    clock = FakeClock(start=100.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(103, lambda: fired.append(("b", clock.now())))
    clock.call_at(101, lambda: fired.append(("a", clock.now())))
    clock.call_at(101, lambda: clock.call_at(102, lambda: fired.append(("a2", clock.now()))))
    clock.call_at(104, lambda: fired.append(("never", clock.now()))).cancel()
    assert clock.next_deadline() == 101
    clock.advance(5)
    assert fired == [("a", 101), ("a2", 102), ("b", 103)]
    assert clock.now() == 105
    assert clock.pending == 0
    with pytest.raises(ValueError, match="go back"):
        clock.advance(-1)


async def test_fake_clock_sleep_wakes_on_advance() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(5))
    await settle()
    clock.advance(4)
    await settle()
    assert not sleeper.done()
    clock.advance(1)
    await sleeper


async def test_monotonic_clock_timers_fire() -> None:
    clock = MonotonicClock()
    fired = asyncio.Event()
    clock.call_at(clock.now() + 0.001, fired.set)
    async with asyncio.timeout(2):
        await fired.wait()
    await clock.sleep(0)


async def test_the_default_limiter_starts_at_half_a_second() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    assert 0.45 <= queue.add_rate_limited("svc-a") <= 0.5
    assert queue.num_requeues("svc-a") == 1


# -- the reserve lane ---------------------------------------------------------------


async def test_a_lane_get_takes_only_follow_ups_and_waits_for_one() -> None:
    queue, _ = make_queue()
    queue.add("resync", priority=-2)
    queue.add("poll", priority=-1)
    queue.add("commit", priority=5)
    queue.add("raised", priority=-1)
    queue.add("raised", priority=3)  # raised out of the follow-ups: fresh now
    assert await queue.get(follow_ups_only=True) == "poll"
    assert await queue.get(follow_ups_only=True) == "resync"
    lane = asyncio.create_task(queue.get(follow_ups_only=True))
    await settle()
    assert not lane.done()  # "commit" and "raised" are not the lane's
    queue.add("step", priority=-1)
    assert await lane == "step"
    assert await queue.get() == "commit"
    assert await queue.get() == "raised"
    for key in ("poll", "resync", "step", "commit", "raised"):
        queue.done(key)
    queue.add("late", priority=-1)
    queue.add("fresh", priority=0)
    assert await drain_ready(queue) == ["fresh", "late"]  # a plain get: priority order


async def test_a_fresh_key_wakes_a_plain_getter_not_a_lane_one() -> None:
    queue, _ = make_queue()
    lane = asyncio.create_task(queue.get(follow_ups_only=True))
    plain = asyncio.create_task(queue.get())
    await settle()
    queue.add("commit", priority=1)
    assert await plain == "commit"
    queue.add("poll", priority=-1)
    assert await lane == "poll"
    queue.shut_down()


@pytest.mark.parametrize("lane", [1, 0], ids=["with-a-lane", "without"])
async def test_rollouts_in_progress_move_while_fresh_work_holds_every_other_worker(
    lane: int,
) -> None:
    """Eight fresh keys whose handlers wait on one budget (a task definition to register)
    hold the three plain workers; the lane worker still takes the follow-ups. Without a
    lane, the follow-ups wait for the fresh work."""
    queue, _ = make_queue()
    budget = asyncio.Event()
    handled: list[str] = []

    async def handler(key: str) -> Outcome:
        if key.startswith("new"):
            await budget.wait()
        handled.append(key)
        return Outcome.done()

    for n in range(8):
        queue.add(f"new-{n}", priority=1)
    workers = asyncio.create_task(run_workers(queue, handler, workers=4, follow_up_workers=lane))
    await settle()
    for n in range(3):
        queue.add(f"step-{n}", priority=-1)
    if lane:
        await until(lambda: len(handled) == 3)
        assert handled == ["step-0", "step-1", "step-2"]
    else:
        await settle(200)
        assert handled == []
    budget.set()
    await until(lambda: len(handled) == 11)
    queue.shut_down()
    await workers


def test_the_lane_is_a_quarter_of_the_workers() -> None:
    assert [follow_up_lane(n) for n in (1, 3, 4, 16)] == [0, 0, 1, 4]
