"""structlog set up once: JSON lines when stderr is not a terminal, colour otherwise.

Events are short snake_case phrases with key=value context; anything bound with
structlog.contextvars (resource, revision, reconcile_id: see `reconcile_context`) rides
along automatically. Records from the standard library's logging (aiohttp, botocore,
asyncio) go through the same processors, so a container's stderr is JSON lines only.
Values under secret-looking keys, and credentials inside URLs, are masked before any
renderer sees them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Literal

import structlog

from controller.observability.mask import mask_log_event

LogFormat = Literal["auto", "json", "console"]
LEVELS = ("debug", "info", "warning", "error")

_STDLIB_HANDLER = "ecs-gitops"
"""The name of the root handler configure() installs, so a second call replaces it."""


def configure(level: str = "info", fmt: LogFormat = "auto") -> None:
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            mask_log_event,  # secret-looking values never reach a log line
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(shared, renderer)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time, not the stream it was built with."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _route_stdlib_logging(
    shared: list[structlog.types.Processor], renderer: structlog.types.Processor
) -> None:
    """Other libraries' log records, rendered like ours (warnings and up only)."""
    handler = _StderrHandler()
    handler.set_name(_STDLIB_HANDLER)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                mask_log_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _STDLIB_HANDLER]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def new_reconcile_id() -> str:
    """A short random id naming one reconcile in the logs."""
    return uuid.uuid4().hex[:12]


@contextlib.contextmanager
def reconcile_context(resource: str, revision: str | None) -> Iterator[str]:
    """Bind resource, revision and a fresh reconcile_id for every log line of one
    reconcile (AWS calls included); restored afterwards. Yields the reconcile id."""
    reconcile_id = new_reconcile_id()
    with structlog.contextvars.bound_contextvars(
        resource=resource, revision=revision, reconcile_id=reconcile_id
    ):
        yield reconcile_id
