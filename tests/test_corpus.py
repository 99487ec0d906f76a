"""The bad-input corpus: every broken or hostile file is refused with a located, specific
message, in bounded time and memory, and the valid files beside it still load.

tests/corpus/bad/ holds one file per way of being wrong (its first line says how; JSON
files cannot, their names do); tests/corpus/good/ holds valid resources. Both are copied
into one tree, with two files too big to commit generated beside them, and loaded as
one source, as `ecs-gitops validate` and the controller would see them.
"""

from __future__ import annotations

import re
import shutil
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.api import ResourceKey
from controller.loader import LoadResult, load_tree
from controller.sources.directory import DirectoryTree
from tests.conftest import REPO, run_cli

CORPUS = REPO / "tests" / "corpus"


@dataclass(frozen=True)
class Bad:
    """The diagnostic a broken file must get: its place, and words its message must hold."""

    line: int
    col: int
    words: tuple[str, ...]
    errors: int = 1
    """How many errors the file gets in all (one way of being broken: usually one)."""
    with_: str | None = None
    """A file that must be loaded too (the resource that references a task definition
    file, or the other half of a duplicate): alone, this one is never read."""


TD = "is not a valid task definition (see "

BAD: dict[str, Bad] = {
    # ---- YAML syntax and hostile YAML
    "01-yaml-unclosed-flow-sequence.yaml": Bad(
        7,
        7,
        (
            "invalid YAML",
            "did not find expected ',' or ']'",
            "flow sequence started at line 6, column 22",
        ),
    ),
    "02-yaml-unclosed-quote.yaml": Bad(
        8,
        1,
        ("invalid YAML", "unexpected end of stream", "quoted scalar started at line 5, column 9"),
    ),
    "03-yaml-tab-indentation.yaml": Bad(5, 1, ("tab character", "indent with spaces")),
    "04-yaml-colon-in-plain-value.yaml": Bad(
        7, 12, ("invalid YAML", "mapping values are not allowed")
    ),
    "05-yaml-inconsistent-indentation.yaml": Bad(
        9,
        6,
        ("invalid YAML", "expected '-' indicator", "block collection started at line 8, column 5"),
    ),
    "06-yaml-duplicate-key.yaml": Bad(6, 3, ("duplicate key 'name'", "first at line 5")),
    "07-yaml-custom-tag-ref.yaml": Bad(7, 12, ("unsupported YAML tag '!Ref'",)),
    "08-yaml-python-object-tag.yaml": Bad(
        5, 9, ("unsupported YAML tag '!!python/object/apply:os.system'",)
    ),
    "09-yaml-alias-bomb.yaml": Bad(12, 12, ("more than 200000 values", "aliases", "alias bomb")),
    "10-yaml-nested-10000-deep.yaml": Bad(
        6, 1020, ("invalid YAML", "exceeded maximum nesting depth")
    ),
    "11-yaml-undefined-alias.yaml": Bad(7, 12, ("unknown or recursive alias *cluster-name",)),
    "12-yaml-recursive-alias.yaml": Bad(7, 18, ("unknown or recursive alias *loop",)),
    "13-latin1-not-utf8.yaml": Bad(6, 22, ("not UTF-8", "byte 0xe9")),
    "14-utf16-not-utf8.yaml": Bad(1, 1, ("UTF-16", "save it as UTF-8")),
    "15-nul-bytes.yaml": Bad(4, 24, ("NUL bytes",)),
    "16-yaml-merge-of-scalar.yaml": Bad(7, 7, ("'<<' merge takes a mapping",)),
    "17-yaml-complex-key.yaml": Bad(8, 7, ("mapping keys must be plain values",)),
    # generated at test time (see corpus_tree): too big to commit
    "18-yaml-300000-values.yaml": Bad(
        6, 1_799_942, ("more than 200000 values", "limit for one document")
    ),
    "19-huge-10mb.yaml": Bad(1, 1, ("file is 10.0 MiB", "larger than the 4.0 MiB limit")),
    # ---- JSON
    "20-json-trailing-comma.json": Bad(6, 37, ("invalid JSON", "trailing comma")),
    "21-json-comment.json": Bad(2, 3, ("invalid JSON", "does not allow comments")),
    "22-json-duplicate-key.json": Bad(6, 3, ("duplicate key 'spec'", "first at line 5")),
    "23-json-truncated.json": Bad(5, 32, ("invalid JSON", "unterminated string")),
    "24-json-nested-100-deep.json": Bad(3, 81, ("nested more than 64 levels deep",)),
    "25-json-nested-10000-deep.json": Bad(1, 65, ("nested more than 64 levels deep",)),
    # ---- JSON task definitions that are not register-task-definition input, and their users
    "26-taskdef-describe-output-wrapped.json": Bad(
        2,
        3,
        ("describe-task-definition", "the object under 'taskDefinition'"),
        with_="26-taskdef-describe-output-wrapped.service.yaml",
    ),
    "26-taskdef-describe-output-wrapped.service.yaml": Bad(
        8, 19, ("spec.taskDefinition", "'26-taskdef-describe-output-wrapped.json'", TD)
    ),
    "27-taskdef-describe-output-fields.json": Bad(
        2,
        3,
        ("'taskDefinitionArn' is set by ECS", "describe-task-definition output"),
        errors=7,  # taskDefinitionArn, revision, status, requiresAttributes, compatibilities, registeredAt/By
        with_="27-taskdef-describe-output-fields.service.yaml",
    ),
    "27-taskdef-describe-output-fields.service.yaml": Bad(
        8, 19, ("spec.taskDefinition", "'27-taskdef-describe-output-fields.json'", TD)
    ),
    "28-taskdef-wrong-types.json": Bad(
        15,
        20,
        ("containerDefinitions[0].essential", "must be a valid boolean", "got 'true'"),
        with_="28-taskdef-wrong-types.service.yaml",
    ),
    "28-taskdef-wrong-types.service.yaml": Bad(
        8, 19, ("spec.taskDefinition", "'28-taskdef-wrong-types.json'", TD)
    ),
    "29-taskdef-array.json": Bad(
        1, 1, ("must hold one mapping", "is not a mapping"), with_="29-taskdef-array.service.yaml"
    ),
    "29-taskdef-array.service.yaml": Bad(
        8, 19, ("spec.taskDefinition", "'29-taskdef-array.json'", TD)
    ),
    # ---- schema: unknown fields, missing fields, wrong types and values
    "30-unknown-field-typo.yaml": Bad(
        12, 3, ("unknown field 'desiredCont' in spec", "did you mean 'desiredCount'?")
    ),
    "31-unknown-field-namespace.yaml": Bad(6, 3, ("unknown field 'namespace' in metadata",)),
    "32-unknown-field-snake-case.yaml": Bad(
        12, 3, ("unknown field 'desired_count' in spec", "did you mean 'desiredCount'?")
    ),
    "33-missing-taskdefinition.yaml": Bad(
        7, 3, ("spec.taskDefinition: missing required field 'taskDefinition'",)
    ),
    "34-missing-metadata-name.yaml": Bad(5, 3, ("metadata.name: missing required field 'name'",)),
    "35-missing-spec.yaml": Bad(2, 1, ("missing required field 'spec'",)),
    "36-wrong-type-desiredcount-string.yaml": Bad(
        12, 17, ("spec.desiredCount", "must be a valid integer", "got '2'")
    ),
    "37-wrong-type-subnets-string.yaml": Bad(
        11, 36, ("awsvpcConfiguration.subnets", "must be a valid list", "got 'subnet-aaa'")
    ),
    "38-wrong-enum-launchtype.yaml": Bad(
        9, 15, ("spec.launchType", "'FARGATE', 'EC2' or 'EXTERNAL'", "got 'fargate'")
    ),
    "39-invalid-name.yaml": Bad(5, 9, ("metadata.name", "pattern", "got 'My Cluster!'")),
    "40-desiredcount-negative.yaml": Bad(
        12, 17, ("spec.desiredCount", "greater than or equal to 0", "got -1")
    ),
    "41-spec-is-a-list.yaml": Bad(7, 3, ("spec: must be a mapping", "got a list")),
    "42-invalid-region.yaml": Bad(7, 11, ("spec.region", "pattern", "got 'Seoul'")),
    "43-unknown-deployment-strategy.yaml": Bad(
        13, 15, ("spec.deployment.strategy", "'rolling', 'blueGreen' or 'canary'", "got 'recreate'")
    ),
    "44-wrong-type-tag-value-number.yaml": Bad(
        9, 17, ("spec.tags.costCenter", "must be a valid string", "got 1234")
    ),
    "45-yaml-yes-is-a-boolean.yaml": Bad(
        11, 66, ("assignPublicIp", "'ENABLED' or 'DISABLED'", "got True", "quote it")
    ),
    "46-null-cluster.yaml": Bad(7, 11, ("spec.cluster", "must be a valid string", "got None")),
    "47-inline-taskdef-containers-not-a-list.yaml": Bad(
        15, 7, ("spec.taskDefinition.containerDefinitions", "must be a valid list", "got a mapping")
    ),
    "48-autoscaling-missing-max.yaml": Bad(
        13, 5, ("spec.autoScaling.maxCapacity: missing required field",)
    ),
    "49-task-count-too-high.yaml": Bad(
        12, 10, ("spec.count", "less than or equal to 10", "got 50")
    ),
    # ---- apiVersion and kind
    "50-unknown-kind.yaml": Bad(3, 7, ("unknown kind 'EcsServices'", "did you mean 'EcsService'?")),
    "51-unknown-version.yaml": Bad(
        2, 13, ("unknown apiVersion 'ecs-gitops.dev/v9'", "ecs-gitops.dev/v1alpha1")
    ),
    "52-missing-kind.yaml": Bad(2, 1, ("missing kind", "EcsService")),
    "53-kind-wrong-case.yaml": Bad(
        3, 7, ("unknown kind 'ecscluster'", "did you mean 'EcsCluster'?")
    ),
    "54-multidoc-second-invalid.yaml": Bad(
        10, 3, ("unknown field 'capacityProvider' in spec", "did you mean 'capacityProviders'?")
    ),
    "55-apiversion-group-typo.yaml": Bad(
        2,
        13,
        ("unknown apiVersion 'ecs-gitop.dev/v1alpha1'", "did you mean 'ecs-gitops.dev/v1alpha1'?"),
    ),
    "56-our-kind-in-another-group.yaml": Bad(
        2,
        13,
        (
            "unknown apiVersion 'apps/v1'",
            "EcsCluster is an ecs-gitops.dev kind",
            "did you mean 'ecs-gitops.dev/v1alpha1'?",
        ),
    ),
    "57-our-kind-without-apiversion.yaml": Bad(
        2, 7, ("kind EcsCluster needs `apiVersion: ecs-gitops.dev/v1alpha1`",)
    ),
    "58-apiversion-without-version.yaml": Bad(
        2, 13, ("unknown apiVersion 'ecs-gitops.dev'", "did you mean 'ecs-gitops.dev/v1alpha1'?")
    ),
    # ---- paths and symlinks
    "60-taskdef-path-traversal.yaml": Bad(8, 19, ("'../../etc/passwd' leaves the source tree",)),
    "61-taskdef-absolute-path.yaml": Bad(8, 19, ("'/etc/passwd' leaves the source tree",)),
    "62-taskdef-missing-file.yaml": Bad(8, 19, ("'no-such-task-definition.json'", "no such file")),
    "63-taskdef-is-a-resource.yaml": Bad(
        8, 19, ("is an ecs-gitops resource, not a task definition",)
    ),
    "64-taskdef-is-a-directory.yaml": Bad(8, 19, ("cannot use '_td'", "not a regular file")),
    "65-taskdef-through-symlink-out.yaml": Bad(
        8,
        19,
        ("cannot use '66-symlink-to-etc-hostname.yaml'", "symlink points outside the source tree"),
    ),
    "66-symlink-to-etc-hostname.yaml": Bad(1, 1, ("symlink points outside the source tree",)),
    "67-symlink-dir-to-etc": Bad(1, 1, ("symlink points outside the source tree", "ignored")),
    "68-symlink-loop.yaml": Bad(1, 1, ("cannot read", "symbolic links")),
    # ---- what AWS would reject only at deploy time
    "70-fargate-cpu-memory-combo.yaml": Bad(
        13, 13, ("Fargate", "cpu 256", "512, 1024, 2048", "4096")
    ),
    "71-fargate-cpu-not-a-task-size.yaml": Bad(12, 10, ("Fargate", "no task size with cpu 300")),
    "72-fargate-without-awsvpc.yaml": Bad(
        10, 18, ("Fargate requires networkMode 'awsvpc'", "'bridge'")
    ),
    "73-secrets-without-execution-role.yaml": Bad(
        18, 11, ("container 'web' has secrets", "executionRoleArn")
    ),
    "74-lb-unknown-container.yaml": Bad(
        14, 22, ("load balancer targets container 'app'", "does not have", "'web'")
    ),
    "75-lb-port-not-mapped.yaml": Bad(
        15, 22, ("load balancer targets port 80 of container 'web'", "8000")
    ),
    "76-duplicate-container-names.yaml": Bad(17, 16, ("container name 'web' is used twice",)),
    "77-duplicate-resource-a.yaml": Bad(
        2,
        1,
        ("duplicate EcsService corpus/dup-web", "77-duplicate-resource-b.yaml:2"),
        with_="77-duplicate-resource-b.yaml",
    ),
    "77-duplicate-resource-b.yaml": Bad(
        2,
        1,
        ("duplicate EcsService corpus/dup-web", "77-duplicate-resource-a.yaml:2"),
        with_="77-duplicate-resource-a.yaml",
    ),
    "78-canary-weights-not-increasing.yaml": Bad(
        17, 20, ("canary weights must increase", "20 follows 50")
    ),
    "79-launchtype-and-capacity-provider-strategy.yaml": Bad(
        13, 5, ("launchType", "capacityProviderStrategy", "not both")
    ),
    "80-awsvpc-without-subnets.yaml": Bad(7, 3, ("networkMode awsvpc", "needs subnets")),
    "81-autoscaling-min-above-max.yaml": Bad(13, 18, ("minCapacity 10 is above maxCapacity 2",)),
    "82-rolling-max-not-above-min.yaml": Bad(
        13, 14, ("maximumPercent (100) must be above minimumHealthyPercent (100)",)
    ),
    "83-duplicate-port-mapping.yaml": Bad(17, 87, ("port 8000/tcp is mapped twice", "'web'")),
    "84-mount-point-unknown-volume.yaml": Bad(18, 38, ("volume 'data'", "volumes do not declare")),
    "85-depends-on-unknown-container.yaml": Bad(18, 37, ("dependsOn names container 'migrate'",)),
    "86-cluster-strategy-unknown-provider.yaml": Bad(
        9, 26, ("'FARGATE_SPOT'", "not in capacityProviders ['FARGATE']")
    ),
    "87-cluster-containerinsights-value.yaml": Bad(8, 40, ("containerInsights", "not 'on'")),
    "88-fargate-privileged.yaml": Bad(16, 52, ("Fargate", "privileged")),
    "89-canary-without-steps.yaml": Bad(13, 15, ("strategy canary needs deployment.canary.steps",)),
    "90-fargate-missing-task-memory.yaml": Bad(11, 30, ("Fargate requires task-level memory",)),
    "91-awsvpc-hostport-differs.yaml": Bad(
        16, 87, ("hostPort must equal containerPort (8000)", "not 80")
    ),
    "92-no-essential-container.yaml": Bad(16, 7, ("at least one container must be essential",)),
    "93-fargate-ephemeral-storage.yaml": Bad(
        15, 35, ("Fargate ephemeral storage is 21 to 200 GiB", "not 500")
    ),
    "94-task-size-hundreds-of-digits.yaml": Bad(
        14, 10, ("400-character value is not a CPU size (too large)",), errors=2
    ),
}

