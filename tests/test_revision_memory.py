"""What a loaded revision costs in memory, and that nothing located is lost for it.

The controller runs in 1 GiB and a revision may hold the budget's 32 MiB of manifests
(bench/revision_memory.py measures that whole case, with the previous revision held).
Here, per service: the models of a
loaded service, and what is kept to locate its fields later, stay small; fields are still
located exactly, from the revision that was loaded, long after the load.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.api import EcsService, TaskDefinitionInput
from controller.api.ecs_shapes import KeyValuePair
from controller.loader import load_tree
from controller.sources import RemoteGitSource, open_source
from controller.sources.base import Source
from controller.sources.directory import DirectoryTree
from tests.test_git_source import commit, git

WriteTree = Callable[[dict[str, str | bytes]], Path]

SERVICE = """\
apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata:
  name: svc-{i}
  labels: {{team: team-{team}}}
spec:
  cluster: prod
  desiredCount: 2
  taskDefinition: svc-{i}.json
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {{subnets: [subnet-aaa, subnet-bbb], securityGroups: [sg-xxx]}}
  loadBalancers:
    - targetGroupArn: arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/svc-{i}/0123456789abcdef
      containerName: web
      containerPort: 8000
  deployment:
    strategy: canary
    canary: {{steps: [{{weight: 10, pauseSeconds: 60}}, {{weight: 50, pauseSeconds: 120}}]}}
  autoScaling:
    minCapacity: 2
    maxCapacity: 10
    targetTracking:
      - {{name: cpu60, predefinedMetric: ECSServiceAverageCPUUtilization, targetValue: 60}}
