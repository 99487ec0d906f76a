"""structlog set up once: JSON lines when stderr is not a terminal, colour otherwise.

Events are short snake_case phrases with key=value context; anything bound with
structlog.contextvars (resource, revision, reconcile_id) rides along automatically.
Values under secret-looking keys, and credentials inside URLs, are masked before any
renderer sees them.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from controller.observability.mask import mask_log_event

LogFormat = Literal["auto", "json", "console"]
LEVELS = ("debug", "info", "warning", "error")


def configure(level: str = "info", fmt: LogFormat = "auto") -> None:
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
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
