"""A writer's claim on a service's rollout, as ECS shows it (the rule: runtime/writer.py).

Every write of the rollout state goes through `write`, which stamps it with this process
and the time. `held_elsewhere` is the check reconcile_service makes before it touches a
service: another live writer's stamp leaves the service alone. `renew` rewrites the state
as it is when the stamp is due (a third of the lease gone, or a lapsed or missing stamp
taken over), so a rollout that waits keeps its claim. `release` clears this process's
stamps when it stops gracefully, so the controller that replaces it (a rolling update of
the controller itself) goes on at once instead of a lease later.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from controller.reconcile.context import Context
from controller.reconcile.rollout.base import RolloutInput
from controller.reconcile.rollout.state import ROLLOUT_TAG, RolloutState
from controller.runtime.writer import Stamp

log = structlog.get_logger(__name__)


def held_elsewhere(tags: dict[str, str], ctx: Context) -> tuple[Stamp, float] | None:
    """(the stamp, seconds its claim has left) when another live writer holds the rollout."""
    state = RolloutState.decode(tags.get(ROLLOUT_TAG))
    stamp = state.stamp if state is not None else None
    left = ctx.writer.claim_left(stamp, ctx.clock())
    return (stamp, left) if stamp is not None and left is not None else None


def conflict_message(stamp: Stamp, left: float, now: datetime) -> str:
    who = f"{stamp.writer} (instance {stamp.instance})" if stamp.instance else stamp.writer
    age = max(0.0, (now - stamp.written).total_seconds())
    return (
        f"another controller, {who}, wrote this service's rollout step {age:.0f} s ago: "
        f"left alone while it is live (its claim lapses in {left:.0f} s without a new write)"
    )


async def write(r: RolloutInput, state: RolloutState, extra: dict[str, str] | None = None) -> None:
    """Tag the service with state, stamped by this process now, and any extra tags."""
    stamp = r.ctx.writer.stamp(r.ctx.clock(), r.ctx.instance)
    value = state.stamped(stamp).encode()
    await r.ecs.tag(r.live.service_arn, {ROLLOUT_TAG: value, **(extra or {})})
    r.ctx.claims[r.live.service_arn] = (r.ecs.region, r.cluster, r.name)


async def renew(r: RolloutInput) -> None:
    """Rewrite the live rollout state with our stamp when it is due (dry-run: never)."""
    state = RolloutState.decode(r.live.tags.get(ROLLOUT_TAG))
    if state is None or r.ctx.dry_run:
        return
    now = r.ctx.clock()
    if not r.ctx.writer.renewal_due(state.stamp, now):
        return
    previous = state.stamp
    if previous is not None and previous.writer != r.ctx.writer.identity:
        log.warning(
            "writer_takeover",
            previous_writer=previous.writer,
            previous_instance=previous.instance or None,
            idle_seconds=round((now - previous.written).total_seconds()),
            writer=r.ctx.writer.identity,
        )
    await write(r, state)


async def release(ctx: Context) -> int:
    """Clear this process's stamps on the rollouts it wrote; how many it released. A
    service whose stamp is no longer ours (finished, or taken over) is left as it is."""
    places: dict[tuple[str, str], list[str]] = {}
    for region, cluster, name in ctx.claims.values():
        places.setdefault((region, cluster), []).append(name)
    released = 0
    for (region, cluster), names in sorted(places.items()):
        ecs = ctx.ecs(region)
        for live in (await ecs.describe_services(cluster, names)).values():
            state = RolloutState.decode(live.tags.get(ROLLOUT_TAG))
            if state is None or state.stamp is None:
                continue
            if state.stamp.writer != ctx.writer.identity:
                continue
            await ecs.tag(live.service_arn, {ROLLOUT_TAG: state.stamped(None).encode()})
            released += 1
    ctx.claims.clear()
    if released:
        log.info("writer_claims_released", services=released, writer=ctx.writer.identity)
    return released
