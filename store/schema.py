"""Schema management: Alembic is the single source of the schema.

`upgrade` brings a database to the newest revision; `schema_status` tells whether a database is
current, which the service checks at start-up and on /readyz.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Tables other libraries own in the same database (APScheduler's job store).
EXTERNAL_TABLES = frozenset({"apscheduler_jobs"})


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.is_current:
            return f"database schema is current ({self.head})"
        found = self.current or "empty database"
        return (
            f"database schema is out of date ({found}, code expects {self.head}): "
            "run `impact-bot db upgrade`"
        )


def schema_status(engine: Engine) -> SchemaStatus:
    return SchemaStatus(current=current_revision(engine), head=head_revision())


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # a migration may take longer than a query
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def schema_problem(engine: Engine, *, may_upgrade: bool = False) -> str | None:
    """Why the service must not run on this database, in one line; None when it may. With
    `may_upgrade` (local mode on SQLite) an out-of-date schema is upgraded instead."""
    try:
        status = schema_status(engine)
        if not status.is_current and may_upgrade:
            upgrade(engine)
            status = schema_status(engine)
    except Exception as exc:
        return f"database error: {str(exc).splitlines()[0]}"
    return None if status.is_current else status.describe()
