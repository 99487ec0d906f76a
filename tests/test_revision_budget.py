"""The revision budget of every source kind, and remote Git fetched without its history.

Repositories are real (git CLI in tmp_path), remotes are served as file:// URLs so that
git honours --depth as it does for https and ssh.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.errors import SourceError, SourceFileError
from controller.loader.loader import load_tree
from controller.sources import RemoteGitSource, open_source
from controller.sources.base import Artifact
from controller.sources.budget import MAX_REVISION_BYTES
from tests.conftest import run_cli, write_files
from tests.test_git_source import commit, git

KIB = 1024
CLUSTER = "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata: {name: c%d}\n"


def manifests(count: int, size: int) -> dict[str, str]:
    """count valid manifests of about size bytes each (padded with a YAML comment)."""
    files = {}
    for i in range(count):
        body = CLUSTER % i
        files[f"deploy/c{i}.yaml"] = body + "#" + "x" * (size - len(body) - 2) + "\n"
    return files


def has_object(git_dir: Path, sha: str) -> bool:
    done = subprocess.run(["git", f"--git-dir={git_dir}", "cat-file", "-e", sha], check=False)
    return done.returncode == 0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


async def fetch(kind: str, repo: Path, tmp_path: Path, budget: int) -> Artifact:
    """The repository's deploy/ as a source of kind, read with budget."""
    if kind == "git-remote":  # open_source takes no file:// remote: built as it would be
        remote = RemoteGitSource(
            f"file://{repo}", path="deploy", cache_dir=tmp_path / "cache", poll_interval=1,
            max_revision_bytes=budget,
        )  # fmt: skip
        return await remote.fetch()
    spec = f"git+file://{repo}#path=deploy/"
    if kind == "directory":  # a copy outside any Git work tree
        spec = str(tmp_path / "plain")
        write_files(Path(spec), {p.name: p.read_text() for p in (repo / "deploy").glob("*")})
    source = open_source(
        spec, cache_dir=tmp_path / "cache", poll_interval=1, max_revision_bytes=budget
    )
    return await source.fetch()


@pytest.mark.parametrize("kind", ["directory", "git-checkout", "git-remote"])
async def test_a_revision_over_the_budget_is_refused_as_a_whole(
    kind: str, repo: Path, tmp_path: Path
) -> None:
    commit(repo, manifests(10, 10 * KIB))  # 100 KiB of manifests
    artifact = await fetch(kind, repo, tmp_path, budget=100 * KIB)
    assert len(load_tree(artifact.tree).resources) == 10  # at the budget: read

    commit(repo, manifests(11, 10 * KIB))  # one more: 110 KiB
    with pytest.raises(SourceError) as refused:
        await fetch(kind, repo, tmp_path / "again", budget=100 * KIB)
    message = str(refused.value)
    assert "add up to 0.1 MiB (112640 bytes)" in message
    assert "revision budget of 0.1 MiB (102400 bytes)" in message
    assert "--max-revision-bytes (ECS_GITOPS_MAX_REVISION_BYTES)" in message


async def test_the_default_budget_is_32_mib(repo: Path, tmp_path: Path) -> None:
    assert MAX_REVISION_BYTES == 32 * 1024 * 1024
    commit(repo, manifests(9, 4 * 1024 * KIB - 4096))  # 9 files just under 4 MiB each
    with pytest.raises(SourceError, match=r"revision budget of 32\.0 MiB"):
        await open_source(f"git+file://{repo}#path=deploy/", cache_dir=tmp_path).fetch()


async def test_files_read_later_are_charged_to_what_is_left(repo: Path, tmp_path: Path) -> None:
    """A task definition not named *.json is read when a service names it: the bytes held
    for the revision still stay within the budget."""
    commit(repo, {**manifests(2, 10 * KIB), "deploy/small.txt": "s" * KIB,
                  "deploy/big.txt": "b" * 30 * KIB})  # fmt: skip
    tree = (
        await open_source(
            f"git+file://{repo}#path=deploy/",
            cache_dir=tmp_path,
            max_revision_bytes=40 * KIB,
        ).fetch()
    ).tree
    assert tree.read("small.txt") == b"s" * KIB
    with pytest.raises(SourceFileError, match="go over the revision budget"):
        tree.read("big.txt")


async def test_a_remote_is_fetched_without_its_history_and_follows_force_pushes(
    repo: Path, tmp_path: Path
) -> None:
    commit(repo, {"deploy/a.yaml": CLUSTER % 1, "history.bin": os.urandom(4 * 1024 * KIB)})
    old = commit(repo, {"deploy/a.yaml": CLUSTER % 2})
    git(repo, "rm", "-q", "history.bin")
    head = commit(repo, {"deploy/a.yaml": CLUSTER % 3}, GIT_COMMITTER_DATE="2024-05-01T10:00:00Z")
    source = RemoteGitSource(
        f"file://{repo}", ref="main", path="deploy", cache_dir=tmp_path / "c", poll_interval=0.1
    )
    artifact = await source.fetch()
    assert artifact.revision == head
    assert artifact.time == datetime(2024, 5, 1, 10, tzinfo=UTC)
    cache = source.cache
    assert git(cache, "rev-parse", "--is-shallow-repository") == "true"
    assert git(cache, "rev-list", "--count", "--all") == "1"  # the commit, not its history
    assert not has_object(cache, old)
    size = sum(f.stat().st_size for f in (cache / "objects").rglob("*") if f.is_file())
    assert size < 64 * KIB  # the 4 MiB blob of the history never came

    # a force-push to an unrelated commit, then a normal push on top of it
    git(repo, "checkout", "-q", "--orphan", "rewritten")
    forced = commit(repo, {"deploy/a.yaml": CLUSTER % 4})
    git(repo, "branch", "-q", "-f", "main", forced)
    assert await source.wait_for_change(3) is True
    assert (await source.fetch()).tree.read("a.yaml") == (CLUSTER % 4).encode()
    git(repo, "checkout", "-q", "main")
    after = commit(repo, {"deploy/a.yaml": CLUSTER % 5})
    assert await source.wait_for_change(3) is True
    artifact = await source.fetch()
    assert (artifact.revision, artifact.tree.read("a.yaml")) == (after, (CLUSTER % 5).encode())


@pytest.mark.parametrize(
    ("budget", "code", "says"),
    [("64KiB", 2, "revision budget of 0.1 MiB (65536 bytes)"), ("lots", 2, "not a size")],
    ids=["over", "unreadable"],
)
def test_diff_takes_the_budget_as_an_option(
    budget: str, code: int, says: str, tmp_path: Path
) -> None:
    write_files(tmp_path / "src", manifests(10, 10 * KIB))
    done = run_cli(
        "diff", "--source", str(tmp_path / "src" / "deploy"), "--max-revision-bytes", budget,
        "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:1",
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    assert says in done.stderr
