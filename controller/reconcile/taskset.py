"""The task set a spec asks for, its identity, and its task definition revision.

A task set's externalId is a digest of everything that makes it what it is (the
normalized task definition and the task-set-level fields: launch type or capacity
provider strategy, platform version, network, load balancers, registries), computed by
the current identity scheme (identity.py); a set an older release created under an older
scheme is adopted under its own id. The id is how a reconcile, after a crash or a lost
response, recognises the set an earlier attempt created, so a retry never creates a
second one. Task definitions are registered only
when no revision with the same content digest (tag ecs-gitops.dev/spec-hash) exists, one
registration at a time per content (Registrations), so services sharing a file share a
revision even when their first reconciles run at once.

The current versions of the secrets the task definition references (reconcile/secrets.py)
join the digest when known and syncPolicy.rolloutOnSecretRotation is on, so a rotated
secret names a new task set and rolls the service out through its normal strategy.
Without versions the externalId is the content digest alone, as before; a set carrying
that content-only id still matches, so services deployed before secrets were tracked (or
while a secret could not be read) are adopted rather than rolled: tracking starts with
their next rollout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import structlog

from controller.api.common import MANAGED_BY_TAG, SPEC_HASH_TAG
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsServiceSpec
from controller.aws.ecs import Ecs
from controller.aws.models import LiveTaskDefinition, LiveTaskSet
from controller.reconcile.identity import IDENTITY, Identity
from controller.runtime.keyedlock import KeyedLocks

log = structlog.get_logger(__name__)

RECENT_REVISIONS = 5
"""How many of a family's newest revisions are searched for identical content."""
RECENT_REGISTRATIONS = 256
"""How many registrations Registrations remembers (only the newest matter)."""


@dataclass(frozen=True)
class DesiredTaskSet:
    spec: EcsServiceSpec
    spec_hash: str
    """The spec hash of the task definition (the current scheme's)."""
    external_id: str
    content_external_id: str = ""
    """The externalId without secret versions (equal to external_id when none are known)."""
    secret_versions: dict[str, str] = field(default_factory=dict)
    """valueFrom -> version folded into external_id; empty when not tracked."""
    identity: Identity = IDENTITY
    task_set_id: str | None = None
    """A task set someone else created, taken as this one because it runs this content
    (adopt.adopt_task_set): it has no externalId of ours to match."""

    @classmethod
    def from_spec(
        cls,
        spec: EcsServiceSpec,
        secret_versions: dict[str, str] | None = None,
        identity: Identity = IDENTITY,
    ) -> DesiredTaskSet:
        scheme = identity.current
        td_hash, content_id = spec.memo(
            f"task-set/{scheme.name}",
            lambda: (scheme.spec_hash(spec.task_definition_input), scheme.external_id(spec, {})),
        )
        versions = (
            dict(sorted(secret_versions.items()))
            if secret_versions and spec.sync_policy.rollout_on_secret_rotation
            else {}
        )
        external_id = scheme.external_id(spec, versions) if versions else content_id
        return cls(spec, td_hash, external_id, content_id, versions, identity)

    @property
    def task_definition(self) -> TaskDefinitionInput:
        return self.spec.task_definition_input

    @property
    def images(self) -> list[str]:
        """The container images this task set runs, in the task definition's order."""
        return [c.image or "" for c in self.task_definition.container_definitions]

    def matches(self, task_set: LiveTaskSet) -> bool:
        return (
            task_set.external_id == self.external_id
            or (bool(self.content_external_id) and task_set.external_id == self.content_external_id)
            or (self.task_set_id is not None and task_set.id == self.task_set_id)
        )

    def adopting(self, task_sets: Iterable[LiveTaskSet]) -> DesiredTaskSet:
        """This task set under the id an older release gave it, when one of task_sets is
        it (identity.py): the rollout state, gates and hook records keyed by that id keep
        naming the same set, and an upgrade rolls nothing."""
        for ts in task_sets:
            if (
                ts.external_id
                and not self.matches(ts)
                and self.identity.same_task_set(ts.external_id, self.spec, self.secret_versions)
            ):
                log.info("task_set_adopted", external_id=ts.external_id, current=self.external_id)
                return replace(self, external_id=ts.external_id)
        return self


