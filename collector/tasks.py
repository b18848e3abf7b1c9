"""Stopping a background task a collector part owns: cancel it, then wait until it ends."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancels ``task`` (None: nothing to do) and waits for it to finish; a task that ended by
    cancellation is not an error."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
