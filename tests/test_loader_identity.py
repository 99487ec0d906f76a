"""Which documents are ours, what a revision still names, and a check that raises.

A typo in apiVersion is an error and never a foreign document (test_corpus holds the
located messages); here, that real foreign documents stay ignored, that LoadResult.names
finds a service in any form a revision still mentions it, and that a bug in one check
costs only its own resource.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.api import ResourceKey
from controller.loader import checks as loader_checks
from controller.loader import load_tree
from controller.loader import loader as loader_module
from controller.sources.directory import DirectoryTree

WriteTree = Callable[[dict[str, str | bytes]], Path]

SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata: {{name: {name}}}
spec:
  cluster: prod
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa], securityGroups: [sg-xxx]}}
  taskDefinition:
    family: {name}
    networkMode: awsvpc
    requiresCompatibilities: [FARGATE]
    cpu: "256"
    memory: "512"
    containerDefinitions:
      - {{name: app, image: busybox}}
"""


def worker_key(cluster: str = "prod") -> ResourceKey:
    return ResourceKey("EcsService", "", cluster, "worker")


FOREIGN = {
    "kubernetes-deployment": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
    "kubernetes-core": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
    "argo-application": "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web}\n",
    "no-apiversion": "kind: ConfigMap\nmetadata: {name: web}\n",
    "plain-data": "replicas: 3\nimage: web\n",
}


@pytest.mark.parametrize("text", FOREIGN.values(), ids=FOREIGN.keys())
def test_foreign_documents_stay_ignored(write_tree: WriteTree, text: str) -> None:
    result = load_tree(DirectoryTree(write_tree({"other.yaml": text}), display_root=""))
    assert result.diagnostics == []
    assert result.rejected == {}


NAMED_BY = {
    "a-typo-in-apiversion": (
        SERVICE.format(name="worker").replace("ecs-gitops.dev", "ecs-gitop.dev"),
        "w.yaml",
    ),
    "a-foreign-document": (
        "apiVersion: mycompany.io/v1\nkind: Worker\nmetadata: {name: worker}\nspec: {cluster: prod}\n",
        "w.yaml:1",
    ),
    "our-document-whose-spec-is-broken": (
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata: {name: worker}\nspec: [1]\n",
        "w.yaml:1",
    ),
    "an-unknown-kind-of-ours": (
        SERVICE.format(name="worker").replace("kind: EcsService", "kind: EcsSvc"),
        "w.yaml:1",
    ),
}


@pytest.mark.parametrize(("text", "where"), NAMED_BY.values(), ids=NAMED_BY.keys())
def test_a_revision_still_names_a_service_it_holds_in_any_form(
    write_tree: WriteTree, text: str, where: str
) -> None:
    root = write_tree({"w.yaml": text, "web.yaml": SERVICE.format(name="web")})
    result = load_tree(DirectoryTree(root, display_root=""))
    assert [i.key.name for i in result.loaded] == ["web"]
    assert result.names(worker_key()) == where
    assert result.names(ResourceKey("EcsService", "", "prod", "web")) == "web.yaml:1"
    assert result.names(ResourceKey("EcsService", "", "prod", "gone")) is None


def test_a_foreign_document_naming_another_cluster_does_not_keep_a_service(
    write_tree: WriteTree,
) -> None:
    text = "apiVersion: mycompany.io/v1\nkind: Worker\nmetadata: {name: worker}\nspec: {cluster: staging}\n"
    root = write_tree({"w.yaml": text, "web.yaml": SERVICE.format(name="web")})
    result = load_tree(DirectoryTree(root, display_root=""))
    assert result.names(worker_key("staging")) == "w.yaml:1"
    assert result.names(worker_key("prod")) is None


def test_a_check_that_raises_is_an_internal_error_on_its_resource_alone(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard is for bugs nobody knows yet, so one is put into check_service: the
    service it fails on is rejected with a located internal error; the other loads."""
    real = loader_checks.check_service

    def check_service(resource: Any, td: Any) -> list[loader_checks.Finding]:
        if resource.metadata.name == "worker":
            raise KeyError("boom")
        return real(resource, td)

    monkeypatch.setattr(loader_checks, "check_service", check_service)
    root = write_tree(
        {"a.yaml": SERVICE.format(name="worker"), "b.yaml": SERVICE.format(name="web")}
    )
    result = load_tree(DirectoryTree(root, display_root=""))
    assert [i.key.name for i in result.loaded] == ["web"]
    assert [str(d) for d in result.errors] == [
        "a.yaml:1:1: error: internal error in check check_service: KeyError: 'boom'; "
        "please report this bug"
    ]
    assert worker_key() in result.rejected


def test_a_crash_in_the_reference_check_holds_back_only_what_it_checks(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    def check_references(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(loader_module, "check_references", check_references)
    worker = SERVICE.format(name="worker").replace("spec:\n", "spec:\n  dependsOn: [web]\n")
    root = write_tree({"a.yaml": worker, "b.yaml": SERVICE.format(name="web")})
    result = load_tree(DirectoryTree(root, display_root=""))
    assert [i.key.name for i in result.loaded] == ["web"]
    assert [(d.file, d.line) for d in result.errors] == [("a.yaml", 1)]
    assert (
        "internal error in check check_references: RuntimeError: boom" in result.errors[0].message
    )
