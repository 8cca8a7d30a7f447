"""SQLite: a unit of work that holds the write lock longer than the round steps may (50 ms) is
logged with its name, at most once every 10 s per process with a count of the others; reads,
and PostgreSQL, which has no database-wide lock, are not watched (store.lock_holds)."""

from __future__ import annotations

import functools
import logging
import time

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from store.db import Database
from store.lock_holds import LockHolds, unit_name

pytestmark = pytest.mark.service


def slow_write(seconds: float, session: Session) -> None:
    session.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))
    time.sleep(seconds)


def slow_read(seconds: float, session: Session) -> None:
    session.execute(sa.text("SELECT 1"))
    time.sleep(seconds)


async def test_a_long_hold_is_logged_with_its_unit_then_counted_until_the_next_line(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    now = {"t": 100.0}
    db.lock_holds = LockHolds(clock=lambda: now["t"], report=True)
    caplog.set_level(logging.WARNING, logger="store.lock_holds")
    await db.run(functools.partial(slow_write, 0.0))
    await db.run(functools.partial(slow_write, 0.07))
    await db.run(functools.partial(slow_write, 0.09))  # within 10 s of the line: counted
    await db.read(functools.partial(slow_read, 0.07))  # a read takes no write lock
    now["t"] += 11
    await db.run(functools.partial(slow_write, 0.06))
    lines = [r.getMessage() for r in caplog.records if r.name == "store.lock_holds"]
    if not db.is_sqlite:
        assert lines == [], "PostgreSQL has no write lock to hold"
        assert db.lock_holds.holds == 0
        return
    assert len(lines) == 2, lines
    assert "by slow_write" in lines[0]
    assert "more" not in lines[0]
    assert "1 more since the last line, the longest 9" in lines[1]
    holds = db.lock_holds
    assert (holds.holds, holds.long_holds) == (4, 3)
    assert 0.09 <= holds.longest < 1.0
    assert holds.summary().startswith("SQLite's write lock: 4 transactions, 3 held over 50 ms")


async def test_a_hold_ended_by_a_rollback_counts_too(db: Database) -> None:
    def failing(session: Session) -> None:
        slow_write(0.06, session)
        raise ValueError("the unit failed")

    with pytest.raises(ValueError, match="the unit failed"):
        await db.run(failing)
    assert db.lock_holds.long_holds == (1 if db.is_sqlite else 0)


async def test_a_process_that_does_not_report_only_counts(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A CLI command's Database does not report (its stderr is its own output): the long hold
    is counted, not logged. The service and its sender process set `report`."""
    caplog.set_level(logging.WARNING, logger="store.lock_holds")
    assert not db.lock_holds.report
    await db.run(functools.partial(slow_write, 0.06))
    assert [r for r in caplog.records if r.name == "store.lock_holds"] == []
    assert db.lock_holds.long_holds == (1 if db.is_sqlite else 0)


def test_a_unit_is_named_by_its_function_through_partials() -> None:
    assert unit_name(functools.partial(functools.partial(slow_write, 1.0))) == "slow_write"
    assert unit_name(lambda: None) == (
        "test_a_unit_is_named_by_its_function_through_partials.<locals>.<lambda>"
    )
