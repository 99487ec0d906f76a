"""What every source yields, and the plain-directory source (opening.py opens any kind).

Flux's split: a source only fetches and names a revision (an `Artifact`: revision, commit
time, file set); whoever holds it acts when the revision changes. `wait_for_change` is a
cheap "maybe changed" signal (file watches, `git ls-remote`, a digest) that `trigger()`
cuts short, so a webhook or a commit is noticed at once while `fetch` stays the one place
that does real work. Display names pass through `redact_url`, so no credential reaches a
log line, a metric label or an error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from controller.api.files import MAX_FILE_BYTES, FileTree
from controller.errors import (
    SourceError,
    SourceFileError,
    SourceNotFound,
)
from controller.sources.budget import MAX_REVISION_BYTES
from controller.sources.directory import DirectoryTree

if TYPE_CHECKING:
    pass

DIRECTORY_POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Artifact:
    """One fetched revision of a source."""

    revision: str  # a commit SHA for Git, a content digest for a directory
    time: datetime | None  # the commit time (UTC), None when the source has no such notion
    tree: FileTree
    source: str  # the source's display name, credentials stripped
    subject: str | None = None  # the commit message's first line (Git)
    author: str | None = None  # the commit's author name (Git)


class Source(Protocol):
    @property
    def display(self) -> str:
        """The source as the user wrote it, with any credentials removed."""
        ...

    async def fetch(self) -> Artifact:
        """The current revision; SourceError (SourceNotFound, SourceAuthError,
        SourceNetworkError, ...) with a message naming what is wrong."""
        ...

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109
        """True as soon as the source may have a revision other than the last fetched
        one (or when trigger() was called); False after timeout seconds without one.
        Before the first fetch it is True at once; after a failed fetch, True when the
        source changed or every poll interval, so a broken source is retried, not spun."""
        ...

    def trigger(self) -> None:
        """Wake wait_for_change now (a push webhook arrived). Call on the loop's thread."""
        ...


class Wakeup:
    """An event that trigger() sets and a waiter consumes: a sleep that can be cut short."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep up to seconds; True (and the event consumed) when woken early."""
        if not self._event.is_set() and seconds > 0:
            try:
                async with asyncio.timeout(seconds):
                    await self._event.wait()
            except TimeoutError:
                return False
        if self._event.is_set():
            self._event.clear()
            return True
        return False


async def poll_until_changed(
    timeout: float,  # noqa: ASYNC109 (wait_for_change's, passed through)
    sleep: Callable[[float], Awaitable[bool | None]],
    due: Callable[[], float],
    changed: Callable[[], Awaitable[bool]],
) -> bool:
    """The wait_for_change loop every source shares: True when a fetch should follow,
    False when `timeout` seconds pass first.

    It sleeps until the next look is due (due(): a time.monotonic() value) unless sleep()
    is cut short: True from sleep (trigger()) returns at once, None (an event for the
    source) looks now as a poll would, False means the time passed. Each look is
    changed(), which also sets when the next one is due and says True for anything
    fetch() should see, a failure included (fetch reports it)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        woke = await sleep(min(max(due() - time.monotonic(), 0.0), left))
        if woke:
            return True
        if woke is False and time.monotonic() < due():
            continue
        if await changed():
            return True


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def redact_url(url: str) -> str:
    """url without credentials: https drops the whole user-info (a token is often the user
    name), ssh keeps only the user name (`git@`), which is no secret."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _USERINFO.sub("", url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    keep_user = parts.scheme.endswith("ssh") and user and not has_password
    netloc = f"{user}@{hostport}" if keep_user else hostport
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def source_id(spec: str) -> str:
    """A short, stable id of a --source value, as the source tag on the services it
    manages: a hash of what it names (a path made absolute, a URL without credentials,
    so a rotated token keeps the id). Tag-safe, and it shows no path or host."""
    named = str(Path(spec).resolve()) if "://" not in spec else redact_url(spec)
    return "src-" + hashlib.sha256(named.encode()).hexdigest()[:16]


