"""Look through every table and every column of the database (reflected, so tables no model
declares are searched too) for anything that names a person."""

from __future__ import annotations

import json

import sqlalchemy as sa

from store.db import Database


def needles(*values: str) -> tuple[str, ...]:
    """Each value as stored raw, and as JSON writes it (escaped, and ASCII-only)."""
    found: set[str] = set()
    for value in values:
        found |= {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return tuple(sorted(found))


def scan(db: Database, strings: tuple[str, ...], person_id: int) -> list[str]:
    """`table.column: what` for every value that holds one of `strings`, and every column that
    points at people and holds `person_id`."""
    tables = sa.MetaData()
    tables.reflect(bind=db.engine)
    found: list[str] = []
    with db.engine.connect() as connection:
        for table in tables.sorted_tables:
            person_columns = {
                column.name
                for column in table.columns
                if any(fk.column.table.name == "people" for fk in column.foreign_keys)
            } | ({"id"} if table.name == "people" else set())
            for row in connection.execute(sa.select(table)).mappings():
                for name, value in row.items():
                    if value is None:
                        continue
                    if name in person_columns and value == person_id:
                        found.append(f"{table.name}.{name}: people.id {person_id}")
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    found += [f"{table.name}.{name}: {s!r}" for s in strings if s in text]
    return found


def table_count(db: Database) -> int:
    tables = sa.MetaData()
    tables.reflect(bind=db.engine)
    return len(tables.sorted_tables)
