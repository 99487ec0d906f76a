"""Opening a source: the Source a --source value names (a path, git+..., s3://).

Kept apart from base.py, which every source kind imports, so that no source module
imports another in a circle: this module imports them all, none imports it.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from controller.errors import SourceNotFound, SourceUnsupported, UsageError
from controller.sources.base import DirectorySource, Source, redact_url
from controller.sources.budget import MAX_REVISION_BYTES
from controller.sources.git import LocalGitSource, RemoteGitSource
from controller.sources.objects import EventQueue, ObjectStore
from controller.sources.s3 import open_s3

_REMOTE_SCHEMES = ("git+https", "git+http", "git+ssh")
_OPTIONS = ("ref", "path")


def open_source(
    spec: str,
    *,
    cache_dir: Path,
    poll_interval: float = 15.0,
    object_store_factory: Callable[[str | None], ObjectStore] | None = None,
    s3_events: EventQueue | None = None,
    max_revision_bytes: int = MAX_REVISION_BYTES,
) -> Source:
    """The Source a --source value names; SourceUnsupported (a usage error) for a spec
    we cannot read, SourceNotFound for a path that does not exist. Nothing is fetched.

    s3://bucket/prefix/[#region=R] needs object_store_factory (region or None for the
    default -> an ObjectStore, e.g. controller.aws.s3.S3Store); s3_events is the optional
    --s3-events-queue (controller.aws.s3.SqsEventQueue), for s3:// sources only.
    max_revision_bytes is the revision budget of every kind (budget.py)."""
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    shown = redact_url(spec)
    if s3_events is not None and scheme != "s3":
        raise UsageError(f"--s3-events-queue applies to s3:// sources only, not {shown}")
    if not scheme:
        return _open_path(spec, poll_interval, max_revision_bytes)
    if scheme == "s3":
        return open_s3(
            spec,
            store_factory=object_store_factory,
            poll_interval=poll_interval,
            events=s3_events,
            max_revision_bytes=max_revision_bytes,
        )
    if scheme != "git+file" and scheme not in _REMOTE_SCHEMES:
        raise SourceUnsupported(
            f"{shown}: unknown source scheme {scheme}://; use a directory, git+file://, "
            "git+https://, git+ssh:// or s3://"
        )
    url, _, fragment = spec[len("git+") :].partition("#")
    options = _options(fragment, shown)
    if scheme == "git+file":
        parts = urllib.parse.urlsplit(url)
        if parts.netloc not in ("", "localhost") or parts.query:
            raise SourceUnsupported(f"{shown}: write a local repository as git+file:///abs/path")
        return LocalGitSource(
            urllib.parse.unquote(parts.path),
            ref=options.get("ref"),
            path=options.get("path", ""),
            display=shown,
            poll_interval=poll_interval,
            max_revision_bytes=max_revision_bytes,
        )
    if not urllib.parse.urlsplit(url).hostname:
        raise SourceUnsupported(f"{shown}: the URL has no host")
    return RemoteGitSource(
        url,
        ref=options.get("ref"),
        path=options.get("path", ""),
        cache_dir=cache_dir,
        poll_interval=poll_interval,
        display=shown,
        max_revision_bytes=max_revision_bytes,
    )


def _options(fragment: str, shown: str) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(fragment, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = [] if not fragment else [("", fragment)]
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in _OPTIONS:
            raise SourceUnsupported(
                f"{shown}: unknown option {key!r} after '#' (known: ref=..., path=...)"
            )
        if key in options:
            raise SourceUnsupported(f"{shown}: {key}= given twice")
        options[key] = value
    return options


def _open_path(spec: str, poll_interval: float, max_revision_bytes: int) -> Source:
    path = Path(spec)
    if not path.exists():
        raise SourceNotFound(f"{spec}: no such file or directory")
    if not path.is_dir():
        raise SourceUnsupported(f"{spec}: a source is a directory, not a file")
    if _in_git(path):
        return LocalGitSource(
            path,
            display=spec,
            display_root=spec,
            poll_interval=poll_interval,
            max_revision_bytes=max_revision_bytes,
        )
    return DirectorySource(
        path, display=spec, poll_interval=poll_interval, max_revision_bytes=max_revision_bytes
    )


def _in_git(path: Path) -> bool:
    """Whether path is inside a Git work tree (a `.git` above it) or is a bare repository.
    Decided from the file system, as git does, so opening a source runs no command."""
    real = path.resolve()
    if (real / "HEAD").is_file() and (real / "objects").is_dir() and (real / "refs").is_dir():
        return True
    ceilings = {Path(p) for p in os.environ.get("GIT_CEILING_DIRECTORIES", "").split(":") if p}
    for directory in (real, *real.parents):
        if directory != real and directory in ceilings:
            return False
        if (directory / ".git").exists():
            return True
    return False