def redact_text(text: str, *secrets: str) -> str:
    """text with URL user-info and each given secret value removed (for git's stderr)."""
    text = _USERINFO.sub("", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class _SnapshotTree:
    """A DirectoryTree whose manifests are served from the bytes read when the revision
    was computed, so the files loaded are exactly the ones the revision names."""

    def __init__(self, tree: DirectoryTree, paths: list[str], data: dict[str, bytes]) -> None:
        self._tree = tree
        self._paths = paths
        self._data = data
        self._released = False
        self._problems = tree.listing_problems()

    @property
    def display_root(self) -> str:
        return self._tree.display_root

    def manifest_paths(self) -> list[str]:
        return list(self._paths)

    def listing_problems(self) -> list[tuple[str, str]]:
        return list(self._problems)

    def read(self, path: str) -> bytes:
        data = self._data.get(path)
        if data is not None:
            return data
        if self._released and path in self._paths:
            # the disk may hold other bytes by now: a new fetch takes a new snapshot
            raise SourceError(f"{self.display_root or '.'}: {path} was released; fetch again")
        return self._tree.read(path)

    def release(self) -> None:
        self._data, self._released = {}, True


class DirectorySource:
    """A plain directory (not inside a Git work tree): the revision is a digest of its
    manifests' paths and contents; wait_for_change recomputes it every second or so."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        display: str | None = None,
        poll_interval: float,
        max_revision_bytes: int = MAX_REVISION_BYTES,
    ) -> None:
        self.path = Path(path)
        self._budget = max_revision_bytes
        self._display = display if display is not None else str(path)
        self._interval = max(0.05, min(poll_interval, DIRECTORY_POLL_SECONDS))
        self._wakeup = Wakeup()
        self._attempted = False
        self._next_look = 0.0
        self._last: str | None = None  # None also after a failed fetch

    @property
    def display(self) -> str:
        return self._display

    def __repr__(self) -> str:
        return f"DirectorySource({self._display!r})"

    async def fetch(self) -> Artifact:
        self._attempted = True
        self._last = None
        self._next_look = time.monotonic() + self._interval
        revision, tree = await asyncio.to_thread(self._snapshot)
        self._last = revision
        return Artifact(revision=revision, time=None, tree=tree, source=self._display)

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (the protocol's)
        if not self._attempted:
            return True
        return await poll_until_changed(
            timeout, self._wakeup.sleep, lambda: self._next_look, self._changed
        )

    async def _changed(self) -> bool:
        self._next_look = time.monotonic() + self._interval
        try:
            revision, _ = await asyncio.to_thread(self._snapshot)
        except SourceNotFound:
            return self._last is not None  # it went away: let fetch say so
        return revision != self._last

    def trigger(self) -> None:
        self._wakeup.set()

    def _snapshot(self) -> tuple[str, FileTree]:
        if not self.path.is_dir():
            what = "is not a directory" if self.path.exists() else "does not exist"
            raise SourceNotFound(f"source {self._display}: {what}")
        tree = DirectoryTree(
            self.path,
            display_root=self._display,
            max_file_bytes=MAX_FILE_BYTES,
            max_revision_bytes=self._budget,
        )
        paths = tree.manifest_paths()
        tree.check_budget(paths)
        digest = hashlib.sha256()
        data: dict[str, bytes] = {}
        for path in paths:
            try:
                content = tree.read(path)
            except SourceFileError as exc:
                marker = f"error:{exc.message}".encode()
            else:
                data[path] = content
                marker = hashlib.sha256(content).hexdigest().encode()
            digest.update(path.encode() + b"\0" + marker + b"\n")
        for path, message in tree.listing_problems():
            digest.update(f"problem:{path}\0{message}\n".encode())
        return "sha256:" + digest.hexdigest()[:16], _SnapshotTree(tree, paths, data)
