"""Waiting in a test for something another task or process does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(
    condition: Callable[[], bool], within_s: float, what: str, *, every_s: float = 0.02
) -> None:
    """Return once `condition()` holds; AssertionError naming `what` after `within_s`."""
    ends = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > ends:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every_s)
