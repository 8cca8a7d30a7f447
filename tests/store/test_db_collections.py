"""No automatic garbage collection while SQLite's one writer runs a unit of work (and holds the
write lock): a collection meanwhile, in any thread, stopped the writer with the lock held.
PostgreSQL has no database-wide lock, and collects as usual."""

from __future__ import annotations

import gc

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from store.db import Database

pytestmark = pytest.mark.service


async def test_no_collection_while_the_sqlite_writer_works(db: Database) -> None:
    def enabled(_session: Session) -> bool:
        return gc.isenabled()

    def enabled_alone(_connection: sa.Connection) -> bool:
        return gc.isenabled()

    assert gc.isenabled()
    assert await db.run(enabled) is not db.is_sqlite
    assert await db.run_autocommit(enabled_alone) is not db.is_sqlite
    assert db.run_sync(enabled) is not db.is_sqlite
    assert gc.isenabled(), "collections again once the unit of work is done"

    def failing(_session: Session) -> None:
        raise LookupError("no such thing")

    with pytest.raises(LookupError):
        await db.run(failing)
    assert gc.isenabled(), "and after a unit of work that failed"


def test_collection_left_disabled_by_its_owner_stays_disabled(db: Database) -> None:
    gc.disable()
    try:
        assert db.run_sync(lambda _session: gc.isenabled()) is False
        assert not gc.isenabled()
    finally:
        gc.enable()
