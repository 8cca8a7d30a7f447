"""`impact-bot db upgrade | status`: the database schema (Alembic migrations, store/migrations)."""

from __future__ import annotations

import argparse
import sys

from cli.registry import CliCommand, CliContext
from store.db import create_db_engine, without_password


def _configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="db_command", required=True)
    commands.add_parser("upgrade", help="apply all migrations")
    commands.add_parser("status", help="is the schema current?")


def _run(ctx: CliContext, args: argparse.Namespace) -> int:
    from store.schema import schema_status, upgrade  # Alembic: only for the command that uses it

    engine = create_db_engine(ctx.settings.database_url)
    try:
        if args.db_command == "upgrade":
            upgrade(engine)
        status = schema_status(engine)
    except Exception as exc:
        message = without_password(str(exc).splitlines()[0], ctx.settings.database_url)
        print(f"database error: {message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(status.describe())
    return 0 if status.is_current else 1


DB = CliCommand("db", "database schema", _configure, _run)