"""


def task_definition(i: int) -> str:
    return json.dumps(
        {
            "family": f"svc-{i}",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "512",
            "memory": "1024",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": f"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/svc-{i}:v1",
                    "essential": True,
                    "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
                    "environment": [{"name": f"VAR_{k}", "value": str(k)} for k in range(8)],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": f"/ecs/svc-{i}",
                            "awslogs-region": "ap-northeast-2",
                        },
                    },
                }
            ],
        },
        indent=2,
    )


def services(count: int) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    for i in range(count):
        files[f"svc-{i}.yaml"] = SERVICE.format(i=i, team=i % 7)
        files[f"svc-{i}.json"] = task_definition(i)
    return files


def test_a_loaded_service_keeps_under_14_kib(write_tree: WriteTree) -> None:
    """The models and what locates their fields, for about 2.4 KiB of files (40.5 KiB
    before: the parsed documents, data and positions, were kept, and every model had
    its own set of field names, its own default sub-models and its own copy of each word)."""
    count = 300
    tree = DirectoryTree(write_tree(services(count)), display_root="")
    load_tree(tree)  # imports, caches and interned names: not the revision's
    gc.collect()
    tracemalloc.start()
    try:
        result = load_tree(tree)
        gc.collect()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.loaded) == count
    assert not result.diagnostics
    assert kept / count < 14 * 1024, f"{kept / count / 1024:.1f} KiB a service"
    # parsing holds one file's documents at a time: the peak is the result plus little
    assert peak - kept < 2 * 1024 * 1024, f"{(peak - kept) / 2**20:.1f} MiB over the result"


def place(text: str, line_with: str, value: str, *, after: int = 0) -> tuple[int, int]:
    """(line, col) of value on the first line (after line number `after`) holding line_with."""
    lines = text.split("\n")
    number = next(n for n in range(after, len(lines)) if line_with in lines[n])
    return number + 1, lines[number].index(value, lines[number].index(line_with)) + 1


def test_fields_are_located_in_the_revision_that_was_loaded(write_tree: WriteTree) -> None:
    svc1 = "# a comment first\n" + SERVICE.format(i=1, team=1)
    td = "\n\n" + task_definition(1)
    both = "".join(
        "---\n" + SERVICE.format(i=i, team=i).replace(f"svc-{i}.json", "svc-1.json") for i in (2, 3)
    )
    root = write_tree({"svc-1.yaml": svc1, "svc-1.json": td, "both.yaml": both})
    result = load_tree(DirectoryTree(root, display_root=""))
    assert not result.diagnostics
    loaded = {item.resource.metadata.name: item for item in result.loaded}
    # the files change (a checkout moves on) after the load: locations are the revision's
    for name in ("svc-1.yaml", "svc-1.json", "both.yaml"):
        (root / name).write_text("replaced: true\n")

    first = loaded["svc-1"]
    assert first.locate(("spec", "loadBalancers", 0, "containerPort")) == (
        "svc-1.yaml",
        *place(svc1, "containerPort:", "8000"),
    )
    target = ("spec", "autoScaling", "targetTracking", 0, "targetValue")
    assert first.locate(target) == ("svc-1.yaml", *place(svc1, "targetValue", "60"))
    # a field the file does not have: its deepest parent that it has
    assert first.locate(("spec", "nosuchfield", "x")) == (
        "svc-1.yaml",
        *place(svc1, "  cluster: prod", "cluster"),
    )
    # in the task definition's own file (JSON: located through the YAML pass)
    env = ("containerDefinitions", 0, "environment", 3, "value")
    assert first.locate(env, in_task_definition=True) == (
        "svc-1.json",
        *place_below(td, '"VAR_3"', '"3"'),
    )
    # the second document of a file is located in that document, not in the first
    third = loaded["svc-3"]
    start = both.split("\n").index("---", 1) + 1
    assert third.line == start
    assert third.locate(("metadata", "name")) == ("both.yaml", *place(both, "name: svc-3", "svc-3"))
    assert third.locate(("spec", "desiredCount")) == (
        "both.yaml",
        *place(both, "desiredCount", "2", after=start),
    )
    assert third.locate(env, in_task_definition=True) == first.locate(env, in_task_definition=True)


def place_below(text: str, line_with: str, value: str) -> tuple[int, int]:
    """(line, col) of value on the first line holding it below the line holding line_with."""
    lines = text.split("\n")
    above = next(n for n, line in enumerate(lines) if line_with in line)
    number = next(n for n in range(above + 1, len(lines)) if value in lines[n])
    return number + 1, lines[number].index(value) + 1


def test_models_share_their_field_names_defaults_and_words() -> None:
    first = KeyValuePair.model_validate({"name": "A", "value": "1"})
    second = KeyValuePair.model_validate({"name": "B", "value": "2"})
    assert first.model_fields_set == {"name", "value"}
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__

    td = TaskDefinitionInput.model_validate(json.loads(task_definition(1)))
    named = set(td.model_fields_set)
    copied = td.model_copy(update={"pid_mode": "task"})
    # the copy names one field more; the models it was copied from keep what they named
    assert copied.model_fields_set == named | {"pid_mode"}
    assert td.model_fields_set == named
    again = TaskDefinitionInput.model_validate(json.loads(task_definition(2)))
    assert again.model_fields_set == named


def test_services_share_default_sub_models_and_short_words(write_tree: WriteTree) -> None:
    result = load_tree(DirectoryTree(write_tree(services(2)), display_root=""))
    first, second = (item.resource for item in result.loaded)
    assert isinstance(first, EcsService)
    assert isinstance(second, EcsService)
    assert first.spec.deployment.rolling is second.spec.deployment.rolling
    assert first.spec.sync_policy is second.spec.sync_policy
    assert first.spec.launch_type is second.spec.launch_type  # "FARGATE", from YAML
    one, two = first.spec.task_definition_input, second.spec.task_definition_input
    assert one.execution_role_arn is two.execution_role_arn  # from JSON
    assert one.family is not two.family


@pytest.mark.parametrize("kind", ["git-checkout", "git-remote"])
async def test_a_git_revision_holds_its_bytes_once_and_lets_go_of_them_once_loaded(
    tmp_path: Path, kind: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    # files large next to what lists them (64 KiB of comments each)
    pad = ("#" + "x" * 63 + "\n") * 1024
    files = {
        f"deploy/{name}": text + pad if name.endswith(".yaml") else text
        for name, text in services(20).items()
    }
    commit(repo, files)
    size = sum(len(text) for text in files.values())
    if kind == "git-remote":
        source: Source = RemoteGitSource(
            f"file://{repo}", path="deploy", cache_dir=tmp_path / "cache", poll_interval=1
        )
    else:
        source = open_source(f"git+file://{repo}#path=deploy/", cache_dir=tmp_path / "cache")
    await source.fetch()  # git's own first-time costs (the clone) are not the revision's
    commit(repo, {name: text.replace(":v1", ":v2") for name, text in files.items()})
    tracemalloc.start()
    try:
        artifact = await source.fetch()
        held, peak = tracemalloc.get_traced_memory()
        first = load_tree(artifact.tree)
        before = tracemalloc.get_traced_memory()[0]
        artifact.tree.release()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # the files are held once, in git's answer (not also in a copy of each file), and
    # fetching holds them twice at most (asyncio joins what it read into that answer)
    assert size <= held < 1.25 * size
    assert peak < 2.25 * size
    assert before - after >= size  # released once loaded
    # a load retried after the release reads the same commit again
    again = load_tree(artifact.tree)
    assert [i.key for i in again.loaded] == [i.key for i in first.loaded]
    assert len(again.loaded) == 20
    assert again.diagnostics == first.diagnostics
