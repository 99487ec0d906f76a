"""One commit's files, read through the git CLI: `GitTree` and how it is built.

Files always come from a commit (`ls-tree`, one `cat-file --batch`), never from a working
tree, so a half-edited file never deploys. A GitTree is one commit's subtree under
`path=`: sizes come from the listing, so a blob, or a revision over its budget
(budget.py), is refused before a byte of it is read, and every read (symlinks included)
is confined to that subtree. The manifests are read at the fetch, into one buffer that
release() lets go of once the revision is loaded: a revision's bytes are in memory while
it is loaded, not for as long as it is the current one.
"""

from __future__ import annotations

import contextlib
import posixpath
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.api.files import MANIFEST_SUFFIXES, MAX_FILE_BYTES
from controller.errors import SourceError, SourceFileError, SourceNotFound
from controller.sources.budget import MAX_REVISION_BYTES, Allowance, check_revision_bytes, mib
from controller.sources.gitcli import Git

MAX_SYMLINK_HOPS = 16
_SUBMODULE, _SYMLINK = "160000", "120000"

Blob = bytes | memoryview
"""A blob's bytes; a view into the one buffer `cat-file --batch` answered with."""


@dataclass(frozen=True, slots=True)
class _Entry:
    mode: str
    sha: str
    size: int | None  # None for a submodule


class GitTree:
    """The files of one commit under one path, as a FileTree.

    Manifests (and symlink targets) are read into memory when the tree is built; any
    other file the loader asks for (a task definition not named *.json, say) is read
    on demand with a bounded `git cat-file`, after its size was checked. After
    release(), a read (a load retried) reads them all again in one `cat-file --batch`."""

    def __init__(
        self,
        git: Git,
        *,
        commit: str,
        prefix: str,
        entries: dict[str, _Entry],
        links: dict[str, str],
        blobs: dict[str, Blob],
        manifests: list[str],
        problems: list[tuple[str, str]],
        display_root: str | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        allowance: Allowance | None = None,
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
        self._allowance = allowance or Allowance(MAX_REVISION_BYTES)
        self._counted: set[str] = set(blobs)
        """Blobs whose bytes were charged to the budget: read again for free."""
        self._released = False

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
                rel, f"file is {mib(entry.size)}, larger than the {mib(self._max)} limit"
            )
        if entry.sha in self._counted and entry.sha not in self._blobs and self._released:
            self._reload()
        data = self._blobs.get(entry.sha)
        if data is not None:
            return bytes(data)
        if entry.sha not in self._counted:
            self._allowance.charge(rel, entry.size)
            self._counted.add(entry.sha)
        return self._read_blob(rel, entry)

    def release(self) -> None:
        self._blobs = {}
        self._released = True

    def _reload(self) -> None:
        """Every blob read before release(), again, in one `git cat-file --batch`; a
        SourceError when git cannot, so a load fails whole, as its fetch would have."""
        shas = sorted(self._counted)
        try:
            done = subprocess.run(
                self._git.argv(("cat-file", "--batch")),
                input="".join(s + "\n" for s in shas).encode(),
                capture_output=True,
                env=self._git.env,
                timeout=self._git.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceError(
                f"{self._git.display}: cannot read commit {self.commit[:12]} again: {exc}"
            ) from None
        if done.returncode != 0:
            raise SourceError(f"{self._git.display}: cannot read commit {self.commit[:12]} again")
        self._blobs = _batch_blobs(self._git, done.stdout, shas)
        self._released = False

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
    git: Git,
    commit: str,
    prefix: str,
    *,
    display_root: str | None = None,
    max_revision_bytes: int = MAX_REVISION_BYTES,
) -> GitTree:
    """The GitTree of commit under prefix; SourceNotFound when prefix is not a directory,
    SourceError when its manifests go over max_revision_bytes (nothing read then)."""
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
                limit = f"{mib(entry.size)}, larger than the {mib(MAX_FILE_BYTES)} limit"
                problems.append((rel, f"file is {limit}; skipped"))
            else:
                manifests.append(rel)
    symlinks = [p for p, e in entries.items() if e.mode == _SYMLINK]
    check_revision_bytes(git.display, _bytes(entries, symlinks), max_revision_bytes)
    links = {
        rel: str(data, "utf-8", "surrogateescape")
        for rel, data in (await _cat(git, entries, symlinks)).items()
    }
    allowance = Allowance(max_revision_bytes)
    tree = GitTree(
        git, commit=commit, prefix=prefix, entries=entries, links=links, blobs={},
        manifests=manifests, problems=problems, display_root=display_root, allowance=allowance,
    )  # fmt: skip
    wanted: list[str] = []
    for rel in manifests:
        with contextlib.suppress(SourceFileError):  # read() will say why
            wanted.append(tree._resolve(rel))
    total = _bytes(entries, symlinks + wanted)
    check_revision_bytes(git.display, total, max_revision_bytes)
    allowance.left -= total
    blobs = await _cat(git, entries, wanted)
    tree._blobs.update({entries[rel].sha: data for rel, data in blobs.items()})
    tree._counted.update(tree._blobs)
    return tree