GENERATED = ("18-yaml-300000-values.yaml", "19-huge-10mb.yaml")
# (kind, name) of everything that must load: the good files, and the valid first
# document of 54-multidoc-second-invalid.yaml.
GOOD = {
    ("EcsCluster", "corpus"),
    ("EcsService", "good-web"),
    ("EcsTask", "good-migrate"),
    ("EcsCluster", "bad-54-valid"),
}
HOSTILE = (
    "09-yaml-alias-bomb.yaml",
    "10-yaml-nested-10000-deep.yaml",
    "18-yaml-300000-values.yaml",
    "19-huge-10mb.yaml",
    "25-json-nested-10000-deep.json",
)
MAX_SECONDS = 5.0
MAX_PEAK_BYTES = 200 * 1024 * 1024


def generate(bad: Path) -> None:
    """The files too big to commit."""
    head = "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\n"
    (bad / "18-yaml-300000-values.yaml").write_text(
        "# Hostile (generated): 300,000 values in one document, under the byte limit.\n"
        + head
        + "metadata: {name: bad-18}\nspec:\n  capacityProviders: ["
        + "FARGATE, " * 300_000
        + "]\n"
    )
    filler = "  - " + "x" * 75 + "\n"
    with open(bad / "19-huge-10mb.yaml", "w") as fh:
        fh.write(head + "metadata: {name: bad-19}\nspec:\n  capacityProviders:\n")
        fh.write(filler * (10 * 1024 * 1024 // len(filler)))


@pytest.fixture(scope="module")
def corpus_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/corpus (good and bad, symlinks kept as symlinks) plus the generated files."""
    root = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(CORPUS, root, symlinks=True)
    generate(root / "bad")
    return root


@pytest.fixture(scope="module")
def loaded(corpus_tree: Path) -> tuple[LoadResult, float]:
    """The whole tree loaded as one source, and how long that took."""
    started = time.perf_counter()
    result = load_tree(DirectoryTree(corpus_tree, display_root=""))
    return result, time.perf_counter() - started


def test_corpus_is_big_enough_and_fully_described() -> None:
    committed = {p.name for p in (CORPUS / "bad").iterdir() if p.name != "_td"}
    assert committed == set(BAD) - set(GENERATED), "every bad file needs an entry in BAD"
    assert len(BAD) >= 45
    for link in (
        "66-symlink-to-etc-hostname.yaml",
        "67-symlink-dir-to-etc",
        "68-symlink-loop.yaml",
    ):
        assert (CORPUS / "bad" / link).is_symlink(), link


def test_resource_names_are_unique_except_the_intended_duplicate() -> None:
    names: list[str] = []
    for path in sorted((CORPUS / "bad").iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        names += re.findall(r'"?name"?:\s*"?(bad-[\w-]+|dup-web)', text)
    assert names.count("dup-web") == 2
    duplicated = {n for n in names if names.count(n) > 1} - {"dup-web"}
    assert not duplicated


@pytest.mark.parametrize(("name", "bad"), list(BAD.items()), ids=list(BAD))
def test_bad_file_is_rejected_with_a_located_specific_message(
    name: str, bad: Bad, loaded: tuple[LoadResult, float]
) -> None:
    result, _ = loaded
    file = f"bad/{name}"
    errors = [d for d in result.errors if d.file == file]
    assert errors, f"{file} is broken but got no error"
    at = [d for d in errors if (d.line, d.col) == (bad.line, bad.col)]
    assert at, f"no error at {file}:{bad.line}:{bad.col}; got:\n" + "\n".join(map(str, errors))
    assert any(all(w in d.message for w in bad.words) for d in at), (
        f"no error at {file}:{bad.line}:{bad.col} says {bad.words}; got:\n"
        + "\n".join(map(str, at))
    )
    assert len(errors) == bad.errors, "\n".join(map(str, errors))
    assert str(at[0]).startswith(f"{file}:{bad.line}:{bad.col}: error: ")


def test_valid_files_beside_the_broken_ones_still_load(loaded: tuple[LoadResult, float]) -> None:
    result, _ = loaded
    assert {(type(r).__name__, r.metadata.name) for r in result.resources} == GOOD
    assert [d for d in result.diagnostics if d.file.startswith("good/")] == []
    by_name = {item.resource.metadata.name: item for item in result.loaded}
    assert by_name["good-web"].task_definition_file == "good/task-definition.json"
    # Unreadable files make the load incomplete: nothing may be pruned on its strength.
    assert result.complete is False
    assert ResourceKey("EcsService", "", "corpus", "dup-web") in result.rejected
    assert ResourceKey("EcsService", "", "corpus", "bad-70") in result.rejected


def test_whole_corpus_loads_in_bounded_time(loaded: tuple[LoadResult, float]) -> None:
    result, seconds = loaded
    assert result.files >= len(BAD)
    assert seconds < MAX_SECONDS


# A directory symlink is found by listing the tree, not by reading one file: the whole-corpus
# tests above cover it; here every file that can be read on its own.
READABLE = [name for name in BAD if name != "67-symlink-dir-to-etc"]


@pytest.mark.parametrize("name", READABLE, ids=READABLE)
def test_each_bad_file_alone_is_rejected_quickly(name: str, corpus_tree: Path) -> None:
    bad = BAD[name]
    only = [f"bad/{name}"] + ([f"bad/{bad.with_}"] if bad.with_ else [])
    started = time.perf_counter()
    result = load_tree(DirectoryTree(corpus_tree, only=only, display_root=""))
    assert time.perf_counter() - started < MAX_SECONDS / 2
    assert any(
        d.file == f"bad/{name}" and (d.line, d.col) == (bad.line, bad.col) for d in result.errors
    ), "\n".join(map(str, result.diagnostics))


@pytest.mark.parametrize("name", HOSTILE, ids=HOSTILE)
def test_hostile_file_loads_in_bounded_memory(name: str, corpus_tree: Path) -> None:
    tree = DirectoryTree(corpus_tree, only=[f"bad/{name}"], display_root="")
    tracemalloc.start()
    try:
        result = load_tree(tree)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(d.line, d.col) for d in result.errors] == [(BAD[name].line, BAD[name].col)]
    assert peak < MAX_PEAK_BYTES, f"peak {peak / 2**20:.0f} MiB"


def test_validate_cli_reports_a_located_line_per_broken_file(corpus_tree: Path) -> None:
    result = run_cli("validate", str(corpus_tree), timeout=120)
    # exit 1 is also what a crash gives: the summary line shows validate ran to the end
    assert result.returncode == 1, result.stderr
    assert re.search(rf"\b{len(GOOD)} resources: \d+ errors", result.stderr), result.stderr
    lines = result.stdout.splitlines()
    for name, bad in BAD.items():
        prefix = re.escape(str(corpus_tree / "bad" / name))
        pattern = re.compile(rf"^{prefix}:{bad.line}:{bad.col}: error: ")
        assert any(pattern.match(line) for line in lines), f"no located error for {name}"
        assert any(re.match(rf"^{prefix}:\d+:\d+: error: ", line) for line in lines)
    assert not [line for line in lines if line.startswith(str(corpus_tree / "good"))]
