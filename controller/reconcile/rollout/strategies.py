"""The three strategies: how the new and old task sets are scaled on the way to PRIMARY.

blueGreen: the new set at 100% beside the old; PRIMARY once healthy; the old set is kept
  for bakeSeconds (ready for an instant rollback), then removed.
rolling:   ECS's minimumHealthyPercent / maximumPercent over two task sets: the new set
  is created at the room maximumPercent leaves and grows into it, the old one shrinks
  only as far as healthy new tasks keep the total at or above minimumHealthyPercent,
  until the new set has them all (PRIMARY then; the old set's delete drains it).
canary:    steps of {weight, pauseSeconds}: the new set's scale follows the weight and the
  old set's the rest; each step waits for health, then its pause, or for
  `ecs-gitops promote` when it has none; after the last step the new set goes to 100%
  and, once healthy, PRIMARY (the old set is not scaled down first: its delete drains it).
No scale is sent that changes nothing, or that the next call makes moot: every
UpdateTaskSet spends the account's service-change budget (5/s, shared).
With two target groups (traffic.py), blueGreen and canary put the new set on the other
group of the pair and keep both sets at 100%: the listener weights, which the driver
sets from `traffic_weight`, do what the scale does with one group (blueGreen: none
before promotion; canary: the step's weight). Rolling ignores the alternate group.
"""

from __future__ import annotations

import math

from controller.api.service import CanaryStep
from controller.api.status import RolloutStatus
from controller.aws.models import LiveTaskSet
from controller.reconcile.rollout import claim, traffic
from controller.reconcile.rollout.base import RolloutInput, Step, Strategy
from controller.reconcile.rollout.health import Verdict, expected_count
from controller.reconcile.rollout.state import RolloutState, promoted


def _status(
    r: RolloutInput,
    name: str,
    phase: str,
    primary: LiveTaskSet | None,
    new: LiveTaskSet,
    state: RolloutState,
    step: int | None = None,
) -> RolloutStatus:
    return RolloutStatus(
        strategy=name,
        phase=phase,
        step=step,
        primary_task_set=primary.id if primary else None,
        new_task_set=new.id,
        started_at=state.started,
        step_started_at=state.step_started,
    )


async def _scale(r: RolloutInput, task_set: LiveTaskSet, percent: float) -> bool:
    if abs(task_set.scale_percent - percent) < 1e-6:
        return False
    await r.ecs.update_task_set_scale(r.cluster, r.name, task_set.task_set_arn, percent)
    return True


def _waiting(verdict: Verdict) -> str:
    c = verdict.counts
    if c is None:
        return "waiting for the new task set"
    return f"waiting for the new task set: {c.running}/{c.desired} running, {c.pending} pending"


class BlueGreen:
    name = "blueGreen"
    alternates = True

    def initial_scale(self, r: RolloutInput) -> float:
        return 100.0

    def traffic_weight(self, r: RolloutInput, state: RolloutState) -> float | None:
        return 0.0

    def bake_seconds(self, r: RolloutInput) -> float:
        return float(r.service.spec.deployment.blue_green.bake_seconds)

    async def advance(
        self,
        r: RolloutInput,
        primary: LiveTaskSet | None,
        new: LiveTaskSet,
        state: RolloutState,
        verdict: Verdict,
    ) -> Step | None:
        if verdict.healthy:
            return None
        status = _status(r, self.name, "Progressing", primary, new, state)
        return Step(
            status,
            message=_waiting(verdict),
            counts=verdict.counts,
            stopped_reasons=verdict.stopped_reasons,
        )