def _bytes(entries: dict[str, _Entry], paths: list[str]) -> int:
    """What _cat holds for paths: each regular blob once, however many paths name it."""
    sizes = {
        e.sha: e.size
        for e in map(entries.__getitem__, paths)
        if e.size is not None and e.size <= MAX_FILE_BYTES and e.mode != _SUBMODULE
    }
    return sum(sizes.values())


async def _cat(git: Git, entries: dict[str, _Entry], paths: list[str]) -> dict[str, Blob]:
    """The contents of the regular blobs among paths, through one `cat-file --batch`."""
    want: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for rel in paths:
        entry = entries[rel]
        if entry.size is None or entry.size > MAX_FILE_BYTES or entry.mode == _SUBMODULE:
            continue
        want[rel] = entry.sha
        sizes[entry.sha] = entry.size
    if not want:
        return {}
    shas = list(sizes)
    out = await git.run("cat-file", "--batch", input="".join(s + "\n" for s in shas).encode())
    by_sha = _batch_blobs(git, out, shas)
    return {rel: by_sha[sha] for rel, sha in want.items()}


def _batch_blobs(git: Git, out: bytes, shas: list[str]) -> dict[str, Blob]:
    """Each blob of a `cat-file --batch` answer for shas, as a view into out: a revision's
    files take their size once, not twice (the answer, then a copy of each)."""
    view = memoryview(out)
    by_sha: dict[str, Blob] = {}
    pos = 0
    for sha in shas:
        end = out.find(b"\n", pos)
        header = out[pos:end].split() if end >= 0 else []
        if len(header) != 3 or header[0].decode() != sha or int(header[2]) > MAX_FILE_BYTES:
            raise SourceError(f"{git.display}: unexpected answer from git cat-file for {sha}")
        size = int(header[2])
        by_sha[sha] = view[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return by_sha


@dataclass(frozen=True)
class CommitInfo:
    time: datetime
    """The committer time."""
    subject: str
    """The message's first line."""
    author: str
    """The author's name (without the address)."""


async def commit_info(git: Git, commit: str) -> CommitInfo:
    """The commit's time, subject and author, from the raw object (no user config, such as
    a log format or a mailmap, can change them)."""
    raw = await git.run("cat-file", "commit", commit)
    header, _, message = raw.partition(b"\n\n")
    when: datetime | None = None
    author = ""
    for line in header.split(b"\n"):
        if line.startswith(b"committer "):
            when = datetime.fromtimestamp(int(line.rsplit(b" ", 2)[1]), UTC)
        elif line.startswith(b"author "):
            author = line[len(b"author ") :].rsplit(b" <", 1)[0].decode("utf-8", "replace")
    if when is None:
        raise SourceError(f"{git.display}: commit {commit[:12]} has no committer line")
    subject = message.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return CommitInfo(when, subject[:200], author[:100])