class Registrations:
    """Task definition registrations, shared by every worker of a controller (one per
    Context): a lock per (region, family, spec hash), so two reconciles wanting the same
    new content register it once. A reconcile that waited for the lock first looks at the
    revision registered while it waited (ListTaskDefinitions may not show a revision that
    new yet); only then: an older record may name a revision deregistered since, or an
    endpoint that was reset."""

    def __init__(self) -> None:
        self.locks: KeyedLocks[tuple[str, str, str]] = KeyedLocks()
        self._recent: dict[tuple[str, str, str], tuple[int, str]] = {}
        self._count = 0

    def mark(self) -> int:
        """A point in the sequence of registrations, to ask what came after it."""
        return self._count

    def since(self, key: tuple[str, str, str], mark: int) -> list[str]:
        """The revision of key's content registered after mark, if any."""
        seen = self._recent.get(key)
        return [seen[1]] if seen is not None and seen[0] > mark else []

    def registered(self, key: tuple[str, str, str], arn: str) -> None:
        self._count += 1
        self._recent.pop(key, None)
        self._recent[key] = (self._count, arn)
        while len(self._recent) > RECENT_REGISTRATIONS:
            del self._recent[next(iter(self._recent))]  # dicts keep insertion order


async def find_task_definition(
    ecs: Ecs,
    td: TaskDefinitionInput,
    digest: str,
    hints: list[str],
    identity: Identity = IDENTITY,
) -> str | None:
    """The ARN of a registered revision holding td's content (spec hash digest under the
    current scheme, or its tag's own scheme: Identity.same_task_definition; a revision
    without the tag, registered by someone else, by its normalized content), or None.

    Revisions in use by the service's task sets are checked first (cached by ARN, so
    free after the first look), then the family's newest ACTIVE revisions, so a revert in
    Git reuses the revision it reverts to instead of registering a copy.
    """
    for arn in hints:
        live = await ecs.describe_task_definition(arn)
        if live is not None and holds(live, td, digest, identity):
            return live.arn
    for arn in await ecs.recent_task_definitions(td.family, RECENT_REVISIONS):
        if arn in hints:
            continue
        live = await ecs.describe_task_definition(arn)
        if live is not None and live.status == "ACTIVE" and holds(live, td, digest, identity):
            return live.arn
    return None


def holds(
    live: LiveTaskDefinition, td: TaskDefinitionInput, digest: str, identity: Identity = IDENTITY
) -> bool:
    """Whether a registered revision holds td's content (spec hash digest). Ours say so
    in their spec-hash tag; one registered by someone else (an imported service's) has no
    tag, and holds it when its content, normalized as ECS fills it in, hashes the same."""
    if live.spec_hash is None:
        return identity.current.spec_hash(live.input) == digest
    return identity.same_task_definition(live.spec_hash, td, digest)


async def ensure_task_definition(
    ecs: Ecs,
    td: TaskDefinitionInput,
    digest: str,
    hints: list[str],
    *,
    instance: str,
    registrations: Registrations,
    identity: Identity = IDENTITY,
) -> tuple[str, bool]:
    """The ARN of a revision with td's content (spec hash digest), registering one if none
    exists: the one rule for services and hooks. Returns (arn, registered).

    Registration is serialized per (region, family, digest): a reconcile that waited for
    another registering the same content looks again once it holds the lock, and finds
    that revision instead of registering a copy."""
    mark = registrations.mark()
    arn = await find_task_definition(ecs, td, digest, hints, identity)
    if arn is not None:
        return arn, False
    key = (ecs.region, td.family, digest)
    async with registrations.locks.hold(key):
        hints = [*registrations.since(key, mark), *hints]
        arn = await find_task_definition(ecs, td, digest, hints, identity)
        if arn is not None:
            return arn, False
        live = await ecs.register_task_definition(
            td, {SPEC_HASH_TAG: digest, MANAGED_BY_TAG: instance}
        )
        registrations.registered(key, live.arn)
    log.info("task_definition_registered", arn=live.arn, spec_hash=digest, family=td.family)
    return live.arn, True
