"""Many rows in one statement, for the round steps' bulk writes (invitations, nudges).

PostgreSQL (`json_records`, `insert_selected`): one INSERT ... SELECT with the rows sent as one
JSON array that the server turns into rows (`json_to_recordset`): one parameter whatever the
number of rows. A multi-row VALUES list (SQLAlchemy's "insertmanyvalues") has a placeholder per
value, and psycopg parses every placeholder of a statement that long on each execution: for a
thousand outbox rows of eleven columns that was most of a nudge batch's time on the database
thread (and the GIL the event loop needs). One JSON document is encoded by the json module's C
code. What many rows share (the outbox's cards) is sent once beside it, for the SELECT to
repeat (store.outbox.enqueue_many): in the document each copy would be escaped again. That is
a JSON array too (`json_texts`), not a text[]: psycopg escapes an array's every element in
Python, calling back from a regular expression at every quote, and a dozen distinct cards of
2.7 kB (a nudge tick's part of 250 people in a trust) took 7 ms of the GIL, fifty 27 ms
(benchmarks/enqueue_many_timing.py --cards).

SQLite (`insert_ignoring`): pysqlite lets go of the GIL around every bind, step and reset of a
statement. While the service's one database thread holds SQLite's write lock, each of those
hand-offs lets the event loop run, and the database thread then waits for the GIL back. An
`executemany` of 200 rows is 600 hand-offs, and measured in the trust benchmark
(benchmarks/trust_scale.py) a batch of 200 invitations held the lock for 0.3 to 0.9 s of which a
few milliseconds were SQLite's work. SQLAlchemy's "insertmanyvalues" would send multi-row
INSERTs, but not for INSERT ... ON CONFLICT without RETURNING, and RETURNING steps once per row.
So `insert_ignoring` writes the multi-row INSERT itself: one statement per
`max_rows_per_statement` rows, its text built once per shape, the values through each column's
own bind processor (exactly what SQLAlchemy would bind), and the count of new rows from SQLite.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

SQLITE_MAX_PARAMETERS = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32


def json_records(
    rows: Sequence[Mapping[str, Any]], types: Mapping[str, Any], *, name: str = "u_rows"
) -> sa.TableValuedAlias:
    """The rows (each with the keys of `types`) as a PostgreSQL row source: one JSON parameter
    `name`, turned into records of these column types by the server (`json_to_recordset`).
    Datetimes must be aware (sent as ISO 8601)."""
    document = [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in rows
    ]
    return (
        sa.func.json_to_recordset(sa.bindparam(name, document, type_=postgresql.JSON))
        .table_valued(*(sa.column(key, _plain(kind)) for key, kind in types.items()))
        .render_derived(with_types=True)
    )


def json_texts(texts: Sequence[str], *, name: str) -> sa.TableValuedAlias:
    """The texts as a PostgreSQL row source of (`value`, `i`), `i` counting from 1: one JSON
    array parameter `name`, split by the server (`json_array_elements_text`), each text back as
    it was."""
    return (
        sa.func.json_array_elements_text(sa.bindparam(name, list(texts), type_=postgresql.JSON))
        .table_valued("value", with_ordinality="i")
        .render_derived()
    )


def among(
    column: sa.ColumnElement[Any] | sa.orm.Mapped[Any], ids: Sequence[int], dialect: sa.Dialect
) -> sa.ColumnElement[bool]:
    """`column IN ids`. On PostgreSQL the ids go as one JSON array (`column IN (SELECT ... FROM
    json_array_elements_text(...))`): an IN list of a thousand placeholders is a statement that
    SQLAlchemy renders again and psycopg parses again (too long for its cache) on each
    execution, about 25 ms of a nudge batch's plan (py-spy on the worker during a trust's due
    ticks, 1 December). Elsewhere a plain IN."""
    if dialect.name != "postgresql":
        return column.in_(list(ids))
    listed = sa.func.json_array_elements_text(
        sa.bindparam(None, [int(i) for i in ids], type_=postgresql.JSON)
    ).table_valued("value")
    return column.in_(sa.select(sa.cast(listed.c.value, sa.BigInteger)))


def insert_selected(
    connection: sa.Connection,
    table: sa.Table,
    values: Mapping[str, sa.ColumnElement[Any]],
    unique: sa.Column[Any],
    *,
    where: sa.ColumnElement[bool] | None = None,
) -> int:
    """INSERT INTO `table` (the keys of `values`) SELECT the values [WHERE `where`: how the
    row sources join] ... ON CONFLICT (`unique`) DO NOTHING, on PostgreSQL; how many rows were
    new."""
    selected = sa.select(*values.values())
    if where is not None:
        selected = selected.where(where)
    statement = (
        postgresql.insert(table)
        .from_select(list(values), selected)
        .on_conflict_do_nothing(index_elements=[unique])
        .returning(table.c.id)
    )
    return len(connection.execute(statement).fetchall())


def _plain(kind: Any) -> Any:
    """A column type as the record's: a TypeDecorator's own database type."""
    return kind.impl_instance if isinstance(kind, sa.types.TypeDecorator) else kind


def insert_ignoring(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
) -> int:
    """INSERT every row (all with the same keys) ... ON CONFLICT (`conflict`) DO NOTHING, on
    SQLite, in as few statements as its parameter limit allows; how many rows were new."""
    if connection.dialect.name != "sqlite":  # pragma: no cover - a programming error
        raise NotImplementedError("insert_ignoring is for SQLite")
    return execute_prepared(
        connection, prepare_insert_ignoring(connection.dialect, table, rows, conflict)
    )


Prepared = list[tuple[str, tuple[Any, ...]]]  # statements and their bound values, in order


@dataclass(frozen=True)
class Computed:
    """A column's value written by SQLite from values of the row that are not columns
    themselves: `sql` with a `?` for each of `inputs` (keys of the rows), in order, e.g.
    `Computed("? || ?", ("first", "second"))`. The inputs are bound as they are."""

    sql: str
    inputs: tuple[str, ...]


def prepare_insert_ignoring(
    dialect: sa.Dialect,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    computed: Mapping[str, Computed] | None = None,
) -> Prepared:
    """`insert_ignoring`'s statements with their values already through each column's bind
    processor: all the Python of the insert, done before the transaction takes SQLite's write
    lock (`execute_prepared` then only runs them). Holding the lock, each millisecond of Python
    is a chance to lose the GIL (every switch interval, to any thread that wants it) and wait
    for it back. The columns of `computed` are written by SQLite from their inputs."""
    if not rows:
        return []
    keys = rows[0].keys()
    if any(row.keys() != keys for row in rows):
        raise ValueError("every row needs the same columns")
    derived = tuple((computed or {}).items())
    inputs = tuple(key for _, column in derived for key in column.inputs)
    columns = tuple(key for key in keys if key not in inputs)
    bound = columns + inputs  # each row's values in the order of its placeholders
    limit = min(SQLITE_MAX_PARAMETERS, dialect.insertmanyvalues_max_parameters)
    per_statement = max(1, limit // len(bound))
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    ] + [None] * len(inputs)
    prepared: Prepared = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        text = _statement(dialect, table, columns, derived, tuple(conflict), len(chunk))
        values: list[Any] = []
        for row in chunk:
            for name, process in zip(bound, processors, strict=True):
                value = row[name]
                values.append(process(value) if process is not None else value)
        prepared.append((text, tuple(values)))
    return prepared


def execute_prepared(connection: sa.Connection, prepared: Prepared) -> int:
    """Run `prepare_insert_ignoring`'s statements; how many rows were new."""
    return sum(connection.exec_driver_sql(text, values).rowcount for text, values in prepared)


