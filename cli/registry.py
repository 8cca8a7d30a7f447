"""A feature's command-line commands: `impact-bot NAME …`, declared by the feature and given the
settings and a database on the service's DATABASE_URL when they run."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from bot.config import Settings
from framework.content import Framework, default_framework
from store.db import Database, DatabaseUnavailable
from store.personal import PersonalData


class CliError(Exception):
    """A command can't do what was asked; the message says why, in one line."""


@dataclass
class CliContext:
    """What a command runs with. The database is opened on first use and closed after."""

    settings: Settings
    actor: str = field(default_factory=lambda: f"cli:{getpass.getuser()}")
    # Every feature's personal-data hooks, in registration order (`impact-bot people …`).
    personal_data: tuple[PersonalData, ...] = ()
    _db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url, pool_size=1)
        return self._db

    @cached_property
    def framework(self) -> Framework:
        return default_framework()

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None


Run = Callable[[CliContext, argparse.Namespace], int]


@dataclass(frozen=True)
class CliCommand:
    """`impact-bot NAME …`: `configure` adds its arguments (and subcommands) to its parser;
    `run` does the work and returns the exit status (errors: one line on stderr, status 1)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Run


def guarded(work: Run, *errors: type[Exception], say: Callable[[Exception], str] = str) -> Run:
    """`work`, with the errors a person can act on shown as one line on stderr and exit status 1:
    `error: {say(exc)}` for CliError and `errors`, `database error: {exc}` when the database
    can't be reached. The context is closed after, whatever happened."""
    expected: tuple[type[Exception], ...] = (CliError, *errors)

    def run(ctx: CliContext, args: argparse.Namespace) -> int:
        try:
            return work(ctx, args)
        except DatabaseUnavailable as exc:
            print(f"database error: {exc}", file=sys.stderr)
            return 1
        except expected as exc:
            print(f"error: {say(exc)}", file=sys.stderr)
            return 1
        finally:
            ctx.close()

    return run
