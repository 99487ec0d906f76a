"""How long a failing key waits before its next attempt: per-key exponential backoff.

client-go's ItemExponentialFailureRateLimiter: each key counts its consecutive failures;
the n-th retry waits min(cap, base * factor**n), less up to `jitter` of that at random so
keys that failed together do not retry together (the jitter only shortens, so `cap` is a
hard ceiling). Success forgets the count. The work queue depends on the RateLimiter
protocol only, so a limiter that also enforces an overall rate (a token bucket combined
by max, as client-go's default does) can be dropped in later.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class RateLimiter(Protocol[K_contra]):
    """Decides the delay before a failed key is retried."""

    def next(self, key: K_contra) -> float:
        """Record one more failure of `key` and return the seconds to wait before retrying."""
        ...

    def forget(self, key: K_contra) -> None:
        """Clear the key's failures (it succeeded, or will not be retried)."""
        ...

    def failures(self, key: K_contra) -> int:
        """Consecutive failures recorded for the key since it was last forgotten."""
        ...


class ExponentialBackoff(Generic[K]):
    """Per-key exponential backoff, capped, with optional downward jitter.

    With the defaults a key waits about 0.5, 1, 2, 4 ... seconds, never more than 60.
    Memory is one int per key that is currently failing.
    """

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 60.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0:
            raise ValueError(f"base must be positive, got {base}")
        if cap < base:
            raise ValueError(f"cap ({cap}) must be at least base ({base})")
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._rng = rng if rng is not None else random.Random()
        self._failures: dict[K, int] = {}

    def delay_for(self, failures: int) -> float:
        """The un-jittered delay after `failures` earlier failures: min(cap, base*factor**n)."""
        try:
            raw = self.base * self.factor**failures
        except OverflowError:
            return self.cap
        return min(self.cap, raw)

    def next(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = self.delay_for(failures)
        if self.jitter:
            delay *= 1.0 - self.jitter * self._rng.random()
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def __len__(self) -> int:
        """How many keys are currently backing off."""
        return len(self._failures)
