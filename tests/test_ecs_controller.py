"""Services ECS deploys itself (deploymentController ECS), reconciled end to end.

The seed's service with Service Connect on type ECS is created, rolled v1 -> v2 with one
RegisterTaskDefinition and one UpdateService, then a crash-looping v3 is rolled back by
the circuit breaker and reported Degraded once, never asked for again. Calls are counted
by the aws layer's stats, as aws_requests_total counts them.

Until the emulated AWS runs ECS-controller deployments itself (branch i16-emu), `EcsPlays`
does ECS's part on the moto backend, as ECS documents it: UpdateService with a new
revision makes a new PRIMARY deployment IN_PROGRESS and the old one ACTIVE; it then
COMPLETES, or FAILS and ECS rolls back to the last completed deployment.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from controller.reconcile.deployers.ecs import DEPLOYING_TAG
from controller.reconcile.rollout.base import FAILED_REASON_TAG, FAILED_TAG
from tests.conftest import REGION, REPO
from tests.emulated_ecs import ecs, service_status, sync_with

CIRCUIT_BREAKER = (
    "ECS deployment circuit breaker: tasks failed to start. The deployment has been "
    "rolled back to the last successful deployment."
)


def write_seed(root: Path, tag: str) -> Path:
    """examples/service-connect with its image at tag, in the test's region."""
    root.mkdir(parents=True, exist_ok=True)
    src = REPO / "examples" / "service-connect"
    for name in ("cluster.yaml", "myapp.yaml", "task-definition.json"):
        text = (src / name).read_text().replace("ap-northeast-2", REGION)
        if name == "task-definition.json":
            text = text.replace("myapp:v1", f"myapp:{tag}")
        if name == "myapp.yaml":
            text = text.replace("  autoScaling:", "  autoScalingOff:").split("  autoScalingOff:")[0]
        (root / name).write_text(text)
    return root


class EcsPlays:
    """ECS's part for ECS-controller services on the moto backend (see the module doc).
    mode "complete": each new deployment completes; "fail": it fails and is rolled back."""

    def __init__(self, emulated: Any, connect: dict[str, Any]) -> None:
        from moto.ecs.models import ecs_backends

        self.connect = connect
        """The service's Service Connect settings, which moto drops: each deployment shows them."""
        self.emulated = emulated
        self.backend = ecs_backends["123456789012"][REGION]
        self.mode = "complete"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EcsPlays:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            with self.emulated.lock:
                for service in list(self.backend.services.values()):
                    if service.deployment_controller.get("type") == "ECS":
                        self._step(service)

    def _step(self, service: Any) -> None:
        deployments = service.deployments
        for d in deployments:
            d.setdefault("serviceConnectConfiguration", self.connect)
        primary = next(d for d in deployments if d["status"] == "PRIMARY")
        if primary["taskDefinition"] != service.task_definition:  # UpdateService asked
            primary["status"] = "ACTIVE"
            new = dict(primary, id=f"ecs-svc/{len(deployments) + 1}", status="PRIMARY")
            new.update(taskDefinition=service.task_definition, rolloutState="IN_PROGRESS")
            new.update(runningCount=0, rolloutStateReason="ECS deployment in progress.")
            service.deployments = [new, primary]
            return
        if primary["rolloutState"] != "IN_PROGRESS":
            return
        if self.mode == "complete" or len(deployments) == 1:
            primary.update(rolloutState="COMPLETED", runningCount=service.desired_count)
            service.deployments = [primary]
            service.running_count = service.desired_count
            return
        # the circuit breaker trips: the failed deployment, and a rollback to the last one
        old = next(d for d in deployments if d["status"] == "ACTIVE")
        primary.update(status="ACTIVE", rolloutState="FAILED", rolloutStateReason=CIRCUIT_BREAKER)
        back = dict(old, id=f"ecs-svc/{len(deployments) + 1}", status="PRIMARY")
        back.update(rolloutState="COMPLETED", runningCount=service.desired_count)
        service.task_definition = old["taskDefinition"]
        service.deployments = [back, primary]


def _calls(aws: Any, operation: str) -> int:
    return sum(n for (_, op, _), n in aws.stats.calls.items() if op == operation)


@pytest.fixture
def plays(emulated: Any) -> Any:
    import yaml

    spec = yaml.safe_load((REPO / "examples" / "service-connect" / "myapp.yaml").read_text())
    with EcsPlays(emulated, spec["spec"]["serviceConnectConfiguration"]) as plays:
        yield plays


async def test_seed_service_connect_on_type_ecs_rolls_v1_v2_then_a_crash_is_rolled_back_once(
    emulated: Any, plays: EcsPlays, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    root = write_seed(tmp_path / "src", "v1")
    outcome, aws = await sync_with(endpoint, root, within=30)
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    live = ecs(endpoint).describe_services(
        cluster="mesh-cluster", services=["myapp"], include=["TAGS"]
    )["services"][0]
    assert live["deploymentController"] == {"type": "ECS"}
    assert _calls(aws, "CreateService") == 1
    assert _calls(aws, "CreateTaskSet") == 0

    write_seed(root, "v2")
    outcome, aws = await sync_with(endpoint, root, within=30, revision="v2")
    status = service_status(outcome)
    assert (status.sync_status, status.health_status) == ("Synced", "Healthy"), status.message
    assert _calls(aws, "RegisterTaskDefinition") == 1
    assert _calls(aws, "UpdateService") == 1
    assert str(status.task_definition).endswith("myapp:2")

    plays.mode = "fail"
    write_seed(root, "v3-crashloop")
    seen: list[str] = []
    outcome, aws = await sync_with(
        endpoint,
        root,
        within=30,
        revision="v3",
        on_status=lambda key, s: seen.append(s.health_status),
    )
    status = service_status(outcome)
    assert status.health_status == "Degraded"
    assert CIRCUIT_BREAKER.split(":")[0] in status.message, status.message
    assert status.rollout is not None
    assert status.rollout.phase == "RolledBack"
    assert _calls(aws, "UpdateService") == 1
    assert len(outcome.notices) >= 1  # the rollback is announced
    rolled_back = [n for n in outcome.notices if getattr(n, "event", "") == "rolled_back"]
    assert len(rolled_back) <= 1
    live = ecs(endpoint).describe_services(
        cluster="mesh-cluster", services=["myapp"], include=["TAGS"]
    )["services"][0]
    tags = {t["key"]: t["value"] for t in live["tags"]}
    assert FAILED_TAG in tags
    assert DEPLOYING_TAG not in tags
    assert "circuit breaker" in tags[FAILED_REASON_TAG]

    # the next syncs of the same commit ask ECS for nothing: no retry loop
    for _ in range(2):
        outcome, aws = await sync_with(endpoint, root, within=10, revision="v3")
        status = service_status(outcome)
        assert status.health_status == "Degraded", status.message
        assert "commit a fix" in status.message
        assert _calls(aws, "UpdateService") == 0
        assert _calls(aws, "RegisterTaskDefinition") == 0
        assert outcome.notices == []
        await asyncio.sleep(0)