class Rolling:
    name = "rolling"
    alternates = False

    def initial_scale(self, r: RolloutInput) -> float:
        """The room maximumPercent leaves beside the PRIMARY set: what the first step
        would grow the new set to, sent with the create instead of after it."""
        n, primary = r.live.desired_count, r.live.primary_task_set
        if n == 0 or primary is None:
            return 100.0
        _, maximum = self._bounds(r, n)
        room = maximum - expected_count(n, primary.scale_percent)
        return 100.0 * min(n, max(0, room)) / n

    @staticmethod
    def _bounds(r: RolloutInput, n: int) -> tuple[int, int]:
        """(minimum healthy, maximum) task counts of n."""
        rolling = r.service.spec.deployment.rolling
        minimum = math.ceil(n * rolling.minimum_healthy_percent / 100)
        return minimum, max(n * rolling.maximum_percent // 100, minimum + 1)

    def traffic_weight(self, r: RolloutInput, state: RolloutState) -> float | None:
        return None

    def bake_seconds(self, r: RolloutInput) -> float:
        return 0.0

    async def advance(
        self,
        r: RolloutInput,
        primary: LiveTaskSet | None,
        new: LiveTaskSet,
        state: RolloutState,
        verdict: Verdict,
    ) -> Step | None:
        status = _status(r, self.name, "Progressing", primary, new, state)
        if not verdict.healthy:
            return Step(
                status,
                message=_waiting(verdict),
                counts=verdict.counts,
                stopped_reasons=verdict.stopped_reasons,
            )
        n = r.live.desired_count
        if n == 0 or primary is None:
            changed = await _scale(r, new, 100.0)
            return Step(status, requeue_after=1.0, changed=True) if changed else None
        minimum, maximum = self._bounds(r, n)
        old_n = expected_count(n, primary.scale_percent)
        new_n = expected_count(n, new.scale_percent)
        if new_n >= n:  # all new tasks healthy: PRIMARY; the old set goes by its delete
            return None
        room = maximum - old_n - new_n
        if new_n < n and room > 0:
            target = min(n, new_n + room)
            await _scale(r, new, 100.0 * target / n)
            status.phase = "ScalingUp"
            return Step(
                status,
                message=f"new task set to {target}/{n} tasks",
                requeue_after=1.0,
                changed=True,
                counts=verdict.counts,
            )
        floor = max(0, minimum - new_n)
        await _scale(r, primary, 100.0 * floor / n)
        status.phase = "ScalingDown"
        return Step(
            status,
            message=f"old task set to {floor}/{n} tasks (minimum healthy {minimum})",
            requeue_after=1.0,
            changed=True,
            counts=verdict.counts,
        )


class Canary:
    name = "canary"
    alternates = True

    def initial_scale(self, r: RolloutInput) -> float:
        if r.live.primary_task_set is None or traffic.weighted(r.service.spec):
            return 100.0
        return float(self._steps(r)[0].weight)

    def traffic_weight(self, r: RolloutInput, state: RolloutState) -> float | None:
        steps = self._steps(r)
        return float(steps[state.step].weight) if state.step < len(steps) else 100.0

    def bake_seconds(self, r: RolloutInput) -> float:
        return 0.0

    @staticmethod
    def _steps(r: RolloutInput) -> list[CanaryStep]:
        canary = r.service.spec.deployment.canary
        return list(canary.steps) if canary else [CanaryStep(weight=100)]

    async def advance(
        self,
        r: RolloutInput,
        primary: LiveTaskSet | None,
        new: LiveTaskSet,
        state: RolloutState,
        verdict: Verdict,
    ) -> Step | None:
        steps = self._steps(r)
        index = state.step
        weight = float(steps[index].weight) if index < len(steps) else 100.0
        label = f"{min(index + 1, len(steps))}/{len(steps)}" if index < len(steps) else "final"
        status = _status(r, self.name, "Progressing", primary, new, state, step=index + 1)
        if primary is None:
            weight = 100.0
        by_weights = traffic.weighted(r.service.spec)  # both sets at 100%: listener weights
        grew = await _scale(r, new, 100.0 if by_weights else weight)
        # after the last step the old set keeps its tasks until PRIMARY moves and its
        # delete drains it: a scale to 0 first would be one more change for nothing
        final = index >= len(steps)
        shrank = (
            primary is not None
            and not final
            and await _scale(r, primary, 100.0 if by_weights else 100.0 - weight)
        )
        if grew or shrank:
            status.phase = "Shifting"
            return Step(
                status,
                message=f"step {label}: {weight:g}% to the new task set",
                requeue_after=1.0,
                changed=True,
                counts=verdict.counts,
            )
        if not verdict.healthy:
            return Step(
                status,
                message=f"step {label} ({weight:g}%): {_waiting(verdict)}",
                counts=verdict.counts,
                stopped_reasons=verdict.stopped_reasons,
            )
        if index >= len(steps) or primary is None:
            return None
        pause = steps[index].pause_seconds
        now = r.ctx.clock()
        if pause is None:
            if not promoted(r.live.tags, r.want.external_id, index):
                status.phase = "Paused"
                return Step(
                    status,
                    message=f"step {label} ({weight:g}%) waits for `ecs-gitops promote {r.name}`",
                    requeue_after=5.0,
                    counts=verdict.counts,
                )
        else:
            remaining = pause - (now - state.step_started).total_seconds()
            if remaining > 0:
                status.phase = "Paused"
                return Step(
                    status,
                    message=f"step {label} ({weight:g}%): pausing {math.ceil(remaining)} s more",
                    requeue_after=min(remaining, 5.0),
                    counts=verdict.counts,
                )
        if not r.ctx.dry_run:
            await claim.write(r, state.at_step(index + 1, now))
        status.phase = "Advancing"
        return Step(status, message=f"step {label} done", requeue_after=0, changed=True)


STRATEGIES: dict[str, Strategy] = {
    "blueGreen": BlueGreen(),
    "rolling": Rolling(),
    "canary": Canary(),
}
