"""The S3 source: manifests a CI pipeline rendered and uploaded under s3://bucket/prefix/.

Cost: the prefix is listed (ListObjectsV2, paginated) at most once per poll interval,
and an object is read only when its ETag differs from the one already held, so an
unchanged bucket costs one List call per poll. A listing made by wait_for_change is
reused by the fetch that follows it within the interval; trigger() drops it, so a push
is always seen by a fresh listing. With an SQS queue of the bucket's event notifications
(long-polled while waiting), an event under the prefix makes the source list at once;
only a changed snapshot wakes the caller, so a half upload costs Lists, never a fetch.

Consistency: CI writes a `.revision` marker last, holding the commit SHA. When the prefix
holds one, a snapshot is the objects written no later than the marker: an object
written after it keeps the content it had in the previous snapshot (or is left out, as
a listing problem, so nothing is pruned meanwhile) until the next marker, and the
marker's SHA is the revision. An unchanged marker means an unchanged snapshot, whatever
else moves (a half upload deploys nothing). Once a marker has been seen, a non-empty
prefix without one is an upload in progress: the last snapshot stays. Without a marker
the revision is a digest of the (key, ETag) pairs and every object counts as uploaded.

Safety: keys are confined to the prefix (a key with empty, `.` or `..` parts is ignored
as a listing problem), objects above MAX_FILE_BYTES are refused naming the key, and GETs
carry If-Match of the listed ETag. A missing bucket (SourceNotFound) or a denied call
(SourceAuthError) is an error, never an empty source; an empty prefix is an empty
artifact, which the controller refuses to prune on.

AWS stays behind ObjectStore and EventQueue (objects.py), which controller.aws.s3
implements. Every message received is deleted: the queue belongs to this source. A
failing queue is retried every poll interval, and polling goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from controller.api.files import MAX_FILE_BYTES
from controller.errors import (
    AwsError,
    AwsRetryable,
    EcsGitopsError,
    SourceAuthError,
    SourceError,
    SourceNetworkError,
    SourceNotFound,
    SourceUnsupported,
)
from controller.sources.base import Artifact, Wakeup, poll_until_changed, redact_url
from controller.sources.budget import MAX_REVISION_BYTES, check_revision_bytes, mib
from controller.sources.objects import (
    EventQueue,
    ObjectBody,
    ObjectInfo,
    ObjectStore,
    ObjectTree,
    TreeEntry,
    is_manifest,
)

log = structlog.get_logger(__name__)

MARKER = ".revision"
MAX_MARKER_BYTES = 1024
MAX_KEYS = 20_000  # objects under one prefix
READ_CONCURRENCY = 8
MAX_EVENT_WAIT = 20  # seconds: SQS's longest long poll
_WAITING = "waiting-for-marker"
_TRIGGER, _EVENT = "trigger", "event"
_REVISION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:/+@-]{0,127}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]", re.I)
_AUTH_CODES = {
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "NoCredentials",
    "AccountProblem", "InvalidClientTokenId", "UnrecognizedClientException", "403",
}  # fmt: skip
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Listing:
    objects: dict[str, ObjectInfo]  # clean relative path -> its entry (the marker excluded)
    problems: list[tuple[str, str, datetime]]  # (path, message, LastModified)
    marker: ObjectInfo | None
    digest: str  # of every (key, ETag) pair listed
    count: int
    at: float  # time.monotonic() of the listing


@dataclass(frozen=True, slots=True)
class _Snapshot:
    state: str  # what a later listing is compared with
    artifact: Artifact
    entries: dict[str, TreeEntry]
    marker_etag: str | None = None
    marker_revision: str | None = None


class _Stale(Exception):
    """An object changed or went away between the listing and its GET."""


class S3Source:
    """s3://bucket/prefix/ (see the module docstring)."""

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        prefix: str = "",
        *,
        poll_interval: float = 15.0,
        events: EventQueue | None = None,
        display: str | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_revision_bytes: int = MAX_REVISION_BYTES,
    ) -> None:
        self.bucket = bucket
        self._budget = max_revision_bytes
        self.prefix = prefix
        self._store = store
        self._events = events
        self._poll = poll_interval
        self._display = display or f"s3://{bucket}/{prefix}"
        self._max = max_file_bytes
        self._wakeup = Wakeup()
        self._attempted = False
        self._failed = False
        self._next_poll = 0.0
        self._fresh: _Listing | None = None
        self._snapshot: _Snapshot | None = None
        self._marker_seen = False
        self._events_retry_at = 0.0
        self.events_error: str | None = None  # the last event-queue failure, for status

    @property
    def display(self) -> str:
        return self._display

    def __repr__(self) -> str:
        return f"S3Source({self._display!r})"

    def trigger(self) -> None:
        self._fresh = None
        self._wakeup.set()

    async def fetch(self) -> Artifact:
        self._attempted = True
        self._failed = True
        for attempt in range(2):
            listing = self._take_fresh() or await self._list()
            try:
                snapshot = await self._build(listing)
            except _Stale as exc:
                if attempt:
                    raise SourceNetworkError(
                        f"{self._display}: {exc} changed while it was being read; "
                        "it is read again at the next poll"
                    ) from None
                continue
            self._snapshot = snapshot
            self._marker_seen = self._marker_seen or snapshot.marker_etag is not None
            self._failed = False
            return snapshot.artifact
        raise AssertionError("unreachable")

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (the protocol's)
        if not self._attempted:
            return True

        async def sleep(seconds: float) -> bool | None:
            woke = await self._sleep(seconds)
            # an event for the prefix: list now, as a poll would
            return True if woke == _TRIGGER else (None if woke == _EVENT else False)

        return await poll_until_changed(timeout, sleep, lambda: self._next_poll, self._changed)

    async def _changed(self) -> bool:
        if self._failed or self._snapshot is None:
            self._next_poll = time.monotonic() + self._poll
            return True  # the last fetch failed: retry it once per interval
        try:
            listing = await self._list()
        except SourceError:
            return True  # let fetch() report it
        self._fresh = listing
        return self._state(listing) != self._snapshot.state

    # -- listing and snapshots ---------------------------------------------------------

    def _take_fresh(self) -> _Listing | None:
        fresh, self._fresh = self._fresh, None
        return fresh if fresh and time.monotonic() - fresh.at < self._poll else None

    async def _list(self) -> _Listing:
        self._next_poll = time.monotonic() + self._poll
        objects: dict[str, ObjectInfo] = {}
        problems: list[tuple[str, str, datetime]] = []
        marker: ObjectInfo | None = None
        digest = hashlib.sha256()
        count = 0
        token: str | None = None
        while True:
            try:
                page = await self._store.list_objects(self.bucket, self.prefix, token)
            except AwsError as exc:
                raise self._error(exc, "listing the bucket") from None
            for info in page.objects:
                count += 1
                digest.update(f"{info.key}\0{info.etag}\n".encode("utf-8", "surrogateescape"))
                when = info.last_modified
                if not info.key.startswith(self.prefix):
                    problems.append((info.key, f"is outside the prefix {self.prefix!r}; ignored", when))  # fmt: skip
                    continue
                rel = info.key[len(self.prefix) :]
                if rel == MARKER:
                    marker = info
                elif rel.endswith("/"):
                    continue  # a "folder" placeholder
                elif any(part in ("", ".", "..") for part in rel.split("/")):
                    message = "object key has empty, '.' or '..' parts; ignored"
                    problems.append((rel, message, when))
                elif not any(part.startswith(".") for part in rel.split("/")):
                    objects[rel] = info  # hidden files are skipped, as in Git
            if count > MAX_KEYS:
                raise SourceError(
                    f"{self._display}: more than {MAX_KEYS} objects under the prefix; "
                    "point the source at the rendered manifests only"
                )
            if not page.next_token:
                break
            token = page.next_token
        self._next_poll = time.monotonic() + self._poll  # a slow listing is not done twice
        return _Listing(objects, problems, marker, digest.hexdigest(), count, time.monotonic())

    def _state(self, listing: _Listing) -> str:
        if listing.marker is not None:
            marker = listing.marker
            return f"marker:{marker.etag}:{marker.last_modified.isoformat()}"
        if self._marker_seen and listing.count:
            return _WAITING
        return f"objects:{listing.digest}"

    async def _build(self, listing: _Listing) -> _Snapshot:
        state = self._state(listing)
        prev = self._snapshot
        if prev is not None and state == prev.state:
            return prev
        if prev is not None and state == _WAITING:
            log.info("s3_marker_missing", source=self._display, revision=prev.artifact.revision)
            return replace(prev, state=state)
        marker = listing.marker
        before = prev.entries if prev else {}
        chosen: dict[str, TreeEntry] = {}
        notes: dict[str, str] = {}
        problems: list[tuple[str, str]] = []
        for rel, info in sorted(listing.objects.items()):
            old = before.get(rel)
            if marker is not None and info.last_modified > marker.last_modified:
                if old is not None:
                    chosen[rel] = old  # written after the marker: the content it had
                elif is_manifest(rel):
                    notes[rel] = f"written after the {MARKER} marker; left out until the next one"
                    problems.append((rel, notes[rel] + " (nothing is pruned meanwhile)"))
            elif old is not None and old.info.etag == info.etag:
                chosen[rel] = TreeEntry(info, old.data, old.version_id)
            else:
                chosen[rel] = TreeEntry(info)
        problems += [
            (path, message)
            for path, message, when in listing.problems
            if marker is None or when <= marker.last_modified
        ]
        problems += await self._read(chosen)
        revision, marker_etag = None, None
        if marker is not None:
            marker_etag = marker.etag
            if prev is not None and prev.marker_etag == marker.etag:
                revision = prev.marker_revision
            else:
                revision = await self._marker_revision(marker)
        content = hashlib.sha256(
            "".join(f"{rel}\0{e.info.etag}\n" for rel, e in chosen.items()).encode()
        ).hexdigest()
        times = [e.info.last_modified for e in chosen.values()]
        tree = ObjectTree(chosen, sorted(problems), notes=notes, max_file_bytes=self._max)
        artifact = Artifact(
            revision=revision or f"sha256:{(listing.digest if marker is None else content)[:16]}",
            time=marker.last_modified if marker is not None else max(times, default=None),
            tree=tree,
            source=self._display,
        )
        return _Snapshot(state, artifact, chosen, marker_etag, revision)

    async def _read(self, chosen: dict[str, TreeEntry]) -> list[tuple[str, str]]:
        """Fill in the data of the manifests not held yet; problems for refused ones."""
        problems: list[tuple[str, str]] = []
        wanted: list[str] = []
        total = 0
        for rel, entry in chosen.items():
            if not is_manifest(rel):
                continue
            if entry.info.size > self._max:
                problems.append((rel, f"object is {mib(entry.info.size)}, larger than the {mib(self._max)} limit; refused"))  # fmt: skip
                continue
            total += entry.info.size
            if entry.data is None:
                wanted.append(rel)
        check_revision_bytes(self._display, total, self._budget)
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(rel: str) -> None:
            entry = chosen[rel]
            async with limit:
                body = await self._get(rel, entry.info.etag, self._max)
            if body.size > self._max:
                problems.append((rel, f"object is {mib(body.size)}, larger than the {mib(self._max)} limit; refused"))  # fmt: skip
            else:
                chosen[rel] = TreeEntry(entry.info, body.data, body.version_id)

        results = await asyncio.gather(*(read(rel) for rel in wanted), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the first failure in key order, once every read has ended
        return problems

    async def _get(self, rel: str, etag: str | None, max_bytes: int) -> ObjectBody:
        key = self.prefix + rel
        try:
            return await self._store.get_object(self.bucket, key, etag=etag, max_bytes=max_bytes)
        except AwsError as exc:
            if exc.code in ("PreconditionFailed", "NoSuchKey", "412", "404"):
                raise _Stale(f"s3://{self.bucket}/{key}") from None
            raise self._error(exc, f"reading s3://{self.bucket}/{key}") from None

    async def _marker_revision(self, marker: ObjectInfo) -> str | None:
        """The commit SHA the marker holds (its first line); None when it holds none."""
        body = await self._get(MARKER, marker.etag, MAX_MARKER_BYTES)
        first = body.data[:MAX_MARKER_BYTES].decode("utf-8", "replace").strip().split("\n")[0]
        if body.size <= MAX_MARKER_BYTES and _REVISION.fullmatch(first.strip()):
            return first.strip()
        log.warning("s3_marker_unreadable", source=self._display, size=body.size)
        return None

    def _error(self, exc: AwsError, doing: str) -> SourceError:
        where = f"{self._display}: {doing}"
        if exc.code == "NoSuchBucket":
            return SourceNotFound(
                f"{where}: bucket {self.bucket!r} does not exist; nothing is deployed or deleted"
            )
        if exc.code in _AUTH_CODES:
            return SourceAuthError(
                f"{where}: access denied ({exc.code}: {exc.message}); the controller needs "
                f"s3:ListBucket on arn:aws:s3:::{self.bucket} and s3:GetObject on "
                f"arn:aws:s3:::{self.bucket}/{self.prefix}*"
            )
        if exc.code in _REGION_CODES:
            return SourceError(
                f"{where}: {exc.code}: {exc.message} (the bucket is in another region: "
                "write the source as s3://bucket/prefix/#region=REGION)"
            )
        if isinstance(exc, AwsRetryable):
            return SourceNetworkError(f"{where} failed: {exc.code}: {exc.message}")
        return SourceError(f"{where} failed: {exc.code}: {exc.message}")

    # -- waiting -------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> str | None:
        """Sleep up to seconds; _TRIGGER or _EVENT when trigger() or an event for the
        prefix cut it short, None after seconds."""
        end = time.monotonic() + seconds
        while True:
            left = max(end - time.monotonic(), 0.0)
            if self._events is None or left < 1:
                return _TRIGGER if await self._wakeup.sleep(left) else None
            retry_in = self._events_retry_at - time.monotonic()
            if retry_in > 0:
                if await self._wakeup.sleep(min(retry_in, left)):
                    return _TRIGGER
                continue
            if woke := await self._race(self._events, left):
                return woke

    async def _race(self, events: EventQueue, seconds: float) -> str | None:
        """One long poll of the queue against the wakeup."""
        wait = min(int(seconds), MAX_EVENT_WAIT)
        receiving = asyncio.ensure_future(self._receive(events, wait))
        woken = asyncio.ensure_future(self._wakeup.sleep(seconds))
        try:
            done, _ = await asyncio.wait({receiving, woken}, return_when=asyncio.FIRST_COMPLETED)
            if woken in done and woken.result():
                return _TRIGGER
            return _EVENT if receiving in done and receiving.result() else None
        finally:
            for task in (receiving, woken):
                if not task.done():
                    task.cancel()  # a message lost here comes back: a re-list follows anyway
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _receive(self, events: EventQueue, wait: int) -> bool:
        try:
            messages = await events.receive(wait)
        except EcsGitopsError as exc:
            self.events_error = str(exc)
            self._events_retry_at = time.monotonic() + max(self._poll, 5.0)
            log.warning("s3_events_receive_failed", source=self._display, error=str(exc))
            return False
        self.events_error = None
        if not messages:
            return False
        try:
            await events.delete([m.receipt for m in messages])
        except EcsGitopsError as exc:
            log.warning("s3_events_delete_failed", source=self._display, error=str(exc))
        return any(
            not m.understood
            or any(b == self.bucket and k.startswith(self.prefix) for b, k in m.objects)
            for m in messages
        )


def open_s3(
    spec: str,
    *,
    store_factory: Callable[[str | None], ObjectStore] | None,
    poll_interval: float,
    events: EventQueue | None = None,
    max_revision_bytes: int = MAX_REVISION_BYTES,
) -> S3Source:
    """The S3Source an s3://bucket/prefix/[#region=REGION] spec names; nothing is read."""
    shown = redact_url(spec)
    url, _, fragment = spec.split("://", 1)[1].partition("#")
    bucket, _, prefix = url.partition("/")
    if "?" in url:
        raise SourceUnsupported(f"{shown}: an s3:// source takes no query; options go after '#'")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise SourceUnsupported(f"{shown}: {bucket!r} is not a valid S3 bucket name")
    parts = prefix.rstrip("/").split("/") if prefix.strip("/") else []
    if any(part in ("", ".", "..") for part in parts) or prefix.startswith("/"):
        raise SourceUnsupported(f"{shown}: the prefix has empty, '.' or '..' parts")
    prefix = "/".join(parts) + "/" if parts else ""
    try:
        pairs = urllib.parse.parse_qsl(fragment, strict_parsing=True) if fragment else []
    except ValueError:
        pairs = [("", fragment)]
    options = dict(pairs)
    if set(options) - {"region"} or len(options) != len(pairs):
        raise SourceUnsupported(f"{shown}: the only option after '#' is region=REGION")
    if store_factory is None:
        raise SourceUnsupported(
            f"{shown}: this command cannot read s3:// sources (it has no AWS clients for them)"
        )
    return S3Source(
        store_factory(options.get("region") or None),
        bucket,
        prefix,
        poll_interval=poll_interval,
        events=events,
        display=f"s3://{bucket}/{prefix}",
        max_revision_bytes=max_revision_bytes,
    )


__all__ = ["MARKER", "EventQueue", "ObjectStore", "S3Source", "open_s3"]
