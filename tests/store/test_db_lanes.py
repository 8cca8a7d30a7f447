"""A turn's units of work go ahead of background work queued earlier on the same database
threads (store.db._Lanes): on SQLite one thread runs every unit of work, and at a trust's scale
the round steps and the outbox sender keep many queued."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from sqlmodel import Session

from store.db import Database, DatabaseUnavailable, deadline

pytestmark = pytest.mark.service


async def _blockers(db: Database) -> tuple[list[threading.Event], list[asyncio.Task[None]]]:
    """Every work thread busy until its event is set (returns once each has started)."""
    events = [threading.Event() for _ in range(db.work_threads)]
    started = threading.Semaphore(0)

    def blocked(event: threading.Event) -> Callable[[Session], None]:
        def work(_session: Session) -> None:
            started.release()
            event.wait(10)

        return work

    blockers = [asyncio.create_task(db.run(blocked(e))) for e in events]
    for _ in events:
        assert await asyncio.to_thread(started.acquire, timeout=10), "a blocker never started"
    return events, blockers


async def test_a_turns_unit_of_work_goes_ahead_of_background_work_queued_before_it(
    db: Database,
) -> None:
    events, blockers = await _blockers(db)
    order: list[str] = []

    def unit(name: str) -> Callable[[Session], str]:
        def work(_session: Session) -> str:
            order.append(name)
            return name

        return work

    background = [asyncio.ensure_future(db.run(unit(f"step {n}"))) for n in range(3)]
    await asyncio.sleep(0)  # queued first
    with deadline(5.0, person_waiting=True):
        turn = asyncio.ensure_future(db.run(unit("turn")))
    with deadline(5.0):  # a deadline alone (the outbox sender's) queues as background work
        sender = asyncio.ensure_future(db.run(unit("sender")))
    await asyncio.sleep(0.05)
    for event in events:  # one thread free at a time: it takes the queue's items in order
        event.set()
        await asyncio.sleep(0.05)
    await asyncio.gather(*blockers, *background, turn, sender)
    assert order == ["turn", "step 0", "step 1", "step 2", "sender"]


async def test_a_unit_whose_caller_gave_up_before_it_started_never_runs(db: Database) -> None:
    events, blockers = await _blockers(db)
    ran: list[str] = []
    with deadline(0.05, person_waiting=True), pytest.raises(DatabaseUnavailable):
        await db.run(lambda _s: ran.append("late"))
    for event in events:
        event.set()
    await asyncio.gather(*blockers)
    assert await db.run(lambda _s: "after") == "after"
    assert ran == []


async def test_units_still_queued_at_dispose_wake_their_callers(database_url: str) -> None:
    db = Database(database_url)
    events, blockers = await _blockers(db)
    queued = asyncio.ensure_future(db.run(lambda _s: "never"))
    await asyncio.sleep(0.02)
    for event in events:
        event.set()
    db.dispose()
    with pytest.raises(asyncio.CancelledError):
        await queued
    await asyncio.gather(*blockers)
