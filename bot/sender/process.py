"""The outbox sender in a child process of the service's, so that its requests (some 250 a second
at benchmark scale) do not share the service's GIL with the turns people wait for.

`SenderProcess` starts `impact-bot outbox send --budget-fd N` with a socket pair's one end as
fd N and the service's settings in its environment, and serves the other end with the service's
`BudgetServer` (bot/sender/budget_link.py): Teams' limits stay one budget, kept here. It restarts
the child if it exits on its own (back-off 1 s doubling to 30 s, back to 1 s after a minute
running), and when asked to stop it sends it SIGTERM (the child finishes and records the
requests in flight) and SIGKILL if it has not exited in time (bot.background's
`SENDS_STOP_SECONDS`, less the moment a kill takes). If the
service dies instead, the child sees its connection end (and, on Linux, gets SIGTERM) and stops
by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

from bot.background import SENDS_STOP_SECONDS
from bot.config import Settings, child_environment
from bot.sender.budget_link import BudgetServer

log = logging.getLogger(__name__)

RESTART_FIRST_SECONDS = 1.0
RESTART_MOST_SECONDS = 30.0
# SIGKILL this long before the service stops waiting for its sender (bot.background), so that
# the child is killed and reaped by then, not orphaned by a cancelled wait.
KILL_MARGIN_SECONDS = 2.0
HEALTHY_SECONDS = 60.0  # a child that ran this long before exiting restarts after 1 s again
CONNECTION_END_SECONDS = 5.0  # the child has exited: its end of the connection is closed


class SenderProcess:
    """The service's outbox sender, run in a child process (see the module docstring).
    `run(stop_event)` and `wake()` as `OutboxSender`'s, so the service runs either."""

    def __init__(
        self,
        settings: Settings,
        server: BudgetServer,
        *,
        poll_seconds: float | None = None,
        backoff_scale: float = 1.0,
        stop_seconds: float = SENDS_STOP_SECONDS - KILL_MARGIN_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.server = server
        self.poll_seconds = poll_seconds
        self.backoff_scale = backoff_scale  # benchmarks: Teams' back-off divided by this
        self.stop_seconds = stop_seconds
        self._monotonic = monotonic
        self._child: asyncio.subprocess.Process | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The running child's process id (None between children)."""
        child = self._child
        return child.pid if child is not None and child.returncode is None else None

    def wake(self) -> None:
        """Something was queued (after its commit, on the event loop): tell the child."""
        self.server.wake()

    def command(self, fd: int) -> list[str]:
        command = [sys.executable, "-m", "impact", "outbox", "send", "--budget-fd", str(fd)]
        if self.settings.sender_niceness:
            command += ["--nice", str(self.settings.sender_niceness)]
        if self.poll_seconds is not None:
            command += ["--poll-seconds", str(self.poll_seconds)]
        if self.backoff_scale != 1.0:
            command += ["--scale", str(self.backoff_scale)]
        return command

    async def run(self, stop_event: asyncio.Event) -> None:
        """Keep a child sending until `stop_event` is set; then stop it (SIGTERM, SIGKILL)."""
        delay = RESTART_FIRST_SECONDS
        while not stop_event.is_set():
            started = self._monotonic()
            code = await self._run_child(stop_event)
            if stop_event.is_set():
                break
            if self._monotonic() - started >= HEALTHY_SECONDS:
                delay = RESTART_FIRST_SECONDS
            # Exit 0 is a stop someone else asked for (SIGTERM to the whole group, as systemd's
            # KillMode=control-group sends it with the service's own): no fault of the child's.
            log.log(
                logging.WARNING if code == 0 else logging.ERROR,
                "the outbox sender process exited (%s); starting another in %g s",
                _describe(code),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), delay)
            delay = min(delay * 2, RESTART_MOST_SECONDS)
            self.restarts += 1

    async def _run_child(self, stop_event: asyncio.Event) -> int | None:
        """One child, from its start to its exit (or stop_event's, and then its exit): its exit
        status, or None if it could not be started."""
        ours, theirs = socket.socketpair()
        try:
            child = await asyncio.create_subprocess_exec(
                *self.command(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                env=child_environment(self.settings, os.environ),
            )
        except OSError:
            log.exception("the outbox sender process could not be started")
            ours.close()
            return None
        finally:
            theirs.close()  # the child has its copy: its exit ends the connection
        self._child = child
        log.info("outbox sender process %d started", child.pid)
        reader, writer = await asyncio.open_connection(sock=ours)
        serving = asyncio.create_task(self.server.serve(reader, writer), name="budget link")
        try:
            return await self._until_exit(child, stop_event)
        finally:
            if child.returncode is None:  # cancelled (the service gave up waiting): no orphan
                await _kill(child)
            await _end(serving)
            self._child = None

    async def _until_exit(
        self, child: asyncio.subprocess.Process, stop_event: asyncio.Event
    ) -> int:
        exited = asyncio.ensure_future(child.wait())
        stop = asyncio.ensure_future(stop_event.wait())
        try:
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if exited.done():
            return exited.result()
        return await self._stop(child, exited)

    async def _stop(self, child: asyncio.subprocess.Process, exited: asyncio.Future[int]) -> int:
        """SIGTERM, then SIGKILL if the child has not exited within `stop_seconds`."""
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(asyncio.shield(exited), self.stop_seconds)
        except TimeoutError:
            log.error(
                "the outbox sender process %d did not stop within %g s: killed",
                child.pid,
                self.stop_seconds,
            )
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            code = await exited
        log.info("outbox sender process %d stopped (%s)", child.pid, _describe(code))
        return code


async def _kill(child: asyncio.subprocess.Process) -> None:
    log.error("the outbox sender process %d is being killed", child.pid)
    with contextlib.suppress(ProcessLookupError):
        child.kill()
    await asyncio.shield(child.wait())


async def _end(serving: asyncio.Task[None]) -> None:
    """The child has exited, so its end is closed and serving ends (giving back its permits);
    cancelled if it has not within a few seconds (another process holding a copy of the end)."""
    try:
        await asyncio.wait_for(asyncio.shield(serving), CONNECTION_END_SECONDS)
    except TimeoutError:
        log.error("the outbox sender process's connection did not end: closed")
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


def _describe(code: int | None) -> str:
    if code is None:
        return "not started"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
