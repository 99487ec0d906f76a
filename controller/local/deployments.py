"""ECS's own deployment controller, emulated: deployments[], rollouts, the circuit breaker.

Design: a service on the ECS controller keeps its `deployments` list on moto's `Service` (as
DescribeServices shows it) and, beside it, the service revisions and service deployments
that List/DescribeServiceDeployments show (deployment_records.py). `start` opens a deployment (new PRIMARY IN_PROGRESS,
the others ACTIVE); every driver tick calls `plan` (how many tasks each deployment should
run) and, once the scheduler has scaled them, `observe` (counts, circuit breaker, alarms,
lifecycle stages, completion, rollback). What ECS documents, and this follows:
- ROLLING replaces tasks within minimumHealthyPercent / maximumPercent of desiredCount
  (defaults 100 / 200): old deployments keep only the healthy tasks the minimum needs, the
  new one starts what the maximum leaves room for.
- BLUE_GREEN, LINEAR and CANARY scale the new revision to the full count first, then shift
  production traffic (all at once; stepPercent per stepBakeTimeInMinutes; canaryPercent for
  canaryBakeTimeInMinutes, then the rest), bake for bakeTimeInMinutes with the old revision
  still running, and clean it up. A lifecycle hook of targetType PAUSE holds the deployment
  at its stages (lifecycleHookDetails: AWAITING_ACTION) until ContinueServiceDeployment
  names its hookId (CONTINUE goes on, ROLLBACK rolls back); AWS_LAMBDA hooks are recorded,
  never invoked (there is no Lambda here), and pass. A minute
  lasts task_start_delay x minute_factor here, so tests bake in a fraction of a second.
- The circuit breaker counts tasks of the new deployment that fail (never start, crash, fail
  health checks) until one is healthy; it trips at thresholdConfiguration (default
  BOUNDED_PERCENT 50: ceil(0.5 x desiredCount) bounded to 3..200). Then rolloutState is
  FAILED ("ECS deployment circuit breaker: task failed to start.") and, with rollback, a
  new PRIMARY deployment runs the last COMPLETED revision ("ECS deployment circuit breaker:
  rolling back to deploymentId <id>."). A CloudWatch alarm of deploymentConfiguration.alarms
  in ALARM does the same. Without rollback the failed deployment stops launching tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow
from moto.ecs.models import Service, Task
from moto.moto_api._internal import mock_random

from controller.local.config import EmulatorConfig
from controller.local.deployment_records import (
    CANARY,
    DEPLOYMENT_ONLY,
    FINISHED,
    LINEAR,
    ROLLING,
    History,
    Record,
    Revision,
    arn,
    configuration,
    digits,
    history,
    revision_fields,
    set_field,
    token,
)
from controller.local.tasks import TaskBook, settled_running, wanted

STAGES = (
    "SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
BREAKER_REASON = "ECS deployment circuit breaker: task failed to start."
ROLLBACK_REASON = "ECS deployment circuit breaker: rolling back to deploymentId {id}."
ALARM_REASON = "ECS deployment alarms: {alarms} in ALARM state."
Event = Callable[[Service, str], None]


def threshold(configuration: dict[str, Any], desired: int) -> int:
    """ECS's failed-task threshold (thresholdConfiguration, default BOUNDED_PERCENT 50)."""
    breaker = configuration.get("deploymentCircuitBreaker") or {}
    rule = breaker.get("thresholdConfiguration") or {}
    kind, value = rule.get("type", "BOUNDED_PERCENT"), int(rule.get("value", 50))
    if kind == "COUNT":
        return max(1, value)
    computed = math.ceil(desired * value / 100.0 - 1e-9)
    if kind == "UNBOUNDED_PERCENT":
        return max(1, computed)
    return min(200, max(3, computed))


def start(service: Service) -> dict[str, Any]:
    """A new deployment of the service's current fields: PRIMARY, IN_PROGRESS."""
    book = history(service)
    current = book.current()
    if current is not None and current.status not in FINISHED:
        current.set("STOPPED", "A new service deployment superseded this one.")
    sources = [
        book.revisions[d["id"]].arn for d in service.deployments if d["id"] in book.revisions
    ]
    revision = Revision(
        arn=arn(service, "service-revision", digits(19)), fields=revision_fields(service)
    )
    deployment = _deployment(service, revision.fields)
    for old in service.deployments:
        old["status"] = "ACTIVE"
    service.deployments.insert(0, deployment)
    book.revisions[deployment["id"]] = revision
    settings = configuration(service)
    record = Record(
        arn=arn(service, "service-deployment", token(22)),
        deployment_id=deployment["id"],
        target=revision.arn,
        sources=sources,
        configuration=settings,
        threshold=threshold(settings, service.desired_count),
        breaker="MONITORING" if _breaker(settings).get("enable") else "DISABLED",
        stage="SCALE_UP",
    )
    book.records.append(record)
    service.current_service_deployment = record.arn  # type: ignore[attr-defined]
    return deployment


