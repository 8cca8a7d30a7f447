"""`Database.run_autocommit`: on PostgreSQL each statement is its own transaction (no BEGIN or
COMMIT round trips; the live card swap), on SQLite the work is one transaction as with `run`.
Units of work on the same pooled connections afterwards are transactions again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from store.db import Database

pytestmark = pytest.mark.service


class Stop(Exception):
    pass


async def test_autocommit_on_postgresql_and_one_transaction_on_sqlite(db: Database) -> None:
    await db.run(lambda s: s.execute(sa.text("CREATE TABLE marks (n int)")))

    def mark_then_fail(session: sa.orm.Session | sa.Connection) -> None:
        session.execute(sa.text("INSERT INTO marks VALUES (1)"))
        raise Stop

    with pytest.raises(Stop):
        await db.run_autocommit(mark_then_fail)
    with pytest.raises(Stop):
        await db.run(mark_then_fail)

    def marks(session: sa.orm.Session | sa.Connection) -> int:
        return int(session.execute(sa.text("SELECT count(*) FROM marks")).scalar_one())

    assert await db.run(marks) == (0 if db.is_sqlite else 1)
    if db.is_sqlite:
        return

    def savepoint(session: sa.orm.Session | sa.Connection) -> None:  # only in a transaction
        session.execute(sa.text("SAVEPOINT probe"))

    for _ in range(8):  # every pooled connection: a unit of work is one transaction again
        with pytest.raises(sa.exc.DBAPIError, match="transaction blocks"):
            await db.run_autocommit(savepoint)
        await db.run(savepoint)
