"""Many rows in one INSERT on PostgreSQL, sent as one array per column that the server unnests:
as many parameters as columns, whatever the number of rows.

A multi-row VALUES list (SQLAlchemy's "insertmanyvalues") has a placeholder per value, and
psycopg parses every placeholder of a statement that long on each execution: for a thousand
outbox rows of eleven columns that was most of a nudge batch's time on the database thread (and
the GIL the event loop needs). Arrays are parsed once, dumped by psycopg's C code, and the
server builds the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def insert_unnested(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    unique: sa.Column[Any],
) -> int:
    """INSERT the rows (each with the same keys) ... ON CONFLICT (`unique`) DO NOTHING, in one
    statement; how many were new. A row whose `unique` value is already there, or earlier in
    `rows`, is skipped."""
    if not rows:
        return 0
    names = list(rows[0])
    arrays = [
        sa.func.unnest(
            sa.bindparam(
                f"u_{name}",
                [row[name] for row in rows],
                type_=postgresql.ARRAY(_plain(table.c[name].type)),
            )
        )
        for name in names
    ]
    statement = (
        postgresql.insert(table)
        .from_select(names, sa.select(*arrays))
        .on_conflict_do_nothing(index_elements=[unique])
        .returning(table.c.id)
    )
    return len(connection.execute(statement).fetchall())


def _plain(kind: Any) -> Any:
    """A column type as the array's element: a TypeDecorator's own database type (the values
    are already what it would bind, e.g. aware UTC datetimes)."""
    return kind.impl_instance if isinstance(kind, sa.types.TypeDecorator) else kind
