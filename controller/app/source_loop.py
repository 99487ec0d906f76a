"""The source loop: fetch, hand a new revision over, wait for a change; nothing else.

Flux's source-controller half: a source only fetches and names a revision. A revision
other than the one the applier last finished (one that failed to apply is handed over
again) goes to the applier. Any exception (CancelledError is not one) is kept as the
source's error for /readyz and the status page, and the loop goes on, so one bad
revision or a bug of ours never stops the controller.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

import structlog

from controller.errors import SourceError, bug_message
from controller.observability.metrics import Metrics
from controller.runtime.stopping import until_stopped
from controller.sources.base import Artifact, DirectorySource, Source
from controller.sources.git import LocalGitSource, RemoteGitSource

log = structlog.get_logger(__name__)


class RevisionSink(Protocol):
    """Where fetched revisions go (the applier)."""

    @property
    def revision(self) -> str | None:
        """The revision last applied to the end."""

    async def apply(self, artifact: Artifact) -> None: ...


def source_kind(source: Source) -> str:
    """The bounded name metrics give a source: its kind, never its URL."""
    if isinstance(source, LocalGitSource | RemoteGitSource):
        return "git"
    if isinstance(source, DirectorySource):
        return "directory"
    return "s3" if source.display.startswith("s3://") else "other"


class SourceLoop:
    def __init__(
        self, source: Source, sink: RevisionSink, metrics: Metrics, poll_interval: float
    ) -> None:
        self.source = source
        self.sink = sink
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.kind = source_kind(source)
        self.error: str | None = None
        """Why the last fetch or apply failed; None once one succeeds."""
        self.fetched_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            fetched = False
            try:
                artifact = await self.source.fetch()
                fetched = True
                self.metrics.source_fetched(
                    self.kind, "success", time.monotonic() - started, artifact.revision
                )
                self.fetched_at = datetime.now(UTC)
                if artifact.revision != self.sink.revision:
                    await self.sink.apply(artifact)
                self.error = None
            except Exception as exc:
                if not fetched:
                    self.metrics.source_fetched(self.kind, "error", time.monotonic() - started)
                self._failed(exc)
            try:
                await until_stopped(stop, self.source.wait_for_change(self.poll_interval))
            except Exception as exc:
                self._failed(exc)
                await until_stopped(stop, asyncio.sleep(self.poll_interval))

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, SourceError):
            self.error = str(exc)
            log.error("source_fetch_failed", source=self.source.display, error=str(exc))
        else:  # a bug of ours: keep the traceback, retry the revision at the next poll
            self.error = bug_message(exc)
            log.error("source_loop_failed", source=self.source.display, exc_info=exc)
