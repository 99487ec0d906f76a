"""The manager is built from parts, each holding its own state, and the HTTP layer reads
them through a read-only view.

The source loop (source_loop.py), the applier (applier.py) and the status store
(status_store.py) are made once, at construction, around the one reconcile context; the
HTTP layer (endpoints.py) sees endpoints.ControllerView, whose every member is a
property the Controller answers from the part that holds it, so no request can replace
what the loops and workers use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from controller.app import Controller, RunSettings
from controller.app.endpoints import ControllerView, readiness, snapshot
from controller.aws.client import AwsClients, AwsSettings
from controller.reconcile.context import Context
from controller.sources.base import DirectorySource

CLUSTER = "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata: {name: prod}\n"
VIEW = sorted(name for name, member in vars(ControllerView).items() if isinstance(member, property))


def controller(root: Path) -> tuple[Controller, Context]:
    # nothing here calls AWS: an endpoint nobody listens on
    aws = AwsClients(AwsSettings(region="ap-northeast-2", endpoint_url="http://127.0.0.1:9"))
    context = Context(aws, instance="blue")
    settings = RunSettings(instance="blue")
    return Controller(
        settings, aws, DirectorySource(root, poll_interval=1), context=context
    ), context


PARTS: dict[str, Callable[[Controller], object]] = {
    "source": lambda ctl: ctl.source_loop.source,
    "source_error": lambda ctl: ctl.source_loop.error,
    "fetched_at": lambda ctl: ctl.source_loop.fetched_at,
    "artifact": lambda ctl: ctl.applier.artifact,
    "load": lambda ctl: ctl.applier.load,
    "desired": lambda ctl: ctl.applier.desired,
    "prune_blocked": lambda ctl: ctl.applier.prune_blocked,
    "statuses": lambda ctl: ctl.store.statuses,
    "commits": lambda ctl: ctl.store.commits,
}
"""Members of the view answered by a part: where each one is held."""
GIVEN = {"settings", "elector", "local_api_token", "ctx", "queue", "aws_error"}
"""Members the Controller holds itself: given to it at construction, or its AWS probe."""


def test_every_member_of_the_view_has_one_holder() -> None:
    assert set(VIEW) == set(PARTS) | GIVEN


@pytest.mark.parametrize("name", sorted(PARTS))
def test_what_a_part_holds_cannot_be_replaced_through_the_controller(
    tmp_path: Path, name: str
) -> None:
    ctl, _ = controller(tmp_path)
    with pytest.raises(AttributeError):
        setattr(ctl, name, getattr(ctl, name))


def test_the_parts_share_the_context_they_were_built_around(tmp_path: Path) -> None:
    """`run` builds the complete Context and hands it over; nothing swaps it later."""
    ctl, context = controller(tmp_path)
    assert ctl.ctx is context
    assert ctl.applier.ctx is context
    assert ctl.applier.queue is ctl.queue
    assert ctl.applier.store is ctl.store
    assert ctl.source_loop.sink is ctl.applier


async def test_the_view_shows_what_the_applier_loaded(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "broken.yaml").write_text(CLUSTER.replace("EcsCluster", "EcsClustr"))
    ctl, _ = controller(tmp_path)
    assert readiness(ctl)[1] == "source not loaded yet: fetching"
    artifact = await ctl.source.fetch()
    await ctl.applier.apply(artifact)  # an error in the revision: no prune scan, no AWS
    shown = snapshot(ctl)
    assert shown["source"]["revision"] == artifact.revision == ctl.applier.revision
    assert shown["source"]["pruneBlocked"] == ctl.applier.prune_blocked is not None
    assert [k.name for k in ctl.desired] == ["prod"]
    assert shown["instance"] == "blue"
    for name, held in PARTS.items():  # a view of the parts, never a copy
        assert getattr(ctl, name) is held(ctl), name
    assert ctl.load is not None
    assert ctl.load.errors  # broken.yaml
    assert list(ctl.commits) == [artifact.revision]
