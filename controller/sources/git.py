"""Git sources: a local checkout read at its committed ref, and a remote kept in a cache.

Files always come from a commit, through the git CLI (`ls-tree`, `cat-file --batch`),
never from a working tree, so a half-edited file never deploys. A GitTree is one commit's
subtree under `path=`: sizes come from the listing, so a blob is refused before a byte of
it is read, and every read (symlinks included) is confined to that subtree. git runs with
no shell, a timeout, no terminal prompt and C messages (which are sorted into the
SourceError kinds); credentials reach it only through its environment, and anything it
prints passes through redaction before it is shown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from controller.api.files import MANIFEST_SUFFIXES, MAX_FILE_BYTES
from controller.errors import (
    SourceAuthError,
    SourceError,
    SourceFileError,
    SourceNetworkError,
    SourceNotFound,
    SourceUnsupported,
    UsageError,
)
from controller.sources.base import Artifact, Wakeup, read_secret, redact_text, redact_url

LOCAL_TIMEOUT = 30.0  # seconds for git commands on a local repository
REMOTE_TIMEOUT = 300.0  # seconds for ls-remote / fetch against a remote
WATCH_SECONDS = 0.15  # how often a local checkout's ref files are stat()ed
MAX_TREE_BYTES = 256 * 1024 * 1024  # all manifests of one commit together
MAX_SYMLINK_HOPS = 16
_SUBMODULE, _SYMLINK = "160000", "120000"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_BAD_REF = re.compile(r"^-|\.\.|[\x00-\x20\x7f~^:?*\[\\]|@\{|/$|\.lock$")
_SCRUB = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_NAMESPACE",
          "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES")  # fmt: skip

# (kind, stderr fragments) in the order they are tried: not-found messages also say
# "Could not read from remote repository", so they come before the network ones.
_CLASSES: list[tuple[type[SourceError], tuple[str, ...]]] = [
    (SourceAuthError, ("authentication failed", "could not read username", "could not read password",
                       "terminal prompts disabled", "permission denied (publickey", "error: 401",
                       "error: 403", "access denied", "host key verification failed")),
    (SourceNotFound, ("repository not found", "' not found", "does not appear to be a git repository",
                      "not a git repository", "error: 404", "couldn't find remote ref")),
    (SourceNetworkError, ("could not resolve host", "connection refused", "timed out",
                          "couldn't connect", "network is unreachable", "unable to access",
                          "could not read from remote", "early eof", "hung up unexpectedly")),
]  # fmt: skip


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every git child gets: no prompts, no optional locks (a user's
    `git status` is never blocked by us), C messages, no GIT_DIR leaking in from outside."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C", LANGUAGE="C")
    env.update(extra or {})
    return env


@dataclass(slots=True)
class Git:
    """How to run git for one source: its repository, environment and what to hide."""

    display: str
    git_dir: Path | None = None
    env: dict[str, str] = field(default_factory=git_env, repr=False)  # may hold a token
    secrets: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = LOCAL_TIMEOUT

    def argv(self, args: tuple[str, ...]) -> list[str]:
        base = ["git", "-c", "core.quotePath=false", "--literal-pathspecs"]
        return base + ([f"--git-dir={self.git_dir}"] if self.git_dir else []) + list(args)

    async def run(self, *args: str, input: bytes | None = None, cwd: Path | None = None) -> bytes:
        """stdout of `git args`; a SourceError naming the failure otherwise."""
        code, out, err = await self.try_run(*args, input=input, cwd=cwd)
        if code != 0:
            raise self.error(args[0], err)
        return out

    async def try_run(
        self, *args: str, input: bytes | None = None, cwd: Path | None = None
    ) -> tuple[int, bytes, bytes]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(args),
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=cwd,
                start_new_session=True,  # its own process group: helpers die with it
            )
        except FileNotFoundError:
            raise SourceError("the git command is not installed (or not on PATH)") from None
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate(input)
        except BaseException as exc:  # a timeout or a cancellation: never leave git running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # git and its remote helper or ssh
            await asyncio.shield(proc.communicate())
            if isinstance(exc, TimeoutError):
                raise SourceNetworkError(
                    f"{self.display}: git {args[0]} timed out after {self.timeout:g} s"
                ) from None
            raise
        assert proc.returncode is not None
        return proc.returncode, out, err

    def error(self, command: str, stderr: bytes) -> SourceError:
        text = redact_text(stderr.decode("utf-8", "replace"), *self.secrets)
        lines = [ln.removeprefix("fatal: ").strip() for ln in text.splitlines() if ln.strip()]
        lowered = text.lower()
        kind = next((k for k, marks in _CLASSES if any(m in lowered for m in marks)), SourceError)
        detail = "; ".join(lines[:3]) or "no message"
        if kind is SourceAuthError:
            detail += (
                " (credentials: ECS_GITOPS_GIT_TOKEN or ECS_GITOPS_GIT_TOKEN_FILE for https, "
                "ECS_GITOPS_GIT_SSH_KEY_FILE for ssh)"
            )
        if "dubious ownership" in lowered:
            detail += " (the repository belongs to another user: see git's safe.directory)"
        return kind(f"{self.display}: git {command} failed: {detail}")


def check_ref(ref: str) -> str:
    if not ref or _BAD_REF.search(ref):
        raise SourceUnsupported(f"{ref!r} is not a valid Git ref name")
    return ref


def check_subpath(path: str) -> str:
    """path= as a clean relative POSIX path inside the repository ("" for its root)."""
    clean = posixpath.normpath(path.strip("/")) if path.strip("/") else "."
    if clean == ".":
        return ""
    if clean == ".." or clean.startswith("../") or "\x00" in clean:
        raise SourceUnsupported(f"path={path!r} leaves the repository")
    return clean


@dataclass(frozen=True, slots=True)
class _Entry:
    mode: str
    sha: str
    size: int | None  # None for a submodule


class GitTree:
    """The files of one commit under one path, as a FileTree.

    Manifests (and symlink targets) are read into memory when the tree is built; any
    other file the loader asks for (a task definition not named *.json, say) is read
    on demand with a bounded `git cat-file`, after its size was checked."""

    def __init__(
        self,
        git: Git,
        *,
        commit: str,
        prefix: str,
        entries: dict[str, _Entry],
        links: dict[str, str],
        blobs: dict[str, bytes],
        manifests: list[str],
        problems: list[tuple[str, str]],
        display_root: str | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.commit = commit
        self.prefix = prefix
        self._git = git
        self._entries = entries
        self._links = links
        self._blobs = blobs
        self._manifests = manifests
        self._problems = problems
        self._display_root = prefix if display_root is None else display_root
        self._max = max_file_bytes

    @property
    def display_root(self) -> str:
        return self._display_root

    def manifest_paths(self) -> list[str]:
        return list(self._manifests)

    def listing_problems(self) -> list[tuple[str, str]]:
        return list(self._problems)

    def read(self, path: str) -> bytes:
        rel = posixpath.normpath(path)
        if rel == ".." or rel.startswith("../") or posixpath.isabs(rel):
            raise SourceFileError(path, "path leaves the source tree")
        entry = self._entries[self._resolve(rel)]
        if entry.mode == _SUBMODULE or entry.size is None:
            raise SourceFileError(rel, "is a submodule, not a regular file")
        if entry.size > self._max:
            raise SourceFileError(
                rel, f"file is {_mib(entry.size)}, larger than the {_mib(self._max)} limit"
            )
        data = self._blobs.get(entry.sha)
        return data if data is not None else self._read_blob(rel, entry)

    def _resolve(self, rel: str) -> str:
        """The entry rel names after following symlinks, walked in repository coordinates
        so that a link may leave the subtree only to come straight back into it."""
        root = self.prefix.split("/") if self.prefix else []
        done = list(root)
        pending = [] if rel == "." else rel.split("/")
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not done:
                    raise SourceFileError(rel, "symlink points outside the source tree")
                done.pop()
                continue
            done.append(part)
            if done[: len(root)] != root:
                if len(done) <= len(root) and done == root[: len(done)]:
                    continue  # an ancestor of the subtree, on the way back into it
                raise SourceFileError(rel, "symlink points outside the source tree")
            current = "/".join(done[len(root) :])
            if current in self._links:
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SourceFileError(rel, "too many levels of symbolic links")
                target = self._links[current]
                if target.startswith("/"):
                    raise SourceFileError(rel, "symlink points outside the source tree")
                done.pop()
                pending = target.split("/") + pending
            elif current in self._entries and pending:
                raise SourceFileError(rel, "no such file")  # a file used as a directory
        if done[: len(root)] != root:
            raise SourceFileError(rel, "symlink points outside the source tree")
        current = "/".join(done[len(root) :])
        if current not in self._entries:
            is_dir = not current or any(p.startswith(current + "/") for p in self._entries)
            raise SourceFileError(rel, "not a regular file" if is_dir else "no such file")
        return current

    def _read_blob(self, rel: str, entry: _Entry) -> bytes:
        # The loader is synchronous; this path is for rare non-manifest reads only.
        try:
            done = subprocess.run(
                self._git.argv(("cat-file", "blob", entry.sha)),
                capture_output=True,
                env=self._git.env,
                timeout=self._git.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceFileError(rel, f"cannot read: {exc}") from None
        if done.returncode != 0 or len(done.stdout) > self._max:
            raise SourceFileError(rel, "cannot read it from the commit")
        self._blobs[entry.sha] = done.stdout
        return done.stdout


async def commit_tree(
    git: Git, commit: str, prefix: str, *, display_root: str | None = None
) -> GitTree:
    """The GitTree of commit under prefix; SourceNotFound when prefix is not a directory."""
    spec = (f"{prefix}/",) if prefix else ()
    out = await git.run("ls-tree", "-r", "-z", "--long", "--full-tree", commit, "--", *spec)
    entries: dict[str, _Entry] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, _kind, sha, size = meta.decode().split()
        name = raw_path.decode("utf-8", "surrogateescape")
        rel = name[len(prefix) + 1 :] if prefix else name
        entries[rel] = _Entry(mode, sha, None if size == "-" else int(size))
    if prefix and not entries:
        code, kind, _ = await git.try_run("cat-file", "-t", f"{commit}:{prefix}")
        what = (
            "is a file, not a directory"
            if code == 0 and kind.strip() == b"blob"
            else "does not exist"
        )
        raise SourceNotFound(f"{git.display}: path {prefix}/ {what} in commit {commit[:12]}")
    problems: list[tuple[str, str]] = []
    manifests: list[str] = []
    for rel, entry in sorted(entries.items()):
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if entry.mode == _SUBMODULE:
            problems.append((rel, "is a Git submodule; its files are not part of the source"))
        elif rel.lower().endswith(MANIFEST_SUFFIXES):
            if entry.size is not None and entry.size > MAX_FILE_BYTES:
                limit = f"{_mib(entry.size)}, larger than the {_mib(MAX_FILE_BYTES)} limit"
                problems.append((rel, f"file is {limit}; skipped"))
            else:
                manifests.append(rel)
    links = {
        rel: data.decode("utf-8", "surrogateescape")
        for rel, data in (await _cat(git, entries, [p for p, e in entries.items() if e.mode == _SYMLINK])).items()
    }  # fmt: skip
    tree = GitTree(
        git, commit=commit, prefix=prefix, entries=entries, links=links, blobs={},
        manifests=manifests, problems=problems, display_root=display_root,
    )  # fmt: skip
    wanted: list[str] = []
    for rel in manifests:
        with contextlib.suppress(SourceFileError):  # read() will say why
            wanted.append(tree._resolve(rel))
    blobs = await _cat(git, entries, wanted)
    tree._blobs.update({entries[rel].sha: data for rel, data in blobs.items()})
    return tree


async def _cat(git: Git, entries: dict[str, _Entry], paths: list[str]) -> dict[str, bytes]:
    """The contents of the regular blobs among paths, through one `cat-file --batch`."""
    want: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for rel in paths:
        entry = entries[rel]
        if entry.size is None or entry.size > MAX_FILE_BYTES or entry.mode == _SUBMODULE:
            continue
        want[rel] = entry.sha
        sizes[entry.sha] = entry.size
    total = sum(sizes.values())
    if total > MAX_TREE_BYTES:
        raise SourceError(
            f"{git.display}: the manifests total {_mib(total)}, more than the "
            f"{_mib(MAX_TREE_BYTES)} limit for one revision"
        )
    if not want:
        return {}
    shas = list(sizes)
    out = await git.run("cat-file", "--batch", input="".join(s + "\n" for s in shas).encode())
    by_sha: dict[str, bytes] = {}
    pos = 0
    for sha in shas:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if len(header) != 3 or header[0].decode() != sha or int(header[2]) > MAX_FILE_BYTES:
            raise SourceError(f"{git.display}: unexpected answer from git cat-file for {sha}")
        size = int(header[2])
        by_sha[sha] = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return {rel: by_sha[sha] for rel, sha in want.items()}


async def commit_time(git: Git, commit: str) -> datetime:
    """The committer time of commit, from the raw object (no user config can change it)."""
    raw = await git.run("cat-file", "commit", commit)
    for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
        if line.startswith(b"committer "):
            return datetime.fromtimestamp(int(line.rsplit(b" ", 2)[1]), UTC)
    raise SourceError(f"{git.display}: commit {commit[:12]} has no committer line")


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


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
    ) -> None:
        self.repo = Path(repo)
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
            tree = await commit_tree(self._git, commit, self.path, display_root=self._display_root)
        except SourceNotFound as exc:
            hint = f"a checkout is read at its last commit on {self.ref}, so commit the files"
            raise SourceNotFound(f"{exc} ({hint})") from None
        when = await commit_time(self._git, commit)
        self._last = Artifact(revision=commit, time=when, tree=tree, source=self._display)
        return self._last

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (the protocol's)
        if not self._attempted:
            return True
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            signature = self._signature()
            if signature != self._baseline or now >= self._next_poll:
                self._next_poll = now + self._poll
                if self._last is None:
                    return True  # the last fetch failed: retry it
                try:
                    if await self._resolve() != self._last.revision:
                        return True
                except SourceError:
                    return True  # let fetch() report it
                self._baseline = signature
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if await self._wakeup.sleep(min(WATCH_SECONDS, left)):
                return True

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


def remote_auth(url: str) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(the URL git is given, extra environment, values to redact) for a remote, built
    from the environment now. Credentials never travel in argv: an https token (from
    ECS_GITOPS_GIT_TOKEN[_FILE], else the URL's user:password) becomes an Authorization
    header scoped to the host, passed as GIT_CONFIG_* variables; ssh gets its key file
    through GIT_SSH_COMMAND. Without either, git's own credential helpers and ssh agent
    work as usual."""
    try:
        parts = urllib.parse.urlsplit(url)
        env_token = read_secret("ECS_GITOPS_GIT_TOKEN")
        key_file = os.environ.get("ECS_GITOPS_GIT_SSH_KEY_FILE")
    except (ValueError, UsageError) as exc:
        raise SourceAuthError(f"{redact_url(url)}: {exc}") from None
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    hostport = parts.netloc.rpartition("@")[2]
    extra: dict[str, str] = {}
    if parts.scheme == "ssh":
        netloc = f"{parts.username}@{hostport}" if parts.username else hostport
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]
        if key_file:
            ssh += ["-i", key_file, "-o", "IdentitiesOnly=yes"]
        if known := os.environ.get("ECS_GITOPS_GIT_KNOWN_HOSTS_FILE"):
            ssh += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes"]
        if key_file or known or "GIT_SSH_COMMAND" not in os.environ:
            extra["GIT_SSH_COMMAND"] = shlex.join(ssh)
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), extra, (password,)
    token = env_token.decode() if env_token else password
    secrets = tuple(s for s in (token, password, user if password else "") if s)
    if token and parts.scheme in ("http", "https"):
        login = user or os.environ.get("ECS_GITOPS_GIT_USERNAME") or "x-access-token"
        basic = base64.b64encode(f"{login}:{token}".encode()).decode()
        given = os.environ.get("GIT_CONFIG_COUNT", "0")
        count = int(given) if given.isdigit() else 0
        extra[f"GIT_CONFIG_KEY_{count}"] = f"http.{parts.scheme}://{hostport}/.extraHeader"
        extra[f"GIT_CONFIG_VALUE_{count}"] = f"Authorization: Basic {basic}"
        extra["GIT_CONFIG_COUNT"] = str(count + 1)
        secrets += (basic,)
    return urllib.parse.urlunsplit(parts._replace(netloc=hostport)), extra, secrets


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
    ) -> None:
        self._url = url
        self._display = display or redact_url(url)
        self.ref = check_ref(ref) if ref else None
        self.path = check_subpath(path)
        digest = hashlib.sha256(redact_url(url).encode()).hexdigest()[:32]
        self.cache = Path(cache_dir) / digest
        self._poll = poll_interval
        self._timeout = timeout
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
            args = ("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--end-of-options")
            await git.run(*args, url, f"+{ref or commit}:{dest}")
            resolved = await git.run("rev-parse", "--verify", f"{dest}^{{commit}}")
            commit = resolved.decode().strip()
        tree = await commit_tree(git, commit, self.path)
        when = await commit_time(git, commit)
        self._last = Artifact(revision=commit, time=when, tree=tree, source=self._display)
        return self._last

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (the protocol's)
        if not self._attempted:
            return True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            until_check = self._next_check - time.monotonic()
            if await self._wakeup.sleep(min(max(until_check, 0.0), left)):
                return True
            if time.monotonic() < self._next_check:
                continue
            self._next_check = time.monotonic() + self._poll
            if self._last is None:
                return True  # the last fetch failed: retry it
            git, url = self._git()
            try:
                _, commit = await self._ls_remote(git, url)
            except SourceError:
                return True  # let fetch() report it
            if commit != self._last.revision:
                return True

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