@functools.lru_cache(maxsize=64)
def _statement(
    dialect: sa.Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    derived: tuple[tuple[str, Computed], ...],
    conflict: tuple[str, ...],
    count: int,
) -> str:
    preparer = dialect.identifier_preparer
    quote = preparer.quote
    names = columns + tuple(name for name, _ in derived)
    row = "(" + ", ".join(["?"] * len(columns) + [column.sql for _, column in derived]) + ")"
    return (
        f"INSERT INTO {preparer.format_table(table)} ({', '.join(quote(c) for c in names)}) "
        f"VALUES {', '.join([row] * count)} "
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO NOTHING"
    )


def select_pairs(
    connection: sa.Connection,
    key: sa.ColumnElement[Any],
    value: sa.ColumnElement[Any],
    *where: sa.ColumnElement[bool],
) -> list[tuple[Any, Any]]:
    """(key, value) of every row matching `where`, in ONE result row on SQLite (the pairs as a
    JSON array, `json_group_array`): pysqlite lets go of the GIL around every step of a
    statement, so reading 200 rows is 200 hand-offs, and while the event loop is busy (a sender
    at Teams' limits) each is a wait for the GIL with the write lock held. Elsewhere a plain
    SELECT. Only for values JSON carries as they are (integers, text)."""
    if connection.dialect.name != "sqlite":
        return [(k, v) for k, v in connection.execute(sa.select(key, value).where(*where)).all()]
    pairs = sa.func.json_group_array(sa.func.json_array(key, value))
    text = connection.execute(sa.select(pairs).where(*where)).scalar_one()
    return [(k, v) for k, v in json.loads(text)]
