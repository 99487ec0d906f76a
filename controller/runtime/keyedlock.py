"""KeyedLocks: one asyncio lock per key, kept only while someone holds or waits for it.

The work queue keeps one key from running in two workers, but two keys may still race
for one shared thing (two services registering the same task definition content). A
caller holds the lock named after that thing; the table forgets a key as soon as nobody
holds or waits for it, so it stays as small as the work in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class KeyedLocks(Generic[K]):
    def __init__(self) -> None:
        self._locks: dict[K, tuple[asyncio.Lock, int]] = {}
        """key -> (its lock, how many hold it or wait for it)."""

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        """Hold key's lock for the block: one holder per key at a time, others unhindered."""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
