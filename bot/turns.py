"""The turns the service is answering right now, so that background work in the same process
(the outbox sender) can give way to them.

A person's answer and the sender's thousands of proactive messages share one event loop and one
GIL: every database statement the sender runs on a database thread competes with the turn's own
statements for the GIL, and every reply it handles runs on the loop between the turn's steps. A
sender that starts no new request or claim while a turn is in flight (waiting at most a few tens
of milliseconds, so that its pace within Teams' limits holds) leaves the turn the process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

GIVE_WAY_SECONDS = 0.05  # the longest background work waits for the turns in flight to end


class TurnsInFlight:
    def __init__(self) -> None:
        self.count = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Around the handling of one activity (on the event loop)."""
        self.count += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._quiet.set()

    async def give_way(self, at_most: float = GIVE_WAY_SECONDS) -> None:
        """Return once no turn is in flight, or after `at_most` seconds."""
        if self.count == 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), at_most)
