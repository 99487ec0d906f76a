"""Task definition retention: revisions never pile up (v1, v2, ... myapp:847) here.

After a rollout succeeds, the family's ACTIVE revisions are listed; of those this
instance registered (managed-by tag and a spec-hash), the newest `keep` stay, and so does
every revision a task set still runs; older ones of ours are deregistered. A revision we
did not register is never touched. Revisions are described once (cached by ARN).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from controller.api.common import SPEC_HASH_TAG
from controller.aws.ecs import Ecs
from controller.reconcile.ownership import owns

log = structlog.get_logger(__name__)

DEFAULT_KEEP = 10


@dataclass(frozen=True)
class RetentionReport:
    family: str
    active: int
    ours: int
    deregistered: list[str]


async def enforce_retention(
    ecs: Ecs, family: str, in_use: set[str], keep: int, instance: str
) -> RetentionReport:
    arns = await ecs.list_task_definition_arns(family)
    ours: list[str] = []
    for arn in arns:
        live = await ecs.describe_task_definition(arn)
        if live is None or live.family != family:
            continue
        if owns(live.tags, instance) and SPEC_HASH_TAG in live.tags:
            ours.append(arn)
    removable = [arn for arn in ours[keep:] if arn not in in_use]
    for arn in removable:
        await ecs.deregister_task_definition(arn)
    if removable:
        log.info(
            "task_definitions_deregistered",
            family=family,
            count=len(removable),
            kept=len(arns) - len(removable),
        )
    return RetentionReport(family, len(arns) - len(removable), len(ours), removable)
