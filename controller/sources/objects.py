"""What the S3 source needs of an object store and an event queue (protocols, met
structurally by controller.aws.s3, which may not import this layer), and a snapshot of
a prefix as a FileTree.

Every manifest's bytes are read before the tree is built (the loader is synchronous and
must not wait on the network), so the files loaded are exactly the ones the revision
names. Paths are the object keys relative to the prefix; reads are confined to them.
Other objects are listed (a reference to one gets a precise error) but never read.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from controller.api.files import MANIFEST_SUFFIXES, MAX_FILE_BYTES
from controller.errors import SourceFileError
from controller.sources.budget import mib


class ObjectInfo(Protocol):
    """One entry of a listing."""

    @property
    def key(self) -> str: ...
    @property
    def etag(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def last_modified(self) -> datetime: ...


class ObjectPage(Protocol):
    @property
    def objects(self) -> Sequence[ObjectInfo]: ...
    @property
    def next_token(self) -> str | None: ...


class ObjectBody(Protocol):
    @property
    def data(self) -> bytes:
        """At most max_bytes + 1 bytes."""
        ...

    @property
    def size(self) -> int: ...
    @property
    def version_id(self) -> str | None: ...


class ObjectStore(Protocol):
    """S3 reads: AwsError (codes NoSuchBucket, AccessDenied, PreconditionFailed, ...)."""

    async def list_objects(
        self, bucket: str, prefix: str, continuation: str | None
    ) -> ObjectPage: ...

    async def get_object(
        self, bucket: str, key: str, *, etag: str | None = None, max_bytes: int
    ) -> ObjectBody: ...


class QueueMessage(Protocol):
    @property
    def receipt(self) -> str: ...
    @property
    def objects(self) -> Sequence[tuple[str, str]]:
        """(bucket, key) of each object the event names."""
        ...

    @property
    def understood(self) -> bool:
        """False for a message that is no S3 event notification we know."""
        ...


class EventQueue(Protocol):
    async def receive(self, wait_seconds: int) -> Sequence[QueueMessage]: ...
    async def delete(self, receipts: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """A listed object and, for a manifest once read, its bytes (from the version named)."""

    info: ObjectInfo
    data: bytes | None = None
    version_id: str | None = None


def is_manifest(rel: str) -> bool:
    return rel.lower().endswith(MANIFEST_SUFFIXES)


class ObjectTree:
    def __init__(
        self,
        entries: dict[str, TreeEntry],
        problems: list[tuple[str, str]],
        *,
        notes: dict[str, str] | None = None,
        display_root: str = "",
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self._entries = entries
        self._problems = problems
        self._notes = notes or {}  # why a path is missing, when it is listed but left out
        self._display_root = display_root
        self._max = max_file_bytes

    @property
    def display_root(self) -> str:
        return self._display_root

    def manifest_paths(self) -> list[str]:
        return sorted(
            rel for rel, e in self._entries.items() if is_manifest(rel) and e.data is not None
        )

    def listing_problems(self) -> list[tuple[str, str]]:
        return list(self._problems)

    def release(self) -> None:
        """Kept: the bytes are the source's snapshot too, which fetches only the objects
        that changed since."""

    def version_of(self, path: str) -> tuple[str, str | None] | None:
        """(ETag, VersionId) of the object path was read from; None when not in the tree."""
        entry = self._entries.get(path)
        return (entry.info.etag, entry.version_id) if entry is not None else None

    def read(self, path: str) -> bytes:
        rel = posixpath.normpath(path)
        if rel in (".", "..") or rel.startswith("../") or posixpath.isabs(rel):
            raise SourceFileError(path, "path leaves the source tree")
        entry = self._entries.get(rel)
        if entry is None:
            if any(other.startswith(rel + "/") for other in self._entries):
                raise SourceFileError(rel, "not a regular file")
            raise SourceFileError(rel, self._notes.get(rel, "no such file"))
        if entry.info.size > self._max:
            limit = f"larger than the {mib(self._max)} limit"
            raise SourceFileError(rel, f"object is {mib(entry.info.size)}, {limit}")
        if entry.data is None:
            raise SourceFileError(
                rel, "only *.yaml, *.yml and *.json objects are read from an object store"
            )
        return entry.data
