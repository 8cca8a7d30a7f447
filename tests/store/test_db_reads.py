"""`Database.read` on PostgreSQL: one snapshot, read-only (a round's results are computed in
one, beside the writers; on SQLite a read has its own connection in a WAL snapshot)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from store.db import Database

pytestmark = pytest.mark.service


async def test_a_read_on_postgresql_is_one_read_only_snapshot(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite reads beside the writer in a WAL snapshot: nothing to set")

    def settings(session: sa.orm.Session) -> tuple[str, str]:
        read_only = session.execute(sa.text("SHOW transaction_read_only")).scalar_one()
        isolation = session.execute(sa.text("SHOW transaction_isolation")).scalar_one()
        return read_only, isolation

    assert await db.read(settings) == ("on", "repeatable read")
    assert db.read_sync(settings) == ("on", "repeatable read")
    assert await db.run(settings) == ("off", "read committed"), "units of work are unchanged"
    with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
        await db.read(lambda s: s.execute(sa.text("CREATE TABLE written_in_a_read (a int)")))
