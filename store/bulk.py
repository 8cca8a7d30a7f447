"""Many rows in one INSERT on PostgreSQL, sent as one JSON array that the server turns into rows
(`json_to_recordset`): one parameter whatever the number of rows.

A multi-row VALUES list (SQLAlchemy's "insertmanyvalues") has a placeholder per value, and
psycopg parses every placeholder of a statement that long on each execution: for a thousand
outbox rows of eleven columns that was most of a nudge batch's time on the database thread (and
the GIL the event loop needs). Arrays per column are no better for text: psycopg escapes each
element in Python. One JSON document is encoded by the json module's C code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def insert_from_json(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    unique: sa.Column[Any],
) -> int:
    """INSERT the rows (each with the same keys) ... ON CONFLICT (`unique`) DO NOTHING, in one
    statement with one parameter; how many were new. A row whose `unique` value is already
    there, or earlier in `rows`, is skipped. Datetimes must be aware (sent as ISO 8601)."""
    if not rows:
        return 0
    names = list(rows[0])
    document = [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in rows
    ]
    source = (
        sa.func.json_to_recordset(sa.bindparam("u_rows", document, type_=postgresql.JSON))
        .table_valued(*(sa.column(name, _plain(table.c[name].type)) for name in names))
        .render_derived(with_types=True)
    )
    statement = (
        postgresql.insert(table)
        .from_select(names, sa.select(*(source.c[name] for name in names)))
        .on_conflict_do_nothing(index_elements=[unique])
        .returning(table.c.id)
    )
    return len(connection.execute(statement).fetchall())


def _plain(kind: Any) -> Any:
    """A column type as the record's: a TypeDecorator's own database type."""
    return kind.impl_instance if isinstance(kind, sa.types.TypeDecorator) else kind
