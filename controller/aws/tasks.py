"""Standalone tasks (RunTask), as hooks use them: run, find again, describe, stop.

Design: a run is identified by its `startedBy` token, which the caller derives from
what it runs (not from anything in memory): after a crash between RunTask and the
caller's own bookkeeping, `find` lists the tasks by that token, RUNNING and STOPPED
alike, so the same run is never started twice. RunTask also carries a clientToken (the
same digest) so ECS itself drops a resent request. ECS keeps STOPPED tasks visible for
about an hour; callers record the outcome (in tags) long before that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from controller.api.common import Tags
from controller.api.ecs_shapes import (
    CapacityProviderStrategyItem,
    NetworkConfiguration,
    PlacementConstraint,
    PlacementStrategy,
    TaskOverride,
)
from controller.aws.ecs import Ecs, tag_list
from controller.aws.models import LiveTask


class RunTaskFailed(Exception):
    """RunTask started nothing; ECS said why (capacity, a bad subnet, ...)."""


class StandaloneTask(LiveTask):
    """A task as DescribeTasks shows it, with what a one-shot run needs besides."""

    group: str | None = None
    created_at: datetime | None = None
    stopping_at: datetime | None = None
    tags: Tags = Field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def stopped(self) -> bool:
        return self.last_status == "STOPPED"


class Tasks:
    """RunTask and friends in one region, through the same counted clients as Ecs."""

    def __init__(self, ecs: Ecs) -> None:
        self.ecs = ecs

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.ecs.aws.call("ecs", operation, self.ecs.region, **params)

    async def run(
        self,
        cluster: str,
        *,
        task_definition: str,
        started_by: str,
        count: int = 1,
        launch_type: str | None = None,
        capacity_provider_strategy: list[CapacityProviderStrategyItem] | None = None,
        platform_version: str | None = None,
        network_configuration: NetworkConfiguration | None = None,
        overrides: TaskOverride | None = None,
        group: str | None = None,
        placement_constraints: list[PlacementConstraint] | None = None,
        placement_strategy: list[PlacementStrategy] | None = None,
        enable_execute_command: bool = False,
        propagate_tags: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> list[StandaloneTask]:
        """RunTask once (never resent by the SDK); RunTaskFailed when nothing started."""
        params: dict[str, Any] = {
            "cluster": cluster,
            "taskDefinition": task_definition,
            "count": count,
            "startedBy": started_by,
            "clientToken": started_by[-64:],
            "enableExecuteCommand": enable_execute_command,
        }
        if launch_type:
            params["launchType"] = launch_type
        if capacity_provider_strategy:
            params["capacityProviderStrategy"] = [i.to_api() for i in capacity_provider_strategy]
        if platform_version:
            params["platformVersion"] = platform_version
        if network_configuration is not None:
            params["networkConfiguration"] = network_configuration.to_api()
        if overrides is not None:
            params["overrides"] = overrides.to_api()
        if group:
            params["group"] = group
        if placement_constraints:
            params["placementConstraints"] = [p.to_api() for p in placement_constraints]
        if placement_strategy:
            params["placementStrategy"] = [p.to_api() for p in placement_strategy]
        if propagate_tags:
            params["propagateTags"] = propagate_tags
        if tags:
            params["tags"] = tag_list(tags)
        resp = await self._call("RunTask", **params)
        started = [StandaloneTask.parse(raw) for raw in resp.get("tasks", [])]
        if not started:
            failures = resp.get("failures", [])
            reasons = "; ".join(
                f"{f.get('reason', 'failed')}" + (f" ({f['detail']})" if f.get("detail") else "")
                for f in failures
            )
            raise RunTaskFailed(reasons or "RunTask started no task")
        return started

    async def find(self, cluster: str, started_by: str) -> list[StandaloneTask]:
        """Every task started with this token that ECS still shows, running or stopped."""
        arns: list[str] = []
        for status in ("RUNNING", "STOPPED"):
            for arn in await self.ecs.list_task_arns(
                cluster, started_by=started_by, desired_status=status
            ):
                if arn not in arns:
                    arns.append(arn)
        return await self.describe(cluster, arns) if arns else []

    async def describe(self, cluster: str, arns: list[str]) -> list[StandaloneTask]:
        tasks: list[StandaloneTask] = []
        for i in range(0, len(arns), 100):
            resp = await self._call(
                "DescribeTasks", cluster=cluster, tasks=arns[i : i + 100], include=["TAGS"]
            )
            tasks += [StandaloneTask.parse(raw) for raw in resp.get("tasks", [])]
        return sorted(tasks, key=lambda t: (t.created_at is None, t.created_at, t.task_arn))

    async def stop(self, cluster: str, arn: str, reason: str) -> None:
        await self._call("StopTask", cluster=cluster, task=arn, reason=reason[:255])


def console_url(region: str, cluster: str, task_arn: str) -> str:
    """The task's page in the ECS console."""
    task_id = task_arn.rsplit("/", 1)[-1]
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/tasks/"
        f"{task_id}/configuration?region={region}"
    )
