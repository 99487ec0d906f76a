"""S3 listing and reads, and S3 event notifications from SQS, as typed calls.

These implement the ObjectStore and EventQueue protocols of controller.sources.s3 (the
two layers may not import each other, so the match is structural): pages of a
ListObjectsV2 listing, one bounded GetObject (If-Match the listed ETag, so the bytes are
the ones the listing named), and SQS long polls whose messages are parsed here into
(bucket, key) pairs. S3 event notifications come in three shapes: S3's own records,
the same wrapped in an SNS notification, and EventBridge's "Object Created" events.
Nothing here decides anything; errors are the AwsError tree of AwsClients.call.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError

from controller.aws.client import AwsClients
from controller.errors import AwsRetryable

MAX_WAIT_SECONDS = 20  # SQS's longest long poll
MAX_MESSAGES = 10  # SQS's largest ReceiveMessage batch
_SQS_HOST = re.compile(r"^(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.(?:queue\.)?amazonaws\.com")


@dataclass(frozen=True, slots=True)
class S3Object:
    """One ListObjectsV2 entry."""

    key: str
    etag: str  # without the quotes S3 puts around it
    size: int
    last_modified: datetime  # UTC


@dataclass(frozen=True, slots=True)
class S3Page:
    objects: tuple[S3Object, ...]
    next_token: str | None  # the continuation token of the next page; None on the last


@dataclass(frozen=True, slots=True)
class S3Body:
    """What GetObject returned: data is cut after max_bytes + 1 bytes, size is the whole."""

    data: bytes
    size: int
    etag: str
    version_id: str | None  # None when the bucket is not versioned


@dataclass(frozen=True, slots=True)
class QueueMessage:
    receipt: str
    objects: tuple[tuple[str, str], ...]  # (bucket, key) of each S3 record
    understood: bool  # False: not an S3 event notification this module knows


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


def _etag(value: Any) -> str:
    return str(value or "").strip('"')


class S3Store:
    """Reads from S3 in one region (None: the controller's region; S3 redirects a
    request for a bucket elsewhere, and botocore follows)."""

    def __init__(self, aws: AwsClients, region: str | None = None, *, page_size: int = 1000):
        self.aws = aws
        self.region = region or aws.settings.region
        self.page_size = max(1, min(page_size, 1000))

    async def list_objects(self, bucket: str, prefix: str, continuation: str | None) -> S3Page:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        if continuation:
            params["ContinuationToken"] = continuation
        resp = await self.aws.call("s3", "ListObjectsV2", self.region, **params)
        objects = tuple(
            S3Object(
                key=str(raw["Key"]),
                etag=_etag(raw.get("ETag")),
                size=int(raw.get("Size", 0)),
                last_modified=_utc(raw.get("LastModified")),
            )
            for raw in resp.get("Contents", [])
        )
        token = resp.get("NextContinuationToken") if resp.get("IsTruncated") else None
        return S3Page(objects, str(token) if token else None)

    async def get_object(
        self, bucket: str, key: str, *, etag: str | None = None, max_bytes: int
    ) -> S3Body:
        """The object's bytes, at most max_bytes + 1 of them (more is refused by the caller
        from size); with etag, AwsTerminal code PreconditionFailed when it changed."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            params["IfMatch"] = f'"{etag}"'
        resp = await self.aws.call("s3", "GetObject", self.region, **params)
        body = resp["Body"]  # aiobotocore's streaming body
        size = int(resp.get("ContentLength", 0))
        chunks: list[bytes] = []
        read = 0
        try:
            async with body:
                while size <= max_bytes and read <= max_bytes:
                    chunk = await body.read(64 * 1024)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    read += len(chunk)
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise AwsRetryable("s3", "GetObject", type(exc).__name__, str(exc)) from None
        version = resp.get("VersionId")
        return S3Body(
            data=b"".join(chunks),
            size=max(size, read),
            etag=_etag(resp.get("ETag")),
            version_id=str(version) if version and version != "null" else None,
        )


def queue_region(url: str) -> str | None:
    """The region an SQS queue URL names (sqs.REGION.amazonaws.com, or the legacy
    REGION.queue.amazonaws.com); None for other hosts (an emulator, say)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    match = _SQS_HOST.match(host)
    return match.group(1) if match else None


class SqsEventQueue:
    """An SQS queue receiving a bucket's event notifications, long-polled."""

    def __init__(self, aws: AwsClients, queue_url: str, region: str | None = None) -> None:
        self.aws = aws
        self.queue_url = queue_url
        self.region = region or queue_region(queue_url) or aws.settings.region

    @property
    def display(self) -> str:
        return self.queue_url

    async def receive(self, wait_seconds: int) -> list[QueueMessage]:
        """The messages that arrive within wait_seconds (at most MAX_WAIT_SECONDS, and
        below the client's read timeout); [] when none do."""
        ceiling = min(MAX_WAIT_SECONDS, int(self.aws.settings.read_timeout) - 5)
        wait = max(0, min(int(wait_seconds), ceiling))
        resp = await self.aws.call(
            "sqs",
            "ReceiveMessage",
            self.region,
            QueueUrl=self.queue_url,
            WaitTimeSeconds=wait,
            MaxNumberOfMessages=MAX_MESSAGES,
        )
        return [
            QueueMessage(str(raw.get("ReceiptHandle", "")), *parse_event(raw.get("Body")))
            for raw in resp.get("Messages", [])
        ]

    async def delete(self, receipts: Sequence[str]) -> None:
        """Delete received messages (one DeleteMessageBatch per ten)."""
        todo = [r for r in receipts if r]
        for start in range(0, len(todo), MAX_MESSAGES):
            batch = todo[start : start + MAX_MESSAGES]
            await self.aws.call(
                "sqs",
                "DeleteMessageBatch",
                self.region,
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(batch)],
            )


def parse_event(body: Any) -> tuple[tuple[tuple[str, str], ...], bool]:
    """((bucket, key) pairs, understood) for one message body. S3's test event (sent when
    a notification is configured) is understood and names no object."""
    try:
        doc = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return (), False
    if isinstance(doc, dict) and doc.get("Type") == "Notification":  # through SNS
        try:
            doc = json.loads(doc.get("Message") or "")
        except (TypeError, ValueError):
            return (), False
    if not isinstance(doc, dict):
        return (), False
    if doc.get("Event") == "s3:TestEvent":
        return (), True
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), dict):  # EventBridge
        detail = doc["detail"]
        bucket, key = _dig(detail, "bucket", "name"), _dig(detail, "object", "key")
        return (((bucket, key),), True) if bucket and key else ((), False)
    records = doc.get("Records")
    if not isinstance(records, list) or not records:
        return (), False
    found: list[tuple[str, str]] = []
    for record in records:
        s3 = record.get("s3") if isinstance(record, dict) else None
        bucket, key = _dig(s3, "bucket", "name"), _dig(s3, "object", "key")
        if not bucket or not key:
            return (), False
        found.append((bucket, urllib.parse.unquote_plus(key)))  # notifications form-encode keys
    return tuple(found), True


def _dig(doc: Any, *path: str) -> str:
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc if isinstance(doc, str) else ""
