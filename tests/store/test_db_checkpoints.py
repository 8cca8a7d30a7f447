"""SQLite's WAL is checkpointed beside the writer (store.db), at most once a second after a
write, and always after the last write: a burst that falls within a second of the previous
checkpoint is still copied back into the database, without waiting for some later write."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from store.db import CHECKPOINT_SECONDS, Database
from tests.waiting import until

pytestmark = pytest.mark.service

ROWS = 200
ROW_BYTES = 4000  # about 800 kB: far more than the empty database file


def size(path: Path | str) -> int:
    return os.path.getsize(path)


def write_rows(db: Database) -> None:
    def work(session: sa.orm.Session) -> None:
        session.execute(sa.text("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)"))
        session.execute(
            sa.text("INSERT INTO filler (body) VALUES (:body)"),
            [{"body": "x" * ROW_BYTES} for _ in range(ROWS)],
        )

    db.run_sync(work)


async def test_a_write_soon_after_a_checkpoint_is_copied_back_at_the_next(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.run_sync(lambda s: s.execute(sa.text("SELECT 1")))  # a write: its checkpoint runs
        await asyncio.sleep(CHECKPOINT_SECONDS / 10)
        write_rows(db)  # within the second: it waits for the next checkpoint
        assert size(f"{path}-wal") > ROWS * ROW_BYTES, "the rows are in the WAL"
        assert size(path) < ROWS * ROW_BYTES, "not yet in the database file"
        await until(lambda: size(path) > ROWS * ROW_BYTES, 10 * CHECKPOINT_SECONDS, "a checkpoint")
    finally:
        db.dispose()
