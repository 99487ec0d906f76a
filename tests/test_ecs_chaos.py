"""kill -9 of `ecs-gitops run` while ECS deploys a type-ECS service: it resumes from ECS.

Three rollouts of the seed's Service Connect service (v2, v3, v4, images whose tasks are
slow to start), each with the controller SIGKILLed at a different point: just after its
UpdateService returned (before it could tag the revision in flight), once ECS shows the new
deployment, and in the middle of it. After each restart the controller follows the same
deployment: one UpdateService per revision across every process (their JSON logs count
the calls), one task definition revision per image, and Synced / Healthy at the end.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.controller_process import Running, launch
from tests.emulated_ecs import ecs
from tests.test_ecs_gates import deployments, entry, seed_repo


def update_service_calls(log: Path) -> int:
    count = 0
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "aws_call" and event.get("operation") == "UpdateService":
            count += 1
    return count


def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_kill_9_mid_ecs_deployment_resumes_with_no_second_update_service(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    repo = tmp_path / "repo"
    seed_repo(repo, "v1")
    log_path = tmp_path / "controller.log"
    extra = ("--poll-interval", "1")

    def killed_when(running: Running, point: Callable[[], bool], what: str, log: Any) -> Running:
        until(point, what)
        running.proc.send_signal(signal.SIGKILL)
        running.proc.wait(timeout=10)
        return launch(endpoint, f"git+file://{repo}", log, *extra)

    with log_path.open("w") as log:
        running = launch(endpoint, f"git+file://{repo}", log, *extra)
        try:
            running.wait("v1", lambda: entry(running).get("healthStatus") == "Healthy", 60)
            for revision, point in enumerate(("after UpdateService", "deployment", "midway"), 2):
                before = update_service_calls(log_path)
                seed_repo(repo, f"v{revision}-slow")

                def sent(before: int = before) -> bool:
                    return update_service_calls(log_path) > before

                def deploying(revision: int = revision) -> bool:
                    return deployments(endpoint)[:1] == [f"PRIMARY:IN_PROGRESS:{revision}"]

                if point == "after UpdateService":
                    running = killed_when(running, sent, point, log)
                elif point == "deployment":
                    running = killed_when(running, deploying, point, log)
                else:
                    until(deploying, point)
                    time.sleep(1.0)
                    running = killed_when(running, lambda: True, point, log)

                def synced(revision: int = revision, running: Running = running) -> bool:
                    status = entry(running)
                    return (
                        deployments(endpoint) == [f"PRIMARY:COMPLETED:{revision}"]
                        and status.get("syncStatus") == "Synced"
                        and status.get("healthStatus") == "Healthy"
                    )

                running.wait(f"v{revision} after a kill {point}", synced, timeout=60)
                assert update_service_calls(log_path) == before + 1, point
        finally:
            running.proc.send_signal(signal.SIGTERM)
            running.proc.wait(timeout=25)
    revisions = ecs(endpoint).list_task_definitions(familyPrefix="myapp")["taskDefinitionArns"]
    assert len(revisions) == 4, revisions  # one per image: none registered twice
