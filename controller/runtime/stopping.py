"""Waiting that a stop cuts short: the loops of a long-running process (source polls,
resyncs) wait on their own work or timer and on one shared stop event, whichever is
first, so a SIGTERM never waits out a poll interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


async def until_stopped(stop: asyncio.Event, awaitable: Awaitable[Any]) -> None:
    """Until awaitable or stop is done; the awaitable's exception, if it raised one, is
    raised. Whichever is still pending is cancelled and awaited."""
    waiter = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, stopper):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if waiter.done() and not waiter.cancelled():
        waiter.result()
