"""`impact-bot outbox send`'s work (its arguments: cli/outbox.py): the outbox sender, draining on
its own or as the service's sender process (`--budget-fd`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from bot.process_tuning import tune_gc_and_gil_for_serving
from bot.sender.budget_link import ErrorLinesToService, RemoteBudget
from bot.sender.outbox_sender import OutboxSender
from cli.registry import CliContext
from store.schema import schema_problem

log = logging.getLogger("cli.outbox")  # the command's name in the logs, as before the split


def send(ctx: CliContext, args: argparse.Namespace) -> int:
    """`impact-bot outbox send`, as parsed by cli.outbox."""
    if args.budget_fd is not None:
        _die_with_parent()
    if args.nice:
        os.nice(args.nice)
    db = ctx.db
    if problem := schema_problem(db.engine):
        print(problem, file=sys.stderr)
        ctx.close()
        return 1
    try:
        asyncio.run(_drain(ctx, args))
    finally:
        ctx.close()
    return 0


def _sender(ctx: CliContext, args: argparse.Namespace, budget: RemoteBudget | None) -> OutboxSender:
    settings = ctx.settings
    if budget is None:
        shared: dict[str, Any] = {"scale": args.scale, "share": args.rate_share}
    else:  # the service's budget, which keeps the service's share of the limits; `--scale`
        # (benchmarks) then speeds up only the back-off, as the limits are the service's
        shared = {
            "share": 1.0 / settings.service_processes,
            "limiter": budget,
            "observe": budget.observe,
            "backoff_base_seconds": 1.0 / args.scale,
            "backoff_cap_seconds": settings.send_backoff_cap_seconds / args.scale,
        }
    return OutboxSender.from_settings(
        settings,
        ctx.db,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        request_timeout_seconds=args.request_timeout,
        lease_margin_seconds=args.lease_margin,
        poll_seconds=args.poll_seconds,
        **shared,
        **({"owner": args.owner} if args.owner else {}),
    )


async def _drain(ctx: CliContext, args: argparse.Namespace) -> None:
    """Send until SIGTERM or SIGINT, or (a sender process: SIGTERM only) until the service has
    gone; the requests in flight are finished and recorded either way (`OutboxSender.run`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if args.budget_fd is None:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    else:  # Ctrl-C reaches the service too, which stops this process in its turn (SIGTERM)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    budget = None
    if args.budget_fd is not None:
        budget = await _open_budget(args.budget_fd, stop)
        if budget is None:
            return
    sender = _sender(ctx, args, budget)
    # A long-running process, as the service is: its database thread holds SQLite's write lock
    # across each outcome, and must get the GIL back from the HTTP threads within 1 ms, not 5.
    tune_gc_and_gil_for_serving()
    ctx.db.lock_holds.report = True  # a long hold of SQLite's write lock is logged
    linked = (
        contextlib.nullcontext() if budget is None else _linked_to_service(budget, sender, stop)
    )
    log.info("outbox sender %s started", sender.owner)
    async with linked:
        await sender.run(stop, until_empty=args.once_until_empty)
    log.info(
        "outbox sender %s stopped (%d outcomes and chats written in %d transactions)",
        sender.owner,
        sender.writes.units,
        sender.writes.transactions,
    )
    if ctx.db.is_sqlite:
        log.info("%s", ctx.db.lock_holds.summary())


async def _open_budget(fd: int, stop: asyncio.Event) -> RemoteBudget | None:
    """The service's budget once it has said hello; None if told to stop before that."""
    opening = asyncio.ensure_future(RemoteBudget.open(fd))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({opening, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not opening.done():
        opening.cancel()
        log.warning("outbox sender: stopped before the service's budget was open")
        return None
    budget = opening.result()
    if budget.closed.is_set():  # the service had gone before it said hello
        log.warning("outbox sender: the service has gone; stopping")
        return None
    return budget


@contextlib.asynccontextmanager
async def _linked_to_service(
    budget: RemoteBudget, sender: OutboxSender, stop: asyncio.Event
) -> AsyncIterator[None]:
    """While the sender runs as the service's child: the service's wakes reach it, its ERROR
    lines are counted on the service's metrics, and it stops when the service has gone."""
    budget.on_wake = sender.wake
    counting = ErrorLinesToService(budget)
    logging.getLogger().addHandler(counting)
    watching = asyncio.create_task(_stop_when_closed(budget, stop), name="service watch")
    try:
        yield
    finally:
        watching.cancel()
        logging.getLogger().removeHandler(counting)
        await budget.aclose()


async def _stop_when_closed(budget: RemoteBudget, stop: asyncio.Event) -> None:
    await budget.closed.wait()
    if not stop.is_set():
        log.warning("outbox sender: the service has gone; stopping")
        stop.set()


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """SIGTERM when the service that started this process dies (Linux; elsewhere the budget's
    connection ending is what stops it). This stops as a SIGTERM does: what is in flight is
    finished and recorded."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError) as exc:
        log.debug("outbox sender: no parent-death signal (%s)", exc)
