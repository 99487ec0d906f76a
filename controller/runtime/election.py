"""Leader election over a Lease: one replica acts, the others stand by to take over.

client-go's leaderelection loop on our Clock. A Lease is a record store with
compare-and-swap: every write gets a new version, and acquire, renew and release succeed
only against the version last read (a DynamoDB item in controller.aws.lease, MemoryLease
here). A candidate polls every retry period and takes the lease when it is free or its
holder's time has run out; the leader renews every retry period, and when no renewal has
succeeded within the renew deadline it stops acting at once, lease duration minus renew
deadline (5 s) before anyone else may take over. The store says how long a lease has left
(`LeaseRecord.remaining`), so a standby wakes exactly when it runs out. Leaving releases the
lease, so a standby takes over within a retry period instead of a lease duration.

    elector = LeaderElector(lease, default_identity())
    await elector.run(work)   # work() runs while leading, is cancelled when leadership ends

Safety needs the replicas' clocks (which set and read a lease's expiry) to agree to within
lease_duration - renew_deadline; every mutating AWS call is idempotent besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar, cast

import structlog

from controller.runtime.clock import Clock, MonotonicClock, TimerHandle

T = TypeVar("T")
log = structlog.get_logger(__name__)

# A standby wakes this long after the holder's lease should have run out, so that rounding
# between the store's clock and ours cannot make it read "not yet" and spin.
EXPIRY_MARGIN = 0.01


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A lease as last read or written.

    remaining: seconds the holder had left when the store answered (<= 0: expired);
    version: opaque, changes with every write (the compare-and-swap token);
    transitions: how many times the lease has changed hands.
    """

    holder: str
    version: str
    remaining: float
    transitions: int = 0

    @property
    def free(self) -> bool:
        """Released (no holder) or expired: anyone may take it."""
        return not self.holder or self.remaining <= 0


