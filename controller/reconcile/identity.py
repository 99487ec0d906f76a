"""Content identities, versioned: a task definition's spec hash, a task set's externalId.

Both are digests of normalized content (normalize.py), and what ECS holds is compared
with them to decide whether anything must roll. Any change to what a digest covers, or to
how normalize.py writes it, would change every id at once and roll every service on the
upgrade; so each id is computed by a named Scheme, and the id says which. v1, the scheme
of every release before ids were versioned, writes no marker ("ecs-gitops:<20 hex>",
"<16 hex>"); a later scheme writes its name ("ecs-gitops:v2:<hex>", "v2:<hex>").

A live id is compared with the desired content's id under the scheme the live id names
(Identity.same_task_definition / same_task_set), so a release whose current scheme is
newer still recognises, and adopts, what older releases deployed: only content that
changed rolls. That holds only while each released scheme computes exactly what it did
when released. tests/golden/ids.json pins v1's ids of tests/corpus and examples/;
tests/test_identity.py explains what to do when it fails (in short: a change to
normalization that moves an id ships as a new scheme, with the old one frozen, here,
as it was).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsServiceSpec
from controller.reconcile.normalize import (
    canonical_json,
    canonical_task_definition,
    canonical_task_set_fields,
)

EXTERNAL_ID_PREFIX = "ecs-gitops:"
LEGACY_SCHEME = "v1"
"""The scheme of ids without a marker: every id written before ids were versioned."""
_MARKER = re.compile(r"(v[0-9]+):")


@dataclass(frozen=True)
class Scheme:
    """One way of computing ids; frozen once released (its functions never change)."""

    name: str
    task_definition_digest: Callable[[TaskDefinitionInput], str]
    task_set_digest: Callable[[str, EcsServiceSpec, Mapping[str, str]], str]
    """(the task definition's spec hash, the spec, secret versions or {}) -> digest."""

    @property
    def _marker(self) -> str:
        return "" if self.name == LEGACY_SCHEME else f"{self.name}:"

    def spec_hash(self, td: TaskDefinitionInput) -> str:
        """The spec-hash tag value of td's content."""
        return self._marker + self.task_definition_digest(td)

    def external_id(self, spec: EcsServiceSpec, versions: Mapping[str, str]) -> str:
        """The externalId of the task set spec asks for (versions: {} when not tracked)."""
        td_hash = self.spec_hash(spec.task_definition_input)
        return EXTERNAL_ID_PREFIX + self._marker + self.task_set_digest(td_hash, spec, versions)


# -- v1: frozen ------------------------------------------------------------------------------


def _v1_task_definition(td: TaskDefinitionInput) -> str:
    return hashlib.sha256(canonical_json(canonical_task_definition(td)).encode()).hexdigest()[:16]


def _v1_task_set(td_hash: str, spec: EcsServiceSpec, versions: Mapping[str, str]) -> str:
    body: dict[str, Any] = {"td": td_hash, "set": canonical_task_set_fields(spec)}
    if versions:
        body["secrets"] = dict(sorted(versions.items()))
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


V1 = Scheme(LEGACY_SCHEME, _v1_task_definition, _v1_task_set)


# -- which scheme wrote an id ----------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """The scheme new ids are written with, and the older ones live ids are read with."""

    current: Scheme
    older: tuple[Scheme, ...] = ()

    def scheme_of(self, value: str) -> Scheme | None:
        """The scheme that wrote value (a spec hash or an externalId); None if unknown,
        as when a newer release wrote it."""
        match = _MARKER.match(value.removeprefix(EXTERNAL_ID_PREFIX))
        name = match.group(1) if match else LEGACY_SCHEME
        return next((s for s in (self.current, *self.older) if s.name == name), None)

    def same_task_definition(self, tag: str | None, td: TaskDefinitionInput, digest: str) -> bool:
        """Whether a revision tagged with spec hash `tag` holds td's content, whose hash
        under the current scheme is digest (an older scheme's is computed only for a tag
        it wrote)."""
        if tag is None or tag == digest:
            return tag is not None
        scheme = self.scheme_of(tag)
        return scheme is not None and scheme is not self.current and scheme.spec_hash(td) == tag

    def same_task_set(
        self, external_id: str | None, spec: EcsServiceSpec, versions: Mapping[str, str]
    ) -> bool:
        """Whether a task set with this externalId, written under an older scheme, is the
        one spec asks for: with these secret versions, or with its content alone (a set
        deployed before versions were tracked is adopted, as under the current scheme)."""
        scheme = self.scheme_of(external_id or "")
        if scheme is None or scheme is self.current:
            return False
        return external_id in {scheme.external_id(spec, versions), scheme.external_id(spec, {})}


IDENTITY = Identity(current=V1)
"""This release's: ids are written with v1, and v1 is the only scheme there has been."""


def spec_hash(td: TaskDefinitionInput, identity: Identity = IDENTITY) -> str:
    """td's spec hash under identity's current scheme."""
    return identity.current.spec_hash(td)