class EcsDeployments:
    """The per-tick half: how many tasks each deployment runs, and what follows from them."""

    def __init__(self, config: EmulatorConfig, book: TaskBook, event: Event) -> None:
        self.config = config
        self.book = book
        self.event = event

    def plan(
        self, service: Service, owned: dict[str, list[Task]]
    ) -> list[tuple[dict[str, Any], int]]:
        deployments: list[dict[str, Any]] = service.deployments
        if not deployments:
            return []
        desired = service.desired_count if service.status == "ACTIVE" else 0
        record = history(service).current()
        primary, olds = deployments[0], deployments[1:]
        alive = {d["id"]: len(wanted(owned[d["id"]])) for d in deployments}
        settled = {d["id"]: self._settled(owned[d["id"]]) for d in deployments}
        targets: dict[str, int] = {}
        if primary.get("rolloutState") == "FAILED":  # no rollback: stop launching, keep the rest
            targets = {d["id"]: min(alive[d["id"]], desired) for d in deployments}
        elif record is not None and record.status == "IN_PROGRESS" and record.strategy != ROLLING:
            cleaning = record.stage == "CLEAN_UP"
            blue = next((d for d in olds if d.get("rolloutState") != "FAILED"), None)
            targets[primary["id"]] = desired
            for old in olds:
                targets[old["id"]] = desired if old is blue and not cleaning else 0
        else:
            settings = configuration(service)
            minimum = math.ceil(desired * int(settings["minimumHealthyPercent"]) / 100 - 1e-9)
            maximum = math.floor(desired * int(settings["maximumPercent"]) / 100 + 1e-9)
            keep = max(0, minimum - settled[primary["id"]])
            kept = 0
            for old in olds:
                share = (
                    0 if old.get("rolloutState") == "FAILED" else min(alive[old["id"]], keep - kept)
                )
                targets[old["id"]] = share
                kept += share
            targets[primary["id"]] = min(desired, max(0, maximum - kept))
        return [(d, targets[d["id"]]) for d in deployments]

    def observe(
        self,
        service: Service,
        owned: dict[str, list[Task]],
        counts: dict[str, tuple[int, int, int, bool]],
        now: float,
    ) -> bool:
        """After scaling: counts are (target, running, pending, settled) per deployment id.
        Removes drained old deployments; returns whether the service reached a steady state."""
        deployments: list[dict[str, Any]] = service.deployments
        for deployment in deployments:
            target, running, pending, _ = counts.get(deployment["id"], (0, 0, 0, True))
            deployment.update(desiredCount=target, runningCount=running, pendingCount=pending)
            deployment["updatedAt"] = utcnow()
        for old in list(deployments[1:]):
            if old["desiredCount"] == 0 and all(
                t.last_status == "STOPPED" for t in owned[old["id"]]
            ):
                deployments.remove(old)
        if not deployments:
            return False
        book = history(service)
        record = book.current()
        primary = deployments[0]
        if record is not None and record.status in (
            "IN_PROGRESS",
            "ROLLBACK_REQUESTED",
            "STOP_REQUESTED",
        ):
            self._watch(service, record, primary, owned, now)
        _, running, pending, settled = counts.get(primary["id"], (0, 0, 0, True))
        shifting = (
            record is not None and record.status == "IN_PROGRESS" and record.strategy != ROLLING
        )
        done = (
            len(deployments) == 1
            and primary.get("rolloutState") != "FAILED"
            and running == service.desired_count
            and pending == 0
            and settled
            and not (shifting and record is not None and record.stage != "CLEAN_UP")
        )
        if done and primary.get("rolloutState") != "COMPLETED":
            self._complete(service, book, record, primary)
        self._current_revisions(service, book)
        return done

    def _watch(
        self,
        service: Service,
        record: Record,
        primary: dict[str, Any],
        owned: dict[str, list[Task]],
        now: float,
    ) -> None:
        if record.requested is not None:
            requested, record.requested = record.requested, None
            if requested == "ROLLBACK":
                self._roll_back(
                    service, record, "Service deployment rolled back by StopServiceDeployment."
                )
            else:
                self._fail(service, record, "Service deployment stopped by StopServiceDeployment.")
            return
        if record.rollback_to is not None or primary["id"] != record.deployment_id:
            return
        if not record.healthy_seen:
            tasks = owned[primary["id"]]
            record.healthy_seen = self._settled(tasks) > 0
            for task in tasks:
                timeline = self.book.get(task)
                if timeline is not None and timeline.failed:
                    record.failed.add(task.task_arn)
            primary["failedTasks"] = 0 if record.healthy_seen else len(record.failed)
            if record.healthy_seen and record.breaker == "MONITORING":
                record.breaker = "MONITORING_COMPLETE"
        breaker = _breaker(record.configuration)
        if record.breaker == "MONITORING" and len(record.failed) >= record.threshold:
            record.breaker = "TRIGGERED"
            self.event(
                service,
                f"(service {service.name}) (deployment {primary['id']}) deployment failed: tasks failed to start.",
            )
            if breaker.get("rollback"):
                self._roll_back(service, record, BREAKER_REASON)
            else:
                self._fail(service, record, BREAKER_REASON)
            return
        alarms = record.configuration.get("alarms") or {}
        if alarms.get("enable") and alarms.get("alarmNames"):
            firing = _in_alarm(service, list(alarms["alarmNames"]))
            if firing:
                record.triggered_alarms = firing
                reason = ALARM_REASON.format(alarms=", ".join(firing))
                if alarms.get("rollback"):
                    self._roll_back(service, record, reason)
                else:
                    self._fail(service, record, reason)
                return
        if record.strategy != ROLLING:
            self._advance_stage(service, record, primary, owned, now)

    def _advance_stage(
        self,
        service: Service,
        record: Record,
        primary: dict[str, Any],
        owned: dict[str, list[Task]],
        now: float,
    ) -> None:
        minute = self.config.task_start_delay * self.config.minute_factor
        elapsed = now - record.stage_since
        settings = record.configuration
        stage = record.stage or "SCALE_UP"
        if _paused(record, HOOKS_BEFORE.get(stage, ())):
            return
        if stage == "SCALE_UP":
            if self._settled(owned[primary["id"]]) < service.desired_count:
                return
            if _paused(record, ("POST_SCALE_UP",)):
                return
        elif stage == "PRODUCTION_TRAFFIC_SHIFT":
            if record.strategy == LINEAR:
                linear = settings.get("linearConfiguration") or {}
                step = float(linear.get("stepPercent", 10.0))
                wait = minute * int(linear.get("stepBakeTimeInMinutes", 6))
                if record.traffic == 0 or (record.traffic < 100 and elapsed >= wait):
                    record.traffic = min(100.0, record.traffic + step)
                    record.stage_since = now
                if record.traffic < 100 or elapsed < wait:
                    return
            elif record.strategy == CANARY:
                canary = settings.get("canaryConfiguration") or {}
                wait = minute * int(canary.get("canaryBakeTimeInMinutes", 10))
                if record.traffic == 0:
                    record.traffic = float(canary.get("canaryPercent", 5.0))
                    record.stage_since = now
                    return
                if elapsed < wait:
                    return
                record.traffic = 100.0
            else:
                record.traffic = 100.0
        elif stage == "BAKE_TIME":
            if elapsed < minute * int(settings.get("bakeTimeInMinutes") or 0):
                return
        elif stage == "CLEAN_UP":
            return
        record.stage = STAGES[STAGES.index(stage) + 1]
        record.stage_since = now
        record.updated_at = utcnow()

    def _fail(self, service: Service, record: Record, reason: str) -> None:
        deployment = _find(service, record.deployment_id)
        if deployment is not None:
            deployment.update(rolloutState="FAILED", rolloutStateReason=reason)
        record.set("STOPPED", reason)

    def _roll_back(self, service: Service, record: Record, reason: str) -> None:
        book = history(service)
        failed = _find(service, record.deployment_id)
        target = book.revisions.get(book.completed or "")
        if failed is None or target is None or book.completed is None:
            self._fail(service, record, reason)
            return
        failed.update(status="ACTIVE", rolloutState="FAILED", rolloutStateReason=reason)
        for name, value in target.fields.items():
            set_field(service, name, value)
        # Traffic-shifting strategies still run the old revision at full size: ECS shifts
        # back to it; a rolling deployment rolls forward to a new deployment of it.
        blue = _find(service, book.completed) if record.strategy != ROLLING else None
        back = blue or _deployment(service, target.fields)
        back.update(rolloutState="IN_PROGRESS")
        back["rolloutStateReason"] = ROLLBACK_REASON.format(id=book.completed)
        for other in service.deployments:
            other["status"] = "ACTIVE"
        if blue is not None:
            service.deployments.remove(blue)
        back["status"] = "PRIMARY"
        service.deployments.insert(0, back)
        book.revisions[back["id"]] = target
        record.rollback_to = back["id"]
        record.rollback = {
            "reason": reason,
            "startedAt": utcnow(),
            "serviceRevisionArn": target.arn,
        }
        record.set("ROLLBACK_IN_PROGRESS", reason)
        record.traffic = 0.0
        self.event(
            service, f"(service {service.name}) rolling back to deployment {book.completed}."
        )

    def _complete(
        self, service: Service, book: History, record: Record | None, primary: dict[str, Any]
    ) -> None:
        primary.update(
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {primary['id']} completed.",
        )
        book.completed = primary["id"]
        self.event(
            service, f"(service {service.name}) (deployment {primary['id']}) deployment completed."
        )
        if record is None:
            return
        if record.rollback_to == primary["id"]:
            record.set("ROLLBACK_SUCCESSFUL")
        elif record.deployment_id == primary["id"] and record.status == "IN_PROGRESS":
            record.traffic = 100.0
            if record.breaker == "MONITORING":
                record.breaker = "MONITORING_COMPLETE"
            record.set("SUCCESSFUL", "Service deployment completed successfully.")

    def _current_revisions(self, service: Service, book: History) -> None:
        summaries = []
        current: list[dict[str, Any]] = service.deployments
        for deployment in current:
            revision = book.revisions.get(deployment["id"])
            if revision is None:
                continue
            summaries.append(
                {
                    "arn": revision.arn,
                    "requestedTaskCount": deployment["desiredCount"],
                    "runningTaskCount": deployment["runningCount"],
                    "pendingTaskCount": deployment["pendingCount"],
                }
            )
        service.current_service_revisions = summaries  # type: ignore[attr-defined]

    def _settled(self, tasks: list[Task]) -> int:
        return sum(1 for task in tasks if settled_running(task, self.book.get(task)))


