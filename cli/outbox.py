"""`impact-bot outbox send`: run the outbox sender on its own (the service runs one beside the
bot; this is for draining from a separate process, as the crash tests and benchmarks do)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.sender.outbox_sender import OutboxSender
from cli.registry import CliCommand, CliContext
from store.schema import schema_problem

log = logging.getLogger(__name__)


def _configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="outbox_command", required=True)
    send = commands.add_parser("send", help="send the outbox's proactive messages to Teams")
    send.add_argument(
        "--once-until-empty", action="store_true", help="stop when no row is pending any more"
    )
    send.add_argument("--owner", help="lease owner name (default host:pid:random)")
    send.add_argument("--scale", type=float, default=1.0, help="Teams' limits times this")
    send.add_argument(
        "--rate-share", type=float, default=1.0, help="this process's part of the limits (1/N)"
    )
    send.add_argument("--concurrency", type=int, default=16)
    send.add_argument("--lease-seconds", type=float, default=60.0)
    send.add_argument("--request-timeout", type=float, default=15.0)
    send.add_argument("--lease-margin", type=float, default=2.0)


def _run(ctx: CliContext, args: argparse.Namespace) -> int:
    db = ctx.db
    if problem := schema_problem(db.engine):
        print(problem, file=sys.stderr)
        ctx.close()
        return 1
    sender = OutboxSender.from_settings(
        ctx.settings,
        db,
        scale=args.scale,
        share=args.rate_share,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        request_timeout_seconds=args.request_timeout,
        lease_margin_seconds=args.lease_margin,
        **({"owner": args.owner} if args.owner else {}),
    )

    async def drain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info("outbox sender %s started", sender.owner)
        await sender.run(stop, until_empty=args.once_until_empty)
        log.info("outbox sender %s stopped", sender.owner)

    try:
        asyncio.run(drain())
    finally:
        ctx.close()
    return 0


OUTBOX = CliCommand("outbox", "the outbox of proactive messages", _configure, _run)
