"""Batched reads under the typed calls: concurrent describes merged, spare slots read ahead.

Reconciles describe one service each, but DescribeServices takes 10 names a call (and
DescribeScalableTargets 50 resource ids), and the service-read bucket is the scarce
budget. A `Coalescer` sits in AwsClients.call for such an operation: requests that share
a scope (cluster, include) and arrive within `window` seconds go out as one call. A call
with free slots fills them with other names of the same cluster, read ahead: while a
pass is open (begin_pass: a resync or a new revision names the services it is about to
poll, in its order) the next of its names not yet asked for; otherwise names asked for
before (or named by `expect` and by ListServices answers), those asked for longest ago
first. An ask for a name already on its way in such a call waits for that call.

An answer read ahead is served once, and only while it is fresh enough for the asker:
within `ttl` seconds for any other reconcile; for a resync poll (runtime.RESYNC_PRIORITY:
it only looks, and acts on what it sees) when it was read since the pass that queued
that poll began, however long ago. So the reconciles of a pass cost ceil(N/10) calls
per cluster however they spread over time, and drift made before a pass began is seen
by that pass. A pass that begins while polls of the one before are still queued (more
services than the read budget polls in one resync interval) carries them: the work
queue runs each of them once, for both passes, so they keep the earlier pass's start
and come first in the read-ahead order, as they come first off the queue.
Any mutating call naming a service drops its entry, also from a read in flight (a
generation count per scope). Nothing above the aws layer changes: the reconcile still
asks for one service and gets one answer, as if it had called ECS itself.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from controller.runtime import RESYNC_PRIORITY, work_priority

Send = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""(region, params) -> the raw response of one real call."""


def short(ref: str) -> str:
    """A name from a name or an ARN ("arn:...:service/cluster/name" -> "name")."""
    return ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref


@dataclass(frozen=True)
class BatchSpec:
    """How one describe operation batches: which parameter lists the ids, how many fit,
    which parameters must be equal to share a call (the first is the scope), and how the
    answer names each item."""

    service: str
    operation: str
    list_param: str
    max_batch: int
    group_params: tuple[str, ...]
    result_key: str
    item_ids: Callable[[dict[str, Any]], Iterable[str]]
    failures_key: str | None = None


def _service_ids(item: dict[str, Any]) -> Iterable[str]:
    return (str(item.get("serviceName", "")), short(str(item.get("serviceArn", ""))))


def _failure_ids(item: dict[str, Any]) -> Iterable[str]:
    return (short(str(item.get("arn", ""))),)


DESCRIBE_SERVICES = BatchSpec(
    "ecs", "DescribeServices", "services", 10, ("cluster", "include"), "services", _service_ids,
    failures_key="failures",
)  # fmt: skip
DESCRIBE_SCALABLE_TARGETS = BatchSpec(
    "application-autoscaling",
    "DescribeScalableTargets",
    "ResourceIds",
    50,
    ("ServiceNamespace", "ScalableDimension"),
    "ScalableTargets",
    lambda item: (str(item.get("ResourceId", "")),),
)
SPECS = {(s.service, s.operation): s for s in (DESCRIBE_SERVICES, DESCRIBE_SCALABLE_TARGETS)}


@dataclass
class BatchStats:
    calls: int = 0
    requested: int = 0
    read_ahead: int = 0
    cache_hits: int = 0
    joined: int = 0
    expired: int = 0
    invalidated: int = 0


@dataclass
class _Answer:
    item: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None


