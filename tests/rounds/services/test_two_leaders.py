"""Fault: two leaders (two service instances: their own engine, connections and thread pool on
the same database) run every round step at the same moment, held by a barrier until both have
read. Outcome: one invitation per person, one nudge per person, one summary, one successor.
And an admin's cancel racing the scheduler's close never overwrites the close.

Where the barrier stands: on PostgreSQL right after each instance's first read of `rounds`,
inside its transaction, so both decide on the same state and race to write; on SQLite (one
writer at a time, transactions BEGIN IMMEDIATE) a transaction cannot wait for another to read,
so it stands after each instance's first transaction has ended. The nudge tick decides in a
read beside the writer and writes only if someone is due, so there the barrier stands after
the decision, before each instance's first write: both have decided who to nudge from the same
state, neither has written. Both databases, the real service and the fake Bot Connector."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot.teams_reads import TeamsDirectory
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY
from rounds.services.admin import RoundAdmin
from rounds.services.steps import RoundSteps
from store.db import Database
from store.rounds.lifecycle import RoundError
from store.rounds.tables import Round, RoundParticipant
from tests.rounds.services.test_round_faults import PHARMACY, ROSTER_503, WARD, World, drain, world

pytestmark = pytest.mark.service

__all__ = ["world"]


class AfterReads:
    """Holds each armed instance at its first read (PostgreSQL) or first commit (SQLite) until
    the other has got there too; or, armed `before_writing`, just before its first write."""

    def __init__(self, databases: list[Database]) -> None:
        self.barrier = threading.Barrier(len(databases), timeout=20)
        self.armed: dict[int, str | None] = {}
        for database in databases:
            engine = database.engine
            self.armed[id(engine)] = None
            if database.is_sqlite:
                # after the transaction ended and its connection went back to the pool
                event.listen(engine, "checkin", lambda *_a, e=engine: self._reached(e, "read"))
                # before a unit of work takes the writer's connection, so before BEGIN IMMEDIATE
                # (reads beside the writer have an engine of their own)
                event.listen(engine, "checkout", lambda *_a, e=engine: self._reached(e, "write"))
            else:
                event.listen(engine, "after_cursor_execute", self._after_statement(engine))
                event.listen(engine, "before_cursor_execute", self._before_statement(engine))

    def _after_statement(self, engine: Any) -> Any:
        def listener(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT") and "FROM rounds" in statement:
                self._reached(engine, "read")

        return listener

    def _before_statement(self, engine: Any) -> Any:
        def listener(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                self._reached(engine, "write")

        return listener

    def _reached(self, engine: Any, point: str) -> None:
        if self.armed.get(id(engine)) == point:
            self.armed[id(engine)] = None
            self.barrier.wait()

    def arm(self, *, before_writing: bool = False) -> None:
        self.barrier.reset()
        for key in self.armed:
            self.armed[key] = "write" if before_writing else "read"


@pytest.fixture
def instances(world: World, database_url: str) -> Iterator[tuple[list[RoundSteps], AfterReads]]:
    """Two leaders' round steps, each on its own Database (engine, pool, thread)."""
    ctx = world.app[CONTEXT_KEY]
    databases = [Database(database_url, pool_size=2) for _ in range(2)]
    steps = [
        round_steps(
            dataclasses.replace(
                ctx, db=database, teams=TeamsDirectory(ctx.teams.adapter, ctx.settings.app_id)
            )
        )
        for database in databases
    ]
    yield steps, AfterReads(databases)
    for database in databases:
        database.dispose()


async def both(barrier: AfterReads, *steps: Any, before_writing: bool = False) -> list[Any]:
    barrier.arm(before_writing=before_writing)
    return list(await asyncio.gather(*steps))


def keys(world: World, kind: str) -> list[str]:
    return [m.dedupe_key for m in world.outbox(kind)]


