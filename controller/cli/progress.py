"""What `sync` shows while it works: a live table on a terminal (laid out by
controller.cli.table, so it fits the terminal and splits no word), one line per change
otherwise (a log for CI: whole lines, never wrapped, so they stay greppable)."""

from __future__ import annotations

import textwrap
from types import TracebackType
from typing import IO

from rich.console import Console, RenderableType
from rich.live import Live

from controller.api import Resource, ResourceKey, resource_key
from controller.api.status import ResourceStatus
from controller.aws.client import CallStats
from controller.cli.table import Columns, Row, status_style, table
from controller.reconcile.sync import SyncOutcome

COLUMNS = Columns(
    order=("RESOURCE", "SYNC", "HEALTH", "PHASE", "TASKS"),
    optional=("PHASE", "TASKS"),
    label="RESOURCE",
)


def _tasks(status: ResourceStatus) -> str:
    if status.rollout and status.rollout.new_counts:
        c = status.rollout.new_counts
        return f"new {c.running}/{c.desired}" + (f" (+{c.pending} pending)" if c.pending else "")
    if status.counts:
        return f"{status.counts.running}/{status.counts.desired}"
    return ""


def _phase(status: ResourceStatus) -> str:
    return status.rollout.phase if status.rollout else ""


class SyncProgress:
    def __init__(self, resources: list[Resource], stream: IO[str]) -> None:
        self.console = Console(file=stream, highlight=False)
        self.keys = [resource_key(r) for r in resources]
        self.statuses: dict[ResourceKey, ResourceStatus] = {}
        self._last_line: dict[ResourceKey, str] = {}
        self._live: Live | None = None

    def __enter__(self) -> SyncProgress:
        if self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(exc_type, exc, tb)

    def update(self, key: ResourceKey, status: ResourceStatus) -> None:
        self.statuses[key] = status
        if self._live is not None:
            self._live.update(self._table())
            return
        line = " ".join(
            part
            for part in (
                f"{key}:",
                status.sync_status,
                status.health_status,
                _phase(status),
                _tasks(status),
                status.message,
            )
            if part
        )
        if self._last_line.get(key) != line:
            self._last_line[key] = line
            self.console.print(line, markup=False, soft_wrap=True)

    def _table(self) -> RenderableType:
        rows: list[Row] = []
        for key in self.keys:
            s = self.statuses.get(key)
            if s is None:
                rows.append({"RESOURCE": str(key), "SYNC": "…", "HEALTH": ""})
                continue
            rows.append(
                {
                    "RESOURCE": str(key),
                    "SYNC": s.sync_status,
                    "HEALTH": s.health_status,
                    "PHASE": _phase(s),
                    "TASKS": _tasks(s),
                    "MESSAGE": s.message,
                }
            )
        return table(COLUMNS, rows, self.console.width, status_style)

    def summary(self, outcome: SyncOutcome, stats: CallStats) -> None:
        ready = sum(1 for s in outcome.statuses.values() if s.ready)
        total = len(self.keys)
        verdict = "timed out" if outcome.timed_out else ("done" if outcome.ok else "not synced")
        self.console.print(
            f"sync {verdict}: {ready}/{total} Synced and Healthy; AWS calls: "
            f"{stats.total()} ({stats.total(mutating=True)} mutating)",
            markup=False,
        )
        for key, s in outcome.statuses.items():
            if not s.ready and (s.last_error or s.message):
                # wrapped at words; a word wider than the line is kept whole: this
                # summary is the only place sync shows the whole message
                for line in textwrap.wrap(
                    f"  {key}: {s.last_error or s.message}",
                    self.console.width,
                    subsequent_indent="    ",
                    break_long_words=False,
                    break_on_hyphens=False,
                ):
                    self.console.print(line, markup=False, soft_wrap=True)
