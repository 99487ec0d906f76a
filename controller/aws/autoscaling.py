"""Application Auto Scaling for ECS services: scalable targets and their policies.

Exactly what the quickstart's `aws application-autoscaling register-scalable-target` and
`put-scaling-policy --policy-type TargetTrackingScaling` commands send, as typed calls.
"""

from __future__ import annotations

from typing import Any

from controller.aws.client import AwsClients
from controller.aws.models import ScalableTarget, ScalingPolicy

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"


def resource_id(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


class AutoScaling:
    def __init__(self, aws: AwsClients, region: str | None = None) -> None:
        self.aws = aws
        self.region = region or aws.settings.region

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.aws.call("application-autoscaling", operation, self.region, **params)

    async def describe_target(self, rid: str) -> ScalableTarget | None:
        resp = await self._call(
            "DescribeScalableTargets",
            ServiceNamespace=NAMESPACE,
            ResourceIds=[rid],
            ScalableDimension=DIMENSION,
        )
        targets = resp.get("ScalableTargets", [])
        return (
            ScalableTarget.model_validate(_lower(targets[0]), extra="ignore") if targets else None
        )

    async def register_target(self, rid: str, min_capacity: int, max_capacity: int) -> None:
        await self._call(
            "RegisterScalableTarget",
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            MinCapacity=min_capacity,
            MaxCapacity=max_capacity,
        )

    async def deregister_target(self, rid: str) -> None:
        await self._call(
            "DeregisterScalableTarget",
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
        )

    async def describe_policies(self, rid: str) -> list[ScalingPolicy]:
        resp = await self._call(
            "DescribeScalingPolicies",
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
        )
        return [
            ScalingPolicy.model_validate(_lower(raw), extra="ignore")
            for raw in resp.get("ScalingPolicies", [])
        ]

    async def put_policy(self, rid: str, name: str, kind: str, config: dict[str, Any]) -> None:
        """PutScalingPolicy for a TargetTrackingScaling or StepScaling policy."""
        key = (
            "StepScalingPolicyConfiguration"
            if kind == "StepScaling"
            else "TargetTrackingScalingPolicyConfiguration"
        )
        await self._call(
            "PutScalingPolicy",
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            PolicyName=name,
            PolicyType=kind,
            **{key: config},
        )

    async def delete_policy(self, rid: str, name: str) -> None:
        await self._call(
            "DeleteScalingPolicy",
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            PolicyName=name,
        )


def _lower(raw: dict[str, Any]) -> dict[str, Any]:
    """Application Auto Scaling speaks PascalCase; our models are camelCase."""
    return {k[:1].lower() + k[1:]: v for k, v in raw.items()}
