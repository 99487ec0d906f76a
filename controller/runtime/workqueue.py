"""A work queue keyed by resource, and the workers that drain it (client-go's workqueue).

A key is in at most one place: ready (a priority heap, FIFO within a priority), waiting (a
heap of due times served by a single clock timer, the earliest due time winning), or in
flight, where a re-add only marks it to run again after done(); so a key is never handed
to two workers and is never queued twice. Failures back off per key through a
RateLimiter; success forgets. The ready heaps sit behind a small class.

Workers end a key in exactly one way, told by the handler's Outcome: done, requeue after
N seconds, retry with backoff, or stop (terminal, not requeued). Requeues and retries come
back at FOLLOW_UP_PRIORITY (-1), below a plain add(): a key enqueued because something
changed (a new commit) is handed out before the follow-up polls of rollouts in progress,
and a rollout's next step waits behind the first steps of the others (breadth first), so
one urgent service is never starved behind hundreds of polling ones; a few workers (the
reserve lane, follow_up_workers) take only follow-ups, so rollouts in progress keep
moving while fresh work holds the others waiting on a budget the follow-ups do not need.
On shut_down() no new key is handed out, each worker finishes the key it is on and exits;
run_workers cancels those still busy after `shutdown_grace` seconds.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog

from controller.runtime.backoff import ExponentialBackoff, RateLimiter
from controller.runtime.clock import Clock, MonotonicClock, TimerHandle

K = TypeVar("K", bound=Hashable)

FOLLOW_UP_PRIORITY = -1
"""The priority of a key requeued by its own handler (requeue after N s, retry)."""
RESYNC_PRIORITY = -2
"""The priority of a periodic resync poll, below every follow-up: a key handed out with
it has nothing to do but look (the aws layer may answer it from its pass's read-ahead)."""

work_priority: ContextVar[int] = ContextVar("work_priority", default=0)
"""The priority of the key a worker is handling, for the rate limiter (controller.aws
ratelimit): the calls of urgent work get the next token, not the end of the line."""


class QueueShutDown(Exception):
    """get() on a queue that was shut down: the worker should exit."""


class _ReadyQueue(Generic[K]):
    """Keys ready to hand out: higher priority first, FIFO within a priority, each key once.

    Two heaps, fresh work (priority >= 0) and follow-ups (below 0), so that a follow-up
    worker can take the best follow-up without scanning past fresh keys; entries go stale
    when a key's priority is raised and are skipped where they surface."""

    def __init__(self) -> None:
        self._heaps: dict[bool, list[tuple[int, int, K]]] = {False: [], True: []}
        self._entries: dict[K, tuple[int, int]] = {}  # key -> its live (-priority, seq)
        self._follow_ups = 0  # live entries below priority 0
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def push(self, key: K, priority: int) -> bool:
        """Queue the key, or raise the priority of a queued one; True when it is new."""
        entry = self._entries.get(key)
        if entry is not None and -entry[0] >= priority:
            return False
        if entry is not None and entry[0] > 0:
            self._follow_ups -= 1
        live = (-priority, next(self._seq))
        self._entries[key] = live
        self._follow_ups += priority < 0
        heap = self._heaps[priority < 0]
        heapq.heappush(heap, (*live, key))
        if len(heap) > 2 * len(self._entries) + 64:
            self._compact()
        return entry is None

    @property
    def follow_ups(self) -> int:
        """Ready keys below priority 0."""
        return self._follow_ups

    def pop(self, *, follow_ups_only: bool = False) -> tuple[K, int]:
        """The next key and the priority it was queued with: the highest priority, or
        with follow_ups_only the highest below 0 (there must be one)."""
        fresh = len(self._entries) > self._follow_ups and not follow_ups_only
        heap = self._heaps[not fresh]
        while True:
            neg_priority, seq, key = heapq.heappop(heap)
            if self._entries.get(key) == (neg_priority, seq):
                del self._entries[key]
                self._follow_ups -= neg_priority > 0
                return key, -neg_priority

    def clear(self) -> None:
        for heap in self._heaps.values():
            heap.clear()
        self._entries.clear()
        self._follow_ups = 0

    def _compact(self) -> None:
        for follow_up, heap in self._heaps.items():
            heap[:] = [
                (*entry, key) for key, entry in self._entries.items() if (entry[0] > 0) == follow_up
            ]
            heapq.heapify(heap)


class WorkQueue(Generic[K]):
    """Dedups keys, never hands one key out twice at once, delays and backs off per key.

    All methods but get() and drain() are synchronous and must run on the event loop's
    thread. `on_depth` is called with the new number of ready keys whenever it changes;
    `on_retry` with the key on every add_rate_limited().
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter[K] | None = None,
        on_depth: Callable[[int], None] | None = None,
        on_retry: Callable[[K], None] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.rate_limiter: RateLimiter[K] = (
            rate_limiter if rate_limiter is not None else ExponentialBackoff()
        )
        self._on_depth = on_depth
        self._on_retry = on_retry
        self._ready: _ReadyQueue[K] = _ReadyQueue()
        self._in_flight: set[K] = set()
        self._priority: dict[K, int] = {}  # in flight: the priority it was handed out with
        self._rerun: dict[K, int] = {}  # in flight and added again: key -> priority
        self._waiting: dict[K, tuple[float, int, int]] = {}  # key -> (due, seq, priority)
        self._waiting_heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._timer: TimerHandle | None = None
        self._timer_due = float("inf")
        self._getters: deque[asyncio.Future[None]] = deque()
        self._lane_getters: deque[asyncio.Future[None]] = deque()  # get(follow_ups_only)
        self._drainers: list[asyncio.Future[None]] = []
        self._shut_down = asyncio.Event()
        self._finish_ready = False

    @property
    def depth(self) -> int:
        """Keys ready to be handed out now."""
        return len(self._ready)

    @property
    def in_flight(self) -> int:
        """Keys handed out by get() and not yet done()."""
        return len(self._in_flight)

    @property
    def waiting(self) -> int:
        """Keys scheduled for later by add_after() or add_rate_limited()."""
        return len(self._waiting)

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down.is_set()

    def is_ready(self, key: K) -> bool:
        """Whether the key is ready and not yet handed out: an add() now joins that run."""
        return key in self._ready

    def num_requeues(self, key: K) -> int:
        """Consecutive failures (rate-limited re-adds) of the key since it was forgotten."""
        return self.rate_limiter.failures(key)

    def add(self, key: K, *, priority: int = 0) -> None:
        """Make the key ready now (higher priority first). Ignored after shut_down()."""
        if self.is_shut_down:
            return
        waiting = self._waiting.pop(key, None)  # its heap entry goes stale; _fire skips it
        if waiting is not None:
            priority = max(priority, waiting[2])
        if key in self._in_flight:
            self._rerun[key] = max(priority, self._rerun.get(key, priority))
            return
        if self._ready.push(key, priority):
            self._depth_changed()
            self._wake_getter(follow_up=priority < 0)

    def add_after(self, key: K, delay: float, *, priority: int = 0) -> None:
        """Make the key ready after `delay` seconds; an earlier pending time for it wins."""
        if self.is_shut_down:
            return
        if delay <= 0:
            self.add(key, priority=priority)
            return
        if key in self._ready or key in self._rerun:
            return  # it runs sooner than that already
        due = self.clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current[0] <= due:
            return
        seq = next(self._seq)
        self._waiting[key] = (due, seq, priority)
        heapq.heappush(self._waiting_heap, (due, seq, key))
        if len(self._waiting_heap) > 2 * len(self._waiting) + 64:
            self._waiting_heap = [(d, s, k) for k, (d, s, _) in self._waiting.items()]
            heapq.heapify(self._waiting_heap)
        if due < self._timer_due:
            self._arm(due)

    def add_rate_limited(self, key: K, *, priority: int = 0) -> float:
        """Requeue the key after its backoff delay (its failure count grows); returns the delay."""
        delay = self.rate_limiter.next(key)
        if self._on_retry is not None:
            self._on_retry(key)
        self.add_after(key, delay, priority=priority)
        return delay

    def forget(self, key: K) -> None:
        """Reset the key's backoff: call it when the key succeeded or is given up."""
        self.rate_limiter.forget(key)

    async def get(self, *, follow_ups_only: bool = False) -> K:
        """The next ready key, marked in flight; blocks until one is ready. With
        follow_ups_only, only a key below priority 0 (the reserve lane of run_workers'
        follow_up_workers).

        Raises QueueShutDown once the queue is shut down (with finish_ready, once no key
        it may take is ready any more). Every key returned must be given back with
        done(key).
        """
        getters = self._lane_getters if follow_ups_only else self._getters
        while True:
            takeable = self._ready.follow_ups if follow_ups_only else len(self._ready)
            if self.is_shut_down and not (self._finish_ready and takeable):
                raise QueueShutDown
            if takeable:
                key, priority = self._ready.pop(follow_ups_only=follow_ups_only)
                self._in_flight.add(key)
                self._priority[key] = priority
                self._depth_changed()
                return key
            waiter = asyncio.get_running_loop().create_future()
            getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_for_ready()  # pass on the wake-up this getter will not use
                raise
            finally:
                if waiter in getters:
                    getters.remove(waiter)

    def priority_of(self, key: K) -> int:
        """The priority an in-flight key was handed out with (0 when not in flight)."""
        return self._priority.get(key, 0)

    def done(self, key: K) -> None:
        """The worker finished the key; if it was added meanwhile it is ready again now."""
        if key not in self._in_flight:
            raise ValueError(f"done() for a key that is not in flight: {key!r}")
        self._in_flight.remove(key)
        self._priority.pop(key, None)
        priority = self._rerun.pop(key, None)
        if priority is not None and self._ready.push(key, priority):
            self._depth_changed()
            self._wake_getter(follow_up=priority < 0)
        self._wake_drainers()

    def shut_down(self, *, finish_ready: bool = False) -> None:
        """Stop handing out work; later adds are ignored and waiting keys are dropped.

        By default get() raises QueueShutDown at once and ready keys are dropped (the
        next run finds them again): the fast exit a SIGTERM needs. With finish_ready,
        keys already ready or due to rerun are still handed out first. Idempotent.
        """
        if self.is_shut_down:
            return
        self._shut_down.set()
        self._finish_ready = finish_ready
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_due = None, float("inf")
        self._waiting.clear()
        self._waiting_heap.clear()
        if not finish_ready:
            self._rerun.clear()
            if self._ready:
                self._ready.clear()
                self._depth_changed()
        for getters in (self._getters, self._lane_getters):
            while getters:
                waiter = getters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
        self._wake_drainers()

    async def wait_shut_down(self) -> None:
        """Return once shut_down() has been called."""
        await self._shut_down.wait()

    async def drain(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until no key is in flight (and, with finish_ready, none is ready either).

        Returns False when `timeout` seconds of the queue's clock pass first (a deadline
        on the injected Clock, which asyncio.timeout cannot express).
        """
        deadline = None if timeout is None else self.clock.now() + timeout
        loop = asyncio.get_running_loop()
        while not self._drained():
            if deadline is not None and self.clock.now() >= deadline:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._drainers.append(waiter)

            def expire(waiter: asyncio.Future[None] = waiter) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            timer = None if deadline is None else self.clock.call_at(deadline, expire)
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                if waiter in self._drainers:
                    self._drainers.remove(waiter)
        return True

    def _drained(self) -> bool:
        return not self._in_flight and not (
            self.is_shut_down and self._finish_ready and self._ready
        )

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.clock.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_due = None, float("inf")
        now = self.clock.now()
        heap = self._waiting_heap
        while heap:
            due, seq, key = heap[0]
            current = self._waiting.get(key)
            if current is None or current[1] != seq:
                heapq.heappop(heap)  # stale: the key was added or rescheduled since
            elif due <= now:
                heapq.heappop(heap)
                self.add(key, priority=current[2])  # removes it from _waiting
            else:
                self._arm(due)
                return

    def _depth_changed(self) -> None:
        if self._on_depth is not None:
            self._on_depth(len(self._ready))

    def _wake_getter(self, *, follow_up: bool) -> None:
        """Wake one getter that may take a key just made ready: for a follow-up, a lane
        getter first (the others stay free for fresh work), else any plain one."""
        for getters in (self._lane_getters, self._getters) if follow_up else (self._getters,):
            while getters:
                waiter = getters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return

    def _wake_for_ready(self) -> None:
        if self._ready.follow_ups:
            self._wake_getter(follow_up=True)
        elif self._ready:
            self._wake_getter(follow_up=False)

    def _wake_drainers(self) -> None:
        if not self._drained():
            return
        for waiter in self._drainers:
            if not waiter.done():
                waiter.set_result(None)


# -- workers -----------------------------------------------------------------------


class Action(enum.Enum):
    """What a worker does with a key after its handler returned; see Outcome."""

    DONE = "done"
    REQUEUE = "requeue"
    RETRY = "retry"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a handler call ended, and so what becomes of its key.

    done()           success: backoff forgotten, not requeued (until added again)
    requeue(after)   success so far, look again in `after` seconds: backoff forgotten
    retry(error)     transient failure: requeued after the key's next backoff delay
    stop(error)      terminal failure: backoff forgotten, not requeued

    A handler may also raise: the exception becomes retry or stop by `is_retryable`.
    """

    action: Action
    after: float = 0.0
    error: Exception | None = None

    @classmethod
    def done(cls) -> Outcome:
        return cls(Action.DONE)

    @classmethod
    def requeue(cls, after: float) -> Outcome:
        if after < 0:
            raise ValueError(f"requeue after must not be negative, got {after}")
        return cls(Action.REQUEUE, after=after)

    @classmethod
    def retry(cls, error: Exception | None = None) -> Outcome:
        return cls(Action.RETRY, error=error)

    @classmethod
    def stop(cls, error: Exception | None = None) -> Outcome:
        return cls(Action.STOP, error=error)


class Logger(Protocol):
    def warning(self, event: str, /, **kw: Any) -> Any: ...
    def error(self, event: str, /, **kw: Any) -> Any: ...


def default_is_retryable(exc: Exception) -> bool:
    """An exception that says whether it is retryable (a `retryable` attribute: every error
    of ecs-gitops has one, declared on the root of its tree) is taken at its word; any
    other exception is retried with backoff, as controller-runtime does. Handlers that
    know better return Outcome.stop() themselves or pass run_workers their own
    `is_retryable`. Duck-typed: the runtime imports nothing of the controller."""
    return bool(getattr(exc, "retryable", True))


def follow_up_lane(workers: int) -> int:
    """The reserve lane for `workers` workers: a quarter of them (none for fewer than 4),
    enough for the polls and next steps of rollouts in progress, which mostly read."""
    return workers // 4


async def run_workers(
    queue: WorkQueue[K],
    handler: Callable[[K], Awaitable[Outcome]],
    *,
    workers: int,
    logger: Logger | None = None,
    is_retryable: Callable[[Exception], bool] = default_is_retryable,
    shutdown_grace: float = 15.0,
    follow_up_workers: int = 0,
) -> None:
    """Run `workers` tasks that handle keys until the queue is shut down.

    `follow_up_workers` of them take only follow-ups (priority below 0): a reserve lane,
    like a priority level's reserved seats. Without one, a burst of fresh keys whose
    handlers all wait on one scarce budget (a commit touching 200 services, each waiting
    its turn to register a task definition at 1/s) holds every worker, and the rollouts
    already started, whose next steps spend other budgets, wait until the burst is over.

    Each worker loops get() -> handler(key) -> apply the Outcome -> done(key). After
    shut_down() the workers finish their current key and return; any still busy
    `shutdown_grace` seconds (of the queue's clock) later are cancelled, so the whole
    call returns within that bound. CancelledError always propagates.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not 0 <= follow_up_workers < workers:
        raise ValueError(f"follow_up_workers must be 0..{workers - 1}, got {follow_up_workers}")
    log: Logger = logger if logger is not None else structlog.get_logger(__name__)
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                _work(queue, handler, log, is_retryable, follow_ups_only=n < follow_up_workers),
                name=f"worker-{n}",
            )
            for n in range(workers)
        ]
        group.create_task(_bound_shutdown(queue, tasks, shutdown_grace, log), name="shutdown")


async def _work(
    queue: WorkQueue[K],
    handler: Callable[[K], Awaitable[Outcome]],
    log: Logger,
    is_retryable: Callable[[Exception], bool],
    *,
    follow_ups_only: bool,
) -> None:
    while True:
        try:
            key = await queue.get(follow_ups_only=follow_ups_only)
        except QueueShutDown:
            return
        token = work_priority.set(queue.priority_of(key))
        try:
            try:
                outcome = await handler(key)
                raised = False
            except Exception as exc:
                outcome = Outcome.retry(exc) if is_retryable(exc) else Outcome.stop(exc)
                raised = True
            if not isinstance(outcome, Outcome):
                outcome = Outcome.stop(TypeError(f"handler returned {outcome!r}, not an Outcome"))
            _apply(queue, key, outcome, raised, log)
        finally:
            work_priority.reset(token)
            queue.done(key)


def _apply(queue: WorkQueue[K], key: K, outcome: Outcome, raised: bool, log: Logger) -> None:
    error = outcome.error
    detail: dict[str, Any] = {}
    if error is not None:
        detail = {"error": str(error), "error_type": type(error).__name__}
        if raised and not hasattr(error, "retryable"):
            detail["exc_info"] = error  # unclassified: a bug, so show the traceback
    if outcome.action is Action.RETRY:
        delay = queue.add_rate_limited(key, priority=FOLLOW_UP_PRIORITY)
        log.warning(
            "work_retry",
            key=str(key),
            retries=queue.num_requeues(key),
            delay=round(delay, 3),
            **detail,
        )
        return
    queue.forget(key)
    if outcome.action is Action.REQUEUE:
        queue.add_after(key, outcome.after, priority=FOLLOW_UP_PRIORITY)
    elif outcome.action is Action.STOP:
        log.error("work_stopped", key=str(key), **detail)


async def _bound_shutdown(
    queue: WorkQueue[Any], tasks: list[asyncio.Task[None]], grace: float, log: Logger
) -> None:
    await queue.wait_shut_down()
    if await queue.drain(grace):
        return
    busy = [task for task in tasks if not task.done()]
    log.warning("workers_cancelled", grace=grace, busy=len(busy), in_flight=queue.in_flight)
    for task in busy:
        task.cancel()


def shut_down_on_signals(
    queue: WorkQueue[Any],
    signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    *,
    finish_ready: bool = False,
) -> Callable[[], None]:
    """Shut the queue down on the first of `signals`; returns a function that uninstalls.

    Must be called with a running event loop (Unix: loop.add_signal_handler).
    """
    loop = asyncio.get_running_loop()
    installed = list(signals)
    for sig in installed:
        loop.add_signal_handler(sig, lambda: queue.shut_down(finish_ready=finish_ready))

    def uninstall() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return uninstall