def _deployment(service: Service, fields: dict[str, Any]) -> dict[str, Any]:
    deployment_id = f"ecs-svc/{digits(19)}"
    now = utcnow()
    deployment: dict[str, Any] = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": fields.get("taskDefinition"),
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": fields.get("launchType"),
        "capacityProviderStrategy": fields.get("capacityProviderStrategy"),
        "platformVersion": fields.get("platformVersion")
        or ("LATEST" if fields.get("launchType") == "FARGATE" else None),
        "platformFamily": "Linux",
        "networkConfiguration": fields.get("networkConfiguration") or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }
    for name in DEPLOYMENT_ONLY:
        if fields.get(name):
            deployment[name] = fields[name]
    return deployment


HOOKS_BEFORE: dict[str, tuple[str, ...]] = {
    "TEST_TRAFFIC_SHIFT": ("TEST_TRAFFIC_SHIFT",),
    "POST_TEST_TRAFFIC_SHIFT": ("POST_TEST_TRAFFIC_SHIFT",),
    "PRODUCTION_TRAFFIC_SHIFT": ("PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"),
    "POST_PRODUCTION_TRAFFIC_SHIFT": ("POST_PRODUCTION_TRAFFIC_SHIFT",),
}
"""The hook stages run on entering a deployment stage, before its work (POST_SCALE_UP
runs once SCALE_UP's tasks are healthy)."""


