"""`Database.run_autocommit`: on PostgreSQL each statement is its own transaction (no BEGIN or
COMMIT round trips; the live card swap), on SQLite the work is one transaction as with `run`.
Units of work on the same pooled connections afterwards are transactions again."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from store.db import Database, DatabaseOutcomeUnknown, DatabaseUnavailable, about_to_write
from tests.store.test_db_busy import two_rows_to_deadlock_on

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


def _lost_connection() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))


async def test_with_reads_first_only_a_failure_after_about_to_write_leaves_the_outcome_unknown(
    db: Database,
) -> None:
    """An answer on PostgreSQL reads, then writes in one statement that commits as it runs: a
    failure while it reads changed nothing ("nothing was changed"), one after it said it is
    about to write may have committed. Without `reads_first` every statement may have."""

    def fails_reading(connection: sa.Connection) -> None:
        connection.execute(sa.text("SELECT 1"))
        raise _lost_connection()

    def fails_writing(connection: sa.Connection) -> None:
        connection.execute(sa.text("SELECT 1"))
        about_to_write()
        raise _lost_connection()

    with pytest.raises(DatabaseUnavailable) as raised:
        await db.run_autocommit(fails_reading, reads_first=True)
    assert not isinstance(raised.value, DatabaseOutcomeUnknown)
    written = DatabaseOutcomeUnknown if db.statements_stand_alone else DatabaseUnavailable
    with pytest.raises(written):
        await db.run_autocommit(fails_writing, reads_first=True)
    with pytest.raises(written):
        await db.run_autocommit(fails_reading)
    assert db.statements_stand_alone is not db.is_sqlite  # SQLite: one transaction, rolled back


async def test_a_statement_standing_alone_that_a_deadlock_chose_is_run_again(db: Database) -> None:
    """A deadlock's victim is rolled back whole, also in autocommit, so its outcome is known and
    the work runs again, as `run` does (the answer's one write standing alone)."""
    two_rows_to_deadlock_on(db)
    holds_two = threading.Barrier(2, timeout=10)
    tries = 0

    def standing_alone(connection: sa.Connection) -> None:
        nonlocal tries
        tries += 1
        about_to_write()
        if tries == 1:
            holds_two.wait()  # the other holds row 2
        # One statement (its own transaction) that locks row 1, then waits for row 2: it waits
        # first, so PostgreSQL's deadlock check (after deadlock_timeout) chooses it
        connection.exec_driver_sql(
            "UPDATE pair SET n = n + 1 WHERE id IN (SELECT id FROM pair ORDER BY id FOR UPDATE)"
        )

    def in_a_transaction(session: Session) -> None:
        session.execute(sa.text("UPDATE pair SET n = n + 1 WHERE id = 2"))
        holds_two.wait()
        time.sleep(0.3)  # the other has locked row 1 and waits for row 2
        session.execute(sa.text("UPDATE pair SET n = n + 1 WHERE id = 1"))

    await asyncio.gather(db.run_autocommit(standing_alone), db.run(in_a_transaction))
    assert tries == 2, "chosen as the victim, and run again"
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id, n FROM pair ORDER BY id").all()
    assert [tuple(row) for row in rows] == [(1, 2), (2, 2)], "both made their change, once"
    assert db.deadlock_victims == 1
