"""SQL stays in store/ (and the scheduler's own job store and leader lock): no select, insert,
update, delete or session.exec/execute anywhere else."""

from __future__ import annotations

import ast

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.unit

OUTSIDE_THE_STORE = ("bot", "cli", "impact", "assessment", "rounds", "huddles", "alignment")
SQL_CALLS = {"select", "insert", "update", "delete", "text"}
SQL_MODULES = ("sqlalchemy", "sqlmodel")


def sql_calls(source: str) -> list[tuple[int, str]]:
    """Statements built with SQLAlchemy or SQLModel (`select(...)`, `sa.update(...)`) and any
    `.exec(...)` / `.execute(...)` (a session or connection running SQL)."""
    tree = ast.parse(source)
    sql_names, sql_aliases = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(SQL_MODULES):
            sql_names |= {a.asname or a.name for a in node.names if a.name in SQL_CALLS}
        elif isinstance(node, ast.Import):
            sql_aliases |= {a.asname or a.name for a in node.names if a.name in SQL_MODULES}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in sql_names:
            found.append((node.lineno, func.id))
        elif isinstance(func, ast.Attribute):
            base = func.value.id if isinstance(func.value, ast.Name) else ""
            if func.attr in ("exec", "execute") or (base in sql_aliases and func.attr in SQL_CALLS):
                found.append((node.lineno, func.attr))
    return sorted(found)


def test_no_sql_outside_the_store() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line} {name}(...)"
        for package in OUTSIDE_THE_STORE
        for path in sorted((REPO / package).rglob("*.py"))
        for line, name in sql_calls(path.read_text())
    ]
    assert offenders == []


def test_the_check_sees_sql() -> None:
    source = (
        "import sqlalchemy as sa\nfrom sqlmodel import select\n"
        "rows = session.exec(select(Person))\nsa.update(t)\nvalues.update(more)\n"
    )
    assert sql_calls(source) == [(3, "exec"), (3, "select"), (4, "update")]
