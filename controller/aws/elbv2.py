"""ELBv2 forward actions as typed values: where a listener or a listener rule sends traffic.

Design: the rollout layer shifts traffic between two target groups by the weights of one
forward action, on a listener (its default actions, ModifyListener) or on a listener rule
(ModifyRule); an ARN with `:listener/` is a listener, `:listener-rule/` a rule. It reads
them as `Forward` values ({target group ARN: weight}) and writes new weights; nothing else.

ModifyRule and ModifyListener replace the whole action list, so the actions last read are
kept here (per ARN, never returned) and written back around the new forward action:
authenticate-* actions stay in front of it, the forward action keeps its Order and its
stickiness settings, and a terminal action that was not a forward (fixed-response,
redirect) is the one replaced. A write therefore always follows a read of the same ARN;
`set_forward` reads first when this object has not seen the ARN.

A share given wholly to one target group is written as a plain forward (TargetGroupArn),
which Network Load Balancers accept too; a split is a ForwardConfig with weights.
Reads are batched: one DescribeRules for all the rules, one DescribeListeners for all the
listeners of a call.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from controller.aws.client import AwsClients

LISTENER_MARK = ":listener/"
RULE_MARK = ":listener-rule/"
PRE_FORWARD_ACTIONS = ("authenticate-oidc", "authenticate-cognito")
"""Actions that run before the terminal action and are kept in front of the forward."""


def is_listener(arn: str) -> bool:
    return LISTENER_MARK in arn


def is_rule(arn: str) -> bool:
    return RULE_MARK in arn


@dataclass(frozen=True)
class Forward:
    """Where a listener's default action, or a rule, forwards: {target group ARN: weight}.

    Weights are ELB's relative weights (0-999); an action list without a forward action
    (a fixed response, a redirect) reads as no weights at all.
    """

    arn: str
    weights: dict[str, int] = field(default_factory=dict)

    def shares(self) -> dict[str, float]:
        """Percent of the traffic per target group, groups at weight 0 left out."""
        total = sum(w for w in self.weights.values() if w > 0)
        if total <= 0:
            return {}
        return {tg: 100.0 * w / total for tg, w in sorted(self.weights.items()) if w > 0}


def _forward_weights(actions: list[dict[str, Any]]) -> dict[str, int]:
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
        if action.get("TargetGroupArn"):
            return {str(action["TargetGroupArn"]): 1}
    return {}


def _with_forward(actions: list[dict[str, Any]], weights: dict[str, int]) -> list[dict[str, Any]]:
    """actions with their terminal action replaced by a forward at these weights."""
    old = next((a for a in actions if a.get("Type") == "forward"), None)
    terminal = old or next((a for a in actions if a.get("Type") not in PRE_FORWARD_ACTIONS), None)
    forward: dict[str, Any] = {"Type": "forward"}
    if terminal is not None and "Order" in terminal:
        forward["Order"] = terminal["Order"]
    live = {tg: w for tg, w in weights.items() if w > 0}
    stickiness = ((old or {}).get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
    if len(live) == 1 and not (stickiness or {}).get("Enabled"):
        forward["TargetGroupArn"] = next(iter(live))
    else:
        config: dict[str, Any] = {
            "TargetGroups": [
                {"TargetGroupArn": tg, "Weight": w} for tg, w in sorted(weights.items())
            ]
        }
        if stickiness:
            config["TargetGroupStickinessConfig"] = stickiness
        forward["ForwardConfig"] = config
    kept = [copy.deepcopy(a) for a in actions if a.get("Type") in PRE_FORWARD_ACTIONS]
    return [*kept, forward]


class Elbv2:
    """Forward actions of listeners and listener rules in one region."""

    def __init__(self, aws: AwsClients, region: str | None = None) -> None:
        self.aws = aws
        self.region = region or aws.settings.region
        self._actions: dict[str, list[dict[str, Any]]] = {}

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.aws.call("elbv2", operation, self.region, **params)

    async def describe_forwards(self, arns: list[str]) -> dict[str, Forward]:
        """The forward weights of each listener or rule ARN (one read per kind)."""
        wanted = sorted(set(arns))
        rules = [a for a in wanted if is_rule(a)]
        listeners = [a for a in wanted if not is_rule(a)]
        if rules:
            resp = await self._call("DescribeRules", RuleArns=rules)
            for raw in resp.get("Rules", []):
                self._actions[str(raw["RuleArn"])] = list(raw.get("Actions") or [])
        if listeners:
            resp = await self._call("DescribeListeners", ListenerArns=listeners)
            for raw in resp.get("Listeners", []):
                self._actions[str(raw["ListenerArn"])] = list(raw.get("DefaultActions") or [])
        return {
            arn: Forward(arn, _forward_weights(self._actions[arn]))
            for arn in wanted
            if arn in self._actions
        }

    async def set_forward(self, arn: str, weights: dict[str, int]) -> None:
        """Forward arn's traffic at these weights, keeping its other actions."""
        if arn not in self._actions:
            await self.describe_forwards([arn])
        actions = _with_forward(self._actions.get(arn, []), weights)
        if is_rule(arn):
            await self._call("ModifyRule", RuleArn=arn, Actions=actions)
        else:
            await self._call("ModifyListener", ListenerArn=arn, DefaultActions=actions)
        self._actions[arn] = actions
