"""Versioned ids (controller/reconcile/identity.py): each released scheme is pinned by a
golden file, and a release whose scheme is newer adopts what an older one deployed.

When test_ids_match_the_golden_file fails, a change (to normalize.py, to a model's
defaults or dump, to what a digest covers) moved the id of content that did not change.
Shipped like that, every service of every user rolls at once on the upgrade, each to the
content it already runs. Do not regenerate the file to make the test pass. Instead:
  - make the change keep the ids (the usual answer: normalization bugs that moved no
    real content should not move ids either); or
  - ship it as a new scheme: copy what the old scheme computed into a frozen function in
    identity.py (it must keep computing exactly the pinned ids), add the new Scheme
    (name "v2", ...) as IDENTITY.current with the old one in IDENTITY.older, and add its
    section to the golden file with ECS_GITOPS_UPDATE_GOLDEN=1 (the old sections are
    left as they are); services are adopted, not rolled; or
  - if every service must roll on purpose, say so in the release notes, and regenerate
    with ECS_GITOPS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_identity.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from controller.api import EcsService, EcsTask
from controller.api.common import SPEC_HASH_TAG
from controller.api.ecs_shapes import TaskDefinitionInput
from controller.api.service import EcsServiceSpec
from controller.aws.client import AwsClients, AwsSettings
from controller.loader import load_tree
from controller.reconcile.context import Context
from controller.reconcile.identity import IDENTITY, V1, Identity, Scheme
from controller.reconcile.normalize import (
    canonical_json,
    canonical_task_definition,
    canonical_task_set_fields,
)
from controller.reconcile.sync import sync_all
from controller.sources.directory import DirectoryTree
from tests.conftest import REGION, REPO
from tests.emulated_ecs import describe, ecs, load, write_web

GOLDEN = REPO / "tests" / "golden" / "ids.json"
SOURCES = [REPO / "tests" / "corpus" / "good", *sorted((REPO / "examples").iterdir())]
BLUE_GREEN = "{strategy: blueGreen, blueGreen: {bakeSeconds: 0}}"
MIGRATE = """\
---
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsTask
metadata: {name: migrate}
spec:
  cluster: prod-cluster
  taskDefinition:
    family: web-migrate
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    containerDefinitions:
      - {name: migrate, image: "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/web:v1"}
"""


def ids(scheme: Scheme) -> dict[str, dict[str, str]]:
    """scheme's ids of every service and task of the corpus and the examples."""
    out: dict[str, dict[str, str]] = {}
    for source in SOURCES:
        result = load_tree(DirectoryTree(source))
        assert result.errors == [], result.errors
        for item in result.loaded:
            where = f"{source.relative_to(REPO)}: {item.key}"
            resource = item.resource
            if isinstance(resource, EcsService):
                out[where] = {
                    "specHash": scheme.spec_hash(resource.spec.task_definition_input),
                    "externalId": scheme.external_id(resource.spec, {}),
                }
            elif isinstance(resource, EcsTask):
                out[where] = {"specHash": scheme.spec_hash(resource.spec.task_definition_input)}
    return out


