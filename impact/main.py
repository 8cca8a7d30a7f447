"""`impact-bot`: the one entry point, and the composition root of the command line.

impact-bot serve          start the bot (PORT, DATABASE_URL, ... from the environment / .env)
impact-bot serve --local  start it on this machine, without authentication (`make run`)
impact-bot db upgrade     bring the database schema to the newest migration
impact-bot db status      say whether the schema is current
impact-bot outbox send    drain the outbox from a separate process
impact-bot package        build the Teams app package to upload (deployment/README.md)
impact-bot <feature> …    every feature's own commands (impact/features/)
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.config import ConfigurationError, load_settings
from bot.logs import configure_logging
from cli.admins import ADMINS
from cli.db import DB
from cli.outbox import OUTBOX
from cli.package import package_command
from cli.registry import CliCommand, CliContext
from impact.features import FEATURES
from store.db import Database, without_password

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("impact_bot")


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local",
        action="store_true",
        help="local mode: no MicrosoftAppId, no token validation, 127.0.0.1 only",
    )


def _serve(ctx: CliContext, args: argparse.Namespace) -> int:
    # The service, and all it imports (the Bot Framework's stack, aiohttp's server, Alembic), is
    # imported here, before it is built and freezes what is loaded (bot.process_tuning): the
    # other commands don't pay for it.
    from aiohttp import web

    from impact.service import create_app
    from store.schema import schema_problem

    settings = ctx.settings
    if problems := settings.serving_problems(local=args.local):
        print(problems[0], file=sys.stderr)
        return 2
    if not settings.local_mode and not settings.allowed_tenants:
        log.warning(
            "IMPACT_ALLOW_ANY_TENANT=true: activities from ANY Microsoft 365 tenant are accepted; "
            "set IMPACT_ALLOWED_TENANTS to the tenants this deployment serves"
        )
    log.info("database: %s", settings.database_url_masked)
    db = Database(settings.database_url)
    may_upgrade = settings.local_mode and db.is_sqlite
    if problem := schema_problem(db.engine, may_upgrade=may_upgrade):
        print(without_password(problem, settings.database_url), file=sys.stderr)
        db.dispose()
        return 1
    if settings.local_mode:
        log.warning(
            "LOCAL MODE (--local): incoming requests are not authenticated; listening on "
            "127.0.0.1 only. Set MicrosoftAppId/MicrosoftAppPassword and start without --local "
            "for Teams."
        )
    app = create_app(settings, db=db, background=True)

    async def dispose(_app: web.Application) -> None:
        db.dispose()

    app.on_cleanup.append(dispose)
    log.info("impact-bot listening on http://%s:%d/api/messages", settings.bind_host, settings.port)
    web.run_app(app, host=settings.bind_host, port=settings.port, print=None)
    return 0


SERVE = CliCommand("serve", "run the bot service", _configure_serve, _serve)


PACKAGE = package_command(lambda: [c for feature in FEATURES for c in feature.commands])


def commands() -> tuple[CliCommand, ...]:
    return (SERVE, DB, OUTBOX, PACKAGE, ADMINS, *(c for feature in FEATURES for c in feature.cli))


def _parser(available: Sequence[CliCommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="impact-bot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in available:
        command.configure(sub.add_parser(command.name, help=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    available = commands()
    args = _parser(available).parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    chosen = next(c for c in available if c.name == args.command)
    hooks = tuple(d for feature in FEATURES for d in feature.personal_data)
    return chosen.run(CliContext(settings, personal_data=hooks), args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
