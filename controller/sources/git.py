"""The Git sources: a local checkout read at its committed ref, and a remote kept in a cache.

Both only name a commit and hand its GitTree over (gittree.py); git itself runs through
gitcli.py. A checkout's new commits are noticed by stat()ing its ref files, a remote's by
`git ls-remote`; a remote is fetched one ref at a time into a bare cache repository, and
only when the ref names a commit the cache does not hold yet, shallow: a repository's
history is never downloaded, only the commit deployed.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tempfile
import time
import urllib.parse
from pathlib import Path

from controller.errors import SourceError, SourceNotFound
from controller.sources.base import Artifact, Wakeup, poll_until_changed, redact_url
from controller.sources.budget import MAX_REVISION_BYTES
from controller.sources.gitcli import (
    REMOTE_TIMEOUT,
    Git,
    check_ref,
    check_subpath,
    git_env,
    remote_auth,
    ssh_command,
)
from controller.sources.gittree import commit_info, commit_tree

WATCH_SECONDS = 0.15  # how often a local checkout's ref files are stat()ed
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class LocalGitSource:
    """A repository on this machine (a checkout or a bare repository), read at a ref.

    A new commit is noticed by stat()ing the ref files (HEAD, the branch's loose ref,
    packed-refs) every WATCH_SECONDS; a `rev-parse` every poll_interval backs that up
    (ref storage we do not know, filesystems with coarse timestamps)."""

    def __init__(
        self,
        repo: str | os.PathLike[str],
        *,
        ref: str | None = None,
        path: str = "",
        display: str | None = None,
        display_root: str | None = None,
        poll_interval: float = 15.0,
        max_revision_bytes: int = MAX_REVISION_BYTES,
    ) -> None:
        self.repo = Path(repo)
        self._budget = max_revision_bytes
        self.ref = check_ref(ref) if ref else None
        self.path = check_subpath(path)  # relative to repo; to the repository's root once located
        self._display = display or str(repo)
        self._display_root = display_root
        self._poll = poll_interval
        self._git = Git(self._display)
        self._wakeup = Wakeup()
        self._common: Path | None = None
        self._attempted = False
        self._baseline: tuple[object, ...] = ()
        self._next_poll = 0.0
        self._next_watch = 0.0
        self._last: Artifact | None = None

    @property
    def display(self) -> str:
        return self._display

    def __repr__(self) -> str:
        return f"LocalGitSource({self._display!r})"

    def trigger(self) -> None:
        self._wakeup.set()

    async def fetch(self) -> Artifact:
        self._attempted = True
        self._next_poll = time.monotonic() + self._poll
        await self._locate()
        self._baseline = self._signature()
        commit = await self._resolve()
        if self._last is not None and self._last.revision == commit:
            return self._last
        try:
            tree = await commit_tree(
                self._git,
                commit,
                self.path,
                display_root=self._display_root,
                max_revision_bytes=self._budget,
            )
        except SourceNotFound as exc:
            hint = f"a checkout is read at its last commit on {self.ref}, so commit the files"
            raise SourceNotFound(f"{exc} ({hint})") from None
        info = await commit_info(self._git, commit)
        self._last = Artifact(
            commit, info.time, tree, self._display, subject=info.subject, author=info.author
        )
        return self._last

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (the protocol's)
        if not self._attempted:
            return True
        return await poll_until_changed(
            timeout,
            self._wakeup.sleep,
            lambda: min(self._next_watch, self._next_poll),
            self._changed,
        )

    async def _changed(self) -> bool:
        """The ref files are stat()ed every WATCH_SECONDS; the ref is resolved when they
        moved, and every poll interval in any case (a change they would not show)."""
        now = time.monotonic()
        self._next_watch = now + WATCH_SECONDS
        signature = self._signature()
        if signature == self._baseline and now < self._next_poll:
            return False
        self._next_poll = now + self._poll
        if self._last is None:
            return True  # the last fetch failed: retry it
        try:
            if await self._resolve() != self._last.revision:
                return True
        except SourceError:
            return True  # let fetch() report it
        self._baseline = signature
        return False

    async def _locate(self) -> None:
        """Find the repository's directories, and pin the ref and path on first use: repo
        may be a directory inside a checkout, and the ref is then its current branch."""
        if self._common is not None:
            return
        if not self.repo.is_dir():
            raise SourceNotFound(f"{self._display}: no such directory")
        out = await self._git.run(
            "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
            "--is-bare-repository", "--show-prefix", cwd=self.repo,
        )  # fmt: skip
        lines = out.decode("utf-8", "surrogateescape").split("\n")
        git_dir, common = Path(lines[0]), Path(lines[1])
        bare = lines[2] == "true"
        prefix = "" if bare else lines[3]
        self._git.git_dir = git_dir
        self.path = check_subpath(posixpath.join(prefix, self.path))
        if self.ref is None:
            code, symref, _ = await self._git.try_run("symbolic-ref", "-q", "HEAD")
            # On a branch: that branch, even after a later `git switch`. Detached: HEAD
            # itself, so a deploy script's `git checkout <sha>` is followed.
            self.ref = symref.decode().strip() if code == 0 else "HEAD"
        self._common = common

    def _candidates(self) -> list[str]:
        ref = self.ref or "HEAD"
        if ref == "HEAD" or ref.startswith("refs/"):
            return [ref]
        return [f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/remotes/{ref}", ref]

    async def _resolve(self) -> str:
        for candidate in self._candidates():
            code, out, err = await self._git.try_run(
                "rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"
            )
            if code == 0:
                return out.decode().strip()
            if err.strip():
                raise self._git.error("rev-parse", err)
        raise SourceNotFound(f"{self._display}: ref {self.ref!r} does not exist in the repository")

    def _signature(self) -> tuple[object, ...]:
        if self._common is None or self._git.git_dir is None:
            return ()
        files = [self._git.git_dir / "HEAD", self._common / "packed-refs"]
        files.append(self._common / "reftable" / "tables.list")
        refs = [c for c in self._candidates() if c.startswith("refs/")]
        if self.ref == "HEAD":
            head = _small(self._git.git_dir / "HEAD")
            if head and head.startswith(b"ref: "):
                refs.append(head[5:].strip().decode("utf-8", "replace"))
        files += [self._common / r for r in refs]
        state: list[object] = []
        for file in files:
            try:
                info = os.stat(file)
            except OSError:
                state.append(None)
                continue
            content = _small(file) if file.name != "packed-refs" else None
            state.append((info.st_ino, info.st_mtime_ns, info.st_size, content))
        return tuple(state)


def _small(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(4096)
    except OSError:
        return None


class RemoteGitSource:
    """A remote repository (https, ssh, or any URL git takes), mirrored one ref at a time
    into a bare repository under cache_dir named by the URL's digest.

    wait_for_change runs `git ls-remote` every poll_interval (or at once on trigger());
    fetch downloads only when the ref names a commit the cache does not hold yet."""

    def __init__(
        self,
        url: str,
        *,
        ref: str | None = None,
        path: str = "",
        cache_dir: str | os.PathLike[str],
        poll_interval: float = 15.0,
        display: str | None = None,
        timeout: float = REMOTE_TIMEOUT,
        max_revision_bytes: int = MAX_REVISION_BYTES,
    ) -> None:
        if urllib.parse.urlsplit(url).scheme == "ssh":
            ssh_command()  # no host keys and no opt-out: refused before anything starts
        self._url = url
        self._display = display or redact_url(url)
        self.ref = check_ref(ref) if ref else None
        self.path = check_subpath(path)
        digest = hashlib.sha256(redact_url(url).encode()).hexdigest()[:32]
        self.cache = Path(cache_dir) / digest
        self._poll = poll_interval
        self._timeout = timeout
        self._budget = max_revision_bytes
        self._wakeup = Wakeup()
        self._attempted = False
        self._next_check = 0.0
        self._last: Artifact | None = None

    @property
    def display(self) -> str:
        return self._display

    def __repr__(self) -> str:
        return f"RemoteGitSource({self._display!r})"

    def trigger(self) -> None:
        self._wakeup.set()

    async def fetch(self) -> Artifact:
        self._attempted = True
        self._next_check = time.monotonic() + self._poll
        git, url = self._git()
        await self._ensure_cache(git)
        ref, commit = await self._ls_remote(git, url)
        if self._last is not None and self._last.revision == commit:
            return self._last
        code, _, _ = await git.try_run("cat-file", "-e", f"{commit}^{{commit}}")
        if code != 0:
            dest = ref or f"refs/ecs-gitops/pinned/{commit}"
            # --depth=1: the commit and its tree only, never the history behind it (on a
            # file:// URL too; git ignores it only for a plain path)
            args = ("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth=1",
                    "--end-of-options")  # fmt: skip
            await git.run(*args, url, f"+{ref or commit}:{dest}")
            resolved = await git.run("rev-parse", "--verify", f"{dest}^{{commit}}")
            commit = resolved.decode().strip()
        tree = await commit_tree(git, commit, self.path, max_revision_bytes=self._budget)
        info = await commit_info(git, commit)
        self._last = Artifact(
            commit, info.time, tree, self._display, subject=info.subject, author=info.author
        )
        return self._last

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (the protocol's)
        if not self._attempted:
            return True
        return await poll_until_changed(
            timeout, self._wakeup.sleep, lambda: self._next_check, self._changed
        )

    async def _changed(self) -> bool:
        self._next_check = time.monotonic() + self._poll
        if self._last is None:
            return True  # the last fetch failed: retry it
        git, url = self._git()
        try:
            _, commit = await self._ls_remote(git, url)
        except SourceError:
            return True  # let fetch() report it
        return commit != self._last.revision

    def _git(self) -> tuple[Git, str]:
        url, extra, secrets = remote_auth(self._url)
        git = Git(self._display, self.cache, git_env(extra), secrets, self._timeout)
        return git, url

    async def _ensure_cache(self, git: Git) -> None:
        if (self.cache / "HEAD").is_file() and (self.cache / "objects").is_dir():
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{self.cache.name}.", dir=self.cache.parent))
        try:
            await Git(self._display, env=git.env).run("init", "--quiet", "--bare", str(tmp))
            shutil.rmtree(self.cache, ignore_errors=True)  # a broken earlier attempt
            os.replace(tmp, self.cache)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def _ls_remote(self, git: Git, url: str) -> tuple[str | None, str]:
        """(the full ref, the commit it names); no ref when the source pins a commit."""
        if self.ref is not None and _SHA.fullmatch(self.ref):
            return None, self.ref
        if self.ref is None:
            out = await git.run("ls-remote", "--symref", url, "HEAD")
            head = [ln for ln in out.decode().splitlines() if ln.startswith("ref: ")]
            if not head:
                raise SourceNotFound(f"{self._display}: the remote has no default branch")
            self.ref = head[0][5:].split("\t")[0]  # pinned: a later default change is ignored
        ref = self.ref
        names = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        peeled = [f"{n}^{{}}" for n in names if n.startswith("refs/tags/")]
        out = await git.run("ls-remote", url, *names, *peeled)
        found: dict[str, str] = {}
        for line in out.decode().splitlines():
            sha, _, name = line.partition("\t")
            found[name] = sha
        for name in names:
            if name in found:
                return name, found.get(f"{name}^{{}}", found[name])
        raise SourceNotFound(f"{self._display}: ref {ref!r} not found on the remote")
