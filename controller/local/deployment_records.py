"""The records ECS keeps of an ECS-controller service's deployments, emulated.

Design: beside moto's `Service.deployments` (what DescribeServices shows), a `History`
(attribute `emulated_history`, which moto never serializes) holds the service revisions and
the service deployments, the records that ListServiceDeployments and
DescribeServiceDeployments show (`brief`, `describe`, shaped by botocore's model). Fields
moto drops are kept on its `Service` under their snake_case names (`get_field`,
`set_field`). deployments.py moves the records; this module only holds and shows them.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore import xform_name
from moto.core.utils import utcnow
from moto.ecs.models import Service
from moto.moto_api._internal import mock_random

ROLLING, BLUE_GREEN, LINEAR, CANARY = "ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"
DEFAULT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "alarms": {"alarmNames": [], "enable": False, "rollback": False},
    "strategy": ROLLING,
}
DEPLOYMENT_ONLY = (
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
)
"""Fields ECS shows on deployments[], never on the service."""
REVISION_FIELDS = (
    "taskDefinition",
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
    *DEPLOYMENT_ONLY,
)
"""What a service revision pins: changing any of these starts a new deployment."""


FINISHED = frozenset({"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"})


@dataclass
class Revision:
    """A service revision: the task definition and deployment-level fields a deployment runs."""

    arn: str
    fields: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)


@dataclass
class Record:
    """One service deployment, as ListServiceDeployments / DescribeServiceDeployments show it."""

    arn: str
    deployment_id: str
    target: str
    sources: list[str]
    configuration: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    stopped_at: datetime | None = None
    status: str = "IN_PROGRESS"
    status_reason: str | None = None
    stage: str | None = None
    stage_since: float = field(default_factory=time.monotonic)
    traffic: float = 0.0
    """Production traffic weight on the target revision (BLUE_GREEN / LINEAR / CANARY)."""
    failed: set[str] = field(default_factory=set)
    healthy_seen: bool = False
    breaker: str = "MONITORING"
    threshold: int = 3
    triggered_alarms: list[str] = field(default_factory=list)
    rollback: dict[str, Any] | None = None
    rollback_to: str | None = None
    """Deployment id that runs the rollback (the stop or breaker's), once it started."""
    requested: str | None = None
    """ROLLBACK or ABORT, asked by StopServiceDeployment and acted on at the next tick."""
    hook_details: list[dict[str, Any]] = field(default_factory=list)
    """lifecycleHookDetails: one per PAUSE hook and stage it reached, with its hookId."""

    @property
    def strategy(self) -> str:
        return str(self.configuration.get("strategy") or ROLLING)

    def set(self, status: str, reason: str | None = None) -> None:
        self.status, self.updated_at = status, utcnow()
        if reason is not None:
            self.status_reason = reason
        if status in FINISHED:
            self.finished_at = self.finished_at or utcnow()
        if status in ("STOPPED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED"):
            self.stopped_at = self.stopped_at or utcnow()


@dataclass
class History:
    revisions: dict[str, Revision] = field(default_factory=dict)
    """By deployment id."""
    records: list[Record] = field(default_factory=list)
    completed: str | None = None
    """Deployment id of the last COMPLETED deployment (what a rollback returns to)."""

    def current(self) -> Record | None:
        return self.records[-1] if self.records else None


def history(service: Service) -> History:
    found = getattr(service, "emulated_history", None)
    if found is None:
        found = History()
        service.emulated_history = found  # type: ignore[attr-defined]
    return found


def get_field(service: Service, name: str) -> Any:
    return getattr(service, xform_name(name), None)


def set_field(service: Service, name: str, value: Any) -> None:
    setattr(service, xform_name(name), value)


def configuration(service: Service) -> dict[str, Any]:
    """The service's deploymentConfiguration with ECS's defaults filled in."""
    given = get_field(service, "deploymentConfiguration") or {}
    return {**DEFAULT_CONFIGURATION, **given}


def revision_fields(service: Service) -> dict[str, Any]:
    return {name: get_field(service, name) for name in REVISION_FIELDS}


def describe(service: Service, record: Record) -> dict[str, Any]:
    """A ServiceDeployment as DescribeServiceDeployments returns it."""
    book = history(service)
    revisions = {d["id"]: d for d in service.deployments}

    def summary(arn: str, weight: float) -> dict[str, Any]:
        deployment = next(
            (revisions[i] for i, r in book.revisions.items() if r.arn == arn and i in revisions),
            None,
        )
        return {
            "arn": arn,
            "requestedTaskCount": deployment["desiredCount"] if deployment else 0,
            "runningTaskCount": deployment["runningCount"] if deployment else 0,
            "pendingTaskCount": deployment["pendingCount"] if deployment else 0,
            "requestedProductionTrafficWeight": weight,
        }

    shifting = record.strategy != ROLLING
    target_weight = record.traffic if shifting else 100.0
    source_weight = (100.0 - record.traffic) if shifting else 0.0
    settings = record.configuration
    alarms = settings.get("alarms") or {}
    result: dict[str, Any] = {
        "serviceDeploymentArn": record.arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": record.created_at,
        "startedAt": record.created_at,
        "updatedAt": record.updated_at,
        "finishedAt": record.finished_at,
        "stoppedAt": record.stopped_at,
        "sourceServiceRevisions": [summary(arn, source_weight) for arn in record.sources],
        "targetServiceRevision": summary(record.target, target_weight),
        "status": record.status,
        "statusReason": record.status_reason,
        "deploymentConfiguration": settings,
        "rollback": record.rollback,
        "deploymentCircuitBreaker": {
            "status": record.breaker,
            "failureCount": len(record.failed),
            "threshold": record.threshold,
        },
        "alarms": {
            "status": ("TRIGGERED" if record.triggered_alarms else "MONITORING")
            if alarms.get("enable")
            else "DISABLED",
            "alarmNames": list(alarms.get("alarmNames") or []),
            "triggeredAlarmNames": list(record.triggered_alarms),
        },
    }
    if shifting:
        result["lifecycleStage"] = record.stage
    if record.hook_details:
        result["lifecycleHookDetails"] = [
            {k: v for k, v in d.items() if k != "key"} for d in record.hook_details
        ]
    return result


def brief(service: Service, record: Record) -> dict[str, Any]:
    """A ServiceDeploymentBrief as ListServiceDeployments returns it."""
    return {
        "serviceDeploymentArn": record.arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": record.created_at,
        "startedAt": record.created_at,
        "finishedAt": record.finished_at,
        "targetServiceRevisionArn": record.target,
        "status": record.status,
        "statusReason": record.status_reason,
    }


def continue_deployment(record: Record, hook_id: str, action: str) -> bool:
    """ContinueServiceDeployment: False when no hook of record awaits action under hook_id."""
    detail = next((d for d in record.hook_details if d["hookId"] == hook_id), None)
    if detail is None or detail["status"] != "AWAITING_ACTION" or record.status != "IN_PROGRESS":
        return False
    detail["status"] = "SUCCEEDED"
    record.updated_at = utcnow()
    if action == "ROLLBACK":
        record.requested = "ROLLBACK"
        record.set("ROLLBACK_REQUESTED")
    return True


def arn(service: Service, kind: str, suffix: str) -> str:
    return f"arn:aws:ecs:{service.region_name}:{service._account_id}:{kind}/{service.cluster_name}/{service.name}/{suffix}"


def digits(count: int) -> str:
    return "".join(mock_random.choice(string.digits) for _ in range(count))


def token(count: int) -> str:
    return "".join(
        mock_random.choice(string.ascii_letters + string.digits + "-_") for _ in range(count)
    )
