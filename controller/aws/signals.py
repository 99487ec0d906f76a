"""Health signals outside ECS: CloudWatch alarm states and load-balancer target health.

Both are read only while a rollout is active, in batches (DescribeAlarms takes up to
100 names; DescribeTargetHealth one target group), and returned as plain typed values.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.aws.client import AwsClients


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    reason: str


@dataclass(frozen=True)
class TargetState:
    target_id: str
    port: int | None
    state: str
    reason: str


class Signals:
    def __init__(self, aws: AwsClients, region: str | None = None) -> None:
        self.aws = aws
        self.region = region or aws.settings.region

    async def alarms(self, names: list[str]) -> list[AlarmState]:
        found: list[AlarmState] = []
        for i in range(0, len(names), 100):
            resp = await self.aws.call(
                "cloudwatch", "DescribeAlarms", self.region, AlarmNames=names[i : i + 100]
            )
            for alarm in resp.get("MetricAlarms", []) + resp.get("CompositeAlarms", []):
                found.append(
                    AlarmState(
                        str(alarm.get("AlarmName")),
                        str(alarm.get("StateValue")),
                        str(alarm.get("StateReason", "")),
                    )
                )
        return found

    async def target_health(self, target_group_arn: str) -> list[TargetState]:
        resp = await self.aws.call(
            "elbv2", "DescribeTargetHealth", self.region, TargetGroupArn=target_group_arn
        )
        out: list[TargetState] = []
        for item in resp.get("TargetHealthDescriptions", []):
            target = item.get("Target", {})
            health = item.get("TargetHealth", {})
            out.append(
                TargetState(
                    str(target.get("Id")),
                    target.get("Port"),
                    str(health.get("State", "unknown")),
                    # the code (Target.FailedHealthChecks) and ELB's words for it
                    " ".join(
                        part
                        for part in (
                            health.get("Reason"),
                            f"({health['Description']})" if health.get("Description") else None,
                        )
                        if part
                    ),
                )
            )
        return out
