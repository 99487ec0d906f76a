"""What a rollout spends of the account's write budget: the mutating calls of one image
bump, by operation, as the aws layer counts them (sync against the emulated AWS).

Every write is either a change the rollout is made of (a revision, a task set, PRIMARY,
the old set deleted) or a fact in ECS that a controller killed at that instant needs to
resume (the rollout state and its writer's claim; the promotion time a bake counts
from); a scale step that changes nothing, or that the next call makes moot, is not sent.
An unchanged re-run writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.emulated_ecs import service_status, sync_with, task_set_revisions, write_web

CHANGES = {  # what every task-set rollout is made of
    "ecs:RegisterTaskDefinition": 1,
    "ecs:CreateTaskSet": 1,
    "ecs:UpdateServicePrimaryTaskSet": 1,
    "ecs:DeleteTaskSet": 1,
}
CASES = {
    # maximumPercent 200 leaves room for every new task at once: created at 100%, and
    # the old set goes by DeleteTaskSet (which drains it), not first scaled to 0
    "rolling": (
        "{strategy: rolling}",
        {**CHANGES, "ecs:TagResource": 1, "ecs:UntagResource": 1},
    ),
    # the promotion time is a fact the bake needs after a restart: one more tag
    "blueGreen": (
        "{strategy: blueGreen, blueGreen: {bakeSeconds: 1}}",
        {**CHANGES, "ecs:TagResource": 2, "ecs:UntagResource": 1},
    ),
    # a step is a scale (one UpdateTaskSet per set) and its start (the pause counts from it)
    "canary": (
        "{strategy: canary, canary: {steps: [{weight: 50, pauseSeconds: 1}]}}",
        {**CHANGES, "ecs:UpdateTaskSet": 2, "ecs:TagResource": 2, "ecs:UntagResource": 1},
    ),
}


@pytest.mark.parametrize("strategy", list(CASES), ids=list(CASES))
async def test_an_image_bump_writes_only_what_it_needs(
    emulated: Any, tmp_path: Path, strategy: str
) -> None:
    deployment, expected = CASES[strategy]
    endpoint = emulated.endpoint_url
    root = write_web(tmp_path / "src", "v1", deployment)
    outcome, _ = await sync_with(endpoint, root)
    assert outcome.ok, service_status(outcome)
    write_web(root, "v2", deployment)
    outcome, aws = await sync_with(endpoint, root)
    assert outcome.ok, service_status(outcome)
    assert task_set_revisions(endpoint) == ["PRIMARY:web:2"]
    assert aws.stats.by_operation(mutating=True) == expected
    outcome, aws = await sync_with(endpoint, root)  # nothing changed: nothing written
    assert outcome.ok
    assert aws.stats.by_operation(mutating=True) == {}
