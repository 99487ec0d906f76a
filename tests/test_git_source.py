"""Git and directory sources against real repositories made with the git CLI in tmp_path."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from controller.api.files import MAX_FILE_BYTES
from controller.errors import (
    SourceAuthError,
    SourceFileError,
    SourceNetworkError,
    SourceNotFound,
    SourceUnsupported,
)
from controller.loader.loader import load_tree
from controller.sources import (
    DirectorySource,
    GitTree,
    LocalGitSource,
    RemoteGitSource,
    open_source,
    redact_url,
)
from controller.sources.gitcli import remote_auth
from tests.conftest import free_port, write_files

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart"
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str | bytes], message: str = "change", **env: str) -> str:
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


SERVICE = (EXAMPLE / "myapp.yaml").read_text()
TASK_DEF = (EXAMPLE / "task-definition.json").read_text()


async def local(repo: Path, path: str = "deploy", ref: str | None = None) -> LocalGitSource:
    return LocalGitSource(repo, ref=ref, path=path, display=f"git+file://{repo}", poll_interval=30)


# -- reading a commit ---------------------------------------------------------------------


async def test_reads_the_committed_files_never_the_working_tree(repo: Path) -> None:
    sha = commit(repo, {"deploy/a.yaml": "committed: 1\n"})
    write_files(repo, {"deploy/a.yaml": "half-edited: [\n", "deploy/new.yaml": "untracked: 1\n"})
    git(repo, "add", "deploy/new.yaml")  # staged is not committed either
    artifact = await (await local(repo)).fetch()
    assert artifact.revision == sha
    assert artifact.tree.manifest_paths() == ["a.yaml"]
    assert artifact.tree.read("a.yaml") == b"committed: 1\n"
    assert artifact.tree.display_root == "deploy"


async def test_revision_and_commit_time(repo: Path) -> None:
    sha = commit(repo, {"deploy/a.yaml": "a: 1\n"}, GIT_COMMITTER_DATE="2024-01-02T03:04:05Z")
    artifact = await (await local(repo)).fetch()
    assert artifact.revision == sha
    assert len(artifact.revision) == 40
    assert artifact.time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert artifact.source == f"git+file://{repo}"


async def test_a_plain_path_in_a_checkout_follows_its_branch(repo: Path) -> None:
    commit(repo, {"deploy/a.yaml": "a: 1\n"})
    source = open_source(str(repo / "deploy"), cache_dir=repo / "cache", poll_interval=30)
    assert isinstance(source, LocalGitSource)
    first = await source.fetch()
    assert first.tree.display_root == str(repo / "deploy")  # diagnostics read as typed
    git(repo, "switch", "-q", "-c", "other")
    commit(repo, {"deploy/a.yaml": "a: 2\n"})
    again = await source.fetch()
    assert again.revision == first.revision  # pinned to main, where HEAD was
    assert source.ref == "refs/heads/main"


async def test_loads_through_the_loader_with_located_diagnostics(repo: Path) -> None:
    broken = SERVICE.replace("  desiredCount: 2\n", "  desiredCount: 2\n  desiredCont: 3\n")
    commit(repo, {"deploy/myapp.yaml": broken, "deploy/task-definition.json": TASK_DEF})
    result = load_tree((await (await local(repo)).fetch()).tree)
    assert [str(d).split(": error")[0] for d in result.errors] == ["deploy/myapp.yaml:13:3"]
    assert "desiredCont" in result.errors[0].message
    commit(repo, {"deploy/myapp.yaml": SERVICE})
    result = load_tree((await (await local(repo)).fetch()).tree)
    assert result.errors == []
    assert [item.task_definition_file for item in result.loaded] == ["deploy/task-definition.json"]


async def test_ref_tag_and_sha(repo: Path) -> None:
    first = commit(repo, {"deploy/a.yaml": "a: 1\n"})
    git(repo, "tag", "-a", "v1", "-m", "v1")
    commit(repo, {"deploy/a.yaml": "a: 2\n"})
    for ref in ("v1", "refs/tags/v1", first, first[:10]):
        artifact = await (await local(repo, ref=ref)).fetch()
        assert artifact.revision == first, ref
        assert artifact.tree.read("a.yaml") == b"a: 1\n"


async def test_a_bare_repository_through_git_file(repo: Path, tmp_path: Path) -> None:
    sha = commit(repo, {"deploy/a.yaml": "a: 1\n"})
    git(tmp_path, "clone", "-q", "--bare", str(repo), "bare.git")
    spec = f"git+file://{tmp_path}/bare.git#ref=main&path=deploy/"
    source = open_source(spec, cache_dir=tmp_path / "cache", poll_interval=30)
    artifact = await source.fetch()
    assert (artifact.revision, artifact.tree.manifest_paths()) == (sha, ["a.yaml"])
    assert artifact.tree.display_root == "deploy"


async def test_git_file_at_a_directory_inside_a_checkout(repo: Path) -> None:
    commit(repo, {"deploy/prod/a.yaml": "a: 1\n", "deploy/b.yaml": "b: 1\n"})
    spec = f"git+file://{repo}/deploy#path=prod"
    artifact = await open_source(spec, cache_dir=repo / "c", poll_interval=30).fetch()
    assert artifact.tree.manifest_paths() == ["a.yaml"]
    assert artifact.tree.display_root == "deploy/prod"


@pytest.mark.parametrize(
    ("setup", "ref", "path", "message"),
    [
        ("missing", None, "deploy", "no such directory"),
        ("plain", None, "deploy", "not a git repository"),
        ("repo", "nope", "deploy", "ref 'nope' does not exist"),
        ("repo", None, "elsewhere", "path elsewhere/ does not exist in commit"),
        ("repo", None, "deploy/a.yaml", "is a file, not a directory"),
    ],
    ids=["repo-missing", "not-a-repo", "ref-missing", "path-missing", "path-is-a-file"],
)
async def test_clear_errors(
    repo: Path, tmp_path: Path, setup: str, ref: str | None, path: str, message: str
) -> None:
    commit(repo, {"deploy/a.yaml": "a: 1\n"})
    target = {"missing": tmp_path / "nowhere", "plain": tmp_path / "plain", "repo": repo}[setup]
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceNotFound, match=message):
        await (await local(target, path=path, ref=ref)).fetch()


# -- confinement --------------------------------------------------------------------------


async def test_reads_are_confined_to_the_path_subtree(repo: Path) -> None:
    service = SERVICE.replace("task-definition.json", "../secrets/td.json")
    commit(
        repo,
        {
            "deploy/myapp.yaml": service,
            "secrets/td.json": TASK_DEF,
            "secrets/x.yaml": "password: hunter2\n",
            "deploy/.hidden/h.yaml": "h: 1\n",
            "deploy/notes.txt": "text",
        },
    )
    tree = (await (await local(repo)).fetch()).tree
    assert tree.manifest_paths() == ["myapp.yaml"]
    for path in ("../secrets/x.yaml", "sub/../../secrets/x.yaml", "/etc/passwd"):
        with pytest.raises(SourceFileError, match="path leaves the source tree"):
            tree.read(path)
    with pytest.raises(SourceFileError, match="no such file"):
        tree.read("secrets/x.yaml")
    assert tree.read("notes.txt") == b"text"  # not a manifest: read on demand
    assert tree.read(".hidden/h.yaml") == b"h: 1\n"
    result = load_tree(tree)
    assert [d.file for d in result.errors] == ["deploy/myapp.yaml"]
    assert "leaves the source tree" in result.errors[0].message


async def test_symlinks_inside_are_followed_outside_refused(repo: Path) -> None:
    commit(repo, {"deploy/v2/svc.yaml": "svc: 2\n", "secrets/x.yaml": "secret: 1\n"})
    links = {
        "deploy/link.yaml": "v2/svc.yaml",
        "deploy/current": "v2",
        "deploy/round.yaml": "../deploy/v2/svc.yaml",
        "deploy/out.yaml": "../secrets/x.yaml",
        "deploy/abs.yaml": "/etc/passwd",
        "deploy/loop.yaml": "loop.yaml",
    }
    for name, target in links.items():
        os.symlink(target, repo / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links")
    tree = (await (await local(repo)).fetch()).tree
    assert tree.manifest_paths() == [
        "abs.yaml",
        "link.yaml",
        "loop.yaml",
        "out.yaml",
        "round.yaml",
        "v2/svc.yaml",
    ]
    for path in ("link.yaml", "current/svc.yaml", "round.yaml", "v2/svc.yaml"):
        assert tree.read(path) == b"svc: 2\n", path
    for path in ("out.yaml", "abs.yaml"):
        with pytest.raises(SourceFileError, match="symlink points outside the source tree"):
            tree.read(path)
    with pytest.raises(SourceFileError, match="too many levels"):
        tree.read("loop.yaml")
    with pytest.raises(SourceFileError, match="not a regular file"):
        tree.read("current")


async def test_large_blobs_are_refused_by_size(repo: Path) -> None:
    big = b"x: " + b"y" * MAX_FILE_BYTES + b"\n"
    commit(repo, {"deploy/big.yaml": big, "deploy/big.txt": big, "deploy/ok.yaml": "ok: 1\n"})
    tree = (await (await local(repo)).fetch()).tree
    assert tree.manifest_paths() == ["ok.yaml"]
    [(path, message)] = tree.listing_problems()
    assert path == "big.yaml"
    assert "larger than the 4.0 MiB limit" in message
    for name in ("big.yaml", "big.txt"):
        with pytest.raises(SourceFileError, match=r"larger than the 4\.0 MiB limit"):
            tree.read(name)
    assert not load_tree(tree).complete


async def test_submodules_are_listed_as_problems(repo: Path) -> None:
    sha = commit(repo, {"deploy/a.yaml": "a: 1\n"})
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},deploy/vendor")
    git(repo, "commit", "-q", "-m", "submodule")
    tree = (await (await local(repo)).fetch()).tree
    assert isinstance(tree, GitTree)
    assert tree.manifest_paths() == ["a.yaml"]
    assert [p for p, _ in tree.listing_problems()] == ["vendor"]
    with pytest.raises(SourceFileError, match="submodule"):
        tree.read("vendor")


# -- noticing change ----------------------------------------------------------------------


async def test_a_new_commit_is_noticed_within_a_second(repo: Path) -> None:
    commit(repo, {"deploy/a.yaml": "a: 1\n"})
    source = await local(repo)
    first = await source.fetch()
    assert await source.wait_for_change(0.3) is False  # nothing happened
    waiter = asyncio.create_task(source.wait_for_change(10))
    await asyncio.sleep(0.2)
    new = await asyncio.to_thread(commit, repo, {"deploy/a.yaml": "a: 2\n"})
    committed = time.monotonic()
    assert await asyncio.wait_for(waiter, 2) is True
    assert time.monotonic() - committed < 0.6
    second = await source.fetch()
    assert (second.revision, second.tree.read("a.yaml")) == (new, b"a: 2\n")
    assert first.revision != second.revision


async def test_commits_elsewhere_do_not_wake_it(repo: Path) -> None:
    commit(repo, {"deploy/a.yaml": "a: 1\n"})
    git(repo, "branch", "other")
    source = await local(repo, ref="main")
    await source.fetch()
    git(repo, "switch", "-q", "other")
    commit(repo, {"deploy/a.yaml": "a: 2\n"})
    assert await source.wait_for_change(0.5) is False


async def test_trigger_wakes_wait_for_change(repo: Path) -> None:
    commit(repo, {"deploy/a.yaml": "a: 1\n"})
    source = await local(repo)
    await source.fetch()
    asyncio.get_running_loop().call_later(0.1, source.trigger)
    started = time.monotonic()
    assert await source.wait_for_change(10) is True
    assert time.monotonic() - started < 1


async def test_a_failing_source_is_retried_at_the_poll_interval_not_spun(tmp_path: Path) -> None:
    source = LocalGitSource(tmp_path / "nowhere", path="", poll_interval=0.3)
    assert await source.wait_for_change(5) is True  # never fetched
    with pytest.raises(SourceNotFound):
        await source.fetch()
    started = time.monotonic()
    assert await source.wait_for_change(5) is True
    assert 0.25 < time.monotonic() - started < 1


# -- plain directories --------------------------------------------------------------------


async def test_a_directory_outside_git_is_read_by_content_digest(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write_files(root, {"a.yaml": "a: 1\n", "sub/b.json": "{}"})
    source = open_source(str(root), cache_dir=tmp_path / "cache", poll_interval=0.2)
    assert isinstance(source, DirectorySource)
    first = await source.fetch()
    assert first.time is None
    assert first.revision.startswith("sha256:")
    assert first.tree.manifest_paths() == ["a.yaml", "sub/b.json"]
    assert (await source.fetch()).revision == first.revision
    assert await source.wait_for_change(0.5) is False
    write_files(root, {"a.yaml": "a: 2\n"})
    assert await source.wait_for_change(2) is True
    second = await source.fetch()
    assert second.revision != first.revision
    assert second.tree.read("a.yaml") == b"a: 2\n"


# -- remotes ------------------------------------------------------------------------------


@pytest.fixture
def origin(repo: Path, tmp_path: Path) -> Path:
    commit(repo, {"deploy/a.yaml": "a: 1\n"})
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    return bare


async def test_remote_clones_into_the_cache_and_fetches_new_pushes(
    repo: Path, origin: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    source = RemoteGitSource(
        f"file://{origin}", ref="main", path="deploy/", cache_dir=cache, poll_interval=0.2
    )
    first = await source.fetch()
    assert first.revision == git(repo, "rev-parse", "HEAD")
    assert first.tree.read("a.yaml") == b"a: 1\n"
    assert first.tree.display_root == "deploy"
    [clone] = cache.iterdir()
    assert git(clone, "rev-parse", "--is-bare-repository") == "true"
    assert await source.fetch() is first  # ls-remote saw nothing new: no fetch
    assert await source.wait_for_change(0.5) is False

    new = commit(repo, {"deploy/a.yaml": "a: 2\n"})
    git(repo, "push", "-q", "origin", "main")
    assert await source.wait_for_change(3) is True
    second = await source.fetch()
    assert (second.revision, second.tree.read("a.yaml")) == (new, b"a: 2\n")

    # a restart reuses the cache; a broken cache is rebuilt
    again = RemoteGitSource(
        f"file://{origin}", ref="main", path="deploy", cache_dir=cache, poll_interval=1
    )
    assert (await again.fetch()).revision == new
    (clone / "HEAD").unlink()
    rebuilt = RemoteGitSource(f"file://{origin}", path="deploy", cache_dir=cache, poll_interval=1)
    assert (await rebuilt.fetch()).revision == new
    assert rebuilt.ref == "refs/heads/main"  # the remote's default branch


async def test_remote_tags_shas_and_missing_refs(repo: Path, origin: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "v1", "-m", "v1")
    commit(repo, {"deploy/a.yaml": "a: 2\n"})
    git(repo, "push", "-q", "--tags", "origin", "main")
    url = f"file://{origin}"
    for ref in ("v1", first):
        source = RemoteGitSource(
            url, ref=ref, path="deploy", cache_dir=tmp_path / "c", poll_interval=1
        )
        assert (await source.fetch()).revision == first, ref
    missing = RemoteGitSource(url, ref="nope", cache_dir=tmp_path / "c", poll_interval=1)
    with pytest.raises(SourceNotFound, match="ref 'nope' not found on the remote"):
        await missing.fetch()
    gone = RemoteGitSource(f"file://{tmp_path}/gone.git", cache_dir=tmp_path / "c", poll_interval=1)
    with pytest.raises(SourceNotFound, match="does not appear to be a git repository"):
        await gone.fetch()


async def test_trigger_wakes_a_remote_at_once(origin: Path, tmp_path: Path) -> None:
    source = RemoteGitSource(f"file://{origin}", cache_dir=tmp_path / "c", poll_interval=60)
    await source.fetch()
    asyncio.get_running_loop().call_later(0.1, source.trigger)
    started = time.monotonic()
    assert await source.wait_for_change(30) is True
    assert time.monotonic() - started < 1


# -- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("git+https://user:s3cr3t@host/org/r.git#ref=main", "git+https://host/org/r.git#ref=main"),
        ("git+https://s3cr3t@host:8443/r.git", "git+https://host:8443/r.git"),
        ("git+ssh://git@host/org/r.git", "git+ssh://git@host/org/r.git"),
        ("git+ssh://git:s3cr3t@host/org/r.git", "git+ssh://host/org/r.git"),
        ("git+https://host/org/r.git", "git+https://host/org/r.git"),
    ],
    ids=["user-password", "token-as-user", "ssh-user", "ssh-password", "none"],
)
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


async def test_credentials_never_appear_in_display_or_errors(tmp_path: Path) -> None:
    spec = f"git+https://user:s3cr3t@127.0.0.1:{free_port()}/org/repo.git#ref=main"
    source = open_source(spec, cache_dir=tmp_path / "cache", poll_interval=1)
    with pytest.raises(SourceNetworkError) as caught:
        await source.fetch()
    for text in (source.display, str(source), repr(source), str(caught.value)):
        assert "s3cr3t" not in text
        assert "user" not in text.replace("/usr", "")
    assert "s3cr3t" not in str(list((tmp_path / "cache").rglob("*")))


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []
    status = 404
    delay = 0.0

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        time.sleep(self.delay)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "status": 404, "delay": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_token_from_the_environment_goes_in_a_header(
    http_server: tuple[str, type[_Recorder]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, handler = http_server
    token_file = tmp_path / "token"
    token_file.write_text("t0ken-from-file\n")
    monkeypatch.setenv("ECS_GITOPS_GIT_TOKEN_FILE", str(token_file))
    source = RemoteGitSource(
        f"{base}/org/repo.git", ref="main", cache_dir=tmp_path / "c", poll_interval=1
    )
    with pytest.raises(SourceNotFound) as caught:
        await source.fetch()
    expected = base64.b64encode(b"x-access-token:t0ken-from-file").decode()
    assert handler.seen[0] == f"Basic {expected}"
    assert "t0ken" not in str(caught.value)
    assert expected not in str(caught.value)
    url, _, secrets = remote_auth(f"{base}/org/repo.git")
    assert "t0ken" not in url
    assert "t0ken-from-file" in secrets

    handler.status = 403
    with pytest.raises(SourceAuthError, match="ECS_GITOPS_GIT_TOKEN") as refused:
        await source.fetch()
    assert "t0ken" not in str(refused.value)


async def test_a_hanging_remote_times_out_and_git_is_killed(
    http_server: tuple[str, type[_Recorder]], tmp_path: Path
) -> None:
    base, handler = http_server
    handler.delay = 1.0
    source = RemoteGitSource(
        f"{base}/r.git", ref="main", cache_dir=tmp_path / "c", poll_interval=1, timeout=0.3
    )
    started = time.monotonic()
    with pytest.raises(SourceNetworkError, match=r"git ls-remote timed out after 0\.3 s"):
        await source.fetch()
    assert time.monotonic() - started < 1


def test_internal_reprs_hold_no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECS_GITOPS_GIT_TOKEN", "t0ken")
    source = RemoteGitSource("https://u:pw@host/r.git", cache_dir=tmp_path, poll_interval=1)
    git_runner, url = source._git()
    assert "t0ken" in str(git_runner.env)
    assert "pw" in git_runner.secrets
    for text in (repr(git_runner), url, repr(source), str(source.cache)):
        assert "t0ken" not in text
        assert ":pw@" not in text


# -- specs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("s3://bucket/prefix/", SourceUnsupported, "cannot read s3:// sources"),
        ("ftp://host/x", SourceUnsupported, "unknown source scheme ftp://"),
        ("git+https://host/r.git#branch=main", SourceUnsupported, "unknown option 'branch'"),
        ("git+https://host/r.git#path=../x", SourceUnsupported, "leaves the repository"),
        ("git+https://host/r.git#ref=-x", SourceUnsupported, "not a valid Git ref"),
        ("git+file://otherhost/repo", SourceUnsupported, "git\\+file:///abs/path"),
        ("/no/such/dir", SourceNotFound, "no such file or directory"),
    ],
    ids=[
        "s3",
        "unknown-scheme",
        "unknown-option",
        "path-escapes",
        "bad-ref",
        "file-host",
        "missing",
    ],
)
def test_bad_specs(spec: str, error: type[Exception], message: str, tmp_path: Path) -> None:
    with pytest.raises(error, match=message):
        open_source(spec, cache_dir=tmp_path, poll_interval=1)


def test_remote_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "known_hosts").write_text("host ssh-ed25519 AAAA\n")
    monkeypatch.setenv("ECS_GITOPS_GIT_KNOWN_HOSTS_FILE", str(tmp_path / "known_hosts"))
    source = open_source(
        "git+ssh://git@host/org/repo.git#ref=v1.2&path=deploy/", cache_dir=tmp_path, poll_interval=5
    )
    assert isinstance(source, RemoteGitSource)
    assert (source.ref, source.path) == ("v1.2", "deploy")
    assert source.cache.parent == tmp_path
    assert source.display == "git+ssh://git@host/org/repo.git#ref=v1.2&path=deploy/"
