"""`impact-bot`: the service's command line.

impact-bot serve          start the bot (PORT, DATABASE_URL, ... from the environment / .env)
impact-bot db upgrade     bring the database schema to the newest migration
impact-bot db status      say whether the schema is current
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bot.config import ConfigurationError, Settings, load_settings
from cli import rounds as admin_cli

if TYPE_CHECKING:
    from aiohttp import web

    from store.db import Database

log = logging.getLogger("impact_bot")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="impact-bot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the bot service")
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations")
    db_commands.add_parser("status", help="is the schema current?")
    admin_cli.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "db":
        return _db(settings, args.db_command)
    return admin_cli.run(settings, args)


def _db(settings: Settings, command: str) -> int:
    from store.db import create_db_engine
    from store.schema import schema_status, upgrade

    engine = create_db_engine(settings.database_url)
    try:
        if command == "upgrade":
            upgrade(engine)
        status = schema_status(engine)
    except Exception as exc:
        print(f"database error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(status.describe())
    return 0 if status.is_current else 1


def _serve(settings: Settings) -> int:
    from aiohttp import web

    from bot.web import create_app
    from store.db import Database
    from store.schema import schema_problem

    db = Database(settings.database_url)
    may_upgrade = settings.local_mode and db.is_sqlite
    if problem := schema_problem(db.engine, may_upgrade=may_upgrade):
        print(problem, file=sys.stderr)
        db.dispose()
        return 1
    if settings.local_mode:
        log.warning(
            "LOCAL MODE: MicrosoftAppId is not set, so incoming requests are not authenticated; "
            "listening on 127.0.0.1 only. Set MicrosoftAppId/MicrosoftAppPassword for Teams."
        )
    app = create_app(settings, db=db, background=True)
    app.on_cleanup.append(_dispose_on_cleanup(db))
    log.info("impact-bot listening on http://%s:%d/api/messages", settings.bind_host, settings.port)
    web.run_app(app, host=settings.bind_host, port=settings.port, print=None)
    return 0


def _dispose_on_cleanup(db: Database) -> Callable[[web.Application], Awaitable[None]]:
    async def dispose(_app: web.Application) -> None:
        db.dispose()

    return dispose


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
