"""Alembic environment: runs on the connection that store.schema hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

# APScheduler creates and owns its job store table; it is not part of our schema.
EXTERNAL_TABLES = frozenset({"apscheduler_jobs"})


def include_object(_object: object, name: str | None, type_: str, *_args: object) -> bool:
    return not (type_ == "table" and name in EXTERNAL_TABLES)


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