def _paused(record: Record, stages: tuple[str, ...]) -> bool:
    """Whether a PAUSE hook of these stages holds the deployment: a hook reached for the
    first time is AWAITING_ACTION (and gets its hookId); one continued has SUCCEEDED."""
    hooks = record.configuration.get("lifecycleHooks") or []
    for stage in stages:
        for index, hook in enumerate(hooks):
            if hook.get("targetType") != "PAUSE" or stage not in (
                hook.get("lifecycleStages") or []
            ):
                continue
            key = f"{index}:{stage}"
            detail = next((d for d in record.hook_details if d["key"] == key), None)
            if detail is None:
                detail = {
                    "key": key,
                    "hookId": mock_random.get_random_hex(16),
                    "targetType": "PAUSE",
                    "status": "AWAITING_ACTION",
                }
                record.hook_details.append(detail)
                record.updated_at = utcnow()
            if detail["status"] == "AWAITING_ACTION":
                return True
    return False


def _find(service: Service, deployment_id: str) -> dict[str, Any] | None:
    return next((d for d in service.deployments if d["id"] == deployment_id), None)


def _breaker(settings: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = settings.get("deploymentCircuitBreaker") or {}
    return found


def _in_alarm(service: Service, names: list[str]) -> list[str]:
    backend = cloudwatch_backends[service._account_id][service.region_name]
    return sorted(
        a.name for a in backend.get_alarms_by_alarm_names(names) if a.state_value == "ALARM"
    )
