"""Where each feature keeps personal data, and how one person's is exported and erased.

Every feature with a table that holds a person's id, name or words declares a `PersonalData`
(in its store module) and registers it with its feature; the privacy feature walks them all,
and a test fails if a table has a person column that no declaration names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

Export = Callable[[Session, int], dict[str, Any]]
Erase = Callable[[Session, int], None]


@dataclass(frozen=True)
class PersonalData:
    """`columns` are the `table.column`s that hold a person's id, name or what they wrote;
    `export` returns everything stored about one person (by `people.id`), readable as JSON;
    `erase` removes it. Erasure runs in the reverse order of registration (people last)."""

    name: str
    columns: tuple[str, ...]
    export: Export
    erase: Erase


def rows(session: Session, statement: sa.Select[Any]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (dates and times in ISO 8601)."""
    return [
        {key: _plain(value) for key, value in row._mapping.items()}
        for row in session.execute(statement)
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def columns_of(declarations: Iterable[PersonalData]) -> set[str]:
    return {column for declaration in declarations for column in declaration.columns}