@dataclass
class _Pending:
    params: dict[str, Any]
    waiters: dict[str, asyncio.Future[_Answer | None]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Flight:
    """A name read ahead by a call on its way: asks for it wait here (None: read again)."""

    sent_at: float
    answer: asyncio.Future[_Answer | None]
    joined: int = 0


@dataclass
class _Pass:
    """A pass over a scope's names: those not yet asked for, in order, and since when
    each one's poll has been queued (an answer read since then may serve it)."""

    due: dict[str, None]
    since: dict[str, float]


Scope = tuple[str, str]  # (region, cluster or namespace)
Group = tuple[str, tuple[Any, ...]]  # (region, values of group_params)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class Coalescer:
    """Batches one describe operation; see the module docstring."""

    def __init__(
        self,
        spec: BatchSpec,
        send: Send,
        *,
        window: float = 0.003,
        ttl: float = 2.0,
        remember: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec, self._send = spec, send
        self.window, self.ttl, self.remember = window, ttl, remember
        self._clock = clock
        self.stats = BatchStats()
        self._pending: dict[Group, _Pending] = {}
        self._cache: dict[tuple[Group, str], tuple[float, _Answer]] = {}
        # name -> when last asked for, oldest first (a name asked for again moves to the end)
        self._wanted: dict[Scope, OrderedDict[str, float]] = {}
        self._busy: dict[Scope, set[str]] = {}  # in a call now
        self._flights: dict[tuple[Group, str], _Flight] = {}  # read ahead, on their way
        self._passes: dict[Scope, _Pass] = {}
        self._generation: dict[Scope, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _scope(self, region: str, params: dict[str, Any]) -> Scope:
        return (region, short(str(params.get(self.spec.group_params[0], ""))))

    async def call(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec
        group: Group = (region, tuple(_freeze(params.get(p)) for p in spec.group_params))
        scope = self._scope(region, params)
        names = list(dict.fromkeys(short(str(n)) for n in params.get(spec.list_param, [])))
        now = self._clock()
        poll = work_priority.get() <= RESYNC_PRIORITY
        wanted = self._wanted.setdefault(scope, OrderedDict())
        current = self._passes.get(scope)
        answers: dict[str, _Answer] = {}
        waits: dict[str, asyncio.Future[_Answer | None]] = {}
        for name in names:
            wanted[name] = now
            wanted.move_to_end(name)
            if current is not None:
                current.due.pop(name, None)
            cached = self._cache.pop((group, name), None)
            flight = self._flights.get((group, name))
            if cached is not None and self._fresh(scope, name, cached[0], now, poll):
                self.stats.cache_hits += 1
                answers[name] = cached[1]
                continue
            if cached is not None:
                self.stats.expired += 1
            if flight is not None and self._fresh(scope, name, flight.sent_at, now, poll):
                self.stats.joined += 1
                flight.joined += 1
                waits[name] = flight.answer
            else:
                waits[name] = self._enqueue(group, scope, params, name)
        while waits:
            done = await asyncio.gather(*waits.values())
            again: dict[str, asyncio.Future[_Answer | None]] = {}
            for name, answer in zip(waits, done, strict=True):
                if answer is None:  # the call it joined read it before a change: again
                    again[name] = self._enqueue(group, scope, params, name)
                else:
                    answers[name] = answer
            waits = again
        response: dict[str, Any] = {spec.result_key: []}
        if spec.failures_key:
            response[spec.failures_key] = []
        for name in names:
            answer = answers[name]
            if answer.item is not None:
                response[spec.result_key].append(answer.item)
            elif answer.failure is not None and spec.failures_key:
                response[spec.failures_key].append(answer.failure)
        return response

    def _fresh(self, scope: Scope, name: str, read_at: float, now: float, poll: bool) -> bool:
        """May an answer for `name` read at `read_at` be served now? See the module
        docstring."""
        current = self._passes.get(scope) if poll else None
        since = None if current is None else current.since.get(name)
        if since is not None:  # read since its poll was queued, however long ago
            return self.ttl > 0 and read_at >= since
        return now - read_at <= self.ttl

    def _enqueue(
        self, group: Group, scope: Scope, params: dict[str, Any], name: str
    ) -> asyncio.Future[_Answer | None]:
        loop = asyncio.get_running_loop()
        pending = self._pending.get(group)
        if pending is None:
            template = {k: v for k, v in params.items() if k != self.spec.list_param}
            pending = self._pending[group] = _Pending(template)
            pending.timer = loop.call_later(self.window, self._flush, group, scope)
        future = pending.waiters.get(name)
        if future is None:
            future = pending.waiters[name] = loop.create_future()
        if len(pending.waiters) >= self.spec.max_batch:
            self._flush(group, scope)
        return future

    def _flush(self, group: Group, scope: Scope) -> None:
        pending = self._pending.pop(group, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._run(group, scope, pending))
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    def _read_ahead(self, group: Group, scope: Scope, asked: set[str], room: int) -> list[str]:
        """Up to `room` names of the scope to read along: the open pass's next names, or
        else those asked for longest ago.

        A walk from the front that stops when the batch is full: it skips only names in
        a call or read ahead already, so a pass over N names costs O(N), not O(N^2)."""
        wanted = self._wanted.get(scope)
        if room <= 0 or self.ttl <= 0 or not wanted:
            return []
        now = self._clock()
        while wanted:  # not asked for in a long while: forgotten
            name, asked_at = next(iter(wanted.items()))
            if now - asked_at <= self.remember:
                break
            del wanted[name]
        current = self._passes.get(scope)
        order: Iterable[str] = current.due if current is not None and current.due else wanted
        busy = self._busy.get(scope, set())
        picked: list[str] = []
        for name in order:
            if name in asked or name in busy:
                continue
            entry = self._cache.get((group, name))
            if entry is not None and self._fresh(scope, name, entry[0], now, poll=True):
                continue
            picked.append(name)
            if len(picked) == room:
                break
        return picked

    async def _run(self, group: Group, scope: Scope, pending: _Pending) -> None:
        spec = self.spec
        asked = list(pending.waiters)
        extra = self._read_ahead(group, scope, set(asked), spec.max_batch - len(asked))
        busy = self._busy.setdefault(scope, set())
        busy.update(asked, extra)
        generation = self._generation.get(scope, 0)
        loop = asyncio.get_running_loop()
        sent_at = self._clock()
        flights = {name: _Flight(sent_at, loop.create_future()) for name in extra}
        for name, flight in flights.items():
            self._flights[(group, name)] = flight
        self.stats.calls += 1
        self.stats.requested += len(asked)
        self.stats.read_ahead += len(extra)
        try:
            response = await self._send(
                group[0], {**pending.params, spec.list_param: asked + extra}
            )
        except asyncio.CancelledError:
            for future in [*pending.waiters.values(), *(f.answer for f in flights.values())]:
                future.cancel()
            raise
        except Exception as exc:
            for future in pending.waiters.values():
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved here: a cancelled waiter may never look
            for flight in flights.values():  # whoever joined asks again, and sees the error
                flight.answer.set_result(None)
            return
        finally:
            busy.difference_update(asked, extra)
            for name, flight in flights.items():
                if self._flights.get((group, name)) is flight:
                    del self._flights[(group, name)]
        now = self._clock()
        found: dict[str, _Answer] = {}
        for item in response.get(spec.result_key, []):
            for ident in spec.item_ids(item):
                found.setdefault(ident, _Answer(item=item))
        for failure in response.get(spec.failures_key, []) if spec.failures_key else []:
            for ident in _failure_ids(failure):
                found.setdefault(ident, _Answer(failure=failure))
        for name, future in pending.waiters.items():
            if not future.done():
                future.set_result(found.get(name, _Answer()))
        fresh = self._generation.get(scope, 0) == generation
        for name, flight in flights.items():
            answer = found.get(name, _Answer())
            if flight.joined:  # served once: to those who waited for it
                flight.answer.set_result(answer if fresh else None)
            else:
                flight.answer.set_result(None)
                if fresh:
                    self._cache[(group, name)] = (now, answer)

    async def close(self) -> None:
        """Cancel the calls still in flight (their waiters see CancelledError)."""
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
            for future in pending.waiters.values():
                future.cancel()
        self._pending.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def begin_pass(
        self, region: str, scope: str, names: Iterable[str], carried: Iterable[str] = ()
    ) -> None:
        """A pass (a resync, a new revision) is about to ask for these names, in this
        order, after the `carried` ones: polls of the pass before, still queued, that
        serve this pass too. Read ahead in that order, and keep what is read for the
        polls (see the module docstring)."""
        now = self._clock()
        key = (region, short(scope))
        before = self._passes.get(key)
        since = {} if before is None else before.since
        kept = {name: since.get(name, now) for name in map(short, carried)}
        fresh = dict.fromkeys(name for name in map(short, names) if name not in kept)
        due = dict.fromkeys([*kept, *fresh])
        self._passes[key] = _Pass(due, {**kept, **dict.fromkeys(fresh, now)})
        self.expect(region, scope, due)

    def expect(self, region: str, scope: str, names: Iterable[str]) -> None:
        """Names about to be asked for (a resync's keys, a ListServices answer)."""
        now = self._clock()
        wanted = self._wanted.setdefault((region, short(scope)), OrderedDict())
        for name in names:
            wanted.setdefault(short(name), now)

    def invalidate(self, region: str, scope: str | None, names: Iterable[str] | None) -> None:
        """A mutating call touched these names (all of the scope when None, all of the
        region when the scope is None): their answers, cached or in flight, are not used."""
        targets = [
            s
            for s in {*self._generation, *self._wanted}
            if s[0] == region and scope in (None, s[1])
        ]
        if scope is not None:
            targets.append((region, short(scope)))
        only = None if names is None else {short(n) for n in names}
        for target in set(targets):
            self._generation[target] = self._generation.get(target, 0) + 1
        for key in list(self._cache):
            (key_region, values), name = key
            if key_region != region or (
                scope is not None and short(str(values[0])) != short(scope)
            ):
                continue
            if only is None or name in only:
                del self._cache[key]
                self.stats.invalidated += 1


def ecs_touched(operation: str, params: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    """Which services a mutating ECS call may change: (cluster, names); (cluster, None) for
    the whole cluster; (None, None) for anything; ("", []) for nothing."""
    if operation in ("RegisterTaskDefinition", "DeregisterTaskDefinition", "DeleteTaskDefinitions"):
        return "", []
    cluster = params.get("cluster")
    service = params.get("service") or params.get("serviceName")
    if cluster and service:
        return short(str(cluster)), [short(str(service))]
    arn = str(params.get("resourceArn", ""))
    if arn:
        path = arn.split(":", 5)[-1].split("/")
        if path[0] == "service" and len(path) >= 3:
            return path[1], [path[-1]]
        if path[0] == "task-set" and len(path) >= 4:
            return path[1], [path[2]]
        if path[0] == "cluster" and len(path) >= 2:
            return path[1], None
        return "", [] if path[0] in ("task-definition", "task", "container-instance") else None
    if cluster:
        return short(str(cluster)), None
    return None, None


def autoscaling_touched(params: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    namespace, resource = params.get("ServiceNamespace"), params.get("ResourceId")
    if namespace and resource:
        return str(namespace), [str(resource)]
    return (str(namespace), None) if namespace else (None, None)