class Lease(Protocol):
    """A named lease with compare-and-swap writes; raising means "unknown, try again"."""

    async def get(self) -> LeaseRecord | None:
        """The current record, or None when there is none."""
        ...

    async def acquire(
        self, holder: str, duration: float, expected: LeaseRecord | None
    ) -> LeaseRecord | None:
        """Take the lease for `duration` seconds: create it when `expected` is None, else replace
        it only if it is still at `expected.version` and free (or already `holder`'s). None
        when someone else got there first."""
        ...

    async def renew(self, held: LeaseRecord, duration: float) -> LeaseRecord | None:
        """Extend a lease still held at `held.version`; None when it was taken or deleted."""
        ...

    async def release(self, held: LeaseRecord) -> bool:
        """Give up a lease still held at `held.version` (expire it now, or delete it); False
        when it had already changed hands."""
        ...


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    """client-go's defaults: lease 15 s, renew deadline 10 s, retry every 2 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_timeout: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry_period < renew_deadline < lease_duration, "
                f"got {self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


def default_identity() -> str:
    """hostname-pid-random: unique per process, readable in the lease table and, as a
    rollout step's writer, in a service tag (hence the host name's first 63 characters)."""
    return f"{socket.gethostname()[:63]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class _Interrupted(Exception):
    """A lease call outran its deadline, or the elector was told to stop or lost the lease."""


Callback = Callable[[], object]
Work = Callable[[], Coroutine[Any, Any, None]]


class LeaderElector:
    """Campaigns for a Lease, holds it while it can, and says when leadership changes.

    Three ways to follow it, all optional: `run(work)` runs `work()` as a task while leading
    and cancels it the moment leadership ends; callbacks `on_started_leading` /
    `on_stopped_leading` (an awaitable returned by the latter is awaited before the lease is
    released or campaigned for again); and `changes()`, an async iterator of is_leader values.
    """

    def __init__(
        self,
        lease: Lease,
        identity: str,
        *,
        clock: Clock | None = None,
        config: LeaderElectionConfig | None = None,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
    ) -> None:
        self.lease = lease
        self.identity = identity
        self.config = config or LeaderElectionConfig()
        self._clock: Clock = clock or MonotonicClock()
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._leading = False
        self._record: LeaseRecord | None = None  # the last record we wrote
        self._leader: str | None = None  # the holder last seen
        self._last_renewal = 0.0  # clock time the last successful write was sent
        self._deadline_timer: TimerHandle | None = None
        self._interrupt = asyncio.Event()  # stop() or leadership lost
        self._stopping = False
        self._pending: list[Awaitable[object]] = []  # what stopping to lead must wait for
        self._subscribers: list[asyncio.Queue[bool | None]] = []
        self._running = False
        self._finished = False
        self.acquisitions = 0

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str | None:
        """Who held the lease when last seen (ourselves while leading); None if nobody."""
        return self.identity if self._leading else self._leader

    def stop(self) -> None:
        """Ask run() to stop leading at once, release the lease and return."""
        self._stopping = True
        self._interrupt.set()

    async def changes(self) -> AsyncIterator[bool]:
        """The current is_leader value, then each change, until run() ends."""
        queue: asyncio.Queue[bool | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            yield self._leading
            if self._finished:
                return
            while (value := await queue.get()) is not None:
                yield value
        finally:
            self._subscribers.remove(queue)

    async def run(self, work: Work | None = None) -> None:
        """Campaign and lead until stop(), cancellation, or `work` ending.

        `work()` is started anew each time leadership is won. If it returns, leadership is
        given up and run() returns (the graceful path: drain, then return); if it raises, the
        lease is released and the error propagates. On the way out the lease is always
        released, so a standby takes over within one retry period.
        """
        if self._running:
            raise RuntimeError("LeaderElector.run() is already running")
        self._running = True
        try:
            while not self._stopping:
                if not await self._campaign():
                    break
                if await self._lead(work):
                    break
        finally:
            self._stop_leading("shutdown")
            try:
                await self._settle()
            finally:
                await self._release()
                self._running = False
                self._finished = True
                for queue in self._subscribers:
                    queue.put_nowait(None)

    # the two phases

    async def _campaign(self) -> bool:
        """Poll until we hold the lease (True) or are told to stop (False)."""
        cfg = self.config
        if not self._stopping:
            self._interrupt.clear()  # set by the loss that sent us back here
        while not self._stopping:
            started = self._clock.now()
            wake = started + cfg.retry_period
            try:
                record = await self._io(
                    self.lease.get(), started + cfg.renew_deadline, interruptible=True
                )
                if record is None or record.free or record.holder == self.identity:
                    won = await self._io(
                        self.lease.acquire(self.identity, cfg.lease_duration, record),
                        started + cfg.renew_deadline,
                    )
                    if won is not None:
                        self._start_leading(won, started)
                        return True
                else:
                    self._observe(record.holder)
                    expiry = self._clock.now() + max(record.remaining, 0.0) + EXPIRY_MARGIN
                    wake = min(wake, expiry)
            except _Interrupted:
                if self._stopping:
                    return False
            except Exception as exc:
                log.warning("lease_unavailable", identity=self.identity, error=str(exc))
            await self._sleep_until(wake)
        return False

    async def _lead(self, work: Work | None) -> bool:
        """Renew until leadership ends; True when run() should return."""
        cfg = self.config
        task = asyncio.create_task(work(), name="leader-work") if work is not None else None
        if task is not None:
            self._pending.append(_finish(task))
        try:
            next_try = self._last_renewal + cfg.retry_period
            while self._acting():
                await self._sleep_until(next_try, task)
                if task is not None and task.done():
                    self._stop_leading("work_ended")
                    return True
                if not self._acting():
                    break
                started = self._clock.now()
                next_try = started + cfg.retry_period
                try:
                    renewed = await self._io(
                        self.lease.renew(self._held(), cfg.lease_duration),
                        self._last_renewal + cfg.renew_deadline,
                    )
                except _Interrupted:
                    continue  # the renew deadline passed: the timer has stopped us
                except Exception as exc:
                    log.warning("lease_renew_failed", identity=self.identity, error=str(exc))
                    continue
                if renewed is None:
                    self._record = None  # someone else's now: nothing of ours to release
                    self._stop_leading("lease_taken")
                else:
                    self._renewed(renewed, started)
        finally:
            await self._settle()
        return self._stopping

    # state changes (synchronous, so a timer callback may make them)

    def _start_leading(self, record: LeaseRecord, started: float) -> None:
        self._record = record
        self._leading = True
        self._leader = self.identity
        self.acquisitions += 1
        if not self._stopping:
            self._interrupt.clear()
        self._renewed(record, started)
        log.info(
            "leader_elected",
            identity=self.identity,
            transitions=record.transitions,
        )
        self._notify(True)
        if self._on_started is not None:
            self._on_started()

    def _renewed(self, record: LeaseRecord, started: float) -> None:
        self._record = record
        self._last_renewal = started
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_timer = self._clock.call_at(
            started + self.config.renew_deadline, self._deadline_passed
        )

    def _deadline_passed(self) -> None:
        if self._leading:
            log.error(
                "leader_renew_deadline_passed",
                identity=self.identity,
                renew_deadline=self.config.renew_deadline,
            )
        self._stop_leading("renew_deadline")

    def _stop_leading(self, reason: str) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        if not self._leading:
            return
        self._leading = False
        self._leader = None
        self._interrupt.set()
        log.warning("leader_stopped", identity=self.identity, reason=reason)
        self._notify(False)
        if self._on_stopped is not None:
            result = self._on_stopped()
            if inspect.isawaitable(result):
                self._pending.append(result)

    def _observe(self, holder: str) -> None:
        if holder != self._leader:
            log.info("leader_observed", identity=self.identity, leader=holder)
            self._leader = holder

    def _notify(self, value: bool) -> None:
        for queue in self._subscribers:
            queue.put_nowait(value)

    def _acting(self) -> bool:
        return self._leading and not self._stopping

    def _held(self) -> LeaseRecord:
        assert self._record is not None, "renewing a lease never acquired"
        return self._record

    # waiting, on the clock, interruptibly

    async def _settle(self) -> None:
        """Wait for what stopping to lead set off: the work task, awaitable callbacks."""
        while self._pending:
            pending, self._pending = self._pending, []
            for awaitable in pending:
                try:
                    await awaitable
                except Exception as exc:
                    log.error("leader_work_failed", identity=self.identity, error=repr(exc))
                    raise

    async def _release(self) -> None:
        record, self._record = self._record, None
        if record is None:
            return
        until = self._clock.now() + self.config.release_timeout
        try:
            done, released = await self._race(self.lease.release(record), until, None)
        except Exception as exc:
            log.warning("lease_release_failed", identity=self.identity, error=str(exc))
            return
        if not done:
            log.warning("lease_release_timed_out", identity=self.identity)
            return
        log.info("lease_released", identity=self.identity, released=released)

    async def _sleep_until(self, when: float, task: asyncio.Task[None] | None = None) -> None:
        """Until the clock reaches `when`, stop()/loss interrupts, or `task` ends."""
        if self._interrupt.is_set() or when <= self._clock.now():
            return
        await self._race(self._interrupt.wait(), when, task)

    async def _io(self, call: Awaitable[T], until: float, *, interruptible: bool = False) -> T:
        """A lease call, cancelled (raising _Interrupted) if the clock passes `until` first,
        or, for reads, on stop(). Writes are not cut short by stop(): one that landed
        unseen would leave a version we could not release."""
        done, result = await self._race(call, until, None, interruptible=interruptible)
        if not done:
            raise _Interrupted
        return cast(T, result)

    async def _race(
        self,
        aw: Awaitable[Any],
        until: float,
        task: asyncio.Task[None] | None,
        *,
        interruptible: bool = False,
    ) -> tuple[bool, Any]:
        loop = asyncio.get_running_loop()
        inner = asyncio.ensure_future(aw)
        timeout: asyncio.Future[None] = loop.create_future()

        def expire() -> None:
            if not timeout.done():
                timeout.set_result(None)

        timer = self._clock.call_at(until, expire)
        waiters: set[asyncio.Future[Any]] = {inner, timeout}
        interrupt = None
        if interruptible:
            interrupt = asyncio.ensure_future(self._interrupt.wait())
            waiters.add(interrupt)
        if task is not None:
            waiters.add(task)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            timeout.cancel()
            for future in (inner, interrupt):
                if future is not None and not future.done():
                    future.cancel()
                    await asyncio.wait({future})
        if inner.done() and not inner.cancelled():
            return True, inner.result()
        return False, None


async def _finish(task: asyncio.Task[None]) -> None:
    """Cancel the leader's work if still running and wait for it; its error propagates."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class MemoryLease:
    """A Lease in this process, on a Clock: for one replica, and for tests of the elector."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._record: LeaseRecord | None = None
        self._expires = 0.0
        self._versions = 0

    def _now_record(self) -> LeaseRecord | None:
        if self._record is None:
            return None
        return replace(self._record, remaining=self._expires - self._clock.now())

    def _write(self, holder: str, duration: float, transitions: int) -> LeaseRecord:
        self._versions += 1
        self._expires = self._clock.now() + duration
        self._record = LeaseRecord(holder, str(self._versions), duration, transitions)
        return self._record

    async def get(self) -> LeaseRecord | None:
        return self._now_record()

    async def acquire(
        self, holder: str, duration: float, expected: LeaseRecord | None
    ) -> LeaseRecord | None:
        current = self._now_record()
        if (current is None) != (expected is None):
            return None
        if current is not None and expected is not None:
            if current.version != expected.version:
                return None
            if not current.free and current.holder != holder:
                return None  # still someone else's
        transitions = 0 if current is None else current.transitions
        if current is not None and current.holder != holder:
            transitions += 1
        return self._write(holder, duration, transitions)

    async def renew(self, held: LeaseRecord, duration: float) -> LeaseRecord | None:
        current = self._record
        if current is None or (current.version, current.holder) != (held.version, held.holder):
            return None
        return self._write(held.holder, duration, current.transitions)

    async def release(self, held: LeaseRecord) -> bool:
        current = self._record
        if current is None or (current.version, current.holder) != (held.version, held.holder):
            return False
        self._write("", 0.0, current.transitions)
        return True
