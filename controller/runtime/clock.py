"""Time as a dependency: a Clock protocol, the real monotonic clock, and a FakeClock.

Everything in the runtime that waits for time (delayed requeues, backoff, drain and
shutdown deadlines, lease renewals) asks a Clock, never `time` or `asyncio.sleep`
directly. The protocol is callback-based (`call_at`), like the event loop's own timers, so
a component can arm one timer for its earliest deadline instead of running a sleeping task.
`FakeClock.advance(seconds)` fires due timers in deadline order, synchronously, so tests
control time exactly; woken coroutines run at the test's next await.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A scheduled callback; cancel() is idempotent and harmless after it fired."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds and timers; the only source of time in controller.runtime."""

    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback` on the event loop once `now() >= when` (at once if already due)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for `seconds` of this clock's time."""
        ...


class MonotonicClock:
    """The real clock: time.monotonic() and the running event loop's timers.

    call_at() needs a running loop (it is called from coroutines or loop callbacks).
    """

    def now(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        # call_later with a relative delay: the loop's own time() need not share
        # time.monotonic()'s epoch (uvloop's does not).
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - self.now()), callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when told to: `advance()` fires due timers in order.

    Timers fire with `now()` equal to their own deadline (so a callback that schedules
    another timer measures from the right instant); timers due at the same instant fire
    in the order they were scheduled. Callbacks run synchronously inside advance();
    coroutines they wake (a FakeClock.sleep, a WorkQueue.get) resume at the caller's
    next await.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        timer = _FakeTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_at(self._now + seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.cancelled = True
            timer.callback()
        self._now = target

    @property
    def pending(self) -> int:
        """How many timers are scheduled and not cancelled."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def next_deadline(self) -> float | None:
        """The earliest live timer's deadline, or None when nothing is scheduled."""
        live = [when for when, _, timer in self._timers if not timer.cancelled]
        return min(live, default=None)
