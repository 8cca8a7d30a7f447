"""Group commit (store.group_commit): units of work that arrive while one is being written go
together in the next transaction; the first is written at once; one bad unit does not fail the
others; a database error fails the group and each caller hears it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from store.db import Database, DatabaseUnavailable
from store.group_commit import GroupCommit

pytestmark = pytest.mark.service


@pytest.fixture
def notes_db(db: Database) -> Database:
    with db.session() as session:
        session.execute(sa.text("CREATE TABLE notes (text VARCHAR(40) NOT NULL)"))
    return db


def _commits(db: Database) -> list[int]:
    """A list that grows by one at every COMMIT the engine sends."""
    seen: list[int] = []
    event.listen(db.engine, "commit", lambda _connection: seen.append(1))
    return seen


def _note(text: str) -> Callable[[Session], str]:
    def write(session: Session) -> str:
        session.execute(sa.text("INSERT INTO notes (text) VALUES (:t)"), {"t": text})
        return text

    return write


async def _notes(db: Database) -> list[str]:
    return await db.run(
        lambda s: sorted(r[0] for r in s.execute(sa.text("SELECT text FROM notes")))
    )


async def _first_write_held(writes: GroupCommit) -> tuple[asyncio.Task[str], threading.Event]:
    """A first unit ("first") being written, held on its database thread until the event is
    set: what arrives meanwhile waits for the next transaction."""
    started, release = threading.Event(), threading.Event()

    def slow(session: Session) -> str:
        started.set()
        release.wait(10)
        return _note("first")(session)

    first = asyncio.create_task(writes.run(slow))
    assert await asyncio.to_thread(started.wait, 10)
    return first, release


async def test_the_first_unit_is_written_at_once_in_its_own_transaction(
    notes_db: Database,
) -> None:
    commits = _commits(notes_db)
    writes = GroupCommit(notes_db, seconds=10)
    assert await asyncio.wait_for(writes.run(_note("alone")), 5) == "alone"
    assert len(commits) == 1
    assert writes.transactions == 1
    assert await _notes(notes_db) == ["alone"]


async def test_units_arriving_during_a_write_go_together_in_the_next(notes_db: Database) -> None:
    commits = _commits(notes_db)
    writes = GroupCommit(notes_db, seconds=10)
    first, release = await _first_write_held(writes)
    rest = [asyncio.create_task(writes.run(_note(f"n{i}"))) for i in range(10)]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *rest), 10)
    assert results == ["first", *(f"n{i}" for i in range(10))]
    assert len(commits) == 2
    assert writes.transactions == 2
    assert await _notes(notes_db) == sorted(["first", *(f"n{i}" for i in range(10))])


async def test_a_group_holds_at_most_most_units(notes_db: Database) -> None:
    writes = GroupCommit(notes_db, seconds=10, most=4)
    await asyncio.gather(*(writes.run(_note(f"n{i}")) for i in range(10)))
    # all ten are waiting before the writer's first turn: 4, 4, 2
    assert writes.transactions == 3
    assert writes.units == 10
    assert len(await _notes(notes_db)) == 10


async def test_a_unit_that_raises_fails_alone(notes_db: Database) -> None:
    writes = GroupCommit(notes_db, seconds=10)

    def broken(_session: Session) -> str:
        raise ValueError("a bug in one unit")

    first, release = await _first_write_held(writes)
    good = [asyncio.create_task(writes.run(_note(f"g{i}"))) for i in range(3)]
    bad = asyncio.create_task(writes.run(broken))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *good), 10)
    with pytest.raises(ValueError, match="a bug"):
        await bad
    assert await _notes(notes_db) == ["first", "g0", "g1", "g2"]


async def test_a_database_error_reaches_every_caller_of_the_group_and_changes_nothing(
    notes_db: Database,
) -> None:
    writes = GroupCommit(notes_db, seconds=0.5)
    stuck_started, release = threading.Event(), threading.Event()

    def stuck(session: Session) -> str:
        _note("stuck")(session)
        stuck_started.set()
        release.wait(10)  # past the group's 0.5 s: given up, rolled back
        return "stuck"

    written, gate = await _first_write_held(writes)  # the next three wait for it
    group = [writes.run(_note("n0")), writes.run(stuck), writes.run(_note("n1"))]
    waiting = asyncio.gather(*group, return_exceptions=True)
    gate.set()
    assert await asyncio.wait_for(written, 10) == "first"
    results = await asyncio.wait_for(waiting, 10)
    release.set()
    assert stuck_started.is_set()
    assert all(isinstance(r, DatabaseUnavailable) for r in results), results
    await asyncio.sleep(0.2)  # the abandoned transaction rolls back when `stuck` returns
    assert await _notes(notes_db) == ["first"]  # n0 and n1 went with it: nothing changed


async def test_a_caller_that_stops_waiting_leaves_the_group_to_finish(notes_db: Database) -> None:
    writes = GroupCommit(notes_db, seconds=10)
    first, release = await _first_write_held(writes)
    leaving = asyncio.create_task(writes.run(_note("left")))
    staying = asyncio.create_task(writes.run(_note("stayed")))
    await asyncio.sleep(0.05)
    leaving.cancel()
    release.set()
    assert list(await asyncio.wait_for(asyncio.gather(first, staying), 10)) == ["first", "stayed"]
    assert await _notes(notes_db) == ["first", "left", "stayed"]  # its write stands
