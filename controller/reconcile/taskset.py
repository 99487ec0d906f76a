"""The task set a spec asks for, its identity, and its task definition revision.

A task set's externalId is a digest of everything that makes it what it is (the
normalized task definition and the task-set-level fields: launch type or capacity
provider strategy, platform version, network, load balancers, registries). It is how a
reconcile, after a crash or a lost response, recognises the set an earlier attempt
created, so a retry never creates a second one. Task definitions are registered only
when no revision with the same content digest (tag ecs-gitops.dev/spec-hash) exists.

The current versions of the secrets the task definition references (reconcile/secrets.py)
join the digest when known and syncPolicy.rolloutOnSecretRotation is on, so a rotated
secret names a new task set and rolls the service out through its normal strategy.
Without versions the externalId is the content digest alone, as before; a set carrying
that content-only id still matches, so services deployed before secrets were tracked (or
while a secret could not be read) are adopted rather than rolled: tracking starts with
their next rollout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import structlog

from controller.api.common import MANAGED_BY_TAG, SPEC_HASH_TAG
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsServiceSpec
from controller.aws.ecs import Ecs
from controller.aws.models import LiveTaskSet
from controller.reconcile.normalize import canonical_task_set_fields, spec_hash

log = structlog.get_logger(__name__)

EXTERNAL_ID_PREFIX = "ecs-gitops:"
RECENT_REVISIONS = 5
"""How many of a family's newest revisions are searched for identical content."""


@dataclass(frozen=True)
class DesiredTaskSet:
    spec: EcsServiceSpec
    spec_hash: str
    """Digest of the normalized task definition."""
    external_id: str
    fields: dict[str, Any]
    content_external_id: str = ""
    """The externalId without secret versions (equal to external_id when none are known)."""
    secret_versions: dict[str, str] = field(default_factory=dict)
    """valueFrom -> version folded into external_id; empty when not tracked."""

    @classmethod
    def from_spec(
        cls, spec: EcsServiceSpec, secret_versions: dict[str, str] | None = None
    ) -> DesiredTaskSet:
        td_hash, fields, content_id = spec.memo("task-set", lambda: _content(spec))
        content: dict[str, Any] = {"td": td_hash, "set": fields}
        versions = (
            dict(sorted(secret_versions.items()))
            if secret_versions and spec.sync_policy.rollout_on_secret_rotation
            else {}
        )
        external_id = _external_id({**content, "secrets": versions}) if versions else content_id
        return cls(spec, td_hash, external_id, fields, content_id, versions)

    @property
    def task_definition(self) -> TaskDefinitionInput:
        return self.spec.task_definition_input

    def matches(self, task_set: LiveTaskSet) -> bool:
        return task_set.external_id == self.external_id or (
            bool(self.content_external_id) and task_set.external_id == self.content_external_id
        )


def _content(spec: EcsServiceSpec) -> tuple[str, dict[str, Any], str]:
    """(task definition hash, task set fields, content-only externalId) of spec."""
    td_hash = spec_hash(spec.task_definition_input)
    fields = canonical_task_set_fields(spec)
    return td_hash, fields, _external_id({"td": td_hash, "set": fields})


def _external_id(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return f"{EXTERNAL_ID_PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:20]}"


async def find_task_definition(ecs: Ecs, want: DesiredTaskSet, hints: list[str]) -> str | None:
    """The ARN of a registered revision with the desired content, or None.

    Revisions in use by the service's task sets are checked first (cached by ARN, so
    free after the first look), then the family's newest ACTIVE revisions, so a revert in
    Git reuses the revision it reverts to instead of registering a copy.
    """
    for arn in hints:
        live = await ecs.describe_task_definition(arn)
        if live is not None and live.spec_hash == want.spec_hash:
            return live.arn
    family = want.task_definition.family
    for arn in await ecs.recent_task_definitions(family, RECENT_REVISIONS):
        if arn in hints:
            continue
        live = await ecs.describe_task_definition(arn)
        if live is not None and live.status == "ACTIVE" and live.spec_hash == want.spec_hash:
            return live.arn
    return None


async def ensure_task_definition(
    ecs: Ecs, want: DesiredTaskSet, hints: list[str], instance: str
) -> tuple[str, bool]:
    """The ARN of a revision with the desired content, registering one if none exists.
    Returns (arn, registered)."""
    arn = await find_task_definition(ecs, want, hints)
    if arn is not None:
        return arn, False
    live = await ecs.register_task_definition(
        want.task_definition, {SPEC_HASH_TAG: want.spec_hash, MANAGED_BY_TAG: instance}
    )
    log.info("task_definition_registered", arn=live.arn, spec_hash=want.spec_hash)
    return live.arn, True
