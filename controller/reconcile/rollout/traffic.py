"""Traffic between two target groups: the production and test listener rules of a service.

Design: a load balancer entry of an EcsService with ECS's
`advancedConfiguration: {alternateTargetGroupArn, productionListenerRule, testListenerRule}`
is a *route*: two target groups (targetGroupArn and the alternate) behind one production
listener or listener rule. Strategies that shift traffic (blueGreen, canary) create the
new task set on the group of the pair the PRIMARY set does not use (the first set:
targetGroupArn) and move traffic by the weights of the production forward action;
rolling puts the new set on the PRIMARY set's group, so its weights never move.
Task sets are created without advancedConfiguration: under the EXTERNAL controller the
listeners are ours to drive, not ECS's.

The weights are derived, never remembered: on every reconcile the rollout steps name the live
sets (PRIMARY and new) and the share the strategy gives the new set now, and `sync` reads
the production and test actions (one DescribeRules and/or one DescribeListeners for all
routes) and writes only those that differ (ModifyRule / ModifyListener):
  production  the PRIMARY set's group at 100 - w and the new set's at w; with no new set
              (steady state, bake, rollback) the PRIMARY's group at 100; with no PRIMARY
              yet (the first rollout) the new set's group at 100
  test        the new set's group while a rollout is active, else the PRIMARY's
Traffic moves toward a new set only while it is healthy (`may_raise`), away from it at
any time. A spec without a route costs no call at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.api.ecs_shapes import LoadBalancer
from controller.api.service import EcsServiceSpec
from controller.aws.elbv2 import Elbv2, is_rule
from controller.aws.models import LiveTaskSet
from controller.reconcile.rollout.base import RolloutInput


@dataclass(frozen=True)
class Route:
    """One load balancer entry with two target groups and the listener rules between them."""

    container_name: str | None
    container_port: int | None
    groups: tuple[str, str]
    """(targetGroupArn, alternateTargetGroupArn) as the spec names them."""
    production: str
    test: str | None


@dataclass(frozen=True)
class _Want:
    arn: str
    role: str
    weights: dict[str, int]
    new_group: str | None
    """The new set's group on a production action: its share only grows while healthy."""


def route_of(lb: LoadBalancer) -> Route | None:
    adv = lb.advanced_configuration
    if adv is None or not adv.alternate_target_group_arn or not adv.production_listener_rule:
        return None
    if not lb.target_group_arn or lb.target_group_arn == adv.alternate_target_group_arn:
        return None
    return Route(
        lb.container_name,
        lb.container_port,
        (lb.target_group_arn, adv.alternate_target_group_arn),
        adv.production_listener_rule,
        adv.test_listener_rule,
    )


def routes(spec: EcsServiceSpec) -> list[Route]:
    return [route for lb in spec.load_balancers if (route := route_of(lb)) is not None]


def weighted(spec: EcsServiceSpec) -> bool:
    """True when the spec has two target groups: traffic moves by weights, not by scale."""
    return bool(routes(spec))


def group_of(task_set: LiveTaskSet | None, route: Route) -> str | None:
    """The target group a live task set uses on this route (one of the pair if it can)."""
    if task_set is None:
        return None
    groups = [
        lb.target_group_arn
        for lb in task_set.load_balancers
        if lb.target_group_arn
        and lb.container_name == route.container_name
        and lb.container_port == route.container_port
    ]
    return next((g for g in groups if g in route.groups), groups[0] if groups else None)


def task_set_load_balancers(
    spec: EcsServiceSpec, primary: LiveTaskSet | None, *, alternate: bool
) -> list[LoadBalancer]:
    """The loadBalancers of a new task set: on each route, the group of the pair the
    PRIMARY set does not use (alternate) or the one it uses (not alternate)."""
    out: list[LoadBalancer] = []
    for lb in spec.load_balancers:
        route = route_of(lb)
        group = lb.target_group_arn
        if route is not None:
            used = group_of(primary, route)
            first, second = route.groups
            if alternate:
                group = second if used == first else first
            else:
                group = used if used in route.groups else first
        out.append(
            lb.model_copy(update={"target_group_arn": group, "advanced_configuration": None})
        )
    return out


def _split(old: str, new: str, weight: float) -> dict[str, int]:
    w = max(0, min(100, round(weight)))
    if old == new or w == 0:
        return {old: 100}
    if w == 100:
        return {new: 100}
    return {old: 100 - w, new: w}


def _wants(
    route: Route, primary: LiveTaskSet | None, new: LiveTaskSet | None, weight: float | None
) -> list[_Want]:
    old_group, new_group = group_of(primary, route), group_of(new, route)
    if old_group is None:
        if new_group is None:
            return []  # no task set yet: nothing to send traffic to
        production, test, guard = {new_group: 100}, new_group, None
    elif new_group is None or new is None or primary is None:
        production, test, guard = {old_group: 100}, old_group, None
    else:
        if weight is None:  # traffic follows capacity
            total = primary.scale_percent + new.scale_percent
            weight = 100.0 * new.scale_percent / total if total > 0 else 0.0
        production, test, guard = _split(old_group, new_group, weight), new_group, new_group
    wants = [_Want(route.production, "production", production, guard)]
    if route.test:
        wants.append(_Want(route.test, "test", {test: 100}, None))
    return wants


def _same(shares: dict[str, float], weights: dict[str, int]) -> bool:
    want = {tg: float(w) for tg, w in weights.items() if w > 0}
    return shares.keys() == want.keys() and all(abs(shares[k] - want[k]) < 0.5 for k in want)


def _name(target_group_arn: str) -> str:
    """targetgroup/web-green/0b0b... -> web-green."""
    parts = target_group_arn.split(":")[-1].split("/")
    return parts[1] if len(parts) > 1 else target_group_arn


def _describe(want: _Want) -> str:
    kind = "rule" if is_rule(want.arn) else "listener"
    split = ", ".join(f"{w}% to {_name(tg)}" for tg, w in sorted(want.weights.items()))
    return f"{want.role} {kind}: {split}"


async def sync(
    r: RolloutInput,
    primary: LiveTaskSet | None,
    new: LiveTaskSet | None,
    weight: float | None = 0.0,
    *,
    may_raise: bool = True,
) -> list[str]:
    """Make the production and test actions forward as the live sets say; returns what
    changed (in dry-run, what would). weight: the new set's share of production traffic
    (percent), None for its share of the capacity."""
    wants = [w for route in routes(r.service.spec) for w in _wants(route, primary, new, weight)]
    if not wants:
        return []
    elb = Elbv2(r.ctx.aws, r.ecs.region)
    live = await elb.describe_forwards([w.arn for w in wants])
    changes: list[str] = []
    for want in wants:
        have = live.get(want.arn)
        shares = have.shares() if have is not None else {}
        if _same(shares, want.weights):
            continue
        group = want.new_group
        if group and not may_raise and want.weights.get(group, 0) > shares.get(group, 0.0) + 0.5:
            continue  # not healthy: the new set gets no more traffic than it has
        if not r.ctx.dry_run:
            await elb.set_forward(want.arn, want.weights)
        changes.append(_describe(want))
    return changes
