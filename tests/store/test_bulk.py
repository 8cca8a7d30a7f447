"""store.bulk.insert_ignoring on SQLite: the rows it writes are byte for byte what SQLAlchemy's
own INSERT writes (timestamps, booleans, text, NULL), a conflicting row is skipped and not
counted, and a batch over SQLite's parameter limit is split into several statements, each one
statement whatever its number of rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import store.bulk
from store.bulk import among, insert_ignoring, select_pairs
from store.db import Database
from store.types import UTCDateTime

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)

metadata = sa.MetaData()
things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(50), nullable=False, unique=True),
    sa.Column("label", sa.Text, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=True),
)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'bulk.db'}")
    metadata.create_all(db.engine)
    return db


def rows(prefix: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "key": f"{prefix}{n}",
            "label": None if n % 3 == 0 else f"Zoë’s team {n} – ok",
            "flag": n % 2 == 0,
            "at": None if n % 4 == 0 else NOW + timedelta(minutes=n),
        }
        for n in range(count)
    ]


def stored(db: Database, prefix: str) -> list[tuple[object, ...]]:
    """The raw stored values (SQLite's text, not what SQLAlchemy would make of it)."""
    return db.run_sync(
        lambda s: [
            tuple(row)
            for row in s.connection().exec_driver_sql(
                "SELECT substr(key, 2), label, flag, at, typeof(at) FROM things "
                "WHERE key LIKE ? ORDER BY id",
                (f"{prefix}%",),
            )
        ]
    )


def test_stored_exactly_as_sqlalchemy_stores_them(sqlite_db: Database) -> None:
    written = sqlite_db.run_sync(
        lambda s: insert_ignoring(s.connection(), things, rows("a", 12), ["key"])
    )
    sqlite_db.run_sync(lambda s: s.execute(sa.insert(things), rows("b", 12)))

    assert written == 12
    assert stored(sqlite_db, "a") == stored(sqlite_db, "b")
    back = sqlite_db.run_sync(
        lambda s: s.execute(sa.select(things.c.at).where(things.c.key == "a1")).scalar_one()
    )
    assert back == NOW + timedelta(minutes=1)


def test_conflicting_rows_are_skipped_and_not_counted(sqlite_db: Database) -> None:
    first = rows("k", 5)
    sqlite_db.run_sync(lambda s: insert_ignoring(s.connection(), things, first[:2], ["key"]))
    changed = dict(first[1], label="changed")

    written = sqlite_db.run_sync(
        lambda s: insert_ignoring(s.connection(), things, [changed, *first[2:]], ["key"])
    )

    assert written == 3
    labels = sqlite_db.run_sync(
        lambda s: s.execute(sa.select(things.c.label).where(things.c.key == "k1")).scalar_one()
    )
    assert labels == first[1]["label"]
    assert (
        sqlite_db.run_sync(
            lambda s: s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one()
        )
        == 5
    )


def test_one_statement_per_parameter_limit(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store.bulk, "SQLITE_MAX_PARAMETERS", 40)  # 10 rows of 4 columns
    statements: list[str] = []
    sa.event.listen(
        sqlite_db.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )

    written = sqlite_db.run_sync(
        lambda s: insert_ignoring(s.connection(), things, rows("c", 25), ["key"])
    )

    inserts = [s for s in statements if s.startswith("INSERT")]
    assert written == 25
    assert len(inserts) == 3
    assert [s.count("(?, ?, ?, ?)") for s in inserts] == [10, 10, 5]
    assert [row[0] for row in stored(sqlite_db, "c")] == [str(n) for n in range(25)]


def test_rows_must_share_their_columns(sqlite_db: Database) -> None:
    uneven = [{"key": "x", "flag": True}, {"key": "y", "flag": True, "label": "z"}]
    with pytest.raises(ValueError, match="same columns"):
        sqlite_db.run_sync(lambda s: insert_ignoring(s.connection(), things, uneven, ["key"]))


@pytest.mark.parametrize("count", [0, 1, 250])
def test_select_pairs_reads_what_a_plain_select_reads(db: Database, count: int) -> None:
    """On SQLite the pairs come back as one JSON row; on both databases they are exactly the
    rows a SELECT gives, text of any kind included."""
    metadata.create_all(db.engine)
    labels = ['O\'Brien "Jo" \\ né 😀', "", "a,b", "[1]"]
    rows = [
        {"key": f"k{n}", "label": labels[n % len(labels)], "flag": n % 2 == 0, "at": NOW}
        for n in range(count)
    ]

    def read(session: Any) -> tuple[list[Any], list[Any]]:
        connection = session.connection()
        if rows:
            connection.execute(sa.insert(things), rows)
        wanted = (things.c.flag.is_(True), things.c.key != "k3")
        plain = connection.execute(sa.select(things.c.id, things.c.label).where(*wanted)).all()
        paired = select_pairs(connection, things.c.id, things.c.label, *wanted)
        return sorted(tuple(r) for r in plain), sorted(paired)

    plain, paired = db.run_sync(read)
    assert paired == plain
    assert len(paired) == (count + 1) // 2


@pytest.mark.parametrize("count", [0, 1, 1000])
def test_among_finds_the_rows_an_in_list_finds_with_one_parameter(db: Database, count: int) -> None:
    """On PostgreSQL the ids go as one JSON parameter, so the statement's text (and psycopg's
    parse of it, and SQLAlchemy's render) is the same whatever the number of ids."""
    metadata.create_all(db.engine)
    statements: list[tuple[str, Any]] = []

    def seen(*args: Any) -> None:
        statements.append((args[2], args[3]))

    def read(session: Any) -> tuple[list[Any], list[Any]]:
        connection = session.connection()
        connection.execute(sa.insert(things), rows("a", 1200))
        ids = [n for n in range(-5, 2 * count, 2)]  # some missing, some negative
        plain = connection.execute(sa.select(things.c.key).where(things.c.id.in_(ids))).all()
        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            found = connection.execute(
                sa.select(things.c.key).where(among(things.c.id, ids, connection.dialect))
            ).all()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
        return sorted(plain), sorted(found)

    plain, found = db.run_sync(read)
    assert found == plain
    assert len(found) == len(range(1, min(2 * count, 1201), 2))
    if not db.is_sqlite:
        [(statement, parameters)] = statements
        assert "json_array_elements_text" in statement
        assert len(parameters) == 1, parameters
