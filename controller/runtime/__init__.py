"""The controller's machinery, which knows nothing of ECS: work queue, backoff, clock.

    clock      Clock protocol; MonotonicClock (real) and FakeClock (tests, advance())
    keyedlock  KeyedLocks: one asyncio lock per key, forgotten when nobody holds it
    ratelimit  RateLimiter protocol; ExponentialBackoff (per key, capped, forgotten on success)
    secrets    read_secret: the one reader of the operator's secrets (NAME or NAME_FILE), at each use
    signature  sign/verify: HMAC-SHA256 body signatures (`sha256=<hex>`), both directions
    workqueue  WorkQueue (dedup, one worker per key, delays, backoff), Outcome, run_workers;
               work_priority (the priority of the key a worker is handling)

This package imports nothing else of controller: the layers above hand it keys and
handlers, and it hands back only time and order.
"""

from controller.runtime.clock import Clock, FakeClock, MonotonicClock, TimerHandle
from controller.runtime.keyedlock import KeyedLocks
from controller.runtime.ratelimit import ExponentialBackoff, RateLimiter
from controller.runtime.workqueue import (
    Action,
    Outcome,
    QueueShutDown,
    WorkQueue,
    default_is_retryable,
    run_workers,
    shut_down_on_signals,
    work_priority,
)

__all__ = [
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
    "run_workers",
    "shut_down_on_signals",
    "work_priority",
]