def test_ids_match_the_golden_file() -> None:
    """Read the module docstring before changing tests/golden/ids.json."""
    schemes = [IDENTITY.current, *IDENTITY.older]
    computed = {scheme.name: ids(scheme) for scheme in schemes}
    if os.environ.get("ECS_GITOPS_UPDATE_GOLDEN") == "1":
        kept = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps({**kept, **computed}, indent=2, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    for scheme in schemes:
        assert scheme.name in golden, f"scheme {scheme.name} has no golden ids: see the docstring"
        assert computed[scheme.name] == golden[scheme.name], (
            f"scheme {scheme.name} computes other ids than it was released with; every "
            "service would roll on the upgrade. See tests/test_identity.py's docstring."
        )
    assert len(golden["v1"]) >= 5  # services and tasks of the corpus and both examples


def test_ids_name_their_scheme() -> None:
    identity = Identity(current=LATER, older=(V1,))
    assert identity.scheme_of("ecs-gitops:0123456789abcdef0123") is V1  # unmarked: v1
    assert identity.scheme_of("0123456789abcdef") is V1
    assert identity.scheme_of("ecs-gitops:v2:0123") is LATER
    assert identity.scheme_of("v2:0123") is LATER
    assert identity.scheme_of("ecs-gitops:v3:0123") is None  # a newer release's
    assert IDENTITY.scheme_of("v2:0123") is None


# -- a later release ---------------------------------------------------------------------------


def _later_task_definition(td: TaskDefinitionInput) -> str:
    """A normalization change: a digest of other bytes for the same content."""
    text = "later:" + canonical_json(canonical_task_definition(td))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _later_task_set(td_hash: str, spec: EcsServiceSpec, versions: Any) -> str:
    body = {"td": td_hash, "set": canonical_task_set_fields(spec), "secrets": dict(versions)}
    return hashlib.sha256(("later:" + canonical_json(body)).encode()).hexdigest()[:20]


LATER = Scheme("v2", _later_task_definition, _later_task_set)


def state(endpoint: str) -> tuple[list[tuple[str, str]], list[str]]:
    """web's (externalId, task definition) per task set, and the family's revisions."""
    sets = sorted(
        (ts["externalId"], ts["taskDefinition"].rsplit("/", 1)[-1])
        for ts in describe(endpoint)["taskSets"]
    )
    arns = ecs(endpoint).list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
    return sets, [a.rsplit("/", 1)[-1] for a in arns]


async def test_a_release_with_a_new_scheme_adopts_what_an_older_one_deployed(
    emulated: Any, tmp_path: Path
) -> None:
    endpoint = emulated.endpoint_url
    hooks = "  hooks: {preSync: [migrate]}\n"  # a hook run is keyed by the task set's id
    resources = load(write_web(tmp_path, "v1", BLUE_GREEN, spec=hooks, more=MIGRATE))
    async with AwsClients(AwsSettings(REGION, endpoint)) as aws:
        first = await sync_all(resources, Context(aws), within=40)  # this release: v1 ids
        assert first.ok, first.statuses
        deployed = state(endpoint)
        [(v1_id, _)] = deployed[0]
        assert v1_id.startswith("ecs-gitops:")
        assert ":v" not in v1_id

        upgraded = Context(aws, identity=Identity(current=LATER, older=(V1,)))
        before = aws.stats.by_operation(mutating=True)
        again = await sync_all(load(tmp_path), upgraded, within=40)
        assert again.ok, again.statuses
        assert aws.stats.by_operation(mutating=True) == before  # not one write
        assert state(endpoint) == deployed

        # what the release did before ids were versioned: it knew no other scheme
        forgetful = Context(aws, identity=Identity(current=LATER))
        rolled = await sync_all(load(tmp_path), forgetful, within=40)
        assert rolled.ok, rolled.statuses
        [(later_id, revision)] = state(endpoint)[0]
        assert later_id.startswith("ecs-gitops:v2:")
        assert revision == "web:2"  # a copy of the same content: the fleet rolled for nothing
    td = ecs(endpoint).describe_task_definition(taskDefinition="web:2", include=["TAGS"])
    tags = {t["key"]: t["value"] for t in td["tags"]}
    assert tags[SPEC_HASH_TAG].startswith("v2:")


@pytest.mark.parametrize("versions", [{}, {"/app/token": "3"}], ids=["content", "secrets"])
def test_same_task_set_reads_an_old_id_with_its_own_scheme(
    tmp_path: Path, versions: dict[str, str]
) -> None:
    [service] = [
        r for r in load(write_web(tmp_path, "v1", BLUE_GREEN)) if isinstance(r, EcsService)
    ]
    identity = Identity(current=LATER, older=(V1,))
    old = V1.external_id(service.spec, versions)
    assert identity.same_task_set(old, service.spec, versions)
    assert identity.same_task_set(V1.external_id(service.spec, {}), service.spec, versions)
    other = load(write_web(tmp_path / "other", "v2", BLUE_GREEN))
    changed = next(r for r in other if isinstance(r, EcsService)).spec
    assert not identity.same_task_set(old, changed, versions)  # new content still rolls
    assert not Identity(current=LATER).same_task_set(old, service.spec, versions)