async def test_two_leaders_running_every_step_at_once_produce_one_of_everything(
    world: World, db: Database, instances: tuple[list[RoundSteps], AfterReads]
) -> None:
    (one, two), barrier = instances
    round_id = world.new_round(WARD, days=7, plan="3d", repeat="6m")

    opened = await both(barrier, one.open_due(world.clock.now), two.open_due(world.clock.now))
    assert sorted(opened) == [0, 1], "one leader opened it"
    invitations = keys(world, "invitation")
    assert len(invitations) == len(set(invitations)) == 3, "one invitation per person"
    await drain(world)  # their chats exist now

    world.clock.now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # Monday morning
    # Held after deciding, before writing. Held at the first read of `rounds` (PostgreSQL: the
    # rounds still inviting, before the decision) or the first commit (SQLite), the later leader
    # could read after the other had recorded its nudges, find nobody due and never write: the
    # barrier broke after 20 s, about 1 run in 6 on SQLite
    nudged = await both(
        barrier,
        one.nudge_due(world.clock.now),
        two.nudge_due(world.clock.now),
        before_writing=True,
    )
    assert sorted(nudged) == [0, 3], "both decided to nudge all three; one leader queued them"
    nudges = keys(world, "nudge")
    people = db.run_sync(
        lambda s: s.exec(
            select(RoundParticipant.person_id).where(RoundParticipant.round_id == round_id)
        ).all()
    )  # their ids are the database's (a bulk insert that lost a race may skip some on PostgreSQL)
    assert sorted(nudges) == sorted(f"round:{round_id}:nudge:person:{n}:1" for n in people)
    assert len(nudges) == 3

    admin = RoundAdmin(db, world.steps.framework, world.steps.options, world.clock)
    await admin.set_repetition(round_id, "pause", actor="t")  # its successor comes by repeat
    world.clock.advance(timedelta(days=8))
    closed = await both(barrier, one.close_due(world.clock.now), two.close_due(world.clock.now))
    assert sorted(closed) == [[], [round_id]], "one leader closed it"
    assert len(keys(world, "summary")) == 1

    await admin.set_repetition(round_id, "resume", actor="t")
    repeated = await both(barrier, one.repeat_due(world.clock.now), two.repeat_due(world.clock.now))
    assert sum(repeated) == 1
    successors = db.run_sync(
        lambda s: s.exec(select(Round.id).where(col(Round.previous_round_id) == round_id)).all()
    )
    assert len(successors) == 1, "one successor"


@pytest.fixture
async def hold_after_read(database_url: str) -> AsyncIterator[tuple[Database, Any, Any]]:
    """An admin's own connection that stops after its first read of `rounds` until released
    (or 2 s, on SQLite, where its transaction holds the only write lock)."""
    database = Database(database_url, pool_size=2)
    read, release = threading.Event(), threading.Event()

    def listener(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "FROM rounds" in statement and not read.is_set():
            read.set()
            release.wait(timeout=2)

    event.listen(database.engine, "after_cursor_execute", listener)
    yield database, read, release
    database.dispose()


async def test_a_cancel_racing_the_close_never_overwrites_it(
    world: World, db: Database, hold_after_read: tuple[Database, Any, Any]
) -> None:
    """Fault: `rounds cancel` reads the round (open) while the scheduler closes it, then writes.
    Outcome: exactly one of them happens. On PostgreSQL the close commits while the cancel waits:
    the cancel is refused ("already closed"), the round stays closed and its summary is not
    cancelled. On SQLite the cancel's transaction holds the write lock, so the close waits for
    it and then finds the round cancelled: no summary."""
    database, read, release = hold_after_read
    round_id = world.new_round(WARD, days=7)
    await world.steps.open_due(world.clock.now)
    world.clock.advance(timedelta(days=8))
    canceller = RoundAdmin(database, world.steps.framework, world.steps.options, world.clock)
    cancel = asyncio.ensure_future(canceller.cancel(round_id, actor="cli:admin"))
    await asyncio.to_thread(read.wait, 10)
    closed = await world.steps.close_due(world.clock.now)
    release.set()
    outcome = await asyncio.gather(cancel, return_exceptions=True)
    status = db.run_sync(lambda s: s.get(Round, round_id).status)
    summaries = world.outbox("summary")
    if db.is_sqlite:
        assert outcome == [None]
        assert (closed, status, summaries) == ([], "cancelled", [])
    else:
        [refused] = outcome
        assert isinstance(refused, RoundError)
        assert str(refused) == f"round {round_id} is already closed"
        assert (closed, status) == ([round_id], "closed")
        assert [m.status for m in summaries] == ["pending"]
    assert len(world.audit("round.cancel")) == (1 if db.is_sqlite else 0), "audited if done"


async def test_two_leaders_retrying_a_pending_roster_invite_its_people_once(
    world: World, instances: tuple[list[RoundSteps], AfterReads]
) -> None:
    """Fault: Pharmacy's roster fails (503) at the opening; after Teams recovers, both leaders
    retry it at once. Outcome: one of them freezes it; its two new people get one invitation
    each."""
    (one, two), barrier = instances
    world.connector.fail_conversation(PHARMACY, ROSTER_503)
    world.new_round()
    await world.steps.open_due(world.clock.now)
    assert len(keys(world, "invitation")) == 3
    world.connector.fail_conversation(PHARMACY, None)
    world.clock.advance(timedelta(minutes=2))
    frozen = await both(
        barrier,
        one.opener.pending.retry_due(world.clock.now),
        two.opener.pending.retry_due(world.clock.now),
    )
    assert sorted(len(f) for f in frozen) == [0, 1], "one leader froze it"
    invitations = keys(world, "invitation")
    assert len(invitations) == len(set(invitations)) == 5
