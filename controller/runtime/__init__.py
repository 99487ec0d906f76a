"""The controller's machinery, which knows nothing of ECS: work queue, backoff, clock.

    backoff    RateLimiter protocol; ExponentialBackoff (per key, capped, forgotten on success)
    clock      Clock protocol; MonotonicClock (real) and FakeClock (tests, advance())
    election   LeaderElector over a Lease (client-go's leader election); MemoryLease
    keyedlock  KeyedLocks: one asyncio lock per key, forgotten when nobody holds it
    secrets    read_secret: the one reader of the operator's secrets (NAME or NAME_FILE), at each use
    signature  sign/verify: HMAC-SHA256 body signatures (`sha256=<hex>`), both directions
    stopping   until_stopped: wait for work or a timer, cut short by a stop event
    writer     Writer: this process as the writer of rollout steps, and its lease
    workqueue  WorkQueue (dedup, one worker per key, delays, backoff), Outcome, run_workers;
               work_priority (the priority of the key a worker is handling), RESYNC_PRIORITY,
               follow_up_lane (the workers that take follow-ups first)

This package imports nothing else of controller: the layers above hand it keys and
handlers, and it hands back only time and order.
"""

from controller.runtime.backoff import ExponentialBackoff, RateLimiter
from controller.runtime.clock import Clock, FakeClock, MonotonicClock, TimerHandle
from controller.runtime.keyedlock import KeyedLocks
from controller.runtime.workqueue import (
    FOLLOW_UP_PRIORITY,
    RESYNC_PRIORITY,
    Action,
    Outcome,
    QueueShutDown,
    WorkQueue,
    default_is_retryable,
    follow_up_lane,
    run_workers,
    shut_down_on_signals,
    work_priority,
)

__all__ = [
    "FOLLOW_UP_PRIORITY",
    "RESYNC_PRIORITY",
    "Action",
    "Clock",
    "ExponentialBackoff",
    "FakeClock",
    "KeyedLocks",
    "MonotonicClock",
    "Outcome",
    "QueueShutDown",
    "RateLimiter",
    "TimerHandle",
    "WorkQueue",
    "default_is_retryable",
    "follow_up_lane",
    "run_workers",
    "shut_down_on_signals",
    "work_priority",
]
