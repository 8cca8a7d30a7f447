"""`impact-bot outbox send`: run the outbox sender on its own: for draining from a separate
process, as the crash tests and benchmarks do, and (`--budget-fd`) as the service's sender
process, which the service starts, supervises and stops (bot/sender/process.py) and whose every
request is counted in the service's one budget (bot/sender/budget_link.py).

The sender itself (cli/outbox_send.py: the Bot Framework's HTTP stack, Alembic) is imported when
the command runs, not by every `impact-bot` command that parses its arguments."""

from __future__ import annotations

import argparse

from cli.registry import CliCommand, CliContext


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
    send.add_argument(
        "--poll-seconds", type=float, default=1.0, help="look for due rows this often"
    )
    send.add_argument(
        "--budget-fd",
        type=int,
        help="the service's budget over this connected socket: run as its sender process "
        "(the limits are the service's; stops when the service has gone)",
    )
    send.add_argument("--nice", type=int, default=0, help="add this to the process's niceness")


def _run(ctx: CliContext, args: argparse.Namespace) -> int:
    # Everything the sender needs, imported before it starts (and before it freezes what is
    # loaded out of the collector's walks: bot.process_tuning).
    from cli.outbox_send import send

    return send(ctx, args)


OUTBOX = CliCommand("outbox", "the outbox of proactive messages", _configure, _run)
