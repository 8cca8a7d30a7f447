"""Alembic environment: runs on the connection that store.schema hands over."""

from __future__ import annotations

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from store.schema import EXTERNAL_TABLES
from store.tables import metadata  # every table
from store.types import UTCDateTime


def include_object(_object: object, name: str | None, type_: str, *_args: object) -> bool:
    return not (type_ == "table" and name in EXTERNAL_TABLES)


def render_item(type_: str, obj: object, _context: AutogenContext) -> str | Literal[False]:
    """Migrations spell our column types in plain SQLAlchemy, never by importing app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object,
    render_item=render_item,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
